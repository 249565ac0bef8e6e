"""The priors of ``BayesianGaussianMixture``: their checks and their values from the data.

scikit-learn checks the constructor's priors in two steps, kept here with its messages:
types and ranges before anything else (``check_bayesian_hyperparameters``), shapes and
positive definiteness once the number of features is known (``check_given_priors``).
The priors left unset come from the data: ``mean_prior_`` is the mean of X and
``covariance_prior_`` its covariance (``np.cov``, ddof=1) in the covariance type's layout,
both from one statistics value that covers every row (:func:`pooled_moments`), so no
pass of its own is needed when the initialisation already made one. With sample weights a
row of weight w counts as w rows, as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
from sklearn.utils import check_array

from . import covariance
from .stats import SuffStats
from .validation import InvalidParameterError, check_hyperparameters
from .variational import PRIOR_TYPES, Priors

KIND = "BayesianGaussianMixture"


def _positive_or_none(est, name: str) -> None:
    value = getattr(est, name)
    if value is None:
        return
    ok = isinstance(value, Real) and not isinstance(value, bool) and 0.0 < value < np.inf
    if not ok:
        raise InvalidParameterError(
            f"The {name!r} parameter of {KIND} must be None or a float in the range "
            f"(0.0, inf). Got {value!r} instead."
        )


def _is_array_like(value) -> bool:
    return hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")


def check_bayesian_hyperparameters(est) -> None:
    """Raise :class:`InvalidParameterError` naming the first bad constructor argument
    (those of GaussianMixture, then the priors), with scikit-learn's messages."""
    check_hyperparameters(est, KIND)
    prior_type = est.weight_concentration_prior_type
    if not isinstance(prior_type, str) or prior_type not in PRIOR_TYPES:
        raise InvalidParameterError(
            f"The 'weight_concentration_prior_type' parameter of {KIND} must be a str among "
            f"{{{', '.join(map(repr, sorted(PRIOR_TYPES)))}}}. Got {prior_type!r} instead."
        )
    for name in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
        _positive_or_none(est, name)
    mean_prior = est.mean_prior
    if mean_prior is not None and (isinstance(mean_prior, str) or not _is_array_like(mean_prior)):
        raise InvalidParameterError(
            f"The 'mean_prior' parameter of {KIND} must be None or an array-like. "
            f"Got {mean_prior!r} instead."
        )
    cp = est.covariance_prior
    scalar_ok = isinstance(cp, Real) and not isinstance(cp, bool) and 0.0 < cp < np.inf
    if not (cp is None or scalar_ok or (_is_array_like(cp) and not isinstance(cp, str))):
        raise InvalidParameterError(
            f"The 'covariance_prior' parameter of {KIND} must be None, an array-like or a "
            f"float in the range (0.0, inf). Got {cp!r} instead."
        )


def _float_array(value, name: str) -> np.ndarray:
    """A float32/float64 copy through scikit-learn's ``check_array`` (its NaN, inf and
    non-numeric messages), naming the parameter."""
    try:
        return check_array(value, dtype=[np.float64, np.float32], ensure_2d=False, copy=True)
    except ValueError as exc:
        raise ValueError(f"{exc} (in the parameter '{name}')") from None


def _check_shape(value: np.ndarray, shape: tuple, name: str) -> None:
    if value.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {value.shape}"
        )


def _given_spherical(value, name, n_features):
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ValueError(
            f"The parameter '{name}' should be a positive float, got an array of shape "
            f"{np.shape(value)}"
        )
    return value  # scikit-learn keeps the float as given


def _given_array(value, name, n_features, cov):
    if isinstance(value, Real):
        shape = (n_features,) * (2 if cov.is_matrix else 1)
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got a float; a "
            "float covariance_prior is for covariance_type='spherical'"
        )
    arr = _float_array(value, "covariance_prior")
    if cov.is_matrix:
        _check_shape(arr, (n_features, n_features), name)
        if not (np.allclose(arr, arr.T) and np.all(np.linalg.eigvalsh(arr) > 0.0)):
            raise ValueError(f"'{cov.name} precision' should be symmetric, positive-definite")
    else:
        _check_shape(arr, (n_features,), name)
        if np.any(arr <= 0.0):
            raise ValueError(f"'{cov.name} precision' should be positive")
    return arr


