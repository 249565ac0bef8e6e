"""Results written to HDF5 block by block (:func:`write_hdf5`), safe on a full disk.

A new file is written under a temporary name and renamed into place (the atomic writer,
``atomic.py``); into an existing file, each new dataset is written under a temporary
name and moved onto its name only once every block was computed and written, so a
failing computation leaves the previous results as they were. Before anything is
computed, the free space of the disk is compared with what the arrays need.

HDF5 cannot survive a full disk: once a write fails with ENOSPC, closing the file, or
even the interpreter's exit, crashes the process (segmentation fault, seen with h5py
3.16 and HDF5 1.14). :func:`hdf5_file` therefore points the file's descriptor at
``/dev/null`` when a write fails for lack of space, so that HDF5 can close it, removes
what was written, and raises a one-line ``OSError``
(tests/io/test_disk_full.py).
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager

import numpy as np

from .atomic import atomic_path, disk_error

#: errors after which HDF5 cannot close a file it was writing
_LOST_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG)
#: free space asked beyond the arrays' bytes: HDF5's metadata and chunk indexes
SPACE_MARGIN, SPACE_SLACK = 1.02, 1 << 20


@contextmanager
def hdf5_file(path, mode: str):
    """``h5py.File(path, mode)`` that a full disk turns into an ``OSError``, not a crash.

    When writing fails for lack of space (or a dying disk), the file's descriptor is
    redirected to ``/dev/null`` so that HDF5's close and its exit handlers succeed; the
    caller's file is then incomplete and must be discarded (the atomic writer does).
    """
    import h5py

    path = os.path.abspath(os.fspath(path))
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise disk_error(exc, path) from None
    try:
        yield f
    except OSError as exc:
        if exc.errno in _LOST_WRITES:
            _detach(path)
        _close_quietly(f)
        raise disk_error(exc, path) from None
    except BaseException:
        _close_quietly(f)
        raise
    try:
        f.close()
    except OSError as exc:  # the last metadata flush can be the write that fails
        if exc.errno in _LOST_WRITES:
            _detach(path)
        _close_quietly(f)
        raise disk_error(exc, path) from None


def _detach(path: str) -> None:
    """Point this process's descriptors of ``path`` at /dev/null (Linux: /proc/self/fd)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:  # pragma: no cover - not Linux: nothing to do but hope
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == path:
                    os.dup2(null, int(fd))
            except (OSError, ValueError):
                continue
    finally:
        os.close(null)


def _close_quietly(f) -> None:
    try:
        f.close()
    except Exception:  # noqa: BLE001 - the error that matters is already raised
        pass


def check_free_space(path: str, nbytes: int) -> None:
    """Refuse before computing when the disk of ``path`` cannot hold ``nbytes`` more."""
    folder = os.path.dirname(os.path.abspath(path))
    need = int(nbytes * SPACE_MARGIN) + SPACE_SLACK
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # the write itself will say what is wrong with the folder
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"cannot write {path}: the disk is full for it ({free / 1e6:,.1f} MB free, "
            f"about {need / 1e6:,.1f} MB needed); nothing was written",
        )


def _normalised(array, dataset) -> dict:
    single = not isinstance(array, dict)
    if single and dataset is None:
        raise ValueError("write_hdf5(array, path, dataset): name the dataset to write")
    arrays = {dataset: array} if single else dict(array)
    out = {}
    for name, a in arrays.items():
        name = name if name.startswith("/") else "/" + name
        out[name] = a.rechunk({1: -1}) if a.ndim == 2 else a
    return out


def write_hdf5(array, path, dataset: str | None = None, *, overwrite: bool = False, batch=None):
    """Compute Dask arrays block by block and write them into HDF5 datasets.

    ``array`` is one Dask array (written to ``dataset``) or a mapping
    ``{dataset: array}`` of arrays with the same row blocks, computed together
    so that a shared input (labels and probabilities of one model, say) is read
    once. Only ``batch`` blocks (default: two per CPU) are held at once, so
    results for data larger than memory are never materialised whole.

    A new file is written atomically (under a temporary name, renamed at the end). In
    an existing file, an existing dataset is replaced only with ``overwrite=True``, and
    only once the new one is complete: if the computation fails, the file keeps its
    previous datasets. A file that the arrays themselves read is refused, and so is a
    disk without room for the arrays, before anything is computed.

    Returns the written datasets' names (one name for a single array).
    """
    single = not isinstance(array, dict)
    arrays = _normalised(array, dataset)
    path = os.path.abspath(os.fspath(path))
    check_arrays(arrays, path)
    check_free_space(path, sum(int(a.nbytes) for a in arrays.values()))
    if os.path.exists(path) and os.path.getsize(path) > 0:
        _write_into(path, arrays, overwrite, batch)
    else:
        with atomic_path(path) as tmp, hdf5_file(tmp, "w") as f:
            _fill(f, {name: (name, a) for name, a in arrays.items()}, batch)
    return next(iter(arrays)) if single else list(arrays)


