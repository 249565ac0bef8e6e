"""The variational fit of ``BayesianGaussianMixture``: its update rule, starts and priors.

The loop, passes, restarts, checkpoints and resume are those of GaussianMixture
(``em.py``, ``runs.py``); a :class:`VariationalModel` tells them what differs:

- the E-step is the fused kernel of the EM path with per-component terms from the
  posterior (``ModelAssigner``'s ``log_weights``), so one pass per iteration reduces the
  same statistics;
- the step (:class:`VariationalEM`) is scikit-learn's: the M-step updates the posterior,
  and the lower bound takes the E-step's entropy (from the statistics) and the new
  posterior's normalisers, as ``BaseMixture.fit_predict`` computes it after ``_m_step``;
- the starts apply the variational M-step to the statistics of GaussianMixture's
  initial responsibilities (``init.initial_estimates_many``: the same draws, the same
  shared passes, scikit-learn's estimates of them);
- the priors not given come from the data: from the initialisation's statistics when
  they cover every row (``kmeans``, ``random``), otherwise from one pass of its own,
  which scikit-learn also makes (``X.mean``, ``np.cov``); a resume reads them from the
  checkpoint.
"""

from __future__ import annotations

import numpy as np

from .._data.blocks import ModelAssigner, NearestCentreAssigner, as_kernel_array
from .._data.passes import statistics_pass_many
from .._data.source import DataSource
from .._io.modelfile import BAYESIAN_FORMAT
from .._model import (
    Priors,
    SuffStats,
    VariationalParams,
    check_given_priors,
    estep_log_weights,
    gaussian_view,
    get_covariance,
    log_resp_sum,
    lower_bound,
    mixture_weights,
    pooled_moments,
    posterior,
    prior_attributes,
    priors_from_attributes,
    variational_m_step,
)
from .em import check_pass, nonfinite_error
from .init import initial_estimates_many


def variational_assigner(
    params: VariationalParams, prior_type: str, covariance_type: str
) -> ModelAssigner:
    """The variational E-step (and inference) of a posterior: the fused kernel with
    scikit-learn's ``_estimate_weighted_log_prob`` as per-component terms."""
    return ModelAssigner(
        gaussian_view(params, prior_type),
        covariance_type,
        log_weights=estep_log_weights(params, prior_type),
    )


class VariationalEM:
    """The update rule of a Bayesian mixture (see ``em.UpdateRule``)."""

    def __init__(self, priors: Priors, reg_covar: float):
        self.priors, self.reg_covar = priors, reg_covar

    def assigner(
        self, params: VariationalParams, covariance_type: str, missing: str = "error"
    ) -> ModelAssigner:
        return variational_assigner(
            params, self.priors.weight_concentration_prior_type, covariance_type
        )

    def step(self, stats: SuffStats, assigner: ModelAssigner) -> tuple[float, VariationalParams]:
        resp_sum = log_resp_sum(stats, assigner.means, assigner.prec_chol, assigner.log_const)
        params = variational_m_step(stats, self.priors, self.reg_covar)
        prior_type = self.priors.weight_concentration_prior_type
        return lower_bound(resp_sum, params, prior_type, stats.covariance_type), params


