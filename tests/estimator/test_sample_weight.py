"""sample_weight: a row of weight w behaves exactly as w copies of that row.

"Exactly" means to 1e-10 relative (rounding only) for every fitted attribute,
``lower_bound_`` included (a mean per unit weight), from a pinned start and from
the seeded starts kmeans, k-means++ and random_from_data, whose draws on the
weighted rows are the draws on the repeated rows. ``init_params="random"`` draws
one responsibility vector per row, not per copy: equal in expectation only.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SK

import streamgmm

from conftest import COVARIANCE_TYPES, assert_same_model, make_blobs, pinned_start

SEEDED_INITS = ("kmeans", "k-means++", "random_from_data")


def weighted_and_repeated(seed=0, n_per=80, max_weight=3):
    """X, integer weights in [0, max_weight] (zeros included), and X with rows repeated."""
    X = make_blobs(seed=seed, n_per=n_per)
    w = np.random.RandomState(seed + 100).randint(0, max_weight + 1, len(X))
    return X, w, np.repeat(X, w, axis=0)


def fit(X, sample_weight=None, k=3, callback=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = streamgmm.GaussianMixture(k, **kw)
        return gm.fit(X, sample_weight=sample_weight, callback=callback)


def assert_equal_fits(a, b, rtol=1e-10):
    assert_same_model(a, b, rtol=rtol)
    assert (a.n_iter_, a.converged_) == (b.n_iter_, b.converged_)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repetition_from_a_pinned_start(covariance_type):
    X, w, Xr = weighted_and_repeated()
    kw = dict(covariance_type=covariance_type, max_iter=30, tol=0.0)
    kw.update(pinned_start(X, 3, covariance_type))
    weighted = fit(X, w, chunk_size=37, **kw)
    repeated = fit(Xr, chunk_size=37, **kw)
    assert_equal_fits(weighted, repeated)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SK(3, **kw).fit(Xr)  # the oracle on the repeated rows
    assert_same_model(weighted, sk, rtol=1e-8)


@pytest.mark.parametrize("init_params", SEEDED_INITS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_random_starts_equal_repetition(init_params, covariance_type):
    """The weighted rows draw what the repeated rows draw, from the same seed.

    Two restarts, each followed iteration by iteration (the random state moves on
    between them identically). Their final models are not compared: restarts that
    reach the same optimum tie, and rounding may then break the tie either way.
    """
    X, w, Xr = weighted_and_repeated(seed=1)
    kw = dict(covariance_type=covariance_type, init_params=init_params, random_state=0)
    kw.update(max_iter=8, tol=0.0)  # equal starts, then 8 equal iterations, suffice
    runs = []
    for data, weights in ((X, w), (Xr, None)):
        seen = []
        fit(data, weights, n_init=2, callback=seen.append, **kw)
        runs.append(seen)
    weighted, repeated = runs
    assert [(i.init, i.n_iter) for i in weighted] == [(i.init, i.n_iter) for i in repeated]
    for a, b in zip(weighted, repeated, strict=True):
        assert a.lower_bound == pytest.approx(b.lower_bound, rel=1e-10)
        for got, want in zip(a.params, b.params, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    one = fit(X, w, **kw)
    assert_equal_fits(one, fit(Xr, **kw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SK(3, **kw).fit(Xr)
    assert_same_model(one, sk, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("init_params", (*SEEDED_INITS, "random"))
def test_unit_weights_are_no_weights(init_params):
    X = make_blobs(seed=2)
    kw = dict(init_params=init_params, random_state=0, n_init=2, max_iter=10)
    a, b = fit(X, np.ones(len(X)), **kw), fit(X, **kw)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.mark.parametrize("init_params", (*SEEDED_INITS, "pinned"))
def test_zero_weights_remove_rows(init_params):
    X = make_blobs(seed=3)
    w = (np.random.RandomState(3).rand(len(X)) < 0.7).astype(float)
    kw = dict(random_state=0, max_iter=10)
    if init_params == "pinned":
        kw.update(pinned_start(X, 3, "full"))
    else:
        kw["init_params"] = init_params
    assert_equal_fits(fit(X, w, **kw), fit(X[w > 0], **kw))


@pytest.mark.parametrize("init_params", ("kmeans", "k-means++", "pinned"))
def test_scaling_the_weights_changes_nothing(init_params):
    """lower_bound_ is per unit weight, and draws depend on w / sum(w) only."""
    X, w, _ = weighted_and_repeated(seed=4)
    kw = dict(random_state=0, max_iter=20, tol=0.0)
    if init_params == "pinned":
        kw.update(pinned_start(X, 3, "diag"))
        kw["covariance_type"] = "diag"
    else:
        kw["init_params"] = init_params
    scaled, plain = fit(X, w * 2.5, **kw), fit(X, w, **kw)
    if init_params == "k-means++":
        # A one-hot start's weights are 1 / sum(w) each, unnormalised like scikit-learn's
        # 1 / n, so only the first lower bound moves, by exactly log(2.5).
        # (the bounds are ~1e6: one-row starts have reg_covar covariances; eps of that)
        first = plain.lower_bounds_[0]
        np.testing.assert_allclose(
            first - scaled.lower_bounds_[0], np.log(2.5), atol=1e-13 * abs(first)
        )
        plain.lower_bounds_[0] = scaled.lower_bounds_[0]
    assert_equal_fits(scaled, plain)


def test_weighted_score_bic_aic_equal_repetition():
    X, w, Xr = weighted_and_repeated(seed=5)
    gm = fit(X, w, random_state=0)
    assert gm.score(X, sample_weight=w) == pytest.approx(gm.score(Xr), rel=1e-12)
    # BIC and AIC count n = sum(w) samples, as on the repeated rows (sklearn as the oracle).
    sk = SK(3, random_state=0).fit(Xr)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        setattr(sk, name, getattr(gm, name))
    for method in ("score", "bic", "aic"):
        got = getattr(gm, method)(X, sample_weight=w)
        assert got == pytest.approx(getattr(sk, method)(Xr), rel=1e-12), method


def test_dask_weights_with_dask_data():
    X, w, _ = weighted_and_repeated(seed=6)
    kw = dict(random_state=0, init_params="k-means++", max_iter=20)
    lazy = fit(da.from_array(X, chunks=(50, 3)), da.from_array(w, chunks=70), **kw)
    assert_equal_fits(lazy, fit(X, w, **kw))
    Xd, wd = da.from_array(X, chunks=(50, 3)), da.from_array(w, chunks=50)
    assert lazy.score(Xd, sample_weight=wd) == pytest.approx(lazy.score(X, sample_weight=w))


def test_fractional_weights_draw_distinct_rows_of_positive_weight():
    """random_from_data with non-integer weights: K distinct rows, P(row) proportional to w."""
    X = make_blobs(seed=7)
    w = np.random.RandomState(7).rand(len(X)) * (np.arange(len(X)) % 2)  # odd rows only
    for seed in range(5):
        gm = fit(X, w, init_params="random_from_data", random_state=seed, max_iter=0)
        rows = [np.flatnonzero(np.all(np.isclose(X, m, rtol=1e-12), axis=1)) for m in gm.means_]
        picked = [int(r[0]) for r in rows]
        assert len(set(picked)) == 3 and all(i % 2 == 1 for i in picked)


@pytest.mark.parametrize("weights", ["fractional", "integer"])
def test_random_from_data_needs_k_rows_of_positive_weight(weights):
    X = make_blobs(seed=8)
    w = np.zeros(len(X))
    w[[3, 9]] = 0.5 if weights == "fractional" else 1.0
    with pytest.raises(ValueError, match=r"at least n_components=3 rows with a positive"):
        fit(X, w, init_params="random_from_data", random_state=0)


def test_random_init_with_weights_counts_each_row_once():
    """'random' draws per row: weights multiply one draw (documented; not repetition)."""
    X, w, Xr = weighted_and_repeated(seed=9)
    kw = dict(init_params="random", random_state=0, max_iter=0)
    weighted, repeated = fit(X, w, **kw), fit(Xr, **kw)
    assert not np.allclose(weighted.means_, repeated.means_, rtol=1e-6)
    # ... and it is the weighted mean of the per-row draws: scaling w changes nothing.
    assert_same_model(fit(X, 3.0 * w, **kw), weighted, rtol=1e-12)
