"""The one atomic writer: every file streamgmm writes reaches its path through here.

A file is written under a temporary name in the target's folder, flushed to the disk
(fsync), renamed onto the target (``os.replace``, atomic on POSIX) and the folder is
flushed too, so that the rename itself survives a crash. A kill at any moment leaves
the previous file or the new one, never a torn file; a failure (a full disk, a
read-only folder, an exception while computing) removes the temporary file and leaves
the previous file as it was (tests/io/test_atomic.py).

A new file gets the permissions of the process umask, as ``open`` would give it; a
replaced file keeps its own mode.

Small HDF5 files (model files, checkpoints) are built in memory by :func:`hdf5_bytes`
and written as plain bytes, so that HDF5 itself never meets a full disk.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TMP_SUFFIX = ".tmp"


def temporary_prefix(path: str) -> str:
    """The prefix of the temporary files written for ``path`` (``.name.tmp-``)."""
    return f".{os.path.basename(path)}.tmp-"


@contextmanager
def atomic_path(path) -> Iterator[str]:
    """A temporary path next to ``path``, moved onto ``path`` if the block succeeds.

    The caller writes the temporary file (and closes it) inside the block. On success
    it is fsynced, given the mode of the file it replaces (or the umask's), renamed onto
    ``path`` and the folder is fsynced; on any exception, Ctrl-C included, it is removed.
    Errors of the disk (full, read-only, no permission) come out as one-line ``OSError``s
    naming ``path``.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise disk_error(exc, path) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        _fsync_file(tmp)
        os.replace(tmp, path)
        fsync_folder(folder)
    except OSError as exc:
        _remove_quietly(tmp)
        raise disk_error(exc, path) from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def hdf5_bytes(fill: Callable) -> bytes:
    """The bytes of an HDF5 file that ``fill(h5py.File)`` writes, built in memory."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        fill(f)
    return buffer.getvalue()


def disk_error(exc: OSError, path: str) -> OSError:
    """``exc`` as one line that names ``path`` and says what to do."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "its folder does not exist",
    }
    reason = reasons.get(exc.errno)
    if reason is None:
        return exc
    out = type(exc)(exc.errno, f"cannot write {path}: {reason}; nothing was changed there")
    out.filename = path
    return out


def fsync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename into it) to the disk."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _mode_for(path: str) -> int:
    """The mode of the file being replaced, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - elsewhere: set and restore at once
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
