"""One input concept: any input as whole-row blocks of a Dask array, and what they came from.

:func:`as_source` takes what a user may pass (NumPy arrays, memmaps, lists and pandas,
Dask arrays, h5py datasets, what :func:`streamgmm.read_hdf5` returns) and gives a
:class:`DataSource`: the blocks of the data (and of the sample weights), a name for
messages, the files they read. NumPy arrays are blocked without copying; memmaps and
HDF5 datasets go into the graph *by reference* (path, offset or dataset name), so
distributed workers open them themselves and no process holds the data whole.
Validation reads metadata only (shape, dtype, chunks): nothing is read before the
input is known to be usable (RELIABILITY D4, D5, D7, D8). Rows per block are capped by
the memory budget and by the Dask workers' memory (P6).

While a fit runs, :meth:`DataSource.session` keeps the HDF5 handles open across passes
and closes them, here and on distributed workers, at the end (F12);
:meth:`DataSource.check_unchanged` stops a fit whose input file changed (F9);
:meth:`DataSource.maybe_cache` keeps the blocks in memory when the budget allows.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

from .._io import handles, hdf5
from .budget import block_rows_cap, memory_budget, worker_rows_cap
from .groups import Groups, cached_arrays, load, plan
from .inputs import ArrayView, as_array, check_dtype, check_shape, memmap_reference

logger = logging.getLogger("streamgmm")

#: share of the memory budget that the whole data may take for ``cache="auto"``
CACHE_SHARE = 0.5


class InputChangedError(RuntimeError):
    """An input file changed while a fit was reading it (RELIABILITY F9)."""


def file_stat(path: str):
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None


@dataclass
class DataSource:
    """Row blocks of the data (and of sample weights), a name for messages, opened files."""

    array: da.Array
    sample_weight: da.Array | None
    name: str
    files: list = field(default_factory=list)
    in_memory: bool = False  # a NumPy array already in RAM: nothing to cache
    _local_weights: np.ndarray | None = field(default=None, repr=False)
    cached: bool = False
    watched: dict = field(default_factory=dict)  # file -> (size, mtime_ns) when opened
    missing: str = "error"  # "em": a NaN marks a missing entry (missing at random)
    left_out: int | None = None  # with missing="em": rows with no observed entry, once known
    _total_weight: float | None = field(default=None, repr=False)
    #: the NumPy array (or memmap) given, when the data are one block of it
    local: np.ndarray | None = field(default=None, repr=False)
    _groups: tuple[str, Groups] | None = field(default=None, repr=False)  # (array, its groups)

    def __post_init__(self):
        for path in self.files:
            self.watched.setdefault(path, file_stat(path))

    def check_unchanged(self) -> None:
        """Raise :class:`InputChangedError` if an input file changed since the fit began."""
        if self.cached:
            return  # the blocks are in memory: later changes to the file cannot reach the fit
        for path, before in self.watched.items():
            now = file_stat(path)
            if now != before:
                what = (
                    "was removed"
                    if now is None
                    else (
                        f"size {before[0]:,} -> {now[0]:,} bytes"
                        if now[0] != before[0]
                        else "modification time changed"
                    )
                )
                raise InputChangedError(
                    f"input changed during the fit: {path} ({what}). Its statistics would mix "
                    "two versions of the data; restart the fit on a stable file."
                )

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
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def block_starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.array.chunks[0])]).astype(np.int64)

    def describe_row(self, row: int) -> str:
        """ "row R of FILE:DATASET (block B, rows A..Z)": where a bad value lies."""
        starts = self.block_starts
        block = int(np.searchsorted(starts, row, side="right") - 1)
        where = f"block {block}, rows {starts[block]:,}..{starts[block + 1] - 1:,}"
        found = hdf5.origins(self.array) or []
        if len(found) > 1:  # several files: the row within its own file too
            first, label = next((s, lab) for s, lab in reversed(found) if s <= row)
            return f"row {row:,} (row {row - first:,} of {label}; {where})"
        return f"row {row:,} of {self.name} ({where})"

    def take_rows(self, indices) -> np.ndarray:
        """A few rows by global index, in the order given (reads only their blocks)."""
        return _take(self.array, indices)

    def local_block(self):
        """(X, sample weights or None) of data that are one block of a NumPy array or
        memmap on this machine: passes then call their kernels directly, with no Dask graph
        and no per-pass set-up (the same kernels, so the same result bit for bit). None
        otherwise, or when a distributed Client is active (the cluster then runs them)."""
        if self.local is None or active_client() is not None:
            return None
        w = None
        if self.sample_weight is not None:
            w = self._local_weights
        return self.local, w

    def total_weight(self) -> float:
        """sum(sample_weight), or n_samples without weights; refuses weights summing to zero
        (and, for lazy weights, reads them: a negative or NaN one is named here)."""
        if self.sample_weight is None:
            return float(self.n_samples)
        if self._total_weight is None:
            self._total_weight = float(self.sample_weight.sum().compute())
        check_weight_sum(self._total_weight)
        return self._total_weight

    def take_weights(self, indices) -> np.ndarray:
        if self.sample_weight is None:
            return np.ones(len(indices))
        return _take(self.sample_weight, indices).astype(float)

    def maybe_cache(self, cache="auto", memory_limit="auto") -> bool:
        """Keep the blocks in memory (one read now, none in later passes) if ``cache`` says so.

        ``cache`` is True, False or "auto": only when the whole data take at most
        CACHE_SHARE of the memory budget. Returns whether the blocks are cached.
        """
        if cache is False or cache is None or self.in_memory or self.cached:
            return self.cached
        fits = self.nbytes <= CACHE_SHARE * memory_budget(memory_limit)
        if not fits and cache == "auto":
            logger.info(
                "not caching: %.1f MB of data exceed half the memory budget; every "
                "iteration reads %s",
                self.nbytes / 1e6,
                self.name,
            )
        if cache is True and not fits:
            logger.warning("cache=True although the data exceed half the memory budget")
        if cache is True or fits:
            logger.info(
                "caching %.1f MB of blocks in memory (budget %.1f MB): one read of %s",
                self.nbytes / 1e6,
                memory_budget(memory_limit) / 1e6,
                self.name,
            )
            # each group of blocks is kept where it was read; its tasks run there (issue 20)
            groups = load(self.array, self.sample_weight, self.block_starts[:-1])
            self.array, self.sample_weight = cached_arrays(groups, self.array, self.sample_weight)
            self._groups = (self.array.name, groups)
            self.cached = True
        return self.cached

    def groups(self) -> Groups:
        """The blocks cut into groups, one task each per pass (planned at first use, and
        again for another array: a copy of this source over a view of its data, say)."""
        if self._groups is None or self._groups[0] != self.array.name:
            groups = plan(self.array, self.sample_weight, self.block_starts[:-1])
            self._groups = (self.array.name, groups)
        return self._groups[1]

    @contextmanager
    def session(self):
        """Keep HDF5 handles open across passes while inside; close them all at the end."""
        try:
            with handles.keep_handles_open(self.files):
                yield self
        finally:
            self.close()

    def close(self) -> None:
        """Close this fit's HDF5 handles, here and on any distributed workers (F12)."""
        for path in self.files:
            handles.release_handles(path)
        client = active_client()
        if client is not None and self.files:
            try:
                client.run(_release, list(self.files))
            except Exception as exc:  # a closing cluster must not hide the fit's outcome
                logger.debug("could not release HDF5 handles on workers: %s", exc)


