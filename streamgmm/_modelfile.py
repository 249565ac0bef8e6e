"""Layer 5: model files (``gm.save(path)``, ``streamgmm.load(path)``), HDF5 without pickle:
the format and its writing.

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

Reading, which trusts nothing in the file, is :mod:`streamgmm._modelfile_read`
(the walk over the fields) and :mod:`streamgmm._modelfile_check` (what each
object and value must be).
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass, field
from numbers import Integral, Real

import h5py
import numpy as np

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
