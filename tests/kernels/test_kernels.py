"""Each kernel against a naive NumPy/SciPy oracle."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from streamgmm import _kernels
from streamgmm._data.blocks import (
    ModelAssigner,
    NearestCentreAssigner,
    block_infer,
    block_log_resp,
    block_statistics,
)
from streamgmm._kernels import TILE
from streamgmm._model import covariance
from streamgmm._model.mstep import Params
from streamgmm._model.stats import NONFINITE_DENSITY, NONFINITE_INPUT

from conftest import COVARIANCE_TYPES, random_covariance


def random_params(covariance_type, k, d, seed):
    rng = np.random.RandomState(seed)
    means = rng.randn(k, d) * 3
    cov = random_covariance(rng, covariance_type, k, d)
    weights = rng.dirichlet(np.ones(k))
    prec_chol = covariance.get(covariance_type).precision_cholesky(cov)
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
@pytest.mark.parametrize("n", [1, TILE, TILE + 1])
def test_log_resp_against_scipy(covariance_type, dtype, n):
    """log p(x) and log resp of every row equal scipy's densities and logsumexp."""
    k, d = 4, 3
    params = random_params(covariance_type, k, d, seed=1)
    X = (np.random.RandomState(2).randn(n, d) * 3).astype(dtype)
    got, bad = block_log_resp(X, ModelAssigner(params, covariance_type))
    assert bad == -1 and got.shape == (n, 1 + k)
    wlp = np.column_stack(
        [
            np.log(params.weights[j])
            + multivariate_normal(
                params.means[j], dense_cov(covariance_type, params.covariances, j, d)
            ).logpdf(X.astype(np.float64))
            for j in range(k)
        ]
    ).reshape(n, k)
    log_norm = logsumexp(wlp, axis=1)
    np.testing.assert_allclose(got[:, 0], log_norm, rtol=1e-12)
    np.testing.assert_allclose(got[:, 1:], wlp - log_norm[:, None], rtol=1e-10, atol=1e-11)


def test_log_resp_flags_the_first_nonfinite_row():
    """A row beyond every component's reach (its squared distance overflows) has log p -inf
    and NaN log-responsibilities, like scikit-learn's, and its index comes back; the rows
    after it are still computed."""
    params = random_params("full", 2, 3, seed=12)
    X = np.random.RandomState(13).randn(TILE + 10, 3)
    X[TILE + 3] = 1e200
    got, bad = block_log_resp(X, ModelAssigner(params, "full"))
    assert bad == TILE + 3
    assert got[TILE + 3, 0] == -np.inf  # scikit-learn's logsumexp of -inf terms, not NaN
    assert np.isfinite(np.delete(got, TILE + 3, axis=0)).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_proba_and_labels_from_the_tile(covariance_type):
    """predict_proba's responsibilities come from the tile's exp, not exp(log resp): they
    equal exp(log resp) to rounding, keep libm's subnormals where the tile's exp flushes to
    0, and are NaN where every density is 0, as scikit-learn's; predict's labels are numpy's
    argmax of log pi + log N (the first maximum), also for tied components."""
    k, d = 4, 3
    params = random_params(covariance_type, k, d, seed=20)
    rng = np.random.RandomState(21)
    X = rng.randn(4 * TILE + 9, d) * 3
    # a line away from component 0: responsibilities through 1e-300, subnormals and 0
    X[TILE + 2 :] = params.means[0] + np.outer(np.arange(3 * TILE + 7) * 0.5, rng.randn(d))
    X[TILE + 1] = 1e200  # every density 0: log p = -inf
    assigner = ModelAssigner(params, covariance_type)
    (log_prob, log_resp, proba, labels), _ = block_infer(
        X, assigner, ("log_prob", "log_resp", "proba", "labels")
    )
    with np.errstate(invalid="ignore"):
        want = np.exp(log_resp)
    assert np.isnan(proba[TILE + 1]).all() and log_prob[TILE + 1] == -np.inf
    assert np.isnan(want[TILE + 1]).all()
    rows = np.isfinite(log_prob)
    proba, want, log_resp, log_prob = proba[rows], want[rows], log_resp[rows], log_prob[rows]
    # exp(log resp) carries the rounding of log resp = lp - log p: |lp| + |log p| ulps
    eps = np.finfo(np.float64).eps
    tol = 4 * eps * (1 + np.abs(log_resp) + 2 * np.abs(log_prob[:, None]))
    np.testing.assert_array_less(np.abs(proba - want), tol * want + 1e-323)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=4 * k * eps)  # however far the row
    # lp - max lp = log resp + log(total), total in [1, K]: below EXP_FLOOR the tile's exp
    # flushed to 0 and exp(lp - log p) is taken as log resp is: libm's subnormals, exactly
    deep = log_resp < _kernels.EXP_FLOOR - np.log(k)
    assert (want[deep] > 0).any() and (want[deep] == 0).any()
    np.testing.assert_array_equal(proba[deep], want[deep])
    np.testing.assert_array_equal(labels[rows], np.argmax(log_resp, axis=1))
    assert labels[TILE + 1] == 0  # all -inf: numpy's argmax gives the first

    def copy_first(a, shared=False):  # component 1 := component 0
        a = a.copy()
        if not shared:
            a[1] = a[0]
        return a

    tied = covariance_type == "tied"
    weights = copy_first(params.weights)
    twin = Params(  # components 0 and 1 identical: every tie between them goes to 0
        weights / weights.sum(),
        copy_first(params.means),
        copy_first(params.covariances, tied),
        copy_first(params.precisions_cholesky, tied),
    )
    (twin_labels,), _ = block_infer(X, ModelAssigner(twin, covariance_type), ("labels",))
    assert 1 not in twin_labels and 0 in twin_labels


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
    cov = covariance.get(covariance_type)
    m2 = np.empty(cov.m2_shape(4, 3))
    cov.scatter_kernel(X, w, resp, means, m2)
    # The oracle works on the unshifted data, where it is exact enough.
    want_nk, want_means, want_m2 = naive_moments(covariance_type, X - offset, w, resp)
    np.testing.assert_allclose(nk, want_nk, rtol=1e-13)
    np.testing.assert_allclose(means - offset, want_means, atol=1e-13 + 4e-16 * offset)
    np.testing.assert_allclose(m2, want_m2, rtol=1e-9 if offset else 1e-12)


