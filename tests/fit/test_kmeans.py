"""k-means|| seeding over blocks: chunking-invariant, finds small far clusters, counts passes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from streamgmm._data.source import as_source
from streamgmm._fit.kmeans import ROUNDS, kmeans_parallel_many


def clusters(seed=0):
    rng = np.random.RandomState(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [60, 60.0]])
    sizes = [3000, 3000, 3000, 3000, 15]  # the last: 0.1 % of the rows, far away
    X = np.vstack([rng.randn(m, 2) + c for c, m in zip(centres, sizes, strict=True)])
    return X[rng.permutation(len(X))], centres


@pytest.mark.parametrize("weighted", [False, True])
def test_same_seeds_whatever_the_chunking(weighted):
    X, _ = clusters()
    w = np.random.RandomState(1).randint(1, 4, len(X)).astype(float) if weighted else None
    results = []
    for chunks in (500, 1777, len(X)):
        source = as_source(
            da.from_array(X, chunks=(chunks, 2)),
            sample_weight=None if w is None else da.from_array(w, chunks=chunks),
        )
        results.append(kmeans_parallel_many(source, [5], np.random.RandomState(7))[0])
    for r in results[1:]:
        np.testing.assert_allclose(r.centres, results[0].centres, rtol=1e-12)
        assert r.n_candidates == results[0].n_candidates
    assert results[0].passes == ROUNDS + 2 + (1 if weighted else 0)


def test_finds_a_small_far_cluster():
    X, centres = clusters()
    hits = 0
    for seed in range(10):
        seeding = kmeans_parallel_many(
            as_source(X, chunk_size=1000), [5], np.random.RandomState(seed)
        )[0]
        d = np.sqrt(((centres[:, None] - seeding.centres[None]) ** 2).sum(axis=2)).min(axis=1)
        hits += bool(d.max() < 4.0)
    # A uniform sample of 50 rows would include the 15-row cluster about 6 % of the time.
    assert hits >= 9, f"every cluster seeded in only {hits}/10 runs"


def test_distinct_draw_is_sklearns_call_when_small_and_bounded_when_huge():
    import tracemalloc

    from streamgmm._fit.init import distinct_draw

    small = distinct_draw(np.random.RandomState(3), 10_000, 7)
    np.testing.assert_array_equal(small, np.random.RandomState(3).choice(10_000, 7, replace=False))
    tracemalloc.start()
    big = distinct_draw(np.random.RandomState(3), 10**10, 50_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(np.unique(big)) == 50_000 and big.max() < 10**10
    assert peak < 50e6  # a permutation of 1e10 indices would need 80 GB


def test_in_memory_lloyd_treats_zero_weight_rows_as_absent():
    """Weights are repetitions: a row of weight 0 is not there, so an emptied cluster is not
    moved onto it (scikit-learn's relocation would put it on the data's mean), and the
    centres are those of the data without it, bit for bit, and repeatable."""
    from streamgmm._fit.kmeans import lloyd_in_memory

    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(50, 2) * 0.3, rng.randn(50, 2) * 0.3 + [8, 0], [[40, 40]]])
    w = np.r_[np.ones(100), 0.0]
    start = np.array([[0.0, 0.0], [8.0, 0.0], [4.0, -30.0]])
    got = lloyd_in_memory(X, w, start.copy())
    np.testing.assert_array_equal(got, lloyd_in_memory(X[:100], w[:100], start.copy()))
    np.testing.assert_array_equal(got, lloyd_in_memory(X, w, start.copy()))
    assert len({tuple(c) for c in got}) == 3  # no two centres the same
