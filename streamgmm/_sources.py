"""Layer 6a: normalise any input to a Dask array of whole-row blocks.

Validation here reads metadata only (shape, dtype, chunks): nothing is read from
the data before it is known to be usable (RELIABILITY D4, D5, D7, D8).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import dask.array as da
import numpy as np

#: target bytes per block when ``chunk_size="auto"``
AUTO_BLOCK_BYTES = 32 * 2**20
#: do not split below this many rows just to feed threads
MIN_SPLIT_ROWS = 4096


def check_dtype(dtype, what="X") -> None:
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        kind = {
            "c": "complex numbers are not supported",
            "O": "object arrays are not supported; convert to a numeric dtype first",
            "U": "strings are not supported",
            "S": "byte strings are not supported",
            "M": "datetimes are not supported",
            "m": "timedeltas are not supported",
            "V": "structured (compound) dtypes are not supported; select one numeric field",
        }.get(dtype.kind, "it is not numeric")
        raise TypeError(f"{what} has dtype {dtype}: {kind}. Expected real numbers (float or int).")


def check_shape(shape, what="X", min_samples=1) -> None:
    if len(shape) != 2:
        hint = (
            " Reshape your data with X.reshape(-1, 1) if it has a single feature."
            if len(shape) == 1
            else ""
        )
        raise ValueError(
            f"{what}: expected 2-D (n_samples, n_features), got shape {tuple(shape)}.{hint}"
        )
    n, d = shape
    if n == 0:
        raise ValueError(
            f"{what} has 0 samples (shape {tuple(shape)}); at least {min_samples} required."
        )
    if d == 0:
        raise ValueError(f"{what} has 0 features (shape {tuple(shape)}); at least 1 required.")
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(shape)}) while a minimum of "
            f"{min_samples} is required by GaussianMixture."
        )


def auto_rows(n_samples: int, n_features: int, n_components: int) -> int:
    """Rows per block: about AUTO_BLOCK_BYTES of X plus responsibilities, split for threads."""
    per_row = 8 * (n_features + n_components)
    rows = max(1, AUTO_BLOCK_BYTES // per_row)
    n_threads = os.cpu_count() or 1
    if n_samples >= 2 * MIN_SPLIT_ROWS:
        rows = min(rows, max(MIN_SPLIT_ROWS, math.ceil(n_samples / (2 * n_threads))))
    return int(min(rows, n_samples))


@dataclass
class DataSource:
    """Row blocks of the data (and of sample weights), plus a name for messages."""

    array: da.Array
    sample_weight: da.Array | None
    name: str

    @property
    def n_samples(self) -> int:
        return int(self.array.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.array.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def block_starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.array.chunks[0])]).astype(np.int64)

    def describe_row(self, row: int) -> str:
        starts = self.block_starts
        block = int(np.searchsorted(starts, row, side="right") - 1)
        return (
            f"row {row:,} of {self.name} (block {block}, rows {starts[block]:,}.."
            f"{starts[block + 1] - 1:,})"
        )

    def take_rows(self, indices) -> np.ndarray:
        """A few rows by global index, in the order given (reads only their blocks)."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        rows = np.asarray(self.array[indices[order]].compute())
        out = np.empty_like(rows)
        out[order] = rows
        return out

    def take_weights(self, indices) -> np.ndarray:
        if self.sample_weight is None:
            return np.ones(len(indices))
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        w = np.asarray(self.sample_weight[indices[order]].compute(), dtype=float)
        out = np.empty_like(w)
        out[order] = w
        return out


def as_source(X, *, chunk_size="auto", n_components=1, sample_weight=None, min_samples=1, what="X"):
    """Validate metadata and wrap X (NumPy, memmap, Dask, h5py) as a :class:`DataSource`."""
    name = "the input array"
    if hasattr(X, "__dask_graph__") and isinstance(X, da.Array):
        arr = X
    else:
        if hasattr(X, "file") and hasattr(X, "id") and hasattr(X, "chunks"):  # h5py.Dataset
            name = f"{X.file.filename}:{X.name}"
        elif hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
            X = X.to_numpy()
        elif not hasattr(X, "shape") or not hasattr(X, "dtype"):
            X = np.asarray(X)
        check_shape(X.shape, what, min_samples)
        check_dtype(X.dtype, what)
        rows = _rows(chunk_size, X.shape, n_components)
        arr = da.from_array(X, chunks=(rows, X.shape[1]), asarray=False, lock=False, name=False)
    check_shape(arr.shape, what, min_samples)
    check_dtype(arr.dtype, what)
    if any(math.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            f"{what} is a Dask array with unknown chunk sizes {arr.chunks[0][:3]}...; "
            "call X.compute_chunk_sizes() (or pass lengths=) before fitting."
        )
    if len(arr.chunks[1]) > 1:  # column chunks: rechunk to whole rows, keep row blocks
        arr = arr.rechunk({1: -1})
    weights = _weights_source(sample_weight, arr)
    return DataSource(arr, weights, name)


def _rows(chunk_size, shape, n_components) -> int:
    if chunk_size == "auto" or chunk_size is None:
        return auto_rows(shape[0], shape[1], n_components)
    return int(min(chunk_size, shape[0]))


def _weights_source(sample_weight, arr: da.Array):
    if sample_weight is None:
        return None
    if isinstance(sample_weight, da.Array):
        w = sample_weight
    else:
        w = np.asarray(sample_weight)
    if w.ndim != 1 or w.shape[0] != arr.shape[0]:
        raise ValueError(
            f"sample_weight must have shape ({arr.shape[0]},) to match X's rows, "
            f"got {tuple(w.shape)}."
        )
    check_dtype(w.dtype, "sample_weight")
    if isinstance(w, da.Array):
        return w.rechunk((arr.chunks[0],))
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive entry.")
    return da.from_array(w, chunks=(arr.chunks[0],), name=False)
