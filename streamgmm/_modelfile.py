"""Layer 5: model files (``gm.save(path)``, ``streamgmm.load(path)``), HDF5 without pickle.

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

A model file comes from outside, so :func:`read_model` trusts nothing in it: every
object must be a hard-linked, non-virtual dataset with its data inside the file
(an HDF5 file can point at the bytes of any other file on the disk), of a real
float dtype, of the shape that the other fields imply, holding finite and valid
parameters; any failure is a ``ValueError`` naming the field, raised before an
estimator exists. Nothing is unpickled: h5py never unpickles, and object,
string and compound dtypes are refused where numbers are expected.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass, field
from numbers import Integral, Real
from types import SimpleNamespace

import h5py
import numpy as np

from . import _covariance
from ._validation import check_weights

FORMAT_NAME = "streamgmm.GaussianMixture"
FORMAT_VERSION = 1

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
    """What a model file holds, validated: constructor settings, fitted attributes, metadata."""

    settings: dict
    fitted: dict
    meta: dict = field(default_factory=dict)


# -- writing ---------------------------------------------------------------------------


def save(estimator, path) -> None:
    """Write a fitted estimator to ``path`` atomically (a temporary file, then a rename).

    An existing file at ``path`` is replaced, as ``numpy.save`` does; it stays
    intact if anything fails before the rename.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save the model to {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".streamgmm-", suffix=".h5.tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            _write(f, estimator)
        with open(tmp, "rb") as fh:  # the data reaches the disk before the rename does
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write(f: h5py.File, estimator) -> None:
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["streamgmm_version"] = _package_version()
    f.attrs["numpy_version"] = np.__version__
    f.attrs["h5py_version"] = h5py.__version__
    f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    params = f.create_group("params")
    for attr, name in PARAM_FIELDS.items():
        params.create_dataset(name, data=np.asarray(getattr(estimator, attr)))
    history = f.create_group("history")
    for attr, (name, kind) in HISTORY_FIELDS.items():
        history.attrs[name] = _plain_scalar(kind(getattr(estimator, attr)))
    history.create_dataset(
        "lower_bounds", data=np.asarray(estimator.lower_bounds_, dtype=np.float64).reshape(-1)
    )
    omitted = _write_settings(f.create_group("settings"), estimator.get_params(deep=False))
    f.attrs["settings_omitted"] = "; ".join(omitted)


def _package_version() -> str:
    from . import __version__

    return __version__


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


def load(path):
    """Read a model written by :meth:`GaussianMixture.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    GaussianMixture
        Fitted, with the saved parameters (same dtypes, bit for bit), settings
        and fit history.

    Raises
    ------
    ValueError
        If the file is not a streamgmm model, has an unknown format version, or any
        field is missing, of the wrong dtype or shape, not finite, invalid, or
        stored outside the file (external, virtual or linked datasets, which are
        refused without being read). The message names the field.
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    """
    return build_estimator(read_model(path))


def build_estimator(record: ModelRecord):
    """A fitted ``GaussianMixture`` from a validated :class:`ModelRecord`."""
    # The one import of layer 8 from layer 5: loading must return the estimator; it
    # stays inside the function so that importing the io layer never imports it.
    from ._estimator import GaussianMixture

    estimator = GaussianMixture(**record.settings)
    for name, value in record.fitted.items():
        setattr(estimator, name, value)
    return estimator


def read_model(path) -> ModelRecord:
    """Open, check and read a model file; ``ValueError`` naming the field if anything is off."""
    path = os.fspath(path)
    _check_is_hdf5(path)
    with h5py.File(path, "r") as f:
        meta = _read_header(f, path)
        settings = _read_settings(_group(f, "settings", path), path)
        fitted = _read_fitted(f, path, settings)
    return ModelRecord(settings, fitted, meta)


def _check_is_hdf5(path: str) -> None:
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not a streamgmm model file: not an HDF5 file")


def _bad(path: str, where: str, what: str) -> ValueError:
    return ValueError(f"model file {path}: field '{where}' {what}")


def _read_header(f: h5py.File, path: str) -> dict:
    fmt = f.attrs.get("format")
    if fmt != FORMAT_NAME:
        raise ValueError(
            f"{path} is not a streamgmm model file (its root attribute 'format' is "
            f"{_short(fmt)}, expected {FORMAT_NAME!r}); write one with GaussianMixture.save"
        )
    version = _scalar(f.attrs, "format_version", int, path, "format_version")
    if version > FORMAT_VERSION:
        raise _bad(
            path,
            "format_version",
            f"is {version}: newer than this streamgmm reads (up to {FORMAT_VERSION}); "
            "upgrade streamgmm to load it",
        )
    if version < 1:
        raise _bad(path, "format_version", f"is {version}: unknown model file format")
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


def _scalar(attrs, name: str, kind: type, path: str, where: str):
    """A scalar attribute of the given Python type (bool, int, float), checked, never an array."""
    if name not in attrs:
        raise _bad(path, where, "is missing")
    value = attrs[name]
    accepted = {bool: (np.bool_,), int: (np.integer,), float: (np.floating, np.integer)}[kind]
    if not isinstance(value, accepted) or np.ndim(value) != 0:
        shape = f" of shape {np.shape(value)}" if np.ndim(value) else ""
        raise _bad(
            path, where, f"should be a single {kind.__name__}, got {type(value).__name__}{shape}"
        )
    return kind(value)


def _member(parent: h5py.Group, name: str, path: str, where: str, kind: type):
    """A hard-linked member of the given kind (h5py.Group or h5py.Dataset); nothing read."""
    link = parent.get(name, getlink=True)
    if link is None:
        raise _bad(path, where, "is missing")
    if not isinstance(link, h5py.HardLink):
        what = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "an external link"}
        raise _bad(
            path,
            where,
            f"is {what.get(type(link), 'a link of an unknown kind')}; "
            "model files may hold only plain groups and datasets",
        )
    obj = parent[name]
    if not isinstance(obj, kind):
        raise _bad(path, where, f"should be a {kind.__name__.lower()}")
    return obj


