"""Property-based tests (issue 9, item 4): over shapes, chunkings, weights, dtypes and
covariance types, the fused E-step and the k-means passes do not depend on the chunking,
responsibilities sum to 1, and EM with ``reg_covar=0`` never lowers its bound.

Seeded (``derandomize=True``) so CI sees the same examples every run; ``deadline=None``
because the first example of a new dtype or layout compiles a kernel.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm._data.blocks import (
    ModelAssigner,
    NearestCentreAssigner,
    block_log_resp,
    block_statistics,
)
from streamgmm._model import covariance
from streamgmm._model.mstep import Params
from streamgmm._model.stats import merge_all

from conftest import COVARIANCE_TYPES

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True)


def random_params(rng, covariance_type, k, d, scale):
    """Weights, means and a covariance per type, well inside the data's range."""
    means = rng.randn(k, d) * 3 * scale
    a = rng.randn(k, d, d) * scale
    full = a @ a.transpose(0, 2, 1) + d * scale**2 * np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.5, 2.0, (k, d)) * scale**2,
        "spherical": rng.uniform(0.5, 2.0, k) * scale**2,
    }[covariance_type]
    chol = covariance.get(covariance_type).precision_cholesky(cov)
    return Params(rng.dirichlet(np.ones(k)), means, cov, chol)


@st.composite
def problems(draw):
    """(X, w, params, covariance type, cuts, rtol): a block, its weights, a model, a
    chunking, and the relative precision the data allow: an offset of 1e6 over a spread of
    1e-3 leaves x - mean only eps * 1e9 of relative precision, whatever the algorithm."""
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    n = draw(st.integers(1, 700))  # past two 256-row tiles
    k, d = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    covariance_type = draw(st.sampled_from(COVARIANCE_TYPES))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1e6]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    params = random_params(rng, covariance_type, k, d, scale)
    X = params.means[rng.randint(k, size=n)] + rng.randn(n, d) * scale
    if offset:  # data and model moved together, exactly representable
        X = np.round(X / scale * 2**10) / 2**10 * scale + offset
        params = params._replace(means=params.means + offset)
    w = rng.uniform(0.0, 3.0, n) * (rng.uniform(size=n) > 0.1)  # some zero weights
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    rtol = max(1e-9, 10 * np.finfo(float).eps * max(1.0, offset / scale))
    return X.astype(dtype), w, params, covariance_type, [0, *cuts, n], rtol


def assert_close_stats(got, want, rtol):
    np.testing.assert_allclose(got.nk, want.nk, rtol=rtol, atol=rtol * max(want.nk.max(), 1e-300))
    live = want.nk > 1e-6 * want.nk.max()
    scale = np.abs(want.means[live]).max(initial=1.0)
    np.testing.assert_allclose(got.means[live], want.means[live], rtol=rtol, atol=rtol * scale)
    m2_scale = np.abs(want.m2).max(initial=0.0)
    np.testing.assert_allclose(got.m2, want.m2, rtol=rtol, atol=10 * rtol * m2_scale)
    assert got.log_lik == np.float64(want.log_lik) or abs(got.log_lik - want.log_lik) <= rtol * (
        abs(want.log_lik) + want.weight_sum
    )


@SETTINGS
@given(problems())
def test_fused_statistics_do_not_depend_on_the_chunking(problem):
    """Statistics of the pieces merged (Chan) equal those of the whole block."""
    X, w, params, covariance_type, cuts, rtol = problem
    assigner = ModelAssigner(params, covariance_type)
    whole = block_statistics(X, w, 0, covariance_type, assigner)
    assert whole.bad_row < 0
    pieces = [
        block_statistics(X[a:b], w[a:b], a, covariance_type, assigner)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    merged = merge_all(pieces)
    assert merged.n_rows == len(X) and merged.bad_row < 0
    assert_close_stats(merged, whole, rtol)


@SETTINGS
@given(problems())
def test_responsibilities_sum_to_one(problem):
    """Every row's log-responsibilities logsumexp to 0 and its log p is finite."""
    X, _, params, covariance_type, _, _ = problem
    out, bad = block_log_resp(X, ModelAssigner(params, covariance_type))
    assert bad == -1 and np.isfinite(out).all()
    np.testing.assert_allclose(logsumexp(out[:, 1:], axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.exp(out[:, 1:]).sum(axis=1), 1.0, rtol=1e-12)


@SETTINGS
@given(problems())
def test_kmeans_statistics_do_not_depend_on_the_chunking(problem):
    """The Lloyd pass's labels and statistics: pieces merged equal the whole block."""
    X, w, params, covariance_type, cuts, rtol = problem
    assigner = NearestCentreAssigner(params.means)
    whole = block_statistics(X, w, 0, covariance_type, assigner)
    pieces = [
        block_statistics(X[a:b], w[a:b], a, covariance_type, assigner)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    assert_close_stats(merge_all(pieces), whole, rtol)


@settings(deadline=None, max_examples=25, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    k=st.integers(1, 4),
    d=st.integers(1, 4),
    chunk_size=st.sampled_from([7, 64, "auto"]),
    weighted=st.booleans(),
)
def test_lower_bound_never_decreases_with_reg_covar_zero(
    seed, covariance_type, k, d, chunk_size, weighted
):
    """EM's bound is monotone (up to rounding) when nothing regularises the M-step."""
    rng = np.random.RandomState(seed)
    n = 40 * k + 20
    X = rng.randn(k, d)[rng.randint(k, size=n)] * 4 + rng.randn(n, d)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    gm = streamgmm.GaussianMixture(
        k,
        covariance_type=covariance_type,
        reg_covar=0.0,
        max_iter=25,
        tol=0.0,
        init_params="random_from_data",
        random_state=seed % 1000,
        chunk_size=chunk_size,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            gm.fit(X, sample_weight=w)
        except ValueError as exc:  # a component collapsed onto too few points
            assume("ill-defined empirical covariance" not in str(exc))
            raise
    bounds = np.asarray(gm.lower_bounds_)
    steps = np.diff(bounds)
    assert (steps >= -1e-12 * np.abs(bounds[1:]).clip(1.0)).all(), steps.min()
