"""The HDF5 reader behind :func:`streamgmm.read_hdf5`: file handles, per process.

An :class:`HDF5Source` holds the absolute path, the dataset name and the
chunk-cache size, never an open h5py object (a bare ``h5py.Dataset`` cannot be
pickled to distributed workers, dask/distributed#9013). Each process opens the
file lazily, read-only, once, and keeps the handle for the following passes
(reopening per task cost 4x on a 256-block pass) while a fit or a score runs
(:func:`keep_handles_open`) and in distributed workers; :func:`release_handles`
closes them afterwards so the file can be written again (RELIABILITY F12).
Outside those, a read (a lazy prediction computed by the user, say) opens and
closes the file itself. :func:`open_file` turns h5py's errors on opening into
one-line messages.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

_handles: dict[str, h5py.File] = {}
_datasets: dict[tuple[str, str], h5py.Dataset] = {}
#: (inode, mtime) of each cached file when it was opened: a replaced or rewritten file
#: gets a fresh handle instead of reading the old inode (a worker keeps handles for good)
_opened: dict[str, tuple[int, int]] = {}
_sessions = 0
#: sessions (fits, scores) in this process reading each path
_held: Counter[str] = Counter()


@contextmanager
def keep_handles_open(paths=()):
    """While inside, reads in this process keep their file handles for the next pass, and
    :func:`release_handles` leaves ``paths`` open (another fit or score in this process may
    be reading them: closing a handle under a read fails it)."""
    global _sessions
    with _handles_lock:
        _sessions += 1
        _held.update(paths)
    try:
        yield
    finally:
        with _handles_lock:
            _sessions -= 1
            _held.subtract(paths)


def in_distributed_worker() -> bool:
    """Whether this runs inside a task of a ``dask.distributed`` worker."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
        return True
    except ValueError:
        return False


_handles_lock = threading.Lock()


class HDF5Source:
    """A picklable reference to one 2-D HDF5 dataset; reads row ranges."""

    def __init__(self, path: str, dataset: str, shape, dtype, cache_bytes: int):
        self.path = path
        self.dataset = dataset
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self.cache_bytes = int(cache_bytes)

    def __repr__(self) -> str:
        return f"HDF5Source({self.path!r}, {self.dataset!r}, shape={self.shape})"

    def _dataset(self) -> h5py.Dataset:
        # One handle per file and process (HDF5 shares an open file anyway); the
        # first reader's chunk-cache size wins. The dataset stays open too: its chunk
        # cache lives only while it is open, so a chunk that two blocks share is
        # decoded once, not once per block (16x on unaligned gzip blocks, R4).
        key = (self.path, self.dataset)
        ds = _datasets.get(key)
        if ds is not None and ds.id.valid and _opened.get(self.path) == _identity(self.path):
            return ds
        with _handles_lock:
            f = _handles.get(self.path)
            now = _identity(self.path)
            if f is not None and f.id.valid and _opened.get(self.path) != now:
                _close(self.path)  # replaced or rewritten since it was opened
                f = None
            if f is None or not f.id.valid:
                f = _handles[self.path] = open_file(self.path, self.cache_bytes)
                _opened[self.path] = now
            ds = _datasets.get(key)
            if ds is None or not ds.id.valid:
                ds = _datasets[key] = f[self.dataset]
        return ds

    def __getitem__(self, index):
        try:
            if _sessions > 0 or in_distributed_worker():
                return self._read_cached(index)
            with open_file(self.path, self.cache_bytes) as f:
                return read_block(f[self.dataset], index)
        except OSError as exc:
            raise self._read_error(index, exc) from exc

    def _read_cached(self, index, attempts=3):
        """Read through the cached handle; if something closed it during the read (a
        worker's release at the end of another fit), reopen and read again."""
        try:
            for attempt in range(attempts):
                ds = self._dataset()
                try:
                    return read_block(ds, index)
                except (ValueError, RuntimeError):  # "identifier is not of specified type"
                    if ds.id.valid or attempt == attempts - 1:
                        raise
        finally:
            # A read still running when its fit ended (a task in flight as another one
            # failed: Dask's local scheduler raises without waiting for it) must not leave
            # a handle behind once the fit has released them (F12).
            if _sessions == 0 and not in_distributed_worker():
                release_handles(self.path)

    def _read_error(self, index, exc: OSError) -> Exception:
        rows = index[0] if isinstance(index, tuple) else index
        where = f"rows {rows.start}..{rows.stop - 1}" if isinstance(rows, slice) else "a block"
        if "memory allocation failed" in str(exc):  # not corruption: RLIMIT_AS, say (R1)
            return MemoryError(
                f"out of memory reading {where} of {self.path}:{self.dataset}; use "
                "smaller blocks (chunk_rows) or a smaller memory_limit"
            )
        if isinstance(rows, slice):  # name the chunk's rows, not the whole block's (F4)
            try:
                with open_file(self.path, self.cache_bytes) as f:
                    where = _failing_rows(f[self.dataset], rows) or where
            except OSError:
                pass
        return OSError(
            f"reading {where} of {self.path}:{self.dataset} failed "
            f"(corrupted or unreadable data): {exc}"
        )


