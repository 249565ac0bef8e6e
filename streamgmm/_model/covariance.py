"""The covariance-type registry.

One :class:`CovarianceType` per scikit-learn covariance type gathers everything
that differs between them (shapes, kernels, the M-step finaliser, the precision
Cholesky, log-determinants, parameter counts, sampling), so no other module needs
an if/elif ladder on ``covariance_type``.

Statistics layout (``m2`` = centred second moments, see ``stats.py``):

=========== =============== ======================================================
type        m2 shape        meaning
=========== =============== ======================================================
full        (K, d, d)       sum_i w_i r_ik (x_i - m_k)(x_i - m_k)^T
tied        (d, d)          the same, summed over k (pooled)
diag        (K, d)          the diagonal of full
spherical   (K,)            the trace of full
=========== =============== ======================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

from .. import _kernels as kernels

#: scikit-learn's message, kept word for word so users' ``match=`` keeps working.
ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def _ill_defined(dtype, component: int | None) -> ValueError:
    msg = ILL_DEFINED_COVARIANCE
    if dtype == np.float32:
        msg += (
            " The numerical accuracy can also be improved by passing float64"
            " data instead of float32."
        )
    if component is not None:
        msg += f" (component {component})"
    return ValueError(msg)


def _chol_of_cov(cov: np.ndarray, component: int | None) -> np.ndarray:
    """Upper-triangular Cholesky factor of the precision, from one covariance matrix."""
    if not np.all(np.isfinite(cov)):
        raise _ill_defined(cov.dtype, component)
    # LAPACK directly: scipy.linalg.cholesky's checks cost 10x the factorisation of a
    # small matrix (K calls per M-step), and trtri inverts the factor where
    # solve_triangular against the identity cost ~8 ms per call with 2 BLAS threads.
    potrf, trtri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "trtri"), (cov,))
    cov_chol, info = potrf(cov, lower=1, clean=1)
    if info != 0:
        raise _ill_defined(cov.dtype, component)
    inv, info = trtri(cov_chol, lower=1)
    if info != 0:
        raise _ill_defined(cov.dtype, component)
    return np.triu(inv.T)


def _chol_of_precision(precision: np.ndarray) -> np.ndarray:
    """Upper-triangular U with U U^T = precision (scikit-learn's flip trick, #26415)."""
    flipped = precision[::-1, ::-1]
    return np.linalg.cholesky(flipped)[::-1, ::-1]


# --- M-step finalisers: statistics -> covariances ----------------------------------
# scikit-learn's definitions, from centred statistics (tests/estimator/test_exactness.py).
# With s = sum_i w_i r_ik (stats.nk), x = the exact weighted mean (stats.means), m2 the
# scatter about x, nk = s + 10 eps and mu = s x / nk (scikit-learn's mean, ``means``):
#
#   full       sum r (x_i - mu)(x_i - mu)^T / nk = (m2 + s (x - mu)(x - mu)^T) / nk
#   diag       sum r x_i^2 / nk - mu^2          = m2 / nk + x^2 (s / nk) g
#   spherical  the mean of diag over the features
#   tied       (sum_i x_i x_i^T - sum_k nk mu mu^T) / sum nk
#                                               = (sum_k m2 + s g x x^T) / sum nk
#
# with g = 1 - s / nk in float64, as scikit-learn's own arithmetic has it: 0 exactly once
# s exceeds ~32 (10 eps is then below half an ulp of s), so that neither a data offset
# nor the scale of the data enters, and the raw moments scikit-learn subtracts never
# appear. (The tied identity assumes each row's responsibilities sum to 1: a start from
# K chosen rows does not, and is computed as scikit-learn computes it, in
# ``mstep.estimate_from_rows``.)


def _shift(stats, means):
    return stats.means - means, stats.nk


def _guard(stats, nk):
    """s * g / nk per component, g = 1 - s / nk (0 where 10 eps is lost in s)."""
    s = stats.nk
    return s * (1.0 - s / nk) / nk


def _cov_full(stats, nk, means, reg_covar):
    delta, nt = _shift(stats, means)
    cov = stats.m2 + nt[:, None, None] * delta[:, :, None] * delta[:, None, :]
    cov /= nk[:, None, None]
    idx = np.arange(cov.shape[1])
    cov[:, idx, idx] += reg_covar
    return cov


def _cov_tied(stats, nk, means, reg_covar):
    sg = stats.nk * (1.0 - stats.nk / nk)
    cov = stats.m2 + np.einsum("k,ki,kj->ij", sg, stats.means, stats.means)
    cov /= nk.sum()
    cov.flat[:: cov.shape[0] + 1] += reg_covar
    return cov


def _cov_diag(stats, nk, means, reg_covar):
    return stats.m2 / nk[:, None] + stats.means**2 * _guard(stats, nk)[:, None] + reg_covar


def _cov_spherical(stats, nk, means, reg_covar):
    d = means.shape[1]
    within = stats.m2 / nk + (stats.means**2).sum(axis=1) * _guard(stats, nk)
    return within / d + reg_covar


# --- precision Cholesky factors ------------------------------------------------------


def _prec_chol_full(cov):
    return np.stack([_chol_of_cov(c, k) for k, c in enumerate(cov)])


def _prec_chol_tied(cov):
    return _chol_of_cov(cov, None)


def _prec_chol_spherical(cov):
    bad = np.flatnonzero(~(cov > 0.0) | ~np.isfinite(cov))
    if bad.size:
        raise _ill_defined(cov.dtype, int(bad[0]))
    return 1.0 / np.sqrt(cov)


def _prec_chol_diag(cov):
    bad = np.flatnonzero(~(cov > 0.0).all(axis=1) | ~np.isfinite(cov).all(axis=1))
    if bad.size:
        raise _ill_defined(cov.dtype, int(bad[0]))
    return 1.0 / np.sqrt(cov)


@dataclass(frozen=True)
class CovarianceType:
    """Everything that depends on the covariance type, in one place."""

    name: str
    #: whether covariances and precisions are matrices (full, tied) or variances (diag,
    #: spherical): what a check of positive definiteness means, and scikit-learn's messages
    is_matrix: bool
    scatter_kernel: Callable
    #: the fused block kernel (kernels.fused_block) sees every type as full or diagonal:
    #: precisions_cholesky -> its (K, d, d) or (K, 1, d) precisions, and its (K, d, d)
    #: second moments -> the layout of m2
    fused_diagonal: bool
    #: whether a float32 block's Mahalanobis distances may run in float32 (see
    #: float32_estep_ok); the diagonal kernel measured no faster in float32
    fused_float32: bool
    fused_precisions: Callable[[np.ndarray, int, int], np.ndarray]
    fused_m2: Callable[[np.ndarray], np.ndarray]
    m2_shape: Callable[[int, int], tuple]
    prec_shape: Callable[[int, int], tuple]
    #: the Chan correction  c_k * delta_k delta_k^T  in the layout of m2
    chan_correction: Callable[[np.ndarray, np.ndarray], np.ndarray]
    #: (stats, nk, means, reg_covar) -> covariances, scikit-learn's definition
    covariances: Callable
    precision_cholesky: Callable[[np.ndarray], np.ndarray]
    #: precisions_cholesky -> precisions, and precisions -> precisions_cholesky
    precisions: Callable[[np.ndarray], np.ndarray]
    chol_from_precisions: Callable[[np.ndarray], np.ndarray]
    #: precisions_cholesky -> covariances (for precisions_init and sampling)
    covariances_from_chol: Callable[[np.ndarray], np.ndarray]
    log_det_chol: Callable[[np.ndarray, int, int], np.ndarray]
    n_cov_parameters: Callable[[int, int], int]
    #: (rng, mean, covariances, k, n) -> n draws of component k (scikit-learn's order)
    sample: Callable
    #: (covariances or precisions, k, d) -> (k, d, d) full matrices of every component
    full_matrices: Callable[[np.ndarray, int, int], np.ndarray]
    #: (m2, d) -> (d,) the second moments of each feature, summed over components
    feature_m2: Callable[[np.ndarray, int], np.ndarray]
    #: one precision for every component (tied): the conditionals of a row with missing
    #: values are factored once for all components
    shared_precision: bool = False

    def statistics_bytes(self, n_components: int, n_features: int) -> int:
        """Bytes of one statistics value (and so of one set of parameters)."""
        m2 = math.prod(self.m2_shape(n_components, n_features))
        return 8 * (m2 + n_components * n_features + n_components)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters: covariances + means + weights (scikit-learn's count)."""
        return (
            self.n_cov_parameters(n_components, n_features)
            + n_components * n_features
            + n_components
            - 1
        )


#: Largest 1-norm condition number of a precision Cholesky factor U for which a float32
#: block's Mahalanobis distances ||(x - mu) U||^2 are computed in float32. The rounding
#: error of the float32 product grows with cond(U); measured on overlapping clusters
#: (d = 16, 1e3 offset, tests/estimator/test_estimator.py::test_float32_estep_guard), one
#: pass's statistics moved by 1e-8..1e-7 relative up to cond_1(U) = 300 (as much as
#: rounding X itself to float32 does) and by 2e-6 at cond_1(U) = 3,800. Beyond, float64.
FLOAT32_MAX_COND = 1e3


def float32_far_limit(n_features: int) -> float:
    """Squared distance from every component beyond which a tile's float32 distances are
    redone in float64 (inside the kernel).

    A float32 squared distance carries a relative error of ~1e-7, so an absolute one that
    grows with it: at 1e6 (an outlier 1,000 s.d. out) its log-density is off by ~0.1,
    which moves its responsibilities by percents where it sits between two components.
    Typical rows lie near d (chi-square); 1e3, or 4 d for wide data, keeps the error of
    every row that stays in float32 below ~1e-4 and sends only outliers to float64
    (tests/estimator/test_estimator.py::test_float32_estep_guard, "far outliers").
    """
    return max(1e3, 4.0 * n_features)


def float32_estep_ok(cov: CovarianceType, precisions_cholesky: np.ndarray) -> bool:
    """Whether float32 blocks may use the float32 E-step with these parameters.

    LAPACK's condition estimate (trcon) costs O(d^2) per component, against the
    O(n d^2) of the pass it decides about.
    """
    if not cov.fused_float32:
        return False
    u = precisions_cholesky.reshape(-1, *precisions_cholesky.shape[-2:])
    for factor in u:
        rcond, info = scipy.linalg.lapack.dtrcon(factor, norm="1", uplo="U", diag="N")
        if info != 0 or not rcond * FLOAT32_MAX_COND >= 1.0:
            return False
    # float32 must also hold the factor itself (a component of sd < 1e-19 would overflow)
    return bool(np.abs(u).max() < 1e30)


def _inv_of_chol(u):
    """(U U^T)^-1 for an upper-triangular U, without forming U U^T first."""
    u_inv = scipy.linalg.solve_triangular(u, np.eye(u.shape[0], dtype=u.dtype), lower=False)
    return u_inv.T @ u_inv


REGISTRY: dict[str, CovarianceType] = {
    "full": CovarianceType(
        name="full",
        is_matrix=True,
        scatter_kernel=kernels.scatter_full,
        fused_diagonal=False,
        fused_float32=True,
        fused_precisions=lambda u, k, d: u,
        fused_m2=lambda m2: m2,
        m2_shape=lambda k, d: (k, d, d),
        prec_shape=lambda k, d: (k, d, d),
        chan_correction=lambda c, dm: c[:, None, None] * dm[:, :, None] * dm[:, None, :],
        covariances=_cov_full,
        precision_cholesky=_prec_chol_full,
        precisions=lambda u: np.einsum("kij,klj->kil", u, u),
        chol_from_precisions=lambda p: np.stack([_chol_of_precision(q) for q in p]),
        covariances_from_chol=lambda u: np.stack([_inv_of_chol(q) for q in u]),
        log_det_chol=lambda u, k, d: np.log(np.diagonal(u, axis1=1, axis2=2)).sum(axis=1),
        n_cov_parameters=lambda k, d: k * d * (d + 1) // 2,
        sample=lambda rng, m, c, k, n: rng.multivariate_normal(m, c[k], n),
        full_matrices=lambda c, k, d: np.asarray(c).reshape(k, d, d),
        feature_m2=lambda m2, d: np.diagonal(m2, axis1=1, axis2=2).sum(axis=0),
    ),
    "tied": CovarianceType(
        name="tied",
        is_matrix=True,
        scatter_kernel=kernels.scatter_tied,
        fused_diagonal=False,
        fused_float32=True,
        fused_precisions=lambda u, k, d: np.broadcast_to(u, (k, d, d)),
        fused_m2=lambda m2: m2.sum(axis=0),
        m2_shape=lambda k, d: (d, d),
        prec_shape=lambda k, d: (d, d),
        chan_correction=lambda c, dm: np.einsum("k,ki,kj->ij", c, dm, dm),
        covariances=_cov_tied,
        precision_cholesky=_prec_chol_tied,
        precisions=lambda u: u @ u.T,
        chol_from_precisions=_chol_of_precision,
        covariances_from_chol=_inv_of_chol,
        log_det_chol=lambda u, k, d: np.full(k, np.log(np.diagonal(u)).sum()),
        n_cov_parameters=lambda k, d: d * (d + 1) // 2,
        sample=lambda rng, m, c, k, n: rng.multivariate_normal(m, c, n),
        full_matrices=lambda c, k, d: np.broadcast_to(c, (k, d, d)).copy(),
        feature_m2=lambda m2, d: np.diagonal(m2).copy(),
        shared_precision=True,
    ),
    "diag": CovarianceType(
        name="diag",
        is_matrix=False,
        scatter_kernel=kernels.scatter_diag,
        fused_diagonal=True,
        fused_float32=False,
        fused_precisions=lambda u, k, d: u.reshape(k, 1, d),
        fused_m2=lambda m2: np.diagonal(m2, axis1=1, axis2=2).copy(),
        m2_shape=lambda k, d: (k, d),
        prec_shape=lambda k, d: (k, d),
        chan_correction=lambda c, dm: c[:, None] * dm**2,
        covariances=_cov_diag,
        precision_cholesky=_prec_chol_diag,
        precisions=lambda u: u**2,
        chol_from_precisions=np.sqrt,
        covariances_from_chol=lambda u: 1.0 / u**2,
        log_det_chol=lambda u, k, d: np.log(u).sum(axis=1),
        n_cov_parameters=lambda k, d: k * d,
        sample=lambda rng, m, c, k, n: m + rng.standard_normal((n, m.size)) * np.sqrt(c[k]),
        full_matrices=lambda c, k, d: np.asarray(c)[:, :, None] * np.eye(d),
        feature_m2=lambda m2, d: m2.sum(axis=0),
    ),
    "spherical": CovarianceType(
        name="spherical",
        is_matrix=False,
        scatter_kernel=kernels.scatter_spherical,
        fused_diagonal=True,
        fused_float32=False,
        fused_precisions=lambda u, k, d: np.broadcast_to(u[:, None, None], (k, 1, d)),
        fused_m2=lambda m2: np.trace(m2, axis1=1, axis2=2),
        m2_shape=lambda k, d: (k,),
        prec_shape=lambda k, d: (k,),
        chan_correction=lambda c, dm: c * (dm**2).sum(axis=1),
        covariances=_cov_spherical,
        precision_cholesky=_prec_chol_spherical,
        precisions=lambda u: u**2,
        chol_from_precisions=np.sqrt,
        covariances_from_chol=lambda u: 1.0 / u**2,
        log_det_chol=lambda u, k, d: d * np.log(u),
        n_cov_parameters=lambda k, d: k,
        sample=lambda rng, m, c, k, n: m + rng.standard_normal((n, m.size)) * np.sqrt(c[k]),
        full_matrices=lambda c, k, d: np.asarray(c)[:, None, None] * np.eye(d),
        feature_m2=lambda m2, d: np.full(d, m2.sum() / d),  # the trace, spread evenly
    ),
}

COVARIANCE_TYPES = tuple(REGISTRY)


def get(name: str) -> CovarianceType:
    return REGISTRY[name]
