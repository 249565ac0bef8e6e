"""Layer 6a: normalise any input to a Dask array of whole-row blocks.

NumPy arrays are blocked without copying; memmaps and HDF5 datasets go into the
graph *by reference* (path, offset or dataset name), so distributed workers open
them themselves and no process holds the data whole. Validation reads metadata
only (shape, dtype, chunks): nothing is read before the input is known to be
usable (RELIABILITY D4, D5, D7, D8). Rows per block are capped by the memory
budget and by the Dask workers' memory (P6). What an input may be is
:mod:`streamgmm._inputs`; the result, a :class:`~streamgmm._datasource.DataSource`.
"""

from __future__ import annotations

import logging
import math
import os

import dask.array as da
import numpy as np

from . import _hdf5
from ._budget import block_rows_cap, memory_budget, worker_rows_cap
from ._datasource import DataSource, _stat
from ._inputs import ArrayView, as_array, check_dtype, check_shape, memmap_reference

logger = logging.getLogger("streamgmm")

#: target bytes per block when ``chunk_size="auto"``
AUTO_BLOCK_BYTES = 32 * 2**20
#: do not split below this many rows just to feed threads
MIN_SPLIT_ROWS = 4096


def auto_rows(n_samples: int, n_features: int, n_components: int) -> int:
    """Rows per block: about AUTO_BLOCK_BYTES of X plus responsibilities, split for threads.

    The blocks come out of equal size, as many as a multiple of the threads: a short last
    block, or one block more than the threads can share, leaves a core idle at the end of
    every pass (1,000,000 rows at 131,072 per block: 4 blocks on one thread, 3.6 on the
    other; 2,000,000 at d = 2: 3 blocks against 2).
    """
    per_row = 8 * (n_features + n_components)
    rows = max(1, AUTO_BLOCK_BYTES // per_row)
    n_threads = os.cpu_count() or 1
    if n_samples >= 2 * MIN_SPLIT_ROWS:
        rows = min(rows, max(MIN_SPLIT_ROWS, math.ceil(n_samples / (2 * n_threads))))
        n_blocks = n_threads * math.ceil(math.ceil(n_samples / rows) / n_threads)
        rows = max(MIN_SPLIT_ROWS, math.ceil(n_samples / n_blocks))
    return int(min(rows, n_samples))


def as_source(
    X,
    *,
    chunk_size="auto",
    n_components=1,
    sample_weight=None,
    min_samples=1,
    what="X",
    memory_limit="auto",
) -> DataSource:
    """Validate metadata and wrap X (NumPy, memmap, Dask, h5py) as a :class:`DataSource`."""
    arr, name, files, watched = _as_dask(
        X, chunk_size, n_components, what, min_samples, memory_limit
    )
    check_shape(arr.shape, what, min_samples)
    check_dtype(arr.dtype, what)
    if any(math.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            f"{what} is a Dask array with unknown chunk sizes {arr.chunks[0][:3]}...; "
            "call X.compute_chunk_sizes() (or pass lengths=) before fitting."
        )
    if len(arr.chunks[1]) > 1:  # column chunks: rechunk to whole rows, keep row blocks
        arr = arr.rechunk({1: -1})
    in_memory = isinstance(X, np.ndarray) and memmap_reference(X) is None
    source = DataSource(arr, _weights_source(sample_weight, arr), name, files, in_memory)
    source.watched.update({p: _stat(p) for p in watched})
    return source


def _as_dask(X, chunk_size, n_components, what, min_samples, memory_limit):
    budget = memory_budget(memory_limit)
    if isinstance(X, da.Array):
        X = _fit_workers(X)
        files = _hdf5_files(X)
        return X, "the input Dask array", files, files
    if _hdf5.is_h5py_dataset(X):
        check_shape(X.shape, what, min_samples)
        check_dtype(X.dtype, what)
        rows = None if chunk_size in ("auto", None) else _capped(int(chunk_size), X.shape, budget)
        arr = _fit_workers(_hdf5.from_h5py_dataset(X, rows))  # whole chunks may be large
        files = _hdf5_files(arr)
        return arr, f"{os.path.abspath(X.file.filename)}:{X.name}", files, files
    X = as_array(X, what)
    check_shape(X.shape, what, min_samples)
    check_dtype(X.dtype, what)
    rows = _rows(chunk_size, X.shape, n_components, budget)
    ref = memmap_reference(X)
    if ref is not None:
        arr = da.from_array(ref, chunks=(rows, X.shape[1]), asarray=True, lock=False, name=False)
        return arr, f"memmap {ref.path}", [], [ref.path]
    view = ArrayView(np.asarray(X))
    arr = da.from_array(view, chunks=(rows, X.shape[1]), asarray=True, lock=False, name=False)
    return arr, "the input array", [], []


def _hdf5_files(arr: da.Array) -> list:
    return _hdf5.files_of(arr)


def _rows(chunk_size, shape, n_components, budget) -> int:
    if chunk_size == "auto" or chunk_size is None:
        return min(auto_rows(shape[0], shape[1], n_components), _cap(shape, budget)[0])
    return _capped(int(chunk_size), shape, budget)


def _cap(shape, budget: int) -> tuple[int, str]:
    """Most rows per block, and what sets it: the budget, or the Dask workers' memory (P6)."""
    cap = block_rows_cap(shape, budget)
    workers = worker_rows_cap(shape[1])
    if workers is not None and workers < cap:
        return workers, "the Dask workers' memory_limit"
    return cap, "the memory budget"


def _capped(rows: int, shape, budget: int) -> int:
    cap, limit = _cap(shape, budget)
    if rows > cap:
        _warn_capped("chunk_size", rows, shape[1], limit, cap)
    return int(max(1, min(rows, cap, shape[0])))


def _warn_capped(what: str, rows: int, n_features: int, limit: str, cap: int) -> None:
    mb = rows * n_features * 8 / 1e6
    logger.warning(
        "%s=%d rows (%.0f MB per block) exceeds %s; using %d rows", what, rows, mb, limit, cap
    )


def _fit_workers(arr: da.Array) -> da.Array:
    """A read_hdf5 array read again in smaller blocks if the Dask workers cannot hold its
    blocks (P6); another Dask array keeps its blocks, with a warning."""
    cap = worker_rows_cap(arr.shape[1]) if arr.ndim == 2 else None
    rows = max(arr.chunks[0], default=0) if cap is not None else 0
    if cap is None or not rows > cap:  # also unknown (NaN) chunks: as_source says so
        return arr
    smaller = _hdf5.reblock(arr, cap)
    if smaller is not None:
        _warn_capped("chunk_rows", rows, arr.shape[1], "the Dask workers' memory_limit", cap)
        return smaller
    logger.warning(
        "blocks of %d rows (%.0f MB) may not fit the Dask workers' memory_limit (%d rows do); "
        "give the input smaller row blocks",
        rows,
        rows * arr.shape[1] * 8 / 1e6,
        cap,
    )
    return arr


def _weights_source(sample_weight, arr: da.Array):
    if sample_weight is None:
        return None
    w = sample_weight if isinstance(sample_weight, da.Array) else np.asarray(sample_weight)
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
        raise ValueError("sample_weight sums to zero: at least one weight must be positive.")
    return da.from_array(w, chunks=(arr.chunks[0],), name=False)


__all__ = ["DataSource", "as_source", "check_dtype", "check_shape"]