@dataclass(frozen=True)
class PriorLayout:
    """How ``covariance_prior_`` looks for one covariance type."""

    #: the given value, checked as scikit-learn checks it: (value, name, n_features)
    given: Callable
    #: per-component m2 (or their Chan corrections) -> the data's scatter, summed
    pool: Callable[[np.ndarray], np.ndarray]
    #: (scatter / (W - 1), n_features, dtype) -> scikit-learn's default: np.cov (float64)
    #: for full and tied, np.var per feature (the data's dtype) for diag, their mean for
    #: spherical
    empirical: Callable
    #: n_features -> the shape of covariance_prior_
    shape: Callable[[int], tuple]


def _matrix_layout(cov_name, pool):
    cov = covariance.get(cov_name)
    return PriorLayout(
        given=lambda v, name, d: _given_array(v, name, d, cov),
        pool=pool,
        empirical=lambda value, d, dtype: np.atleast_2d(value.astype(np.float64)),
        shape=lambda d: (d, d),
    )


PRIOR_LAYOUTS = {
    "full": _matrix_layout("full", lambda m2: m2.sum(axis=0)),
    "tied": _matrix_layout("tied", lambda m2: m2),  # pooled already
    "diag": PriorLayout(
        given=lambda v, name, d: _given_array(v, name, d, covariance.get("diag")),
        pool=lambda m2: m2.sum(axis=0),
        empirical=lambda value, d, dtype: value.astype(dtype),
        shape=lambda d: (d,),
    ),
    "spherical": PriorLayout(
        given=_given_spherical,
        pool=lambda m2: m2.sum(),
        empirical=lambda value, d, dtype: np.asarray(value / d, dtype=dtype)[()],
        shape=lambda d: (),
    ),
}


@dataclass(frozen=True)
class GivenPriors:
    """The priors fixed before any data are read: scikit-learn's ``*_prior_`` attributes
    (None for ``mean_prior_`` and ``covariance_prior_`` when they come from the data)."""

    weight_concentration_prior_type: str
    weight_concentration_prior_: float
    mean_precision_prior_: float
    degrees_of_freedom_prior_: float
    mean_prior_: np.ndarray | None
    covariance_prior_: object

    @property
    def need_data(self) -> bool:
        return self.mean_prior_ is None or self.covariance_prior_ is None


def check_given_priors(settings: dict, n_features: int) -> GivenPriors:
    """scikit-learn's ``_check_parameters`` of the priors, for data of ``n_features``."""
    s = settings
    wcp = s["weight_concentration_prior"]
    mean_prior = None
    if s["mean_prior"] is not None:
        mean_prior = _float_array(s["mean_prior"], "mean_prior")
        _check_shape(mean_prior, (n_features,), "means")
    dof = s["degrees_of_freedom_prior"]
    if dof is not None and not dof > n_features - 1.0:
        raise ValueError(
            "The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{n_features - 1}, but got {dof:.3f}."
        )
    cp = s["covariance_prior"]
    return GivenPriors(
        s["weight_concentration_prior_type"],
        1.0 / s["n_components"] if wcp is None else wcp,
        1.0 if s["mean_precision_prior"] is None else s["mean_precision_prior"],
        n_features if dof is None else dof,
        mean_prior,
        None if cp is None else _given_covariance_prior(cp, s["covariance_type"], n_features),
    )


def pooled_moments(stats: SuffStats) -> tuple[float, np.ndarray, np.ndarray]:
    """(total weight, mean (d,), scatter) of the rows behind ``stats``, whose responsibilities
    sum to 1 on every row: the per-component moments merged into one (Chan's update).

    The scatter is sum_i w_i (x_i - m)(x_i - m)^T in the layout of ``covariance_prior_``:
    (d, d) for full and tied, its diagonal for diag, its trace for spherical.
    """
    cov = covariance.get(stats.covariance_type)
    total = float(stats.nk.sum())
    mean = (stats.nk @ stats.means) / total
    pool = PRIOR_LAYOUTS[cov.name].pool
    scatter = pool(stats.m2) + pool(cov.chan_correction(stats.nk, stats.means - mean))
    return total, mean, scatter


