"""The reduction tree of a pass: the same merges, in the same order, however the blocks are
cut into tasks (so the same statistics, bit for bit)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamgmm._data.tree import SPLIT_EVERY, bounds, cover, evaluate, nodes_at, root_level


def per_block_tree(n):
    """The tree of one task per block and merges of fan-in SPLIT_EVERY, as passes built it
    before issue 20; merge_fn=tuple keeps every merge's arguments, in order."""
    keys = list(range(n))
    while len(keys) > 1:
        keys = [tuple(keys[j : j + SPLIT_EVERY]) for j in range(0, len(keys), SPLIT_EVERY)]
    return keys[0]


def grouped_tree(n, cuts):
    """The root as a pass computes it: a task per run of blocks, then tasks of fan-in
    SPLIT_EVERY over the runs' nodes; also the order in which blocks were read."""
    read = []

    def leaf(i):
        read.append(i)
        return i

    runs = zip(cuts[:-1], cuts[1:], strict=True)
    parts = [(a, b, evaluate(a, b, n, tuple, leaf)) for a, b in runs]
    while len(parts) > 1:
        joined = []
        for j in range(0, len(parts), SPLIT_EVERY):
            run = parts[j : j + SPLIT_EVERY]
            a, b = run[0][0], run[-1][1]
            known = {(lv, ix): v for _, _, nodes in run for lv, ix, v in nodes}
            joined.append((a, b, evaluate(a, b, n, tuple, known=known)))
        parts = joined
    (_, _, [(level, index, root)]) = parts[0]
    assert (level, index) == (root_level(n), 0)
    return root, read


@st.composite
def cuts_of(draw):
    n = draw(st.integers(1, 700))
    inner = draw(st.sets(st.integers(1, max(1, n - 1)), max_size=min(n - 1, 40)))
    return n, [0, *sorted(c for c in inner if c < n), n]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(cuts_of())
def test_any_cut_into_tasks_makes_the_per_block_tree(case):
    n, cuts = case
    root, read = grouped_tree(n, cuts)
    assert root == per_block_tree(n)
    assert read == list(range(n))  # each block once, in order: a task streams its blocks


@settings(max_examples=300, derandomize=True, deadline=None)
@given(cuts_of())
def test_cover_tiles_a_range_with_the_largest_whole_nodes(case):
    n, cuts = case
    top = root_level(n)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        nodes = cover(a, b, n)
        spans = [(i * SPLIT_EVERY**lv, min((i + 1) * SPLIT_EVERY**lv, n)) for lv, i in nodes]
        assert spans[0][0] == a and spans[-1][1] == b
        assert all(x[1] == y[0] for x, y in zip(spans[:-1], spans[1:], strict=True))  # tiled
        for level, index in nodes:
            assert index < nodes_at(level, n)
            if level < top:  # its parent is not whole inside [a, b)
                parent = index // SPLIT_EVERY
                p_lo = parent * SPLIT_EVERY ** (level + 1)
                p_hi = min((parent + 1) * SPLIT_EVERY ** (level + 1), n)
                assert p_lo < a or p_hi > b


def test_bounds_cut_into_near_equal_runs():
    assert bounds(48, 8) == [0, 6, 12, 18, 24, 30, 36, 42, 48]
    assert bounds(10, 4) == [0, 2, 5, 7, 10]
    assert bounds(3, 8) == [0, 1, 2, 3]  # never an empty run
    assert bounds(1, 1) == [0, 1]
