"""Model files (``gm.save(path)``, ``streamgmm.load(path)``): HDF5 without pickle.

Layout of format version 1 (datasets and attributes only)::

    /                    attrs: format="streamgmm.GaussianMixture", format_version=1,
                                streamgmm_version, numpy_version, h5py_version, created,
                                settings_omitted (constructor settings not saved, and why)
    /params/weights      the fitted arrays, in their own dtype (float32 or float64)
    /params/means, /params/covariances, /params/precisions, /params/precisions_cholesky
    /history             attrs: converged, n_iter, lower_bound, n_features_in
    /history/lower_bounds
    /settings            attrs: one per plain constructor setting (None is an empty attribute)
    /settings/<name>     array settings (means_init, ...) as datasets

A ``BayesianGaussianMixture`` is written the same way with format
"streamgmm.BayesianGaussianMixture" and, in addition, its posterior and priors
(``bayesfile.py``); ``streamgmm.load`` returns the class the format names.

A file is written whole in memory and then through the one atomic writer
(``atomic.py``). Reading trusts nothing: every field is checked from metadata before it
is read (``fields.py``), then every value (``_model.validation``): the settings as the
estimator would check them, the parameters for finiteness, ranges, positive
definiteness and agreement with each other. The result is a :class:`ModelRecord`; the
estimator layer builds the estimator from it.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from numbers import Integral, Real
from types import SimpleNamespace

import h5py
import numpy as np

from .._model import (
    FieldError,
    check_bayesian_hyperparameters,
    check_fitted_parameters,
    check_hyperparameters,
    check_means,
    check_precisions,
    check_weights,
    get_covariance,
)
from .._version import __version__
from .atomic import hdf5_bytes, write_bytes
from .bayesfile import read_bayesian_fields, write_bayesian_fields
from .fields import FieldReader

FORMAT_NAME = "streamgmm.GaussianMixture"
BAYESIAN_FORMAT = "streamgmm.BayesianGaussianMixture"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileFormat:
    """What differs between the estimators' model files: the class, its settings' checks,
    and the fields beyond a GaussianMixture's (write, read and check)."""

    estimator: str
    check_settings: object
    write_extra: object = None
    read_extra: object = None


FORMATS = {
    FORMAT_NAME: FileFormat("GaussianMixture", check_hyperparameters),
    BAYESIAN_FORMAT: FileFormat(
        "BayesianGaussianMixture",
        check_bayesian_hyperparameters,
        write_bayesian_fields,
        read_bayesian_fields,
    ),
}

#: fitted array attribute -> dataset in /params
PARAM_FIELDS = {
    "weights_": "weights",
    "means_": "means",
    "covariances_": "covariances",
    "precisions_": "precisions",
    "precisions_cholesky_": "precisions_cholesky",
}
#: fitted scalar attribute -> (attribute in /history, Python type)
HISTORY_FIELDS = {
    "converged_": ("converged", bool),
    "n_iter_": ("n_iter", int),
    "lower_bound_": ("lower_bound", float),
    "n_features_in_": ("n_features_in", int),
}
_INT64 = np.iinfo(np.int64)


@dataclass
class ModelRecord:
    """What a model file holds: constructor settings, fitted attributes (PARAM_FIELDS,
    HISTORY_FIELDS and ``lower_bounds_``) and, when read, metadata."""

    settings: dict
    fitted: dict
    meta: dict = field(default_factory=dict)
    file_format: str = FORMAT_NAME


# -- writing ---------------------------------------------------------------------------


