"""Layer 5: reading a model file (``streamgmm.load``): the walk over its fields.

:func:`read_model` opens the file, checks the header, the settings and the fitted
arrays field by field (each object and value as :mod:`streamgmm._modelfile_check`
requires) and returns a :class:`~streamgmm._modelfile.ModelRecord`;
:func:`build_estimator` makes the fitted estimator of it.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import h5py
import numpy as np

from . import _covariance
from ._modelfile import FORMAT_NAME, FORMAT_VERSION, HISTORY_FIELDS, PARAM_FIELDS, ModelRecord
from ._modelfile_check import (
    _bad,
    _check_fitted,
    _group,
    _numeric_dataset,
    _read_array,
    _scalar,
)


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
