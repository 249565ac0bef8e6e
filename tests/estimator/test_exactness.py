"""The whole EM against scikit-learn from identical starting parameters."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from sklearn.datasets import load_wine

import streamgmm

from conftest import (
    COVARIANCE_TYPES,
    assert_same_model,
    fit_pair,
    make_blobs,
    pinned_start,
    rel_err,
)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("max_iter", [1, 10, 100])
def test_blobs_match_sklearn(covariance_type, max_iter, engine):
    X = make_blobs(seed=1)
    start = pinned_start(X, 3, covariance_type)
    sk, ours = fit_pair(X, 3, covariance_type, start, max_iter=max_iter, tol=0.0, chunk_size=97)
    assert_same_model(ours, sk, rtol=1e-8)
    assert ours.n_iter_ == sk.n_iter_ == max_iter
    assert ours.converged_ is sk.converged_ is False
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-10)
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_wine_matches_sklearn_to_convergence(covariance_type, engine):
    X = load_wine().data
    start = pinned_start(X, 3, covariance_type, seed=2)
    sk, ours = fit_pair(X, 3, covariance_type, start, max_iter=100, tol=1e-3, chunk_size=50)
    # The stopping iteration must not sit within rounding of tol, or parity is luck.
    changes = np.abs(np.diff(sk.lower_bounds_))
    assert np.min(np.abs(changes - 1e-3)) > 1e-8
    assert ours.n_iter_ == sk.n_iter_
    assert ours.converged_ == sk.converged_
    assert_same_model(ours, sk, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("start_kind, max_iter", [("near", 30), ("far", 3)])
def test_offset_data(covariance_type, start_kind, max_iter, engine):
    """X + 1e6, from a usual start and from means ~1e4 standard deviations away.

    scikit-learn itself loses digits on offset data (raw second moments), so its
    oracle runs on the unshifted data and our means are shifted back. The data are
    multiples of 2**-20, so X + 1e6 is exact and both fits see the very same
    problem; what float64 cannot hold is a mean near 1e6 to better than its ulp
    (1.2e-10), hence an absolute floor of 1e-9 on the means. A far start leaves
    every component near the data centre after one step, a saddle of EM that
    amplifies rounding, so that case runs 3 iterations.
    """
    X = np.round(make_blobs(seed=3) * 2**20) / 2**20
    start = pinned_start(X, 3, covariance_type)
    if start_kind == "far":
        # Broad precisions too, so every component keeps mass (equally far means
        # with the data's precisions would hand every row to one component).
        centre = X.mean(axis=0)
        start["means_init"] = centre + (start["means_init"] - centre) * 1e4
        start["precisions_init"] = start["precisions_init"] * 1e-8
    offset = 1e6
    sk, ours = fit_pair(
        X,
        3,
        covariance_type,
        start,
        X_ours=X + offset,
        max_iter=max_iter,
        tol=0.0,
        chunk_size=64,
        shift_means=offset,
    )
    assert_same_model(ours, sk, rtol=1e-8, mean_shift=offset, mean_atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixed_column_scales(covariance_type, engine):
    """Columns from 1e-3 to 1e3: compare in standardised units, column by column."""
    Z = make_blobs(seed=4, d=4)
    s = np.array([1e-3, 1.0, 1e2, 1e3])
    X = Z * s
    start = pinned_start(X, 3, covariance_type)
    sk, ours = fit_pair(X, 3, covariance_type, start, max_iter=10, tol=0.0, chunk_size=101)
    np.testing.assert_allclose(ours.weights_, sk.weights_, rtol=1e-8)
    assert rel_err(ours.means_ / s, sk.means_ / s) < 1e-8
    if covariance_type in ("full", "tied"):
        outer = np.outer(s, s)
        assert rel_err(ours.covariances_ / outer, sk.covariances_ / outer) < 1e-8
    elif covariance_type == "diag":
        assert rel_err(ours.covariances_ / s**2, sk.covariances_ / s**2) < 1e-8
    else:
        assert rel_err(ours.covariances_, sk.covariances_) < 1e-8


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_whatever_the_chunking_and_threads(covariance_type):
    X = make_blobs(seed=5, n_per=100)
    start = pinned_start(X, 3, covariance_type)
    fits = []
    for chunk_size in (1, 7, 1000, len(X)):
        for threads in (1, 2):
            with dask.config.set(scheduler="threads", num_workers=threads):
                gm = streamgmm.GaussianMixture(
                    3,
                    covariance_type=covariance_type,
                    max_iter=15,
                    tol=0.0,
                    chunk_size=chunk_size,
                    **start,
                )
                with pytest.warns(Warning):
                    gm.fit(X)
            fits.append(gm)
    for gm in fits[1:]:
        assert_same_model(gm, fits[0], rtol=1e-10)
        assert gm.lower_bound_ == pytest.approx(fits[0].lower_bound_, rel=1e-12)


def test_same_chunking_is_bitwise_reproducible():
    X = make_blobs(seed=6)
    a = streamgmm.GaussianMixture(3, random_state=0, chunk_size=50).fit(X)
    b = streamgmm.GaussianMixture(3, random_state=0, chunk_size=50).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++", "kmeans", "random"])
def test_every_init_starts_like_sklearn(covariance_type, init_params, engine):
    """The same seed gives scikit-learn's starting parameters, for every init and type
    (tied's start from chosen rows included: X^T X of every row, as scikit-learn takes)."""
    from sklearn.mixture import GaussianMixture as SK

    X = make_blobs(seed=7)
    kw = dict(init_params=init_params, random_state=3, max_iter=0)
    sk = SK(3, covariance_type=covariance_type, **kw).fit(X)
    ours = streamgmm.GaussianMixture(3, covariance_type=covariance_type, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(sk, name), rtol=1e-10)
