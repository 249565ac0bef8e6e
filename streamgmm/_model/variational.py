"""The variational Bayesian Gaussian mixture on reduced statistics.

scikit-learn's ``BayesianGaussianMixture`` (Bishop 2006, ch. 10; Blei and Jordan 2006 for
the Dirichlet process) needs from the data only what a pass already reduces, so every
function here works on a :class:`~streamgmm._model.stats.SuffStats`:

- :func:`variational_m_step`: the posterior's update, scikit-learn's formulas with its
  ``_estimate_gaussian_parameters`` taken from centred moments (``mstep.estimate_from_stats``,
  as the EM path does), so offset data keep their digits where scikit-learn's raw moments
  of ``tied``, ``diag`` and ``spherical`` lose them;
- :func:`estep_log_weights`: what the E-step adds to each component's Gaussian
  log-density, E[log pi_k] - d/2 log nu_k + 1/2 (E[log |Lambda_k|] - d / beta_k), so that the
  fused kernel computes the variational responsibilities unchanged (``ModelAssigner``);
- :func:`log_resp_sum` and :func:`lower_bound`: scikit-learn's lower bound, its entropy
  term from the statistics instead of an (n, K) array.

The prior on the weights is a registry of two kinds, as the covariance types are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from . import covariance
from .mstep import Estimate, Params, estimate_from_stats
from .stats import SuffStats


@dataclass(frozen=True)
class Priors:
    """The prior of a Bayesian mixture as its M-step uses it (scikit-learn's ``*_prior_``
    values, in float64)."""

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray  # (d,)
    degrees_of_freedom: float
    covariance: np.ndarray  # (d, d) full and tied, (d,) diag, () spherical


class VariationalParams(NamedTuple):
    """The variational posterior, float64, scikit-learn's ``_get_parameters`` order."""

    #: (K,) Dirichlet parameters; (2, K) for the Dirichlet process (the Beta parameters of
    #: each stick, scikit-learn's tuple)
    weight_concentration: np.ndarray
    mean_precision: np.ndarray  # (K,) beta_k
    means: np.ndarray  # (K, d)
    degrees_of_freedom: np.ndarray  # (K,) nu_k; a 0-d array for tied (one Wishart)
    covariances: np.ndarray  # per covariance type, W_k^-1 / nu_k
    precisions_cholesky: np.ndarray  # per covariance type


# --- the prior on the weights ---------------------------------------------------------


def _dp_concentration(nk, prior):
    tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))  # sum of nk over later components
    return np.stack([1.0 + nk, prior + tail])


def _dp_expected_log(conc):
    a, b = conc
    digamma_sum = digamma(a + b)
    return digamma(a) - digamma_sum + np.hstack((0.0, np.cumsum(digamma(b) - digamma_sum)[:-1]))


def _dp_weights(conc):
    a, b = conc
    total = a + b
    weights = a / total * np.hstack((1.0, np.cumprod(b[:-1] / total[:-1])))
    return weights / weights.sum()


def _dd_log_norm(conc):
    return gammaln(conc.sum()) - gammaln(conc).sum()


@dataclass(frozen=True)
class WeightPrior:
    """One kind of prior on the weights: the posterior's update from N_k, E[log pi_k], the
    mean weights, and the log normaliser the lower bound subtracts."""

    concentration: Callable[[np.ndarray, float], np.ndarray]
    expected_log: Callable[[np.ndarray], np.ndarray]
    weights: Callable[[np.ndarray], np.ndarray]
    log_norm: Callable[[np.ndarray], float]
    concentration_shape: Callable[[int], tuple]


