"""The one reduction tree of a pass, whichever tasks compute its parts.

The statistics of ``n`` blocks merge in a fixed tree of fan-in SPLIT_EVERY over
consecutive blocks: node ``(0, i)`` is block ``i``; node ``(L, j)`` is
``merge_fn([(L - 1, c) for c in its up to SPLIT_EVERY children])`` and covers blocks
``j * F**L`` to ``(j + 1) * F**L - 1`` (F = SPLIT_EVERY, the last node of a level may
hold fewer); the root is the first level with one node. ``merge_fn`` is called on the
same lists in the same order whoever calls it, so a task that computes any contiguous
range of blocks returns the largest whole nodes inside its range (:func:`cover`), and
whoever receives the nodes of consecutive ranges completes the nodes above them
(:func:`evaluate`): the root value is the same, bit for bit, however the blocks were
cut into tasks (tests/data/test_tree.py), and equal to the tree of one task per block
that passes built before issue 20.
"""

from __future__ import annotations

#: fan-in of the reduction tree (dask's ``split_every``)
SPLIT_EVERY = 8


def nodes_at(level: int, n: int) -> int:
    """How many nodes the tree over ``n`` blocks has at ``level``."""
    return -(-n // SPLIT_EVERY**level)


def root_level(n: int) -> int:
    """The level of the root: 0 for one block."""
    level = 0
    while nodes_at(level, n) > 1:
        level += 1
    return level


def cover(a: int, b: int, n: int) -> list[tuple[int, int]]:
    """The largest whole nodes inside blocks ``a..b-1``, left to right, as (level, index)."""
    top, out, i = root_level(n), [], a
    while i < b:
        level = 0
        while level < top:
            span = SPLIT_EVERY ** (level + 1)
            if i % span or min(i + span, n) > b:
                break
            level += 1
        out.append((level, i // SPLIT_EVERY**level))
        i = min(i + SPLIT_EVERY**level, n)
    return out


def evaluate(a: int, b: int, n: int, merge_fn, leaf=None, known=None) -> list[tuple]:
    """The nodes of ``cover(a, b, n)`` as (level, index, value).

    A node is taken from ``known`` ({(level, index): value}) when there, else computed
    from its children; blocks come from ``leaf(i)``, which is called in increasing ``i``
    (a reader can stream them). Memory: at most SPLIT_EVERY pending values per level.
    """
    known = known or {}

    def value(level, index):
        if (level, index) in known:
            return known[(level, index)]
        if level == 0:
            return leaf(index)
        first = index * SPLIT_EVERY
        last = min(first + SPLIT_EVERY, nodes_at(level - 1, n))
        return merge_fn([value(level - 1, c) for c in range(first, last)])

    return [(level, index, value(level, index)) for level, index in cover(a, b, n)]


def bounds(n: int, parts: int) -> list[int]:
    """``parts + 1`` block indices cutting ``n`` blocks into ``parts`` near-equal runs."""
    parts = max(1, min(parts, n))
    return [g * n // parts for g in range(parts + 1)]
