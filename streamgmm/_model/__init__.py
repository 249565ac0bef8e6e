"""The model: covariance types, sufficient statistics and their merge, the M-step, and the
checks of hyper-parameters and initial parameters. Pure NumPy/SciPy on small arrays."""

from .covariance import COVARIANCE_TYPES, CovarianceType, float32_estep_ok, float32_far_limit
from .covariance import get as get_covariance
from .mstep import (
    NK_GUARD,
    Params,
    estimate_from_rows,
    estimate_parameters,
    initial_parameters,
    m_step,
    parameters_from_init,
)
from .stats import NONFINITE_DENSITY, NONFINITE_INPUT, OK, SuffStats, merge_all
from .validation import (
    INIT_METHODS,
    MISSING_MODES,
    FieldError,
    InvalidParameterError,
    check_array_api_init,
    check_fitted_parameters,
    check_hyperparameters,
    check_means,
    check_n_features,
    check_precisions,
    check_weights,
    feature_names,
)

__all__ = [
    "COVARIANCE_TYPES",
    "INIT_METHODS",
    "MISSING_MODES",
    "NK_GUARD",
    "NONFINITE_DENSITY",
    "NONFINITE_INPUT",
    "OK",
    "CovarianceType",
    "FieldError",
    "InvalidParameterError",
    "Params",
    "SuffStats",
    "check_array_api_init",
    "check_fitted_parameters",
    "check_hyperparameters",
    "check_means",
    "check_n_features",
    "check_precisions",
    "check_weights",
    "estimate_from_rows",
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
