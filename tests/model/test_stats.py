"""Merge laws of the statistics value type (hypothesis), and chunking invariance."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamgmm._data.blocks import statistics_from_resp
from streamgmm._model.stats import SuffStats, merge_all

from conftest import COVARIANCE_TYPES


def stats_of(X, w, resp, covariance_type):
    return statistics_from_resp(
        np.ascontiguousarray(X),
        np.ascontiguousarray(w),
        np.ascontiguousarray(resp),
        covariance_type,
    )


def close(a: SuffStats, b: SuffStats, rtol=1e-10):
    scale = max(1.0, float(np.abs(b.means).max()))
    np.testing.assert_allclose(a.nk, b.nk, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.means, b.means, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(
        a.m2, b.m2, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b.m2).max()))
    )
    assert a.weight_sum == np.float64(b.weight_sum) or abs(a.weight_sum - b.weight_sum) < 1e-9


@st.composite
def blocks(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=1, max_size=5)))
    offset = draw(st.sampled_from([0.0, 1e6]))
    covariance_type = draw(st.sampled_from(COVARIANCE_TYPES))
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * rng.uniform(0.1, 10, d) + offset
    w = rng.uniform(0.0, 3.0, n)
    resp = rng.dirichlet(np.ones(k), size=n)
    return X, w, resp, [0, *cuts, n], covariance_type


@settings(deadline=None, max_examples=60, derandomize=True)
@given(blocks())
def test_merge_laws(data):
    X, w, resp, cuts, covariance_type = data
    parts = [
        stats_of(X[a:b], w[a:b], resp[a:b], covariance_type)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    whole = stats_of(X, w, resp, covariance_type)
    zero = SuffStats.zero(covariance_type, resp.shape[1], X.shape[1])
    # zero is an exact identity, on both sides
    for p in parts:
        for merged in (p.merge(zero), zero.merge(p)):
            np.testing.assert_array_equal(merged.means, p.means)
            np.testing.assert_array_equal(merged.m2, p.m2)
    # any chunking, any order: the statistics of the whole block, to rounding
    close(merge_all(parts), whole)
    close(merge_all(parts[::-1]), whole)
    if len(parts) >= 3:
        a, b, c = parts[:3]
        close(a.merge(b).merge(c), a.merge(b.merge(c)))
        close(a.merge(b), b.merge(a))


def test_first_problem_row_wins():
    z = SuffStats.zero("diag", 2, 2)
    a, b = z.with_problem(50, 1, 1), z.with_problem(7, 0, 2)
    for m in (a.merge(b), b.merge(a), a.merge(z).merge(b)):
        assert (m.bad_row, m.bad_col, m.bad_kind) == (7, 0, 2)
    assert z.merge(z).bad_row == -1
