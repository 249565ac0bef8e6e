"""What an input may be, and in-memory and memmapped arrays as block sources.

The checks of dtype and shape read metadata only and raise scikit-learn's
messages (:class:`InputTypeError` is both a ``TypeError`` and a ``ValueError``,
as scikit-learn's checks are). :func:`as_array` turns what is not yet an array
(lists, pandas, object arrays of numbers) into one and refuses sparse input.
:class:`ArrayView` and :class:`MemmapSource` stand behind ``da.from_array``: the
first so that blocks of a NumPy array are views, the second so that a memmap
travels in the graph by reference (path + offset, RELIABILITY D7).
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import threading

import numpy as np


class InputTypeError(TypeError, ValueError):
    """Input of a type streamgmm cannot fit (both errors, like scikit-learn's checks)."""


def check_dtype(dtype, what="X") -> None:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise InputTypeError(
            f"Complex data not supported: {what} has dtype {dtype}. "
            "Expected real numbers (float or int)."
        )
    if dtype.kind not in "biuf":
        kind = {
            "O": "object arrays are not supported; convert to a numeric dtype first",
            "U": "strings are not supported",
            "S": "byte strings are not supported",
            "M": "datetimes are not supported",
            "m": "timedeltas are not supported",
            "V": "structured (compound) dtypes are not supported; select one numeric field",
        }.get(dtype.kind, "it is not numeric")
        raise InputTypeError(
            f"{what} has dtype {dtype}: {kind}. Expected real numbers (float or int)."
        )


def check_shape(shape, what="X", min_samples=1) -> None:
    if len(shape) != 2:
        hint = ""
        if len(shape) == 1:
            hint = " Reshape your data with X.reshape(-1, 1) if it has a single feature."
        raise ValueError(
            f"{what}: expected 2-D (n_samples, n_features), got shape {tuple(shape)}.{hint}"
        )
    n, d = shape
    if n == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(shape)}) while a minimum of "
            f"{min_samples} is required."
        )
    if d == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is "
            "required."
        )
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(shape)}) while a minimum of "
            f"{min_samples} is required by GaussianMixture."
        )


class ArrayView:
    """A NumPy array behind dask's ``from_array``, which would otherwise copy it whole
    (dask >= 2025: ``x = x.copy()``); blocks are views (test_numpy_input_is_not_copied)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        return self.array[index]


#: the one mapping of each memmapped file in this process, shared by its threads:
#: (path, offset, shape, dtype) -> ((st_dev, st_ino), np.memmap)
_mappings: dict = {}
_mappings_lock = threading.Lock()


class MemmapSource:
    """A picklable reference to a C-ordered array in a file (``np.memmap``): path + offset.

    Each process maps the file once, whatever its number of reading threads (a mapping
    per thread multiplied the address space a fit needs by the threads, and failed
    under RLIMIT_AS); a file replaced on disk gets a fresh mapping.
    """

    def __init__(self, path: str, offset: int, shape, dtype):
        self.path, self.offset = path, int(offset)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)

    def _mapping(self) -> np.memmap:
        key = (self.path, self.offset, self.shape, self.dtype.str)
        st = os.stat(self.path)
        identity = (st.st_dev, st.st_ino)
        with _mappings_lock:
            held = _mappings.get(key)
            if held is not None and held[0] == identity:
                return held[1]
            try:
                mm = np.memmap(self.path, self.dtype, "r", self.offset, self.shape, order="C")
            except (OSError, ValueError) as exc:
                if getattr(exc, "errno", None) == errno.ENOMEM or "ENOMEM" in str(exc):
                    nbytes = math.prod(self.shape) * self.dtype.itemsize
                    raise MemoryError(
                        f"cannot map {self.path} ({nbytes / 1e6:,.0f} MB) into memory: the "
                        "process's address space is exhausted (an RLIMIT_AS / ulimit -v "
                        "limit?); raise the limit, or give the data as an HDF5 file "
                        "(streamgmm.read_hdf5), which is read block by block"
                    ) from None
                raise
            _mappings[key] = (identity, mm)
            return mm

    def __getitem__(self, index):
        return self._mapping()[index]


#: memmap modes whose mapping is shared with the file: reopened by path, it gives the very
#: bytes of the array ("c", copy-on-write, may hold changes that only this process sees)
SHARED_MEMMAP_MODES = ("r", "r+", "w+")


def memmap_reference(X) -> MemmapSource | None:
    """Path and true byte offset of a C-contiguous memmap (also a row slice of one), when
    reopening the file gives the same bytes; None otherwise (X is then read in-process)."""
    mm = getattr(X, "_mmap", None)
    if not isinstance(mm, mmap.mmap) or not getattr(X, "filename", None):
        return None
    if not X.flags.c_contiguous or getattr(X, "mode", None) not in SHARED_MEMMAP_MODES:
        return None
    base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY
    return MemmapSource(X.filename, start + (X.ctypes.data - base), X.shape, X.dtype)


def as_array(X, what="X"):
    """X itself if it is a NumPy array (memmaps included), else converted to NumPy as
    scikit-learn converts it: lists, pandas, and array-API objects (``np.asarray``, or
    DLPack for those without ``__array__``).

    Sparse input is refused; numbers in an object array convert to float64, as in
    scikit-learn.
    """
    if _is_sparse(X):
        raise InputTypeError(
            f"Sparse data was passed for {what}, but dense data is required. Use '.toarray()' "
            "to convert to a dense numpy array (a Gaussian mixture's covariances are dense)."
        )
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy()
    elif not isinstance(X, np.ndarray):
        X = _to_numpy(X, what)
    if X.dtype == object:  # numbers in an object array convert, as in scikit-learn
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"{what} has dtype object and does not convert to float ({exc})."
            ) from None
    return X


def _to_numpy(X, what: str) -> np.ndarray:
    try:
        return np.asarray(X)
    except (TypeError, ValueError, RuntimeError) as exc:
        if hasattr(X, "__dlpack__"):  # array-API arrays without __array__ (on the CPU)
            try:
                return np.from_dlpack(X)
            except (TypeError, ValueError, RuntimeError, BufferError):
                pass
        raise InputTypeError(
            f"{what} of type {type(X).__name__} does not convert to a NumPy array ({exc}); "
            "pass a NumPy array (on the CPU), a Dask array or an h5py dataset."
        ) from None


def _is_sparse(X) -> bool:
    module = type(X).__module__
    if not module.startswith("scipy.sparse"):
        return False
    import scipy.sparse

    return scipy.sparse.issparse(X)
