"""Validation of hyper-parameters and initial parameters (scikit-learn's messages).

Nothing here mutates what the user passed: checked copies are returned.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from . import covariance
from .covariance import COVARIANCE_TYPES

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
#: ``missing``: "error" (a NaN or infinity is refused) or "em" (a NaN is a missing value)
MISSING_MODES = ("error", "em")


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
    for flag in ("warm_start", "progress"):
        value = getattr(est, flag, False)
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameterError(
                f"The {flag!r} parameter of {kind} must be an instance of 'bool'. "
                f"Got {value!r} instead."
            )
    if est.chunk_size != "auto":
        _interval("chunk_size", est.chunk_size, kind, 1, True)
    cache = getattr(est, "cache", "auto")
    if not (isinstance(cache, (bool, np.bool_)) or cache == "auto"):
        raise InvalidParameterError(
            f"The 'cache' parameter of {kind} must be True, False or 'auto'. Got {cache!r} instead."
        )
    check_memory_limit(getattr(est, "memory_limit", "auto"), kind)
    _options("missing", getattr(est, "missing", "error"), kind, MISSING_MODES)


#: the inits scikit-learn allows when its ``array_api_dispatch`` is on
ARRAY_API_INITS = ("random", "random_from_data")


def check_array_api_init(init_params: str) -> None:
    """scikit-learn's refusal of k-means starts under ``array_api_dispatch=True``, word for
    word (streamgmm computes in NumPy whatever the setting; it refuses what scikit-learn
    refuses so that code moves between the two unchanged)."""
    from sklearn import get_config

    if get_config().get("array_api_dispatch") and init_params not in ARRAY_API_INITS:
        allowed = list(ARRAY_API_INITS)
        raise NotImplementedError(
            f"Allowed `init_params` are {allowed} if 'array_api_dispatch' is enabled. You "
            f"passed init_params={init_params!r}, which are not implemented to work with "
            "'array_api_dispatch' enabled. Please disable 'array_api_dispatch' to use "
            f"init_params={init_params!r}."
        )


def check_memory_limit(value, kind="GaussianMixture") -> None:
    """``memory_limit``: "auto", a positive number of bytes, or a size such as "4GB"."""
    if value == "auto" or value is None:
        return
    size = value
    if isinstance(value, str):
        from dask.utils import parse_bytes  # only for a size given as text

        try:
            size = parse_bytes(value)
        except (ValueError, TypeError):
            size = None
    if isinstance(size, bool) or not isinstance(size, Real) or not size > 0 or size == np.inf:
        raise InvalidParameterError(
            f"The 'memory_limit' parameter of {kind} must be 'auto', a positive number of "
            f"bytes or a size such as '4GB'. Got {value!r} instead."
        )


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
        # swap), we print them the right way round
        # (tests/estimator/test_sklearn_compat.py::test_init_array_messages).
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
    cov = covariance.get(covariance_type)
    precisions = _as_float_array(precisions, "precisions_init", allow_nd=cov.is_matrix)
    _check_shape(precisions, cov.prec_shape(n_components, n_features), f"{cov.name} precision")
    if cov.is_matrix:
        for p in cov.full_matrices(precisions, n_components, n_features):
            _check_precision_matrix(p, cov.name)
    elif np.any(precisions <= 0.0):
        raise ValueError(f"'{cov.name} precision' should be positive")
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


class FieldError(ValueError):
    """A stored parameter that is not what a fitted model holds; ``field`` names it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


#: relative agreement asked of covariances and the inverse of the stored precisions, per
#: unit of eps * cond(covariance): what rounding the float64 parameters to the stored
#: dtype can leave (clipped to [CONSISTENCY_MIN, CONSISTENCY_MAX])
CONSISTENCY_PER_EPS_COND = 50.0
CONSISTENCY_MIN, CONSISTENCY_MAX = 1e-6, 0.5


def check_fitted_parameters(fitted: dict, covariance_type: str) -> None:
    """Check a fitted model's arrays (``weights_``, ``means_``, ``covariances_``,
    ``precisions_``, ``precisions_cholesky_``) before anything computes with them.

    Shapes must already agree with (K, d). Checked: one float dtype for all, finite
    values, weights in [0, 1] summing to 1, precision Cholesky factors upper-triangular
    with a positive diagonal, covariances symmetric positive definite, precisions equal
    to U U^T, and covariances equal to the inverse of U U^T to
    ``CONSISTENCY_PER_EPS_COND * eps * cond(covariance)`` relative (at least
    CONSISTENCY_MIN, at most CONSISTENCY_MAX). Raises :class:`FieldError`.
    """
    cov = covariance.get(covariance_type)
    weights, means = fitted["weights_"], fitted["means_"]
    k, d = means.shape
    if k < 1 or d < 1:
        raise FieldError(
            "means", f"has shape {means.shape}: a model has at least 1 component and 1 feature"
        )
    dtype = weights.dtype
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value, field = fitted[name], name[:-1]
        if value.dtype != dtype:
            raise FieldError(field, f"has dtype {value.dtype}, but weights has {dtype}")
        if not np.all(np.isfinite(value)):
            raise FieldError(field, "contains NaN or infinity")
    try:
        check_weights(weights, k)
    except ValueError as exc:
        raise FieldError("weights", f"is invalid: {exc}") from None
    eps = float(np.finfo(dtype).eps)
    chol = cov.full_matrices(fitted["precisions_cholesky_"].astype(np.float64), k, d)
    if cov.is_matrix and np.any(np.tril(chol, -1) != 0):
        raise FieldError("precisions_cholesky", "is not upper-triangular")
    if not np.all(np.diagonal(chol, axis1=1, axis2=2) > 0):
        raise FieldError(
            "precisions_cholesky",
            "is not a Cholesky factor of a positive-definite "
            "matrix (a diagonal entry is not positive)",
        )
    expected = cov.precisions(fitted["precisions_cholesky_"].astype(np.float64))
    scale = max(float(np.linalg.norm(expected)), np.finfo(float).tiny)
    if np.linalg.norm(fitted["precisions_"] - expected) > 1e3 * eps * scale:
        raise FieldError("precisions", "does not match precisions_cholesky (precisions = U U^T)")
    _check_covariances(
        cov.full_matrices(fitted["covariances_"].astype(np.float64), k, d), chol, eps
    )


def _check_covariances(covs: np.ndarray, chol: np.ndarray, eps: float) -> None:
    """Symmetric positive definite, and the inverse of U U^T within rounding."""
    for j, (c, u) in enumerate(zip(covs, chol, strict=True)):
        if np.linalg.norm(c - c.T) > 1e3 * eps * np.linalg.norm(c):
            raise FieldError("covariances", f"is not symmetric (component {j})")
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise FieldError("covariances", f"is not positive definite (component {j})") from None
        u_inv = np.linalg.inv(u)
        implied = u_inv.T @ u_inv  # (U U^T)^-1
        tol = CONSISTENCY_PER_EPS_COND * eps * np.linalg.cond(c)
        tol = min(max(tol, CONSISTENCY_MIN), CONSISTENCY_MAX)
        err = np.linalg.norm(c - implied) / np.linalg.norm(c)
        if not err <= tol:
            raise FieldError(
                "covariances",
                f"does not match the precisions (component {j}: relative difference {err:.2g} "
                f"from the inverse of precisions_cholesky U U^T, tolerance {tol:.2g})",
            )
