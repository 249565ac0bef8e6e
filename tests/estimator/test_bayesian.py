"""BayesianGaussianMixture against scikit-learn's: the same seed gives the same model.

Every ``init_params`` starts both estimators from the same responsibilities
(GaussianMixture's initialisation, already matched to scikit-learn's draws), so whole fits
are compared. Offset data cost scikit-learn digits, so there it fits the unshifted data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SKB

import streamgmm
from streamgmm._model import PRIOR_TYPES

from conftest import COVARIANCE_TYPES, make_blobs, rel_err

POSTERIOR = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "weight_concentration_",
    "mean_precision_",
    "degrees_of_freedom_",
    "mean_prior_",
    "covariance_prior_",
)
SCALAR_PRIORS = (
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "degrees_of_freedom_prior_",
)


def data(seed=1):
    return make_blobs(seed=seed, n_per=150, d=3, k=3)


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **kw)


def as_array(value):
    return np.vstack(value) if isinstance(value, tuple) else np.asarray(value, dtype=float)


def assert_same_bayesian(ours, sk, rtol=1e-8, mean_shift=0.0, iterations=True):
    """Every fitted attribute of ``ours`` equal to ``sk``'s to ``rtol`` relative (in the
    norm), the means and mean prior after removing ``mean_shift``."""
    for name in POSTERIOR:
        got, want = as_array(getattr(ours, name)), as_array(getattr(sk, name))
        if name in ("means_", "mean_prior_"):
            got = got - mean_shift
        assert got.shape == want.shape, name
        assert rel_err(got, want) <= rtol, f"{name}: {rel_err(got, want):.2g}"
    for name in SCALAR_PRIORS:
        assert getattr(ours, name) == pytest.approx(getattr(sk, name), rel=1e-15), name
    bound = float(np.ravel(sk.lower_bound_)[0])
    assert ours.lower_bound_ == pytest.approx(bound, rel=rtol) or bound == ours.lower_bound_
    if iterations:
        assert ours.n_iter_ == sk.n_iter_
        assert ours.converged_ == sk.converged_
        want = [float(np.ravel(b)[0]) for b in sk.lower_bounds_]
        np.testing.assert_allclose(ours.lower_bounds_, want, rtol=rtol)


def assert_not_borderline(sk, tol):
    """The stopping iteration must not sit within rounding of tol, or parity is luck."""
    bounds = np.ravel([np.ravel(b)[0] for b in sk.lower_bounds_])
    if len(bounds) > 1:
        assert np.min(np.abs(np.abs(np.diff(bounds)) - tol)) > 1e-6 * max(tol, 1e-3)


# -- the same seed, the same model -------------------------------------------------------


CASES = [
    (init, cov, prior)
    for init in ("kmeans", "k-means++", "random", "random_from_data")
    for cov in COVARIANCE_TYPES
    for prior in PRIOR_TYPES
]


@pytest.mark.parametrize("init_params, covariance_type, prior_type", CASES)
def test_same_seed_same_model_as_sklearn(init_params, covariance_type, prior_type):
    X = data()
    kw = dict(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        n_init=2,
        random_state=3,
        max_iter=300,
    )
    sk = quiet(SKB(**kw).fit, X)
    assert_not_borderline(sk, 1e-3)
    ours = quiet(streamgmm.BayesianGaussianMixture(chunk_size=97, **kw).fit, X)
    assert_same_bayesian(ours, sk)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_given_priors_like_sklearn(covariance_type, prior_type):
    X = data(seed=2)
    d = X.shape[1]
    kw = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=0.05,
        mean_precision_prior=0.5,
        mean_prior=np.array([1.0, -1.0, 0.5]),
        degrees_of_freedom_prior=d + 2.0,
        covariance_prior={
            "full": np.eye(d) * 1.5 + 0.2,
            "tied": np.eye(d) * 1.5 + 0.2,
            "diag": np.array([0.5, 1.0, 2.0]),
            "spherical": 1.3,
        }[covariance_type],
        random_state=0,
        max_iter=300,
    )
    sk = quiet(SKB(**kw).fit, X)
    assert_not_borderline(sk, 1e-3)
    ours = quiet(streamgmm.BayesianGaussianMixture(chunk_size=64, **kw).fit, X)
    assert_same_bayesian(ours, sk)


# -- offset data -----------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("priors", ["default", "given"])
def test_offset_data(covariance_type, prior_type, priors):
    """X + 1e6: ours on the shifted data, scikit-learn on the unshifted ones, both to
    convergence from the same kmeans start.

    The data are multiples of 2**-20, so X + 1e6 is exact and both fits see the same
    problem; the means and the mean prior are compared after removing the offset. What
    float64 cannot hold is a mean near 1e6 to better than ~1e-10 absolute; from a start near
    a saddle of the iteration (``random``: every component near the data's centre) that
    rounding grows to 1e-8 within 30 iterations whoever computes, so the start here is
    kmeans, as in use. Every component holds a cluster: one with less than about 32 rows'
    weight keeps scikit-learn's guard term 10 eps x x^T (user guide, "Covariances from
    centred moments"), which moves with an offset in exact arithmetic too.
    """
    X = np.round(data(seed=5) * 2**20) / 2**20
    offset = 1e6
    kw = dict(
        n_components=3,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=2,
        max_iter=300,
    )
    given = {}
    if priors == "given":
        given = dict(mean_prior=X.mean(axis=0) + 0.5, mean_precision_prior=3.0)
    sk = quiet(SKB(**kw, **given).fit, X)
    assert_not_borderline(sk, 1e-3)
    if priors == "given":
        given["mean_prior"] = given["mean_prior"] + offset
    ours = streamgmm.BayesianGaussianMixture(chunk_size=64, **kw, **given)
    assert_same_bayesian(quiet(ours.fit, X + offset), sk, mean_shift=offset)