@pytest.mark.parametrize("n", [1, TILE, TILE + 7])
def test_nearest_centre_against_argmin(n):
    rng = np.random.RandomState(4)
    X, centres = rng.randn(n, 2), rng.randn(5, 2)
    w = rng.uniform(0.5, 2.0, n)
    labels = np.empty(n, np.int64)
    inertia = _kernels.nearest_centre(X, w, centres, labels)
    d2 = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))
    assert inertia == pytest.approx(w @ d2.min(axis=1), rel=1e-13)
    tied = np.empty(n, np.int64)  # the first of two equal centres, as argmin
    _kernels.nearest_centre(X, w, np.vstack([centres[:1], centres[:1]]), tied)
    assert (tied == 0).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_hard_statistics_against_one_hot(covariance_type, offset):
    """Lloyd statistics from labels equal the naive moments of the one-hot responsibilities,
    an empty centre gives nk 0 and mean 0, and X + 1e8 keeps its digits."""
    rng = np.random.RandomState(5)
    n, k, d = 300, 4, 3
    X = np.round(rng.randn(n, d) * 2**20) / 2**20 + offset
    w = rng.uniform(0.1, 2.0, n)
    centres = np.vstack([X[:3], np.full(d, offset + 1e3)])  # the last one attracts no row
    stats = block_statistics(X, w, 0, covariance_type, NearestCentreAssigner(centres))
    labels = (((X[:, None, :] - centres[None]) ** 2).sum(axis=2)).argmin(axis=1)
    assert set(labels) == {0, 1, 2}
    nk, means, m2 = naive_moments(covariance_type, X - offset, w, np.eye(k)[labels][:, :3])[:3]
    assert stats.nk[3] == 0 and (stats.means[3] == 0).all()
    np.testing.assert_allclose(stats.nk[:3], nk, rtol=1e-13)
    atol = 1e-13 + 4 * np.spacing(offset)
    np.testing.assert_allclose(stats.means[:3] - offset, means, atol=atol)
    got_m2 = stats.m2 if covariance_type == "tied" else stats.m2[:3]
    np.testing.assert_allclose(got_m2, m2, rtol=1e-11, atol=1e-12)
    assert stats.log_lik == pytest.approx(-(w @ ((X - centres[labels]) ** 2).sum(axis=1)))


