"""Model parameters and the M-step on reduced statistics.

Definitions follow scikit-learn's ``_estimate_gaussian_parameters`` exactly
(``nk + 10*eps``, ``reg_covar`` on the diagonal), computed from centred moments.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import covariance
from .stats import SuffStats

#: Guard added to every N_k, as scikit-learn does (``10 * eps``).
NK_GUARD = 10.0 * float.fromhex("0x1.0p-52")


class Params(NamedTuple):
    """A Gaussian mixture's parameters, in float64, scikit-learn's shapes."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    covariances: np.ndarray  # per covariance type
    precisions_cholesky: np.ndarray  # per covariance type

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]


class Estimate(NamedTuple):
    """scikit-learn's ``_estimate_gaussian_parameters`` of some responsibilities: the
    guarded counts, means and covariances (``reg_covar`` included), and the total sample
    weight they came from (the divisor of the initial weights)."""

    nk: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    weight_sum: float


def estimate_parameters(stats: SuffStats, reg_covar: float):
    """Unnormalised weights (= guarded nk), means and covariances from statistics."""
    if stats.m2 is None:
        raise ValueError("statistics without second moments cannot give covariances")
    cov_type = covariance.get(stats.covariance_type)
    nk = stats.nk + NK_GUARD
    means = stats.means * (stats.nk / nk)[:, None]
    covariances = cov_type.covariances(stats, nk, means, reg_covar)
    return nk, means, covariances


def estimate_from_stats(stats: SuffStats, reg_covar: float) -> Estimate:
    """The :class:`Estimate` of the responsibilities that made ``stats``."""
    nk, means, covariances = estimate_parameters(stats, reg_covar)
    return Estimate(nk, means, covariances, stats.covariance_type, stats.weight_sum)


def m_step(stats: SuffStats, reg_covar: float) -> Params:
    """Parameters maximising the expected log-likelihood for these statistics."""
    nk, means, covariances = estimate_parameters(stats, reg_covar)
    prec_chol = covariance.get(stats.covariance_type).precision_cholesky(covariances)
    return Params(nk / nk.sum(), means, covariances, prec_chol)


def estimate_from_rows(
    rows: np.ndarray, covariance_type: str, reg_covar: float, weight_sum: float, raw=None
) -> Estimate:
    """scikit-learn's ``_estimate_gaussian_parameters`` for a start from K chosen rows
    (one-hot responsibilities), evaluated as scikit-learn evaluates it, on those rows.

    Its ``diag`` and ``spherical`` covariances are x^2 / nk - (x / nk)^2 + reg_covar: a
    difference at the level of eps times x^2 that the centred statistics would round
    otherwise, and that with ``reg_covar`` near it moves the whole fit
    (benchmarks/bench_same_seed.py). ``raw`` (tied): sum_i w x_i x_i^T over every row.
    """
    X = np.asarray(rows, dtype=np.float64)
    k = X.shape[0]
    nk = np.ones(k) + NK_GUARD
    means = X / nk[:, np.newaxis]  # (resp.T @ X) / nk with resp the identity
    if covariance_type == "full":
        diff = X[:, np.newaxis, :] - means[np.newaxis, :, :]  # (row, component, feature)
        cov = np.stack([np.outer(diff[j, j], diff[j, j]) / nk[j] for j in range(k)])
        idx = np.arange(X.shape[1])
        cov[:, idx, idx] += reg_covar
    elif covariance_type == "tied":
        cov = (raw - (nk * means.T) @ means) / nk.sum()
        cov.flat[:: cov.shape[0] + 1] += reg_covar
    else:
        diag = (X * X) / nk[:, np.newaxis] - means**2 + reg_covar
        cov = diag if covariance_type == "diag" else diag.mean(axis=1)
    return Estimate(nk, means, cov, covariance_type, weight_sum)


def initial_parameters(
    estimate: Estimate, weights_init=None, means_init=None, precisions_init=None
) -> Params:
    """scikit-learn's ``_initialize``: parameters of initial responsibilities, with overrides.

    As in scikit-learn, the responsibility-based weights are divided by the
    total sample weight (not renormalised), and ``precisions_init`` replaces the
    covariances through its Cholesky factor.
    """
    cov_type = covariance.get(estimate.covariance_type)
    nk, means, covariances = estimate.nk, estimate.means, estimate.covariances
    weights = nk / estimate.weight_sum if weights_init is None else np.array(weights_init, float)
    if means_init is not None:
        means = np.array(means_init, dtype=float)
    if precisions_init is None:
        prec_chol = cov_type.precision_cholesky(covariances)
    else:
        prec_chol = cov_type.chol_from_precisions(np.array(precisions_init, dtype=float))
        covariances = cov_type.covariances_from_chol(prec_chol)
    return Params(weights, means, covariances, prec_chol)


def parameters_from_init(covariance_type, weights_init, means_init, precisions_init) -> Params:
    """Parameters when all three init arrays are given: no pass over the data needed."""
    cov_type = covariance.get(covariance_type)
    prec_chol = cov_type.chol_from_precisions(np.array(precisions_init, dtype=float))
    return Params(
        np.array(weights_init, dtype=float),
        np.array(means_init, dtype=float),
        cov_type.covariances_from_chol(prec_chol),
        prec_chol,
    )