def save(path, record: ModelRecord) -> None:
    """Write ``record`` to ``path`` atomically; an existing file is replaced (its mode kept)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save the model to {path}: folder {folder} does not exist")
    write_bytes(path, hdf5_bytes(lambda f: write_model(f, record)))


def write_model(f: h5py.Group, record: ModelRecord) -> None:
    """The model file's groups and attributes, into an open file (or a checkpoint's)."""
    f.attrs["format"] = record.file_format
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["streamgmm_version"] = __version__
    f.attrs["numpy_version"] = np.__version__
    f.attrs["h5py_version"] = h5py.__version__
    f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    params = f.create_group("params")
    for attr, name in PARAM_FIELDS.items():
        params.create_dataset(name, data=np.asarray(record.fitted[attr]))
    history = f.create_group("history")
    for attr, (name, kind) in HISTORY_FIELDS.items():
        history.attrs[name] = _plain_scalar(kind(record.fitted[attr]))
    bounds = np.asarray(record.fitted["lower_bounds_"], dtype=np.float64).reshape(-1)
    history.create_dataset("lower_bounds", data=bounds)
    omitted = _write_settings(f.create_group("settings"), record.settings)
    f.attrs["settings_omitted"] = "; ".join(omitted)
    write_extra = FORMATS[record.file_format].write_extra
    if write_extra is not None:
        write_extra(f, record.fitted)


def _plain_scalar(value):
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, Integral):
        return np.int64(value)
    return np.float64(value)


def _write_settings(group: h5py.Group, params: dict) -> list[str]:
    """One attribute per plain setting, a dataset per numeric array; returns what was left out."""
    omitted = []
    for name, value in sorted(params.items()):
        if value is None:
            group.attrs[name] = h5py.Empty("f8")
        elif isinstance(value, str):
            group.attrs[name] = value
        elif isinstance(value, (bool, np.bool_, Real)) and not isinstance(value, complex):
            if isinstance(value, Integral) and not _INT64.min <= int(value) <= _INT64.max:
                omitted.append(f"{name} (an integer outside int64)")
                continue
            group.attrs[name] = _plain_scalar(value)
        elif _is_numeric_array(value):
            group.create_dataset(name, data=np.asarray(value))
        else:
            omitted.append(f"{name} (a {type(value).__name__}: not a plain value)")
    return omitted


def _is_numeric_array(value) -> bool:
    if not isinstance(value, (np.ndarray, list, tuple)):
        return False
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):  # ragged lists
        return False


# -- reading ---------------------------------------------------------------------------


def read_model(
    path, defaults: dict, what: str = "model file", file_format: str = FORMAT_NAME
) -> ModelRecord:
    """Open, check and read a model file; ``ValueError`` naming the field if anything is off.

    ``defaults`` are the estimator's constructor settings (``get_params()`` of a fresh
    one): the names a file may set, and the values of those it does not. ``file_format``
    is the format of that estimator (:func:`read_format` tells a file's).
    """
    path = os.fspath(path)
    check_is_hdf5(path, what)
    with h5py.File(path, "r") as f:
        return read_model_from(f, path, defaults, what, file_format)


def read_format(path) -> str | None:
    """The format a streamgmm file says it has (a key of FORMATS), or None; nothing else is
    read or checked (:func:`read_model` checks everything)."""
    path = os.fspath(path)
    check_is_hdf5(path)
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
    return fmt if isinstance(fmt, str) and fmt in FORMATS else None


def read_model_from(
    f: h5py.File, path: str, defaults: dict, what: str, file_format: str = FORMAT_NAME
) -> ModelRecord:
    """:func:`read_model` on an open file (a checkpoint reads its model part so)."""
    fields = FieldReader(f, path, what)
    meta = _read_header(fields, file_format)
    fmt = FORMATS[file_format]
    settings = _read_settings(fields, defaults, fmt.estimator)
    fitted = _read_fitted(fields, dict(defaults, **settings), fmt)
    return ModelRecord(settings, fitted, meta, file_format)


def check_is_hdf5(path: str, what: str = "model file") -> None:
    """A regular file in HDF5 format, or a one-line error (nothing else is opened)."""
    from .handles import check_regular_file

    check_regular_file(path)
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not a streamgmm {what}: not an HDF5 file")


def _read_header(fields: FieldReader, file_format: str) -> dict:
    f, path = fields.f, fields.path
    fmt = f.attrs.get("format")
    wanted = FORMATS[file_format].estimator
    if isinstance(fmt, str) and fmt in FORMATS and fmt != file_format:
        raise ValueError(
            f"{path} holds a {FORMATS[fmt].estimator} (format {fmt!r}), not a {wanted}; "
            "streamgmm.load reads either"
        )
    if fmt != file_format:
        raise ValueError(
            f"{path} is not a streamgmm model file (its root attribute 'format' is "
            f"{_short(fmt)}, expected {file_format!r}); write one with {wanted}.save"
        )
    version = fields.scalar(f.attrs, "format_version", int, "format_version")
    if version > FORMAT_VERSION:
        raise fields.bad(
            "format_version",
            f"is {version}: newer than this streamgmm reads (up to {FORMAT_VERSION}); "
            "upgrade streamgmm to load it",
        )
    if version < 1:
        raise fields.bad("format_version", f"is {version}: unknown model file format")
    meta = {"format_version": version}
    for name in ("streamgmm_version", "numpy_version", "h5py_version", "created"):
        value = f.attrs.get(name)
        meta[name] = value if isinstance(value, str) else "unknown"
    omitted = f.attrs.get("settings_omitted", "")
    meta["settings_omitted"] = omitted if isinstance(omitted, str) else ""
    return meta


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_settings(fields: FieldReader, defaults: dict, estimator: str) -> dict:
    group = fields.group(fields.f, "settings")
    unknown = sorted(set(group.attrs).union(group) - set(defaults))
    if unknown:
        raise fields.bad(
            f"settings/{unknown[0]}", f"is not a {estimator} setting of this streamgmm version"
        )
    settings = {}
    for name in group.attrs:
        settings[name] = _setting_value(fields, group.attrs[name], f"settings/{name}")
    for name in group:
        if name in settings:
            raise fields.bad(f"settings/{name}", "is both an attribute and a dataset")
        settings[name] = fields.array(group, name, f"settings/{name}", kinds="biuf")
    return settings


def _setting_value(fields: FieldReader, value, where: str):
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    shape = f" of shape {np.shape(value)}" if np.ndim(value) else ""
    raise fields.bad(
        where, f"should be a single number, string or none, got {type(value).__name__}{shape}"
    )


def _read_fitted(fields: FieldReader, settings: dict, fmt: FileFormat) -> dict:
    probe = SimpleNamespace(**settings)
    try:
        fmt.check_settings(probe)
    except (ValueError, TypeError) as exc:
        raise fields.bad("settings", f"is invalid: {exc}") from None
    cov = get_covariance(probe.covariance_type)
    params = fields.group(fields.f, "params")
    k = probe.n_components
    weights = fields.array(params, "weights", "params/weights", shape=(k,))
    means_ds = fields.dataset(params, "means", "params/means")
    if means_ds.ndim != 2 or means_ds.shape[0] != k or means_ds.shape[1] < 1:
        raise fields.bad(
            "params/means", f"has shape {means_ds.shape}, expected ({k}, n_features >= 1)"
        )
    d = means_ds.shape[1]
    shapes = {"means": (k, d)}
    shapes.update(
        dict.fromkeys(("covariances", "precisions", "precisions_cholesky"), cov.prec_shape(k, d))
    )
    fitted = {"weights_": weights}
    for attr, name in list(PARAM_FIELDS.items())[1:]:
        fitted[attr] = fields.array(params, name, f"params/{name}", shape=shapes[name])
    history = fields.group(fields.f, "history")
    for attr, (name, kind) in HISTORY_FIELDS.items():
        fitted[attr] = fields.scalar(history.attrs, name, kind, f"history/{name}")
    bounds = fields.array(history, "lower_bounds", "history/lower_bounds", ndim=1)
    fitted["lower_bounds_"] = [float(b) for b in bounds]
    try:
        check_fitted_parameters(fitted, cov.name)
    except FieldError as exc:
        raise fields.bad(f"params/{exc.field}", exc.problem) from None
    _check_history(fields, fitted, d)
    _check_init_settings(fields, probe, k, d)
    if fmt.read_extra is not None:
        fitted.update(fmt.read_extra(fields, fitted, settings))
    return fitted


def _check_history(fields: FieldReader, fitted: dict, d: int) -> None:
    if fitted["n_features_in_"] != d:
        raise fields.bad(
            "history/n_features_in",
            f"is {fitted['n_features_in_']}, but means have {d} features",
        )
    if fitted["n_iter_"] < 0:
        raise fields.bad("history/n_iter", f"is {fitted['n_iter_']}; expected >= 0")
    bound = fitted["lower_bound_"]
    if np.isnan(bound) or bound == np.inf:  # -inf is what max_iter=0 leaves
        raise fields.bad("history/lower_bound", f"is {bound}")
    if not np.all(np.isfinite(fitted["lower_bounds_"])):
        raise fields.bad("history/lower_bounds", "contains NaN or infinity")


def _check_init_settings(fields: FieldReader, probe, k: int, d: int) -> None:
    """The saved initial arrays, checked as ``fit`` would check them."""
    checks = {
        "weights_init": lambda v: check_weights(v, k),
        "means_init": lambda v: check_means(v, k, d),
        "precisions_init": lambda v: check_precisions(v, probe.covariance_type, k, d),
    }
    for name, check in checks.items():
        value = getattr(probe, name, None)
        if value is None:
            continue
        try:
            check(value)
        except ValueError as exc:
            problem = f"is invalid: {' '.join(str(exc).split())}"
            raise fields.bad(f"settings/{name}", problem) from None
