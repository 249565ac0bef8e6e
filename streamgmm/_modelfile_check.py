"""Layer 5: what a model file's objects and values must be, checked as they are read.

A model file comes from outside, so nothing in it is trusted: every object must
be a hard-linked, non-virtual dataset with its data inside the file (an HDF5 file
can point at the bytes of any other file on the disk), of a real float dtype, of
the shape that the other fields imply, holding finite and valid parameters; any
failure is a ``ValueError`` naming the field (:func:`_bad`), raised before an
estimator exists. Nothing is unpickled: h5py never unpickles, and object, string
and compound dtypes are refused where numbers are expected.
"""

from __future__ import annotations

import h5py
import numpy as np

from ._modelfile import PARAM_FIELDS
from ._validation import check_weights


def _bad(path: str, where: str, what: str) -> ValueError:
    return ValueError(f"model file {path}: field '{where}' {what}")


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
