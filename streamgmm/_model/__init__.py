"""The model: covariance types, sufficient statistics and their merge, the M-step, and the
checks of hyper-parameters and initial parameters; the variational posterior and priors of
the Bayesian mixture. Pure NumPy/SciPy on small arrays."""

from .covariance import COVARIANCE_TYPES, CovarianceType, float32_estep_ok, float32_far_limit
from .covariance import get as get_covariance
from .mstep import (
    NK_GUARD,
    Params,
    estimate_parameters,
    initial_parameters,
    m_step,
    parameters_from_init,
)
from .priors import (
    GivenPriors,
    check_bayesian_hyperparameters,
    check_given_priors,
    check_prior_attributes,
    pooled_moments,
    prior_attributes,
    priors_from_attributes,
)
from .stats import NONFINITE_DENSITY, NONFINITE_INPUT, OK, SuffStats, merge_all
from .validation import (
    INIT_METHODS,
    FieldError,
    InvalidParameterError,
    check_fitted_parameters,
    check_hyperparameters,
    check_means,
    check_n_features,
    check_precisions,
    check_weights,
    feature_names,
)
from .variational import (
    PRIOR_TYPES,
    WEIGHT_PRIORS,
    Priors,
    VariationalParams,
    estep_log_weights,
    gaussian_view,
    log_resp_sum,
    lower_bound,
    mixture_weights,
    variational_m_step,
)

__all__ = [
    "PRIOR_TYPES",
    "WEIGHT_PRIORS",
    "GivenPriors",
    "Priors",
    "VariationalParams",
    "check_bayesian_hyperparameters",
    "check_given_priors",
    "estep_log_weights",
    "gaussian_view",
    "log_resp_sum",
    "lower_bound",
    "mixture_weights",
    "pooled_moments",
    "prior_attributes",
    "priors_from_attributes",
    "check_prior_attributes",
    "variational_m_step",
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "NK_GUARD",
    "NONFINITE_DENSITY",
    "NONFINITE_INPUT",
    "OK",
    "CovarianceType",
    "FieldError",
    "InvalidParameterError",
    "Params",
    "SuffStats",
    "check_fitted_parameters",
    "check_hyperparameters",
    "check_means",
    "check_n_features",
    "check_precisions",
    "check_weights",
    "estimate_parameters",
    "feature_names",
    "float32_estep_ok",
    "float32_far_limit",
    "get_covariance",
    "initial_parameters",
    "m_step",
    "parameters_from_init",
    "merge_all",
]