def _failing_rows(ds: h5py.Dataset, rows: slice) -> str | None:
    """The first band of chunk rows inside ``rows`` whose read fails (a bad checksum, say)."""
    if ds.chunks is None:
        return None
    start, stop, _ = rows.indices(ds.shape[0])
    step = ds.chunks[0]
    for a in range(start - start % step, stop, step):
        lo, hi = max(a, start), min(a + step, stop)
        try:
            ds[lo:hi]
        except OSError:
            return f"rows {lo}..{hi - 1}"
    return None


def read_block(ds: h5py.Dataset, index) -> np.ndarray:
    """``ds[index]``; a dataset chunked by columns is read one column strip at a time (R4).

    Read whole, a row block of a dataset chunked as (200000, 1) makes HDF5 scatter
    every chunk into strided memory: 0.6 GB/s through the chunk cache, 0.01 GB/s
    element by element when a chunk exceeds the cache. A strip is contiguous in
    memory, so each chunk goes straight into it, and one transpose copy gives the C-
    ordered block (2.9 GB/s; 4.8 GB/s for row chunks; ``benchmarks/bench_reliability.py``).
    """
    n_rows, n_cols = ds.shape
    width = ds.chunks[1] if ds.chunks else n_cols
    if width >= n_cols or not isinstance(index, tuple) or len(index) != 2:
        return ds[index]
    rows, cols = index
    if not (isinstance(rows, slice) and isinstance(cols, slice)):
        return ds[index]
    start, stop, step = cols.indices(n_cols)
    n = len(range(*rows.indices(n_rows)))
    if step != 1 or n == 0 or stop <= start:
        return ds[index]
    edges = [start, *range(start - start % width + width, stop, width), stop]
    strips = list(zip(edges[:-1], edges[1:], strict=True))
    buf = np.empty((len(strips), n, width), dtype=ds.dtype)
    for i, (a, b) in enumerate(strips):
        if b - a == width:
            ds.read_direct(buf[i], source_sel=(rows, slice(a, b)))
        else:  # a partial strip at either end
            buf[i, :, : b - a] = ds[rows, a:b]
    block = np.ascontiguousarray(buf.transpose(1, 0, 2)).reshape(n, len(strips) * width)
    if (stop - start) % width or start % width:
        keep = np.concatenate([i * width + np.arange(b - a) for i, (a, b) in enumerate(strips)])
        block = np.ascontiguousarray(block[:, keep])
    return block


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:  # gone: the open handle may still read it; opening will say what is wrong
        return None
    return st.st_ino, st.st_mtime_ns


def _close(path: str) -> None:
    """Drop and close one path's cached handle and datasets (caller holds the lock)."""
    for name in [k for k in _datasets if k[0] == path]:
        del _datasets[name]
    _opened.pop(path, None)
    f = _handles.pop(path)
    if f.id.valid:
        f.close()


def release_handles(path: str | None = None) -> int:
    """Close this process's cached read handles (all, or those of one path), except those
    a running session still reads; returns how many were closed."""
    with _handles_lock:
        paths = [k for k in _handles if (path is None or k == path) and _held[k] <= 0]
        for key in paths:
            _close(key)
    return len(paths)


def check_regular_file(path: str) -> None:
    """Refuse at once what is not a regular file: missing paths, folders, and FIFOs, devices
    or sockets (a FIFO would block every read forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot open {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory, not an HDF5 file")
    if not stat.S_ISREG(mode):
        kind = {
            stat.S_ISFIFO: "a FIFO (named pipe)",
            stat.S_ISSOCK: "a socket",
            stat.S_ISCHR: "a character device",
            stat.S_ISBLK: "a block device",
        }
        what = next((v for test, v in kind.items() if test(mode)), "not a regular file")
        raise ValueError(f"{path} is {what}; streamgmm reads only regular files")


def open_file(path: str, cache_bytes: int = 1 << 20) -> h5py.File:
    """Open read-only with a chunk cache, turning h5py's OSErrors into clear messages."""
    check_regular_file(path)
    try:
        return h5py.File(path, "r", rdcc_nbytes=cache_bytes, rdcc_nslots=_slots(cache_bytes))
    except BlockingIOError as exc:
        raise BlockingIOError(
            exc.errno,
            f"{path} is locked by another process (HDF5 file lock): a writer has it open. "
            "Wait for it to finish, or set HDF5_USE_FILE_LOCKING=FALSE if you know the "
            "file is complete.",
        ) from None
    except OSError as exc:
        raise OSError(_explain_open_error(path, exc)) from None


def _explain_open_error(path: str, exc: OSError) -> str:
    msg = str(exc)
    m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", msg)
    if m:
        have, want = (int(g) for g in m.groups())
        return f"{path}: file is truncated ({_mb(have)} of {_mb(want)})"
    if "signature not found" in msg:
        return f"{path}: not an HDF5 file (signature not found)"
    if "ermission denied" in msg:
        return f"{path}: permission denied"
    return f"{path}: cannot open as HDF5 ({msg})"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _slots(cache_bytes: int) -> int:
    # HDF5 wants a prime-ish slot count well above the number of cached chunks.
    return max(521, int(cache_bytes // 4096) * 10 + 1)
