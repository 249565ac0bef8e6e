"""The NumPy engine against the compiled kernels: the same outputs to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from streamgmm import _kernels as kernels
from streamgmm._kernels import numpy_engine as ref

from conftest import COVARIANCE_TYPES, random_covariance


def _problem(seed, covariance_type, n=1000, k=3, d=4, offset=0.0, dtype=np.float64):
    """Data, weights and the fused kernels' view of a mixture of ``covariance_type``."""
    from streamgmm._model import get_covariance

    rng = np.random.RandomState(seed)
    cov = random_covariance(rng, covariance_type, k, d)
    means = rng.randn(k, d) * 3 + offset
    X = (rng.randn(n, d) * 2 + offset + means[rng.randint(0, k, n)]).astype(dtype)
    w = rng.uniform(0.2, 2.0, n)
    reg = get_covariance(covariance_type)
    chol = reg.precision_cholesky(cov)
    prec = np.ascontiguousarray(reg.fused_precisions(chol, k, d))
    log_const = np.log(rng.dirichlet(np.ones(k))) + reg.log_det_chol(chol, k, d)
    log_const = log_const - 0.5 * d * kernels.LOG_2PI
    return X, w, means, prec, log_const, reg.fused_diagonal


def _kernel_statistics(X, w, means, prec, log_const, diagonal, with_m2):
    k, d = means.shape
    nk, mean_out, m2 = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
    log_lik, bad = kernels.fused_block(
        X, w, means, prec, prec, np.inf, log_const, diagonal, with_m2, nk, mean_out, m2
    )
    return log_lik, bad, nk, mean_out, m2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_m2", [True, False])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_block_statistics_equal_the_fused_kernel(covariance_type, dtype, with_m2, offset):
    """Across several chunks (CHUNK rows each), weighted, offset data included."""
    X, w, means, prec, log_const, diagonal = _problem(
        3, covariance_type, n=2 * ref.CHUNK + 123, offset=offset, dtype=dtype
    )
    got = ref.block_statistics(X, w, means, prec, log_const, diagonal, with_m2)
    want = _kernel_statistics(X, w, means, prec, log_const, diagonal, with_m2)
    assert got[1] == want[1] == -1
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-11)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-12)
    if with_m2:
        m2 = want[4]
        if diagonal:  # the kernel writes the diagonal only
            m2 = np.stack([np.diag(np.diag(m)) for m in m2])
        np.testing.assert_allclose(got[4], m2, rtol=1e-9, atol=1e-9 * np.abs(m2).max())
    else:
        assert got[4] is None


def test_responsibilities_below_the_exp_floor_are_zero_in_both():
    """Component 1 is component 0 with a log-weight 720 lower: exp(lp - top) is under
    EXP_FLOOR in every row, flushed to 0 by the kernels' exp (np.exp would give subnormals),
    so nk = 0 and its mean 0; the probabilities are libm's subnormals in both."""
    X, w, means, prec, log_const, diagonal = _problem(8, "full", n=500)
    means[1], prec[1] = means[0], prec[0]
    log_const[1] = log_const[0] - 720.0
    got = ref.block_statistics(X, w, means, prec, log_const, diagonal, True)
    want = _kernel_statistics(X, w, means, prec, log_const, diagonal, True)
    assert got[2][1] == want[2][1] == 0.0
    assert not got[3][1].any() and not want[3][1].any()
    probs, _ = ref.infer(X, means, prec, log_const, diagonal, {"proba"})
    n, k = X.shape[0], means.shape[0]
    outs = np.empty(0), np.empty((0, k)), np.empty((n, k)), np.empty(0, np.int64)
    kernels.fused_infer(X, means, prec, log_const, diagonal, *outs)
    np.testing.assert_allclose(probs["proba"], outs[2], rtol=1e-12, atol=0)
    assert 0 < probs["proba"][:, 1].max() < 1e-300


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e200])
def test_block_statistics_name_the_first_bad_row(value):
    X, w, means, prec, log_const, diagonal = _problem(4, "full", n=ref.CHUNK + 50)
    X[ref.CHUNK + 7, 2] = value
    X[ref.CHUNK + 9, 1] = value
    got = ref.block_statistics(X, w, means, prec, log_const, diagonal, True)
    want = _kernel_statistics(X, w, means, prec, log_const, diagonal, True)
    assert got[1] == want[1] == ref.CHUNK + 7


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("far", [False, True])
def test_infer_equals_the_inference_kernel(covariance_type, far):
    """Every output; with ``far`` rows whose squares overflow: every log-density -inf, and
    -inf or NaN outputs as scikit-learn gives them."""
    X, _, means, prec, log_const, diagonal = _problem(5, covariance_type, n=ref.CHUNK + 300)
    if far:
        X[10] = 1e160
        X[20] = 1e300
    n, k = X.shape[0], means.shape[0]
    want = {
        "log_prob": np.empty(n),
        "log_resp": np.empty((n, k)),
        "proba": np.empty((n, k)),
        "labels": np.empty(n, np.int64),
    }
    bad = kernels.fused_infer(X, means, prec, log_const, diagonal, *want.values())
    got, got_bad = ref.infer(X, means, prec, log_const, diagonal, set(want))
    assert got_bad == bad == (10 if far else -1)
    np.testing.assert_array_equal(got["labels"], want["labels"])
    for name in ("log_prob", "log_resp", "proba"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-300)
    alone, alone_bad = ref.infer(X, means, prec, log_const, diagonal, {"labels"})
    assert set(alone) == {"labels"}
    np.testing.assert_array_equal(alone["labels"], want["labels"])
    assert alone_bad == (10 if far else -1)


@pytest.mark.parametrize("diagonal", [False, True])
def test_nearest_centre_and_hard_statistics_equal_the_kernels(diagonal):
    rng = np.random.RandomState(6)
    X = rng.randn(ref.CHUNK + 77, 3) * 2 + 1e4
    w = rng.uniform(0.5, 1.5, len(X))
    centres = X[rng.choice(len(X), 5, replace=False)] + 0.25
    centres[4] = 1e9  # a centre no row is nearest to: zero statistics
    got_labels, want_labels = np.empty(len(X), np.int64), np.empty(len(X), np.int64)
    got = ref.nearest_centre(X, w, centres, got_labels)
    want = kernels.nearest_centre(X, w, centres, want_labels)
    np.testing.assert_array_equal(got_labels, want_labels)
    assert got == pytest.approx(want, rel=1e-12)
    nk, means, m2 = np.empty(5), np.empty((5, 3)), np.empty((5, 3, 3))
    kernels.hard_statistics(X, w, want_labels, centres, diagonal, True, nk, means, m2)
    r_nk, r_means, r_m2 = ref.hard_statistics(X, w, want_labels, centres, diagonal, True)
    np.testing.assert_allclose(r_nk, nk, rtol=1e-12)
    np.testing.assert_allclose(r_means, means, rtol=1e-13)
    np.testing.assert_allclose(r_m2, m2, rtol=1e-10, atol=1e-10 * np.abs(m2).max())
    assert r_nk[4] == 0 and not r_means[4].any() and not r_m2[4].any()


@pytest.mark.parametrize("where", [None, (0, 0), (5, 2), (9999, 3)])
def test_first_nonfinite_equals_the_kernel(where):
    X = np.random.RandomState(7).randn(10_000, 4)
    if where is not None:
        X[where] = np.inf
        X[-1, 0] = np.nan
    assert ref.first_nonfinite(X) == kernels.first_nonfinite(X)