def _group(parent: h5py.Group, name: str, path: str) -> h5py.Group:
    return _member(parent, name, path, name, h5py.Group)


def _dataset(group: h5py.Group, name: str, path: str, where: str) -> h5py.Dataset:
    """A dataset whose data lies in this file, checked from metadata only (nothing read)."""
    obj = _member(group, name, path, where, h5py.Dataset)
    if obj.is_virtual:
        raise _bad(path, where, "is a virtual dataset; model files may hold only plain datasets")
    if obj.id.get_create_plist().get_external_count() > 0:
        raise _bad(
            path, where, "is external (its data lies in another file); refused, nothing was read"
        )
    return obj


def _numeric_dataset(group, name, path, where, kinds="f") -> h5py.Dataset:
    """:func:`_dataset`, also refusing any dtype that is not real numbers (metadata only)."""
    ds = _dataset(group, name, path, where)
    dtype = ds.dtype
    if dtype.kind not in kinds or dtype.names or dtype.itemsize > 8:
        raise _bad(path, where, f"has unexpected dtype {dtype}; expected real numbers")
    if dtype.kind == "f" and dtype.itemsize not in (4, 8):
        raise _bad(path, where, f"has dtype {dtype}; expected float32 or float64")
    return ds


def _read_array(group, name, path, where, *, kinds="f", shape=None) -> np.ndarray:
    ds = _numeric_dataset(group, name, path, where, kinds)
    if shape is not None and ds.shape != tuple(shape):
        raise _bad(path, where, f"has shape {ds.shape}, expected {tuple(shape)}")
    data = np.asarray(ds[()])
    return data.astype(ds.dtype.newbyteorder("="), copy=False)


def _read_settings(group: h5py.Group, path: str) -> dict:
    known = set(_default_settings())
    settings = {}
    for name in group.attrs:
        settings[name] = _setting_value(group.attrs[name], path, f"settings/{name}")
    for name in group:
        if name in settings:
            raise _bad(path, f"settings/{name}", "is both an attribute and a dataset")
        settings[name] = _read_array(group, name, path, f"settings/{name}", kinds="biuf")
    unknown = sorted(set(settings) - known)
    if unknown:
        raise _bad(
            path,
            f"settings/{unknown[0]}",
            "is not a GaussianMixture setting of this streamgmm version",
        )
    return settings


def _default_settings() -> dict:
    from ._estimator import GaussianMixture  # see build_estimator

    return GaussianMixture().get_params(deep=False)


def _setting_value(value, path: str, where: str):
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
    raise _bad(
        path,
        where,
        f"should be a single number, string or none, got {type(value).__name__}{shape}",
    )


