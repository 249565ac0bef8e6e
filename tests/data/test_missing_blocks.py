"""Blocks with missing values (issue 18), property-based: over shapes, missing rates,
chunkings, weights, dtypes and covariance types, the statistics do not depend on the
chunking (complete and incomplete rows, grouped by pattern per block, then merged), the
responsibilities sum to 1, and a block without NaN gives what ``missing="error"`` gives.

Seeded (``derandomize=True``); ``deadline=None`` because a new dtype compiles a kernel.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from streamgmm._data.blocks import ModelAssigner, block_log_resp, block_statistics
from streamgmm._model import covariance
from streamgmm._model.mstep import Params
from streamgmm._model.stats import merge_all

from conftest import COVARIANCE_TYPES, random_covariance

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True)


@st.composite
def problems(draw):
    """(X with NaN, w, params, covariance type, cuts, rtol)."""
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    n = draw(st.integers(1, 700))  # past two 256-row tiles
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    covariance_type = draw(st.sampled_from(COVARIANCE_TYPES))
    rate = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7]))
    offset = draw(st.sampled_from([0.0, 1e6]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    means = rng.randn(k, d) * 3
    cov = random_covariance(rng, covariance_type, k, d)
    chol = covariance.get(covariance_type).precision_cholesky(cov)
    X = np.round((means[rng.randint(k, size=n)] + rng.randn(n, d)) * 2**10) / 2**10 + offset
    X[rng.random_sample(X.shape) < rate] = np.nan
    params = Params(rng.dirichlet(np.ones(k)), means + offset, cov, chol)
    w = rng.uniform(0.0, 3.0, n) * (rng.uniform(size=n) > 0.1)  # some zero weights
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    rtol = max(1e-9, 10 * np.finfo(float).eps * offset)  # x - mean after a 1e6 offset
    return X.astype(dtype), w, params, covariance_type, [0, *cuts, n], rtol


@SETTINGS
@given(problems())
def test_statistics_with_missing_values_do_not_depend_on_the_chunking(problem):
    X, w, params, covariance_type, cuts, rtol = problem
    assigner = ModelAssigner(params, covariance_type, "em")
    whole = block_statistics(X, w, 0, covariance_type, assigner)
    assert whole.bad_row < 0
    pieces = [
        block_statistics(X[a:b], w[a:b], a, covariance_type, assigner)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    merged = merge_all(pieces)
    used = ~np.isnan(X).all(axis=1)
    assert merged.n_rows == whole.n_rows == used.sum() and merged.bad_row < 0
    assert merged.weight_sum == np.float64(whole.weight_sum) or np.isclose(
        merged.weight_sum, whole.weight_sum, rtol=1e-14
    )
    np.testing.assert_allclose(merged.nk, whole.nk, rtol=rtol, atol=rtol * whole.nk.max(initial=0))
    live = whole.nk > 1e-6 * whole.nk.max(initial=0)
    np.testing.assert_allclose(merged.means[live], whole.means[live], rtol=rtol)
    scale = np.abs(whole.m2).max(initial=0.0)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=rtol, atol=10 * rtol * scale)
    assert abs(merged.log_lik - whole.log_lik) <= rtol * (abs(whole.log_lik) + whole.weight_sum)


@SETTINGS
@given(problems())
def test_responsibilities_with_missing_values_sum_to_one(problem):
    X, _, params, covariance_type, _, _ = problem
    out, bad = block_log_resp(X, ModelAssigner(params, covariance_type, "em"))
    assert bad == -1 and np.isfinite(out).all()
    np.testing.assert_allclose(logsumexp(out[:, 1:], axis=1), 0.0, atol=1e-12)


@SETTINGS
@given(problems())
def test_a_block_without_nan_is_the_fused_block(problem):
    X, w, params, covariance_type, _, _ = problem
    X = np.where(np.isnan(X), np.float32(1.0), X).astype(X.dtype)
    em = block_statistics(X, w, 0, covariance_type, ModelAssigner(params, covariance_type, "em"))
    plain = block_statistics(X, w, 0, covariance_type, ModelAssigner(params, covariance_type))
    for name in ("nk", "means", "m2", "log_lik", "weight_sum", "n_rows"):
        np.testing.assert_array_equal(getattr(em, name), getattr(plain, name))