def test_first_nonfinite():
    X = np.zeros((4, 3))
    assert _kernels.first_nonfinite(X) == (-1, -1)
    X[2, 1] = np.nan
    X[3, 0] = np.inf
    assert _kernels.first_nonfinite(X) == (2, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_first_nonfinite_past_the_first_chunk(dtype, bad):
    """The chunked check finds the first bad value wherever it lies, large values are not
    mistaken for one, and a chunk boundary inside a row is handled."""
    rng = np.random.RandomState(0)
    X = (rng.uniform(-1, 1, (3001, 7)) * np.finfo(dtype).max).astype(dtype)
    assert _kernels.first_nonfinite(X) == (-1, -1)
    for row, col in [(2999, 6), (1170, 2), (585, 1), (0, 0)]:  # 585 * 7 + 1 = 4096
        X[row, col] = bad
        assert _kernels.first_nonfinite(X) == (row, col)
        assert _kernels.first_nonfinite(np.asfortranarray(X)) == (row, col)
        assert _kernels.first_nonfinite(X[:, ::-1]) == (row, X.shape[1] - 1 - col)


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


def test_exp_nonpositive_against_libm():
    rng = np.random.RandomState(7)
    half = 0.5 * np.log(2)  # the reduced argument's range ends at +-half
    ends = np.concatenate([k * np.log(2) + half * np.array([-1, 1]) for k in range(-30, 0)])
    x = np.concatenate(
        [-rng.exponential(40.0, 100_000), -rng.uniform(0, 1e-3, 10_000), ends, ends + 1e-15]
    )
    x[:6] = [0.0, -1e-300, -half, -707.9, -708.5, -np.inf]
    got = x.copy()
    _kernels.exp_nonpositive(got, np.empty_like(got))
    want = np.exp(x)
    kept = x >= _kernels.EXP_FLOOR
    assert got[0] == 1.0  # a row's largest term: exactly 1
    ulps = np.abs(got[kept] - want[kept]) / np.spacing(want[kept])
    assert ulps.max() <= 1.0 and ulps.mean() < 0.1  # libm itself is within 0.5 ulp
    assert np.all(got[~kept] == 0.0)
    nan = np.array([np.nan])
    _kernels.exp_nonpositive(nan, np.empty(1))
    assert np.isnan(nan[0])


def naive_block(covariance_type, X, w, params):
    """(nk, means, m2, log-likelihood) from scipy densities and naive_moments."""
    k, d = params.means.shape
    lp = np.column_stack(
        [
            np.log(params.weights[j])
            + multivariate_normal(
                params.means[j], dense_cov(covariance_type, params.covariances, j, d)
            ).logpdf(X)
            for j in range(k)
        ]
    )
    log_norm = logsumexp(lp, axis=1)
    resp = np.exp(lp - log_norm[:, None])
    return (*naive_moments(covariance_type, X, w, resp), w @ log_norm)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, TILE - 1, TILE, TILE + 1, 2 * TILE + 50])
def test_fused_block_against_naive(covariance_type, dtype, n):
    """One fused pass gives scipy's log-likelihood and the naive moments (tile edges in n)."""
    k, d = 3, 5
    params = random_params(covariance_type, k, d, seed=8)
    rng = np.random.RandomState(9)
    X = (params.means[rng.randint(k, size=n)] + rng.randn(n, d)).astype(dtype)
    w = rng.uniform(0.1, 2.0, n)
    got = block_statistics(X, w, 0, covariance_type, ModelAssigner(params, covariance_type))
    nk, means, m2, log_lik = naive_block(covariance_type, X.astype(np.float64), w, params)
    got_m2 = got.m2
    # float32 blocks of full and tied models take their distances in float32 (_block.py)
    f32 = dtype == np.float32 and covariance_type in ("full", "tied")
    rtol = 1e-6 if f32 else 1e-12
    np.testing.assert_allclose(got.nk, nk, rtol=rtol, atol=1e-300)
    assert got.log_lik == pytest.approx(log_lik, rel=rtol)
    assert got.weight_sum == pytest.approx(w.sum(), rel=1e-15) and got.n_rows == n
    live = nk > 1e-8 * nk.max()  # a component with ~no mass has ~no digits in its mean
    np.testing.assert_allclose(got.means[live], means[live], rtol=max(rtol, 1e-11), atol=1e-12)
    if covariance_type != "tied":
        got_m2, m2 = got.m2[live], m2[live]
    floor = max(1e-12 * w.sum(), rtol * np.abs(m2).max() if f32 else 0.0)  # off-diagonals
    np.testing.assert_allclose(got_m2, m2, rtol=max(rtol, 1e-10), atol=floor)
    means_only = block_statistics(
        X, w, 0, covariance_type, ModelAssigner(params, covariance_type), with_m2=False
    )
    assert means_only.m2 is None
    np.testing.assert_array_equal(means_only.nk, got.nk)
    np.testing.assert_allclose(means_only.means, got.means, rtol=1e-14, atol=1e-14)


