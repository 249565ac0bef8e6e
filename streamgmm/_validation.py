"""Layer 3: validation of hyper-parameters and initial parameters (scikit-learn's messages).

Nothing here mutates what the user passed: checked copies are returned.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from . import _covariance
from ._covariance import COVARIANCE_TYPES

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


class InvalidParameterError(ValueError, TypeError):
    """A hyper-parameter has the wrong type or value (like scikit-learn's, both errors)."""


def _interval(name, value, kind, low, integral):
    ok_type = isinstance(value, Integral) if integral else isinstance(value, Real)
    if isinstance(value, bool) or not ok_type or not value >= low:
        what = "an int" if integral else "a float"
        raise InvalidParameterError(
            f"The {name!r} parameter of {kind} must be {what} in the range "
            f"[{low}, inf). Got {value!r} instead."
        )


def _options(name, value, kind, options):
    if not isinstance(value, str) or value not in options:
        raise InvalidParameterError(
            f"The {name!r} parameter of {kind} must be a str among "
            f"{sorted(options)}. Got {value!r} instead."
        )


def check_hyperparameters(est, kind="GaussianMixture") -> None:
    """Raise :class:`InvalidParameterError` naming the first bad constructor argument."""
    _interval("n_components", est.n_components, kind, 1, True)
    _options("covariance_type", est.covariance_type, kind, COVARIANCE_TYPES)
    _interval("tol", est.tol, kind, 0.0, False)
    _interval("reg_covar", est.reg_covar, kind, 0.0, False)
    _interval("max_iter", est.max_iter, kind, 0, True)
    _interval("n_init", est.n_init, kind, 1, True)
    _options("init_params", est.init_params, kind, INIT_METHODS)
    _interval("verbose", est.verbose, kind, 0, True)
    _interval("verbose_interval", est.verbose_interval, kind, 1, True)
    if not isinstance(est.warm_start, (bool, np.bool_)):
        raise InvalidParameterError(
            f"The 'warm_start' parameter of {kind} must be an instance of 'bool'. "
            f"Got {est.warm_start!r} instead."
        )
    if est.chunk_size != "auto":
        _interval("chunk_size", est.chunk_size, kind, 1, True)


def _check_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}"
        )


def _as_float_array(value, name, allow_nd=False):
    """A float32/float64 copy, through scikit-learn's ``check_array`` so its messages
    (NaN, infinity, non-numeric, ndim) are the same word for word; we add which parameter."""
    try:
        return check_array(
            value, dtype=[np.float64, np.float32], ensure_2d=False, allow_nd=allow_nd, copy=True
        )
    except ValueError as exc:
        raise ValueError(f"{exc} (in the parameter '{name}')") from None


def check_weights(weights, n_components):
    weights = _as_float_array(weights, "weights_init")
    _check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        # scikit-learn's text; it prints min and max swapped (its own test encodes the
        # swap), we print them the right way round (test_sklearn_compat::test_init_array_messages).
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(abs(1.0 - weights.sum()), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = "
            f"{weights.sum():.5f}"
        )
    return weights


def check_means(means, n_components, n_features):
    means = _as_float_array(means, "means_init")
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precision_matrix(precision, covariance_type):
    if not (np.allclose(precision, precision.T) and np.all(np.linalg.eigvalsh(precision) > 0.0)):
        raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite")


def check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = _as_float_array(precisions, "precisions_init", covariance_type == "full")
    shape = _covariance.get(covariance_type).prec_shape(n_components, n_features)
    _check_shape(precisions, shape, f"{covariance_type} precision")
    if covariance_type == "full":
        for p in precisions:
            _check_precision_matrix(p, covariance_type)
    elif covariance_type == "tied":
        _check_precision_matrix(precisions, covariance_type)
    elif np.any(precisions <= 0.0):
        raise ValueError(f"'{covariance_type} precision' should be positive")
    return precisions


def check_n_features(n_features_in: int, n_features: int, kind="GaussianMixture") -> None:
    if n_features != n_features_in:
        raise ValueError(
            f"X has {n_features} features, but {kind} is expecting {n_features_in} "
            "features as input."
        )


class _FeatureNamesProbe(BaseEstimator):
    """A blank estimator that receives scikit-learn's feature-name bookkeeping."""


def feature_names(X):
    """scikit-learn's ``feature_names_in_`` for X (column names if all are strings), or None.

    Computed on a blank estimator so a fit that fails later leaves the real one untouched;
    scikit-learn's own logic (pandas, polars, its TypeError for mixed names) is reused.
    """
    probe = _FeatureNamesProbe()
    validate_data(probe, X, skip_check_array=True, reset=True)
    return getattr(probe, "feature_names_in_", None)