def _release(paths):
    for p in paths:
        handles.release_handles(p)


def _take(arr: da.Array, indices) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    order = np.argsort(indices, kind="stable")
    rows = np.asarray(arr[indices[order]].compute())
    out = np.empty_like(rows)
    out[order] = rows
    return out


def active_client():
    """The default ``dask.distributed`` Client, if any (without importing distributed)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


#: do not split below this many rows just to feed threads
MIN_SPLIT_ROWS = 4096


def auto_rows(n_samples: int, n_features: int, n_components: int) -> int:
    """Rows per block: about hdf5.BLOCK_BYTES of X plus responsibilities, split for threads.

    The blocks come out of equal size, as many as a multiple of the threads: a short last
    block, or one block more than the threads can share, leaves a core idle at the end of
    every pass (1,000,000 rows at 131,072 per block: 4 blocks on one thread, 3.6 on the
    other; 2,000,000 at d = 2: 3 blocks against 2).
    """
    per_row = 8 * (n_features + n_components)
    rows = max(1, hdf5.BLOCK_BYTES // per_row)
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
    missing="error",
) -> DataSource:
    """Validate metadata and wrap X (NumPy, memmap, Dask, h5py) as a :class:`DataSource`;
    with ``missing="em"`` its NaN are missing values."""
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
    source.missing = missing
    source.watched.update({p: file_stat(p) for p in watched})
    if len(arr.chunks[0]) == 1 and isinstance(X, np.ndarray) and X.ndim == 2:
        source.local = X  # one block: kernels are called directly (local_block)
        if sample_weight is not None and not isinstance(sample_weight, da.Array):
            source._local_weights = np.asarray(sample_weight, dtype=np.float64)
        elif sample_weight is not None:
            source.local = None  # lazy weights: checked in the graph, block by block
    return source


def _as_dask(X, chunk_size, n_components, what, min_samples, memory_limit):
    budget = memory_budget(memory_limit)
    if isinstance(X, da.Array):
        X = _fit_workers(X)
        files = hdf5.files_of(X)
        return X, _dask_name(X), files, files
    if hdf5.is_h5py_dataset(X):
        check_shape(X.shape, what, min_samples)
        check_dtype(X.dtype, what)
        if not hdf5.readable_by_path(X):
            return _in_process_h5py(X, chunk_size, n_components, budget)
        rows = None if chunk_size in ("auto", None) else _capped(int(chunk_size), X.shape, budget)
        arr = _fit_workers(hdf5.from_h5py_dataset(X, rows))  # whole chunks may be large
        files = hdf5.files_of(arr)
        return arr, _dask_name(arr), files, files
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


def _dask_name(arr: da.Array) -> str:
    """How messages name a Dask array: its file and dataset when read_hdf5 made it."""
    found = hdf5.origins(arr)
    if found is None:
        return "the input Dask array"
    return found[0][1] if len(found) == 1 else f"{len(found)} HDF5 files"


def _in_process_h5py(ds, chunk_size, n_components, budget):
    """An h5py dataset that reopening by path would not give: an in-memory file, or one
    open for writing in this process (its changes may not be on disk). Read through the
    open handle, on this process's threads only."""
    if active_client() is not None:
        raise ValueError(
            f"{ds.name} belongs to an h5py file that is in memory or open for writing, "
            "which Dask workers cannot open; write it to a file and pass "
            "streamgmm.read_hdf5(path, dataset), or pass ds[()] as a NumPy array"
        )
    rows = _rows(chunk_size, ds.shape, n_components, budget)
    arr = da.from_array(ds, chunks=(rows, ds.shape[1]), asarray=True, lock=True, name=False)
    return arr, f"the h5py dataset {ds.name} (in-memory or writable file)", [], []


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
    smaller = hdf5.reblock(arr, cap)
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
    if isinstance(w, da.Array):  # checked block by block, in whatever pass reads them
        w = w.rechunk((arr.chunks[0],))
        return w.map_blocks(checked_weights, dtype=np.float64, meta=np.empty((0,)))
    checked_weights(w)
    check_weight_sum(float(np.sum(w)))
    return da.from_array(w, chunks=(arr.chunks[0],), name=False)


def checked_weights(w, block_info=None) -> np.ndarray:
    """A block of sample weights as float64, refused if one is negative or not finite;
    the message names the global row."""
    w = np.asarray(w, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        offset = block_info[0]["array-location"][0][0] if block_info else 0
        raise ValueError(
            "sample_weight must be finite and non-negative; got "
            f"{w[bad[0]]} at row {offset + int(bad[0]):,}."
        )
    return w


def check_weight_sum(total: float) -> None:
    if not total > 0:
        raise ValueError("sample_weight sums to zero: at least one weight must be positive.")
