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


def estimate_parameters(stats: SuffStats, reg_covar: float):
    """Unnormalised weights (= guarded nk), means and covariances from statistics."""
    if stats.m2 is None:
        raise ValueError("statistics without second moments cannot give covariances")
    cov_type = covariance.get(stats.covariance_type)
    nk = stats.nk + NK_GUARD
    means = stats.means * (stats.nk / nk)[:, None]
    covariances = cov_type.covariances(stats, nk, means, reg_covar)
    return nk, means, covariances


def m_step(stats: SuffStats, reg_covar: float) -> Params:
    """Parameters maximising the expected log-likelihood for these statistics."""
    nk, means, covariances = estimate_parameters(stats, reg_covar)
    prec_chol = covariance.get(stats.covariance_type).precision_cholesky(covariances)
    return Params(nk / nk.sum(), means, covariances, prec_chol)


def initial_parameters(
    stats: SuffStats,
    reg_covar: float,
    weights_init=None,
    means_init=None,
    precisions_init=None,
) -> Params:
    """scikit-learn's ``_initialize``: parameters of initial responsibilities, with overrides.

    As in scikit-learn, the responsibility-based weights are divided by the
    number of samples (not renormalised), and ``precisions_init`` replaces the
    covariances through its Cholesky factor.
    """
    cov_type = covariance.get(stats.covariance_type)
    nk, means, covariances = estimate_parameters(stats, reg_covar)
    weights = nk / stats.weight_sum if weights_init is None else np.array(weights_init, float)
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