class VariationalModel:
    """What ``runs.fit`` needs to fit a Bayesian mixture (see ``runs.GaussianModel``).

    After the fit, ``prior_attrs`` holds scikit-learn's ``*_prior_`` attributes.
    """

    params_type = VariationalParams
    file_format = BAYESIAN_FORMAT

    def __init__(self, settings: dict, dtype):
        self.settings = settings
        self.dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
        self.given = None
        self.priors: Priors | None = None
        self.prior_attrs: dict | None = None

    @property
    def rule(self) -> VariationalEM:
        return VariationalEM(self.priors, self.settings["reg_covar"])

    def check(self, n_features: int) -> None:
        """The given priors against the data's width, before any block is read."""
        self.given = check_given_priors(self.settings, n_features)

    def starts(self, source: DataSource, random_state) -> list[VariationalParams]:
        """``n_init`` starts: the posterior of each initialisation's responsibilities."""
        s = self.settings
        specs = [(s["n_components"], s["covariance_type"])] * s["n_init"]
        starts = initial_estimates_many(
            source, specs, s["init_params"], s["reg_covar"], random_state, s["memory_limit"]
        )
        self._set_priors(source, starts[0].stats)  # the whole data's moments, when covering
        return [posterior(start.estimate, self.priors) for start in starts]

    def prepare_warm(self, source: DataSource) -> None:
        """A warm start keeps the posterior; the priors come from this fit's data, as in
        scikit-learn (its ``_check_parameters`` runs on every fit)."""
        self._set_priors(source, None)

    def restore(self, record) -> None:
        """The priors of the fit a checkpoint holds (its model record, checked when read)."""
        self._set_attrs({name: record.fitted[name] for name in PRIOR_ATTRIBUTES})

    def _set_priors(self, source: DataSource, covering: SuffStats | None) -> None:
        moments = None
        if self.given.need_data:
            stats = covering if covering is not None else data_moments_pass(source, self.settings)
            moments = pooled_moments(stats)
        cov_type = self.settings["covariance_type"]
        self._set_attrs(prior_attributes(self.given, cov_type, self.dtype, moments))

    def _set_attrs(self, attrs: dict) -> None:
        prior_type = self.settings["weight_concentration_prior_type"]
        self.priors = priors_from_attributes(prior_type, attrs)
        self.prior_attrs = attrs


#: scikit-learn's prior attributes of a fitted BayesianGaussianMixture
PRIOR_ATTRIBUTES = (
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "mean_prior_",
    "degrees_of_freedom_prior_",
    "covariance_prior_",
)


def data_moments_pass(source: DataSource, settings: dict) -> SuffStats:
    """One pass for the data's mean and scatter: every row in one cluster, summed as
    offsets from the first row (so an offset of the data keeps its digits)."""
    first = as_kernel_array(source.take_rows([0])).astype(np.float64)
    if not np.all(np.isfinite(first)):
        raise nonfinite_error(source, 0, int(np.flatnonzero(~np.isfinite(first[0]))[0]))
    job = (NearestCentreAssigner(first), settings["covariance_type"], True)
    (stats,) = statistics_pass_many(source, [job])
    check_pass(stats, source)
    return stats


#: the attributes a fit sets (``feature_names_in_`` aside), as model files store them
FITTED_ATTRIBUTES = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "weight_concentration_",
    "mean_precision_",
    "degrees_of_freedom_",
    *PRIOR_ATTRIBUTES,
    "converged_",
    "n_iter_",
    "lower_bound_",
    "lower_bounds_",
    "n_features_in_",
)


def fitted_attributes(settings: dict, result, prior_attrs: dict, n_features: int) -> dict:
    """scikit-learn's fitted attributes of a variational result (float64, as scikit-learn
    keeps them whatever the data's dtype; the priors in their own dtypes)."""
    p = result.params
    prior_type = settings["weight_concentration_prior_type"]
    cov = get_covariance(settings["covariance_type"])
    conc = np.array(p.weight_concentration, dtype=np.float64)
    return {
        "weights_": mixture_weights(p, prior_type),
        "means_": p.means.copy(),
        "covariances_": p.covariances.copy(),
        "precisions_": cov.precisions(p.precisions_cholesky),
        "precisions_cholesky_": p.precisions_cholesky.copy(),
        "weight_concentration_": tuple(conc) if conc.ndim == 2 else conc,
        "mean_precision_": p.mean_precision.copy(),
        "degrees_of_freedom_": np.array(p.degrees_of_freedom, dtype=np.float64)[()],
        **prior_attrs,
        "converged_": bool(result.converged),
        "n_iter_": int(result.n_iter),
        "lower_bound_": float(result.lower_bound),
        "lower_bounds_": [float(b) for b in result.lower_bounds],
        "n_features_in_": int(n_features),
    }