def test_fused_block_zero_weights():
    """Zero sample weights and a zero mixture weight add nothing; empty means are 0."""
    params = random_params("full", 3, 2, seed=14)
    params = params._replace(weights=np.array([0.6, 0.4, 0.0]))
    rng = np.random.RandomState(15)
    X = rng.randn(150, 2) * 3
    w = np.where(np.arange(150) % 3 == 0, 0.0, 1.0)
    got = block_statistics(X, w, 0, "full", ModelAssigner(params, "full"))
    kept = block_statistics(X[w > 0], None, 0, "full", ModelAssigner(params, "full"))
    assert got.nk[2] == 0.0 and np.all(got.means[2] == 0.0) and np.all(got.m2[2] == 0.0)
    np.testing.assert_allclose(got.nk, kept.nk, rtol=1e-13)
    np.testing.assert_allclose(got.means, kept.means, rtol=1e-13)
    np.testing.assert_allclose(got.m2, kept.m2, rtol=1e-12)
    assert got.log_lik == pytest.approx(kept.log_lik, rel=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("start", ["near", "far"])
def test_fused_block_offset_data(covariance_type, start):
    """X + 1e8 and means 1e4 standard deviations away lose no digits of the moments."""
    offset, k, d, n = 1e8, 3, 4, 500
    params = random_params(covariance_type, k, d, seed=10)
    params = params._replace(means=np.round(params.means * 2**20) / 2**20)
    rng = np.random.RandomState(11)
    Z = params.means[rng.randint(k, size=n)] + rng.randn(n, d)
    Z = np.round(Z * 2**20) / 2**20  # Z + 1e8 is exact
    w = rng.uniform(0.1, 2.0, n)
    shifted = params
    if start == "far":  # broad precisions, so every component keeps mass
        cov = covariance.get(covariance_type)
        prec_chol = params.precisions_cholesky * 1e-4
        shifted = Params(
            params.weights, params.means + 1e4, cov.covariances_from_chol(prec_chol), prec_chol
        )
    base = block_statistics(Z, w, 0, covariance_type, ModelAssigner(shifted, covariance_type))
    moved = Params(
        shifted.weights, shifted.means + offset, shifted.covariances, shifted.precisions_cholesky
    )
    got = block_statistics(Z + offset, w, 0, covariance_type, ModelAssigner(moved, covariance_type))
    np.testing.assert_allclose(got.nk, base.nk, rtol=1e-9)
    np.testing.assert_allclose(got.means - offset, base.means, rtol=0, atol=4 * np.spacing(offset))
    np.testing.assert_allclose(got.m2, base.m2, rtol=1e-9)
    _, _, m2, _ = naive_block(covariance_type, Z, w, shifted)
    np.testing.assert_allclose(base.m2, m2, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_fused_diag_rows_sorted_by_cluster(covariance_type, offset):
    """Rows sorted by cluster: in most tiles some component sees only the far tails of
    other clusters' rows, where sums about a running centre cancel digits (_kernels/fused_diag.py).
    Every component's moments, the tails' included, still match the two-pass naive ones."""
    k, d, n = 4, 3, 8 * TILE + 17
    params = random_params(covariance_type, k, d, seed=16)
    params = params._replace(means=np.round(params.means * 2**21) / 2**20)  # 2x apart
    rng = np.random.RandomState(17)
    Z = params.means[np.sort(rng.randint(k, size=n))] + rng.randn(n, d) * 0.3
    Z = np.round(Z * 2**20) / 2**20  # Z + offset is exact
    w = rng.uniform(0.1, 2.0, n)
    resp = np.exp(block_log_resp(Z, ModelAssigner(params, covariance_type))[0][:, 1:])
    share = np.add.reduceat(resp, np.arange(0, n, TILE)).min(axis=1) / TILE
    assert np.mean(share < 1e-6) > 0.5  # tiles where a component has tails only
    moved = params._replace(means=params.means + offset)
    got = block_statistics(Z + offset, w, 0, covariance_type, ModelAssigner(moved, covariance_type))
    nk, means, m2, log_lik = naive_block(covariance_type, Z, w, params)
    np.testing.assert_allclose(got.nk, nk, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.means - offset, means, rtol=1e-13, atol=4 * np.spacing(offset))
    np.testing.assert_allclose(got.m2, m2, rtol=1e-11, atol=0)


def test_fused_block_reports_the_first_overflowing_row():
    params = random_params("full", 2, 3, seed=12)
    X = np.random.RandomState(13).randn(200, 3)
    X[[130, 170]] = 1e200  # squares overflow: log p = -inf
    got = block_statistics(X, None, 1000, "full", ModelAssigner(params, "full"))
    assert (got.bad_row, got.bad_kind) == (1130, NONFINITE_DENSITY)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fused_pass_names_the_first_nonfinite_input(covariance_type, dtype, bad):
    """The fused pass checks X only when the kernel meets a non-finite density: a NaN or
    inf anywhere in any tile (the last, padded one too) must make it stop, and the input
    problem is named even when a row that merely overflows comes first."""
    k, d = 3, 4
    params = random_params(covariance_type, k, d, seed=18)
    X = np.random.RandomState(19).randn(3 * TILE + 5, d).astype(dtype)
    for with_m2 in (True, False):
        for row, col in [(3 * TILE + 4, 3), (TILE + 7, 0), (0, 2)]:
            Y = X.copy()
            if row:
                Y[row // 2] = np.finfo(dtype).max  # a density that overflows comes first
            Y[row, col] = bad
            got = block_statistics(
                Y, None, 500, covariance_type, ModelAssigner(params, covariance_type), with_m2
            )
            assert (got.bad_row, got.bad_col, got.bad_kind) == (500 + row, col, NONFINITE_INPUT)


_CACHE_PROBE = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
sys.path.insert(0, {folder!r})
import probe
print("result", probe.twice(21.0))
"""


@pytest.mark.parametrize("damage", ["garbled", "unwritable"])
@pytest.mark.subprocess
def test_import_and_fit_with_a_broken_cache(tmp_path, damage):
    """A corrupt cache is a miss, an unusable folder means no cache: never a failed call.

    A probe kernel compiled through streamgmm's ``jit`` stands in for the real ones (a
    cold compile of those takes tens of seconds); then a real import and tiny fit run
    with the unusable folder (falling back to the package's own cache).
    """
    (tmp_path / "probe.py").write_text(
        "from streamgmm._kernels.jit import jit\n\n@jit\ndef twice(x):\n    return 2.0 * x\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("STREAMGMM_NO_CACHE", None)
    probe = _CACHE_PROBE.format(folder=str(tmp_path))

    def run(code, **extra):
        out = subprocess.run(
            [sys.executable, "-c", code], env=dict(env, **extra), capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    if damage == "garbled":
        assert "result 42.0" in run(probe)
        files = list((tmp_path / "cache").rglob("*.nb[ic]"))
        assert files, "the probe was not cached"
        for f in files:
            f.write_bytes(b"\x80\x04garbage")
        out = run(probe)
        assert "result 42.0" in out and "ignoring unreadable Numba cache" in out
    else:
        (tmp_path / "file").write_text("")  # a folder below a file: unusable, also as root
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "file" / "cache")
        # Only that folder, so Numba has no locator at all.
        assert "result 42.0" in run(probe, NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator")
        fit = (
            "import numpy as np, streamgmm\n"
            "X = np.random.RandomState(0).randn(40, 2)\n"
            "print(streamgmm.GaussianMixture(2, max_iter=2, random_state=0).fit(X).n_iter_)\n"
        )
        assert run(f"import warnings; warnings.simplefilter('ignore')\n{fit}").strip() == "2"