def _read_fitted(f: h5py.File, path: str, settings: dict) -> dict:
    from ._validation import check_hyperparameters

    probe = SimpleNamespace(**dict(_default_settings(), **settings))
    try:
        check_hyperparameters(probe)
    except (ValueError, TypeError) as exc:
        raise _bad(path, "settings", f"is invalid: {exc}") from None
    cov = _covariance.get(settings.get("covariance_type", "full"))
    params = _group(f, "params", path)
    weights = _read_array(params, "weights", path, "params/weights")
    if weights.ndim != 1:
        raise _bad(path, "params/weights", f"has shape {weights.shape}, expected (n_components,)")
    k = weights.shape[0]
    if k != probe.n_components:
        raise _bad(
            path, "params/weights", f"has {k} components but n_components is {probe.n_components}"
        )
    means_ds = _numeric_dataset(params, "means", path, "params/means")
    if means_ds.ndim != 2 or means_ds.shape[0] != k:
        raise _bad(path, "params/means", f"has shape {means_ds.shape}, expected ({k}, n_features)")
    d = means_ds.shape[1]
    shapes = {"weights": (k,), "means": (k, d)}
    shapes.update(
        dict.fromkeys(("covariances", "precisions", "precisions_cholesky"), cov.prec_shape(k, d))
    )
    fitted = {"weights_": weights}
    for attr, name in list(PARAM_FIELDS.items())[1:]:
        fitted[attr] = _read_array(params, name, path, f"params/{name}", shape=shapes[name])
    history = _group(f, "history", path)
    for attr, (name, kind) in HISTORY_FIELDS.items():
        fitted[attr] = _scalar(history.attrs, name, kind, path, f"history/{name}")
    bounds = _read_array(history, "lower_bounds", path, "history/lower_bounds")
    if bounds.ndim != 1:
        raise _bad(path, "history/lower_bounds", f"has shape {bounds.shape}, expected 1-D")
    fitted["lower_bounds_"] = [float(b) for b in bounds]
    _check_fitted(fitted, cov, d, path)
    return fitted


def _check_fitted(fitted: dict, cov, d: int, path: str) -> None:
    dtype = fitted["weights_"].dtype
    for attr, name in PARAM_FIELDS.items():
        value = fitted[attr]
        if value.dtype != dtype:
            raise _bad(path, f"params/{name}", f"has dtype {value.dtype}, but weights has {dtype}")
        if not np.all(np.isfinite(value)):
            raise _bad(path, f"params/{name}", "contains NaN or infinity")
    try:
        check_weights(fitted["weights_"], fitted["weights_"].shape[0])
    except ValueError as exc:
        raise _bad(path, "params/weights", f"is invalid: {exc}") from None
    _check_cholesky(fitted["precisions_cholesky_"], cov.name, path)
    _check_covariances(fitted["covariances_"], cov.name, path)
    expected = cov.precisions(fitted["precisions_cholesky_"].astype(np.float64))
    scale = max(float(np.linalg.norm(expected)), np.finfo(float).tiny)
    if np.linalg.norm(fitted["precisions_"] - expected) > 1e3 * np.finfo(dtype).eps * scale:
        raise _bad(path, "params/precisions", "does not match params/precisions_cholesky")
    if fitted["n_features_in_"] != d:
        raise _bad(
            path,
            "history/n_features_in",
            f"is {fitted['n_features_in_']}, but means have {d} features",
        )
    if fitted["n_iter_"] < 0:
        raise _bad(path, "history/n_iter", f"is {fitted['n_iter_']}; expected >= 0")
    bound = fitted["lower_bound_"]
    if np.isnan(bound) or bound == np.inf:  # -inf is what max_iter=0 leaves
        raise _bad(path, "history/lower_bound", f"is {bound}")
    if not np.all(np.isfinite(fitted["lower_bounds_"])):
        raise _bad(path, "history/lower_bounds", "contains NaN or infinity")


def _check_cholesky(chol: np.ndarray, covariance_type: str, path: str) -> None:
    where = "params/precisions_cholesky"
    if covariance_type in ("full", "tied"):
        mats = chol.reshape(-1, *chol.shape[-2:])
        diag = np.diagonal(mats, axis1=1, axis2=2)
        if np.any(np.tril(mats, -1) != 0):
            raise _bad(path, where, "is not upper-triangular")
    else:
        diag = chol
    if not np.all(diag > 0):
        raise _bad(path, where, "is not a Cholesky factor of a positive-definite matrix")


def _check_covariances(covariances: np.ndarray, covariance_type: str, path: str) -> None:
    where = "params/covariances"
    if covariance_type in ("full", "tied"):
        mats = covariances.reshape(-1, *covariances.shape[-2:])
        asym = np.linalg.norm(mats - np.swapaxes(mats, 1, 2))
        if not asym <= 1e3 * np.finfo(mats.dtype).eps * np.linalg.norm(mats):
            raise _bad(path, where, "is not symmetric")
        diag = np.diagonal(mats, axis1=1, axis2=2)
    else:
        diag = covariances
    if not np.all(diag > 0):
        raise _bad(path, where, "has non-positive variances")