def write_new_file(arrays: dict, path, batch=None, attrs: dict | None = None) -> None:
    """Write ``{dataset: array}`` as the whole content of ``path``, replacing any file there
    atomically (the command line's outputs); ``attrs`` become attributes of the root group
    (the provenance of the results)."""
    arrays = _normalised(arrays, None)
    path = os.path.abspath(os.fspath(path))
    check_arrays(arrays, path)
    check_free_space(path, sum(int(a.nbytes) for a in arrays.values()))
    with atomic_path(path) as tmp, hdf5_file(tmp, "w") as f:
        f.attrs.update(attrs or {})
        _fill(f, {name: (name, a) for name, a in arrays.items()}, batch)


def check_arrays(arrays: dict, path: str) -> None:
    """Refuse arrays that read ``path`` or whose row blocks differ."""
    from .hdf5 import files_of

    first = next(iter(arrays.values()))
    for a in arrays.values():
        if path in files_of(a):
            raise ValueError(f"refusing to write into {path}: it is an input of this computation")
        if a.chunks[0] != first.chunks[0]:
            raise ValueError("write_hdf5: the arrays must have the same row blocks")


def _write_into(path: str, arrays: dict, overwrite: bool, batch) -> None:
    """New datasets under temporary names, moved onto their names once all are written."""
    token = uuid.uuid4().hex[:12]
    with hdf5_file(path, "a") as f:
        for name in arrays:
            if name in f and not overwrite:
                raise FileExistsError(f"{path} already has {name}; pass overwrite=True")
        temporary = {}
        for name, a in arrays.items():
            group, _, leaf = name.rpartition("/")
            temporary[name] = (f"{group}/.{leaf}.tmp-{token}", a)
        try:
            _fill(f, temporary, batch)
        except BaseException:
            for tmp_name, _ in temporary.values():
                if tmp_name in f:
                    del f[tmp_name]
            raise
        for name, (tmp_name, _) in temporary.items():
            if name in f:
                del f[name]
            f.move(tmp_name, name)


def _fill(f, targets: dict, batch) -> None:
    """Create each target dataset ``{name: (where, array)}`` and write it block by block."""
    outs = {}
    for name, (where, a) in targets.items():
        chunk_rows = int(max(1, min(max(a.chunks[0], default=1), 65536)))
        outs[name] = f.create_dataset(
            where, shape=a.shape, dtype=a.dtype, chunks=(chunk_rows, *a.shape[1:])
        )
    arrays = {name: a for name, (_, a) in targets.items()}
    for start, stop, values in computed_blocks(arrays, batch):
        for name, value in values.items():
            outs[name][start:stop] = value


def computed_blocks(arrays: dict, batch=None):
    """Yield ``(start, stop, {name: block})`` for Dask arrays with the same row blocks, in
    order of rows. ``batch`` blocks (default: two per CPU) are computed at a time, all the
    arrays in one graph, so that a shared input is read once and results larger than
    memory are never held whole."""
    import dask

    first = next(iter(arrays.values()))
    starts = np.concatenate([[0], np.cumsum(first.chunks[0])]).astype(int)
    blocks = {name: list(a.to_delayed().ravel()) for name, a in arrays.items()}
    batch = batch or 2 * (os.cpu_count() or 1)
    for i in range(0, len(starts) - 1, batch):
        values = dask.compute(*[blocks[n][i : i + batch] for n in arrays])  # one graph
        for j in range(len(values[0])):
            yield (
                int(starts[i + j]),
                int(starts[i + j + 1]),
                {n: v[j] for n, v in zip(arrays, values, strict=True)},
            )
