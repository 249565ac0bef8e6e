"""Restarts and model selection share passes over the data (issue 6)."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import FITTED, CountingReader, make_blobs


def counted(X, rows):
    reader = CountingReader(X)
    arr = da.from_array(reader, chunks=(rows, X.shape[1]), asarray=True)
    return reader, arr, len(arr.chunks[0])


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **kw)


def test_n_init_4_reads_each_block_once_per_iteration():
    X = make_blobs(seed=60, n_per=400)
    reader, arr, n_blocks = counted(X, 100)
    longest = [0]

    def track(info):
        longest[0] = max(longest[0], info.n_iter)

    gm = streamgmm.GaussianMixture(
        3, n_init=4, init_params="random", random_state=0, tol=1e-6, max_iter=30, cache=False
    )
    quiet(gm.fit, arr, callback=track)
    passes = reader.reads / n_blocks
    print(f"n_init=4: {passes:.0f} passes = 1 (random init) + {longest[0]} iterations")
    assert reader.reads == n_blocks * (1 + longest[0])


def test_selection_equals_separate_fits_and_shares_passes():
    X = make_blobs(seed=61, n_per=300, d=2, k=4)
    params = dict(n_init=2, random_state=0, max_iter=50, cache=False)
    grid_k, grid_c = range(1, 6), ("full", "diag")
    reader, arr, n_blocks = counted(X, 150)
    sel = quiet(streamgmm.select_model, arr, grid_k, grid_c, **params)
    shared = reader.reads / n_blocks
    separate, longest = 0, 0
    for row, model in zip(sel.rows, sel.models, strict=True):
        r2, arr2, _ = counted(X, 150)
        alone = quiet(
            streamgmm.GaussianMixture(
                row["n_components"], covariance_type=row["covariance_type"], **params
            ).fit,
            arr2,
        )
        separate += r2.reads / n_blocks + 1  # + the pass of bic()
        longest = max(longest, r2.reads / n_blocks + 1)
        for name in (*FITTED, "n_iter_", "converged_", "lower_bound_"):
            np.testing.assert_array_equal(getattr(model, name), getattr(alone, name), name)
        assert row["bic"] == pytest.approx(alone.bic(X), rel=1e-12)
        assert row["aic"] == pytest.approx(alone.aic(X), rel=1e-12)
    best = min(range(len(sel.rows)), key=lambda i: sel.rows[i]["bic"])
    assert sel.best_ is sel.models[best]
    print(f"\n{sel.table()}\npasses: {shared:.0f} shared vs {separate:.0f} for separate fits")
    # Lloyd passes, EM iterations and the scoring pass are each shared by all models.
    assert shared < separate / 3 and shared <= 2 * longest


def test_bad_criterion_and_empty_grid():
    X = make_blobs(seed=62)
    with pytest.raises(ValueError, match="criterion must be one of"):
        streamgmm.select_model(X, [1, 2], criterion="icl")
    with pytest.raises(ValueError, match="the grid is empty"):
        streamgmm.select_model(X, [])