WEIGHT_PRIORS: dict[str, WeightPrior] = {
    "dirichlet_process": WeightPrior(
        concentration=_dp_concentration,
        expected_log=_dp_expected_log,
        weights=_dp_weights,
        log_norm=lambda conc: -float(betaln(conc[0], conc[1]).sum()),
        concentration_shape=lambda k: (2, k),
    ),
    "dirichlet_distribution": WeightPrior(
        concentration=lambda nk, prior: prior + nk,
        expected_log=lambda conc: digamma(conc) - digamma(conc.sum()),
        weights=lambda conc: conc / conc.sum(),
        log_norm=lambda conc: float(_dd_log_norm(conc)),
        concentration_shape=lambda k: (k,),
    ),
}

PRIOR_TYPES = tuple(WEIGHT_PRIORS)


# --- the Wishart posterior per covariance type ------------------------------------------
# nk: guarded counts, xk: scikit-learn's means, sk: its covariances (reg_covar included),
# beta: the posterior's mean precisions. Each returns (nu, covariances / nu).


def _wishart_full(nk, xk, sk, p: Priors, beta):
    dof = p.degrees_of_freedom + nk
    diff = xk - p.mean
    scale = (nk * p.mean_precision / beta)[:, None, None]
    cov = p.covariance + nk[:, None, None] * sk + scale * diff[:, :, None] * diff[:, None, :]
    return dof, cov / dof[:, None, None]


def _wishart_tied(nk, xk, sk, p: Priors, beta):
    k = nk.size
    dof = np.asarray(p.degrees_of_freedom + nk.sum() / k)
    diff = xk - p.mean
    cov = p.covariance + sk * nk.sum() / k + p.mean_precision / k * ((nk / beta) * diff.T) @ diff
    return dof, cov / dof


def _wishart_diag(nk, xk, sk, p: Priors, beta):
    dof = p.degrees_of_freedom + nk
    diff = xk - p.mean
    cov = p.covariance + nk[:, None] * (sk + (p.mean_precision / beta)[:, None] * diff**2)
    return dof, cov / dof[:, None]


def _wishart_spherical(nk, xk, sk, p: Priors, beta):
    dof = p.degrees_of_freedom + nk
    diff = xk - p.mean
    cov = p.covariance + nk * (sk + p.mean_precision / beta * np.mean(diff**2, axis=1))
    return dof, cov / dof


WISHART = {
    "full": _wishart_full,
    "tied": _wishart_tied,
    "diag": _wishart_diag,
    "spherical": _wishart_spherical,
}


# --- the steps ------------------------------------------------------------------------------


def variational_m_step(stats: SuffStats, priors: Priors, reg_covar: float) -> VariationalParams:
    """The posterior of the responsibilities that made ``stats`` (scikit-learn's
    ``_estimate_weights``, ``_estimate_means``, ``_estimate_precisions``)."""
    return posterior(estimate_from_stats(stats, reg_covar), priors)


def posterior(estimate: Estimate, priors: Priors) -> VariationalParams:
    """The variational M-step on scikit-learn's ``_estimate_gaussian_parameters`` of some
    responsibilities (from statistics, or from the chosen rows of a start)."""
    cov = covariance.get(estimate.covariance_type)
    nk, xk, sk = estimate.nk, estimate.means, estimate.covariances
    conc = WEIGHT_PRIORS[priors.weight_concentration_prior_type].concentration(
        nk, priors.weight_concentration
    )
    beta = priors.mean_precision + nk
    means = (priors.mean_precision * priors.mean + nk[:, None] * xk) / beta[:, None]
    dof, covariances = WISHART[cov.name](nk, xk, sk, priors, beta)
    return VariationalParams(
        conc, beta, means, dof, covariances, cov.precision_cholesky(covariances)
    )


def _log_lambda(dof, n_features: int):
    """E[log |Lambda_k|] without the log-determinant of W_k: d log 2 + sum_j psi((nu - j) / 2)."""
    j = np.arange(n_features)[:, None]
    return n_features * math.log(2.0) + digamma(0.5 * (np.atleast_1d(dof) - j)).sum(axis=0)


