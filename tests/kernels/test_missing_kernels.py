"""The missing-value kernels (issue 18) against naive NumPy: NaN patterns, infinities,
observed sums, and the incomplete-row kernels' statistics, inference and imputation against
the dense reference of ``tests/missing_oracle.py``."""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm import _kernels as kernels
from streamgmm._data.blocks import ModelAssigner
from streamgmm._data.missing import split_rows
from streamgmm._model import covariance
from streamgmm._model.mstep import Params

from conftest import COVARIANCE_TYPES, random_covariance
from missing_oracle import e_step, full_covariances


def _model(rng, covariance_type, k, d, offset=0.0):
    cov = random_covariance(rng, covariance_type, k, d)
    chol = covariance.get(covariance_type).precision_cholesky(cov)
    return Params(rng.dirichlet(np.ones(k)), rng.randn(k, d) * 3 + offset, cov, chol)


def _block(rng, params, n, rate, offset=0.0):
    k, d = params.means.shape
    X = params.means[rng.randint(k, size=n)] - offset + rng.randn(n, d) * 2
    X = np.round(X * 2**20) / 2**20 + offset  # exact with the offset
    X[rng.random_sample(X.shape) < rate] = np.nan
    return X


def test_nan_patterns_bits_counts_and_the_first_infinity():
    X = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan], [0.0, 1.0, 2.0]])
    keys, counts = np.empty((3, 1), np.uint64), np.empty(3, np.int64)
    assert kernels.nan_patterns(X, keys, counts) == (-1, -1)
    assert keys[:, 0].tolist() == [0b010, 0b111, 0] and counts.tolist() == [1, 3, 0]
    wide = np.zeros((2, 70))
    wide[1, [0, 63, 64, 69]] = np.nan
    keys, counts = np.empty((2, 2), np.uint64), np.empty(2, np.int64)
    kernels.nan_patterns(wide, keys, counts)
    assert keys[1].tolist() == [1 | 1 << 63, 1 | 1 << 5] and counts.tolist() == [0, 4]
    X[2, 1] = -np.inf
    assert kernels.nan_patterns(X, keys[:, :1].copy(), counts) == (2, 1)


def test_first_infinite_ignores_nan():
    X = np.full((3000, 5), np.nan)
    assert kernels.first_infinite(X) == (-1, -1)
    X[2222, 3] = np.inf
    X[2500, 0] = -np.inf
    assert kernels.first_infinite(X) == (2222, 3)


def test_observed_sums_and_fill():
    X = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, np.nan]], dtype=np.float32)
    w = np.array([1.0, 2.0, 5.0])
    sums, weights, counts = np.zeros(2), np.zeros(2), np.zeros(2, np.int64)
    assert kernels.observed_sums(X, w, sums, weights, counts) == (-1, -1)
    np.testing.assert_array_equal(sums, [7.0, 8.0])
    np.testing.assert_array_equal(weights, [3.0, 2.0])
    np.testing.assert_array_equal(counts, [2, 1])
    filled = kernels.fill_missing(X, np.array([9.0, 8.0]))
    assert filled.dtype == np.float32 and np.isnan(X).sum() == 3
    np.testing.assert_array_equal(filled, [[1, 8], [3, 4], [9, 8]])


def test_rows_split_by_pattern_in_row_order_within_a_pattern():
    rng = np.random.RandomState(0)
    for d in (5, 70):
        X = rng.randn(900, d)
        X[rng.random_sample(X.shape) < 2.0 / d] = np.nan
        X[17] = np.nan
        split = split_rows(X, by_pattern=True)
        missing = np.isnan(X)
        assert 17 in split.empty and np.array_equal(split.empty, np.flatnonzero(missing.all(1)))
        assert np.array_equal(split.complete, np.flatnonzero(~missing.any(axis=1)))
        rows = split.incomplete
        assert sorted(rows.tolist()) == np.flatnonzero(missing.any(1) & ~missing.all(1)).tolist()
        keys = [missing[i].tobytes() for i in rows]
        starts = [i for i in range(len(rows)) if i == 0 or keys[i] != keys[i - 1]]
        assert len(starts) == len(set(keys))  # each pattern in one run
        for a, b in zip(starts, [*starts[1:], len(rows)], strict=True):
            assert (np.diff(rows[a:b]) > 0).all()  # row order inside a pattern
    assert split_rows(rng.randn(10, 3), by_pattern=True) is None


def _reference_statistics(X, w, params, covariance_type):
    k, d = params.means.shape
    full = full_covariances(covariance_type, params.covariances, k, d)
    log_prob, resp, x_hat, cond, which, used = e_step(X, params.weights, params.means, full)
    wr = w[used][:, None] * resp
    nk = wr.sum(axis=0)
    means = np.einsum("ik,ikd->kd", wr, x_hat) / nk[:, None]
    m2 = np.empty((k, d, d))
    for c in range(k):
        diff = x_hat[:, c] - means[c]
        mass = np.bincount(which, weights=wr[:, c], minlength=len(cond))
        m2[c] = (wr[:, c] * diff.T) @ diff + np.einsum("p,pab->ab", mass, cond[:, c])
    layout = covariance.get(covariance_type).fused_m2(m2)
    return nk, means, layout, float((w[used] * log_prob).sum()), int(used.sum())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_block_statistics_with_missing_values_match_the_reference(covariance_type, offset):
    """The whole block path: complete rows fused, incomplete rows by pattern, empty rows
    left out, merged. With data and means 1e6 away, the centred moments keep their digits."""
    from streamgmm._data.blocks import block_statistics

    rng = np.random.RandomState(1)
    params = _model(rng, covariance_type, 3, 5, offset)
    X = _block(rng, params, 700, 0.25, offset)
    X[[4, 300]] = np.nan
    w = rng.uniform(0, 2, len(X))
    got = block_statistics(X, w, 0, covariance_type, ModelAssigner(params, covariance_type, "em"))
    nk, means, m2, log_lik, n_used = _reference_statistics(X, w, params, covariance_type)
    used = ~np.isnan(X).all(axis=1)
    assert got.bad_row < 0 and got.n_rows == n_used == used.sum() and not used[[4, 300]].any()
    assert got.weight_sum == pytest.approx(w[used].sum(), rel=1e-14)
    np.testing.assert_allclose(got.nk, nk, rtol=1e-10)
    np.testing.assert_allclose(got.means - offset, means - offset, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.m2, m2, rtol=1e-8 if offset else 1e-10)
    assert got.log_lik == pytest.approx(log_lik, rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_values_too_large_in_an_incomplete_row_are_named(covariance_type):
    from streamgmm._data.blocks import block_statistics
    from streamgmm._model import NONFINITE_DENSITY

    rng = np.random.RandomState(2)
    params = _model(rng, covariance_type, 2, 4)
    X = _block(rng, params, 300, 0.2)
    X[123] = [np.nan, 1e300, 2.0, 3.0]
    got = block_statistics(
        X, None, 1000, covariance_type, ModelAssigner(params, covariance_type, "em")
    )
    assert (got.bad_row, got.bad_kind) == (1123, NONFINITE_DENSITY)
