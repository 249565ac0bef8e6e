"""Layer 6a: :class:`DataSource`, the row blocks of one fit's input and what they came from.

The blocks of the data (and of the sample weights) as a Dask array, a name for
messages, the files they read: while a fit runs, :meth:`DataSource.session` keeps
the HDF5 handles open across passes and closes them, here and on distributed
workers, at the end (F12); :meth:`DataSource.check_unchanged` stops a fit whose
input file changed (F9); :meth:`DataSource.maybe_cache` keeps the blocks in
memory when the budget allows.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

from . import _hdf5_reader
from ._budget import memory_budget

logger = logging.getLogger("streamgmm")

#: share of the memory budget that the whole data may take for ``cache="auto"``
CACHE_SHARE = 0.5


class InputChangedError(RuntimeError):
    """An input file changed while a fit was reading it (RELIABILITY F9)."""


def _stat(path: str):
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
    cached: bool = False
    watched: dict = field(default_factory=dict)  # file -> (size, mtime_ns) when opened

    def __post_init__(self):
        for path in self.files:
            self.watched.setdefault(path, _stat(path))

    def check_unchanged(self) -> None:
        """Raise :class:`InputChangedError` if an input file changed since the fit began."""
        if self.cached:
            return  # the blocks are in memory: later changes to the file cannot reach the fit
        for path, before in self.watched.items():
            now = _stat(path)
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
        starts = self.block_starts
        block = int(np.searchsorted(starts, row, side="right") - 1)
        return (
            f"row {row:,} of {self.name} (block {block}, rows {starts[block]:,}.."
            f"{starts[block + 1] - 1:,})"
        )

    def take_rows(self, indices) -> np.ndarray:
        """A few rows by global index, in the order given (reads only their blocks)."""
        return _take(self.array, indices)

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
            self.array = self.array.persist()
            if self.sample_weight is not None:
                self.sample_weight = self.sample_weight.persist()
            self.cached = True
        return self.cached

    @contextmanager
    def session(self):
        """Keep HDF5 handles open across passes while inside; close them all at the end."""
        try:
            with _hdf5_reader.keep_handles_open(self.files):
                yield self
        finally:
            self.close()

    def close(self) -> None:
        """Close this fit's HDF5 handles, here and on any distributed workers (F12)."""
        for path in self.files:
            _hdf5_reader.release_handles(path)
        client = active_client()
        if client is not None and self.files:
            try:
                client.run(_release, list(self.files))
            except Exception as exc:  # a closing cluster must not hide the fit's outcome
                logger.debug("could not release HDF5 handles on workers: %s", exc)


def _release(paths):
    for p in paths:
        _hdf5_reader.release_handles(p)


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


__all__ = ["DataSource", "InputChangedError", "active_client"]