def estep_log_weights(params: VariationalParams, prior_type: str) -> np.ndarray:
    """(K,) what the variational E-step adds to log N(x | means_k, precisions_cholesky_k):
    E[log pi_k] - d/2 log nu_k + 1/2 (E[log |Lambda_k|] - d / beta_k) (scikit-learn's
    ``_estimate_log_weights`` and the terms of ``_estimate_log_prob``)."""
    k, d = params.means.shape
    elog_pi = WEIGHT_PRIORS[prior_type].expected_log(params.weight_concentration)
    dof = np.broadcast_to(params.degrees_of_freedom, (k,))
    return elog_pi - 0.5 * d * np.log(dof) + 0.5 * (_log_lambda(dof, d) - d / params.mean_precision)


def mixture_weights(params: VariationalParams, prior_type: str) -> np.ndarray:
    """(K,) scikit-learn's ``weights_``: the posterior mean of the weights."""
    return WEIGHT_PRIORS[prior_type].weights(params.weight_concentration)


def gaussian_view(params: VariationalParams, prior_type: str) -> Params:
    """The Gaussian parameters the E-step and inference use (weights: posterior means)."""
    return Params(
        mixture_weights(params, prior_type),
        params.means,
        params.covariances,
        params.precisions_cholesky,
    )


def log_resp_sum(
    stats: SuffStats, means: np.ndarray, precisions_cholesky: np.ndarray, log_const: np.ndarray
) -> float:
    """sum_i w_i sum_k r_ik log r_ik of the E-step that made ``stats``, from the statistics.

    With log r_ik = log_const_k - q_ik / 2 - log p(x_i), q_ik = (x_i - mu_k)^T Lambda_k
    (x_i - mu_k) and sum_k r_ik = 1, the sum is sum_k [N_k log_const_k - tr(Lambda_k S_k) / 2]
    - sum_i w_i log p(x_i), where S_k = m2_k + N_k (m_k - mu_k)(m_k - mu_k)^T is the scatter
    about the E-step's means: ``m2`` and ``Lambda`` have the same layout for every covariance
    type, so tr(Lambda_k m2_k) is their elementwise product. The difference cancels where
    the responsibilities are nearly one-hot; what is left is an absolute error of about
    eps * |log-likelihood|, a relative one of the lower bound's size
    (tests/model/test_variational.py::test_log_resp_sum_against_explicit_responsibilities).
    """
    cov = covariance.get(stats.covariance_type)
    k, d = means.shape
    u = cov.full_matrices(precisions_cholesky, k, d)
    shifted = np.einsum("ki,kij->kj", stats.means - means, u)  # (m_k - mu_k) U_k
    quad = float(np.sum(cov.precisions(precisions_cholesky) * stats.m2))
    quad += float(np.dot(stats.nk, np.sum(shifted**2, axis=1)))
    return float(np.dot(stats.nk, log_const)) - 0.5 * quad - stats.log_lik


def lower_bound(
    resp_sum: float, params: VariationalParams, prior_type: str, covariance_type: str
) -> float:
    """scikit-learn's ``_compute_lower_bound``: the entropy term ``-resp_sum`` of the E-step,
    and the Wishart, weight and mean normalisers of the posterior after the M-step (its
    constant terms dropped, as scikit-learn drops them). A total, not a mean per sample."""
    cov = covariance.get(covariance_type)
    k, d = params.means.shape
    dof = np.broadcast_to(params.degrees_of_freedom, (k,))
    log_det = cov.log_det_chol(params.precisions_cholesky, k, d) - 0.5 * d * np.log(dof)
    j = np.arange(d)[:, None]
    log_wishart = -(
        dof * log_det + dof * d * 0.5 * math.log(2.0) + gammaln(0.5 * (dof - j)).sum(axis=0)
    )
    log_norm_weight = WEIGHT_PRIORS[prior_type].log_norm(params.weight_concentration)
    return float(
        -resp_sum
        - log_wishart.sum()
        - log_norm_weight
        - 0.5 * d * np.sum(np.log(params.mean_precision))
    )
