"""Each kernel against a naive NumPy/SciPy oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from streamgmm import _covariance, _kernels
from streamgmm._block import ModelAssigner, block_statistics
from streamgmm._mstep import Params


def random_params(covariance_type, k, d, seed):
    rng = np.random.RandomState(seed)
    means = rng.randn(k, d) * 3
    a = rng.randn(k, d, d)
    full = a @ a.transpose(0, 2, 1) + d * np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.5, 2.0, (k, d)),
        "spherical": rng.uniform(0.5, 2.0, k),
    }[covariance_type]
    weights = rng.dirichlet(np.ones(k))
    prec_chol = _covariance.get(covariance_type).precision_cholesky(cov)
    return Params(weights, means, cov, prec_chol)


def dense_cov(covariance_type, cov, k, d):
    return {
        "full": lambda: cov[k],
        "tied": lambda: cov,
        "diag": lambda: np.diag(cov[k]),
        "spherical": lambda: np.eye(d) * cov[k],
    }[covariance_type]()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_log_prob_against_scipy(covariance_type, dtype):
    k, d = 4, 3
    params = random_params(covariance_type, k, d, seed=1)
    X = np.random.RandomState(2).randn(50, d).astype(dtype) * 3
    asg = ModelAssigner(params, covariance_type)
    out = np.empty((len(X), k))
    _covariance.get(covariance_type).log_prob_kernel(
        X, asg.means, asg.prec_chol, asg.log_det, asg.log_weights, out
    )
    want = np.column_stack(
        [
            np.log(params.weights[j])
            + multivariate_normal(
                params.means[j], dense_cov(covariance_type, params.covariances, j, d)
            ).logpdf(X.astype(np.float64))
            for j in range(k)
        ]
    )
    np.testing.assert_allclose(out, want, rtol=1e-11)


def test_log_normalise_against_logsumexp():
    wlp = np.random.RandomState(0).randn(30, 5) * 50
    want_norm = logsumexp(wlp, axis=1)
    want_resp = wlp - want_norm[:, None]
    log_norm = np.empty(30)
    got = wlp.copy()
    assert _kernels.log_normalise(got, log_norm) == -1
    np.testing.assert_allclose(log_norm, want_norm, rtol=1e-14)
    np.testing.assert_allclose(got, want_resp, atol=1e-12)


def test_log_normalise_flags_the_first_nonfinite_row():
    wlp = np.zeros((5, 2))
    wlp[3] = -np.inf
    assert _kernels.log_normalise(wlp, np.empty(5)) == 3


def naive_moments(covariance_type, X, w, resp):
    wr = w[:, None] * resp
    nk = wr.sum(axis=0)
    means = (wr.T @ X) / nk[:, None]
    full = np.stack([(wr[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(len(nk))])
    m2 = {
        "full": full,
        "tied": full.sum(axis=0),
        "diag": np.diagonal(full, axis1=1, axis2=2),
        "spherical": np.trace(full, axis1=1, axis2=2),
    }[covariance_type]
    return nk, means, m2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_moments_against_naive(covariance_type, offset):
    rng = np.random.RandomState(3)
    X = rng.randn(40, 3) + offset
    w = rng.uniform(0.1, 2.0, 40)
    resp = rng.dirichlet(np.ones(4), size=40)
    nk = np.empty(4)
    means = np.empty((4, 3))
    _kernels.weighted_means(X, w, resp, nk, means)
    cov = _covariance.get(covariance_type)
    m2 = np.empty(cov.m2_shape(4, 3))
    cov.scatter_kernel(X, w, resp, means, m2)
    # The oracle works on the unshifted data, where it is exact enough.
    want_nk, want_means, want_m2 = naive_moments(covariance_type, X - offset, w, resp)
    np.testing.assert_allclose(nk, want_nk, rtol=1e-13)
    np.testing.assert_allclose(means - offset, want_means, atol=1e-13 + 4e-16 * offset)
    np.testing.assert_allclose(m2, want_m2, rtol=1e-9 if offset else 1e-12)


def test_nearest_centre_against_argmin():
    rng = np.random.RandomState(4)
    X, centres = rng.randn(60, 2), rng.randn(5, 2)
    resp = np.empty((60, 5))
    inertia = _kernels.nearest_centre(X, centres, resp)
    d2 = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(resp.argmax(axis=1), d2.argmin(axis=1))
    assert resp.sum() == 60
    assert inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-13)


def test_random_resp_depends_only_on_seed_and_row():
    whole = np.empty((20, 3))
    _kernels.random_resp(100, 7, whole)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-15)
    part = np.empty((5, 3))
    _kernels.random_resp(110, 7, part)
    np.testing.assert_array_equal(part, whole[10:15])
    other = np.empty((20, 3))
    _kernels.random_resp(100, 8, other)
    assert not np.allclose(other, whole)


def test_first_nonfinite():
    X = np.zeros((4, 3))
    assert _kernels.first_nonfinite(X) == (-1, -1)
    X[2, 1] = np.nan
    X[3, 0] = np.inf
    assert _kernels.first_nonfinite(X) == (2, 1)


@pytest.mark.parametrize("layout", ["fortran", "strided", "big-endian", "int64", "readonly"])
def test_block_statistics_accepts_layouts(layout):
    rng = np.random.RandomState(5)
    X = rng.randn(30, 3)
    params = random_params("full", 2, 3, seed=6)
    ref = block_statistics(X, None, 0, "full", ModelAssigner(params, "full"))
    if layout == "fortran":
        Y = np.asfortranarray(X)
    elif layout == "strided":
        Y = np.repeat(X, 2, axis=0)[::2]
    elif layout == "big-endian":
        Y = X.astype(">f8")
    elif layout == "int64":
        X = np.round(X * 10)
        Y = X.astype(np.int64)
        ref = block_statistics(X, None, 0, "full", ModelAssigner(params, "full"))
    else:
        Y = X.copy()
        Y.flags.writeable = False
    got = block_statistics(Y, None, 0, "full", ModelAssigner(params, "full"))
    np.testing.assert_array_equal(got.m2, ref.m2)
    assert got.log_lik == ref.log_lik