def prior_attributes(given: GivenPriors, covariance_type: str, dtype, moments=None) -> dict:
    """scikit-learn's prior attributes of a fit: the given priors, and those left unset from
    ``moments`` (:func:`pooled_moments` of the data; needed when ``given.need_data``).

    They take scikit-learn's dtypes: ``mean_prior_`` the data's (X.mean),
    ``covariance_prior_`` float64 for full and tied (np.cov) and the data's for diag and
    spherical (np.var). The M-step uses these rounded values, as scikit-learn does
    (:func:`priors_from_attributes`).
    """
    mean_prior, cov_prior = given.mean_prior_, given.covariance_prior_
    if given.need_data:
        weight, mean, scatter = moments
        if mean_prior is None:
            mean_prior = mean.astype(dtype)
        if cov_prior is None:
            cov_prior = _empirical_covariance(weight, scatter, covariance_type, mean.size, dtype)
    return {
        "weight_concentration_prior_": given.weight_concentration_prior_,
        "mean_precision_prior_": given.mean_precision_prior_,
        "mean_prior_": mean_prior,
        "degrees_of_freedom_prior_": given.degrees_of_freedom_prior_,
        "covariance_prior_": cov_prior,
    }


def priors_from_attributes(prior_type: str, attrs: dict) -> Priors:
    """The float64 priors of the M-step from scikit-learn's prior attributes."""
    return Priors(
        prior_type,
        float(attrs["weight_concentration_prior_"]),
        float(attrs["mean_precision_prior_"]),
        np.asarray(attrs["mean_prior_"], dtype=np.float64),
        float(attrs["degrees_of_freedom_prior_"]),
        np.asarray(attrs["covariance_prior_"], dtype=np.float64),
    )


def check_prior_attributes(attrs: dict, covariance_type: str, n_features: int) -> None:
    """Prior attributes read from a file, as a fit leaves them: positive finite scalars,
    degrees of freedom above d - 1, a finite mean of shape (d,), and a covariance prior in
    the type's layout that is symmetric positive semi-definite (the data's covariance may
    be singular: scikit-learn does not check it). Raises ``ValueError`` naming the prior."""
    for name in ("weight_concentration_prior_", "mean_precision_prior_"):
        if not 0.0 < float(attrs[name]) < np.inf:
            raise ValueError(f"{name[:-1]} is {attrs[name]}; expected a positive finite number")
    dof = float(attrs["degrees_of_freedom_prior_"])
    if not n_features - 1.0 < dof < np.inf:
        raise ValueError(f"degrees_of_freedom_prior is {dof}; expected above {n_features - 1}")
    mean = np.asarray(attrs["mean_prior_"])
    if mean.shape != (n_features,) or not np.all(np.isfinite(mean)):
        raise ValueError(f"mean_prior should be {n_features} finite numbers")
    cov = covariance.get(covariance_type)
    value = np.asarray(attrs["covariance_prior_"], dtype=np.float64)
    shape = PRIOR_LAYOUTS[covariance_type].shape(n_features)
    if value.shape != shape or not np.all(np.isfinite(value)):
        raise ValueError(f"covariance_prior should be finite numbers of shape {shape}")
    if cov.is_matrix:
        symmetric = np.allclose(value, value.T)
        scale = max(float(np.abs(value).max()), np.finfo(float).tiny)
        if not symmetric or np.linalg.eigvalsh(value).min() < -1e-10 * scale:
            raise ValueError("covariance_prior is not symmetric positive semi-definite")
    elif np.any(value < 0.0) or not np.any(value > 0.0):
        raise ValueError("covariance_prior has a negative variance, or none positive")


def _empirical_covariance(weight, scatter, covariance_type, n_features, dtype):
    if not weight > 1.0:
        raise ValueError(
            "The data's covariance, the default covariance_prior, divides by the number of "
            f"samples minus one (np.cov), but the sample weights sum to {weight:g}. Pass "
            "covariance_prior, or sample weights that sum to more than 1."
        )
    return PRIOR_LAYOUTS[covariance_type].empirical(scatter / (weight - 1.0), n_features, dtype)


def _given_covariance_prior(value, covariance_type: str, n_features: int):
    name = f"{covariance_type} covariance_prior"
    return PRIOR_LAYOUTS[covariance_type].given(value, name, n_features)
