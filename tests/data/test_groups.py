"""A pass as one task per group of blocks (issue 20): the statistics of the per-block tree,
bit for bit, whatever the groups, the input's graph or the cache."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import dask.core
import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm._data import groups as data_groups
from streamgmm._data.blocks import ModelAssigner, NearestCentreAssigner, block_statistics
from streamgmm._data.passes import reduction_graph, statistics_pass_many
from streamgmm._data.source import as_source
from streamgmm._data.tree import SPLIT_EVERY
from streamgmm._model import merge_all
from streamgmm._model.mstep import m_step

from conftest import CountingReader, make_blobs

#: threads of the scheduler, with one group per thread: 1 group, a few, one per block
THREADS = (1, 3, 7, 1000)


def per_block_statistics(X, w, starts, jobs):
    """The pass of one task per block and merges of fan-in SPLIT_EVERY, as passes built it
    before issue 20, computed here in a loop."""
    values = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        wb = None if w is None else w[a:b]
        values.append([block_statistics(X[a:b], wb, a, cov, asg, m2) for asg, cov, m2 in jobs])
    while len(values) > 1:
        chunks = [values[j : j + SPLIT_EVERY] for j in range(0, len(values), SPLIT_EVERY)]
        values = [[merge_all(col) for col in zip(*chunk, strict=True)] for chunk in chunks]
    return values[0]


def assert_bitwise(got, want):
    for g, s in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.nk, s.nk)
        np.testing.assert_array_equal(g.means, s.means)
        np.testing.assert_array_equal(g.m2, s.m2)
        assert (g.log_lik, g.weight_sum, g.n_rows) == (s.log_lik, s.weight_sum, s.n_rows)


@pytest.fixture
def jobs():
    X = make_blobs(seed=40, n_per=50)
    hard = NearestCentreAssigner(X[:3])
    return [(ModelAssigner(m_step(statistics_of(X, hard), 1e-6), "full"), "full", True),
            (hard, "diag", True)]  # fmt: skip


def statistics_of(X, assigner):
    return block_statistics(X, None, 0, "full", assigner)


def passes_by_threads(make_source, jobs, monkeypatch):
    monkeypatch.setattr(data_groups, "GROUPS_PER_THREAD", 1)
    out = {}
    for threads in THREADS:
        with dask.config.set(num_workers=threads, scheduler="threads"):
            source = make_source()
            out[threads] = (statistics_pass_many(source, jobs), len(source.groups().needs))
    return out


@pytest.mark.parametrize("weights", [None, "numpy", "dask-other-chunks"])
def test_any_grouping_gives_the_per_block_statistics(tmp_path, jobs, weights, monkeypatch):
    X = make_blobs(seed=41, n_per=1700)  # 5,100 rows in 53 blocks of 97
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=X, chunks=(64, 3))
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    given = {None: None, "numpy": w, "dask-other-chunks": da.from_array(w, chunks=300)}[weights]

    def make():
        return as_source(streamgmm.read_hdf5(path, "points", chunk_rows=97), sample_weight=given)

    starts = make().block_starts
    want = per_block_statistics(X, None if weights is None else w, starts, jobs)
    for threads, (got, n_groups) in passes_by_threads(make, jobs, monkeypatch).items():
        assert n_groups == min(threads, len(starts) - 1)
        assert_bitwise(got, want)


def test_blocks_that_share_a_computed_key(jobs, monkeypatch):
    """Blocks of X - X.mean(0) all read the mean: it is computed once per pass, as a key of
    the pass's graph, and each group reads its own blocks around it."""
    X = make_blobs(seed=42, n_per=300)
    Xd = da.from_array(X, chunks=(50, 3))
    centred = Xd - Xd.mean(axis=0)
    starts = as_source(centred).block_starts
    want = per_block_statistics(centred.compute(), None, starts, jobs)
    for got, _ in passes_by_threads(lambda: as_source(centred), jobs, monkeypatch).values():
        assert_bitwise(got, want)


def test_a_cached_source_reads_each_block_once(jobs):
    X = make_blobs(seed=43, n_per=400)
    reader = CountingReader(X)

    def make():
        return as_source(da.from_array(reader, chunks=(100, 3), asarray=True))

    want = statistics_pass_many(make(), jobs)
    source = make()
    name, reader.reads = source.array.name, 0
    assert source.maybe_cache(True)
    n_blocks = len(source.array.chunks[0])
    for _ in range(3):
        assert_bitwise(statistics_pass_many(source, jobs), want)
    assert reader.reads == n_blocks
    np.testing.assert_array_equal(source.take_rows([5, 1100, 7]), X[[5, 1100, 7]])
    assert source.array.name == name  # messages find the input by this name


def test_a_pass_graph_does_not_grow_with_the_blocks(jobs):
    """10,000 blocks: the pass's own tasks are one per group plus the merges above them."""
    X = np.repeat(make_blobs(seed=44, n_per=100), 40, axis=0)[:10_000]
    with dask.config.set(num_workers=2, scheduler="threads"):
        source = as_source(X, chunk_size=1)
        graph = reduction_graph(source, lambda *a: 0, None, sum, "test")
        n_groups = len(source.groups().needs)
    own = graph.dask.layers[graph.key[0]]
    assert n_groups == 2 * data_groups.GROUPS_PER_THREAD
    assert len(own) == 1 + n_groups + 1  # payload, groups, one merge


def test_read_ahead_gives_the_same_blocks_in_order():
    """In distributed workers a helper thread reads the next block while this one is
    reduced; the blocks are the same, in the same order, and closing early joins it."""
    X = make_blobs(seed=45, n_per=300)
    source = as_source(da.from_array(CountingReader(X), chunks=(100, 3), asarray=True))
    with dask.config.set(num_workers=1, scheduler="threads"):
        groups = source.groups()  # 4 groups of 2 or 3 blocks
    group = groups.layer[groups.keys()[0]]
    values = [dask.core.get(groups.shared, k) for k in group.shared]
    ahead = list(group.blocks(values, ahead=True))
    assert len(ahead) > 1
    for (x1, w1), (x2, w2) in zip(ahead, group.blocks(values, ahead=False), strict=True):
        np.testing.assert_array_equal(x1, x2)
        assert w1 is None and w2 is None
    threads = threading.active_count()
    blocks = group.blocks(values, ahead=True)
    next(blocks)
    blocks.close()
    assert threading.active_count() == threads


def test_distributed_weighs_a_group_by_the_rows_it_holds():
    """A cached group (or one cut from an array here) weighs its rows, so the scheduler
    runs its task where it is rather than moving it as if it were free to send."""
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph
    from dask.sizeof import sizeof

    X = make_blobs(seed=46, n_per=400)
    source = as_source(da.from_array(X, chunks=(300, 3)))
    with dask.config.set(num_workers=1, scheduler="threads"):
        planned = source.groups()
        source.maybe_cache(cache=True)
        cached = source.groups()
    for groups in (planned, cached):
        graph = HighLevelGraph.from_collections(groups.name, groups.layer, dependencies=())
        held = dask.compute(*[Delayed(key, graph, layer=groups.name) for key in groups.keys()])
        assert sum(sizeof(group) for group in held) >= X.nbytes
