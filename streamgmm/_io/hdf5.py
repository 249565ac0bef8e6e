"""HDF5 datasets as Dask arrays, read by reference.

:func:`read_hdf5` returns a Dask array whose graph holds an
:class:`~streamgmm._io.handles.HDF5Source` (path and dataset name, never an open
h5py object; how it reads is in :mod:`streamgmm._io.handles`). This module finds
and checks the datasets (named errors, :class:`PartialFileWarning`), chooses the
rows per block and the chunk cache, and knows which files an array reads
(:func:`files_of`, :func:`reblock`). Writing results is ``writing.py``.
"""

from __future__ import annotations

import glob as _glob
import math
import os
import warnings
from dataclasses import dataclass

import dask.array as da
import h5py
import numpy as np
from dask.base import tokenize

from .handles import HDF5Source, open_file


class PartialFileWarning(UserWarning):
    """An HDF5 dataset has chunks that were never written (RELIABILITY F8)."""


#: target bytes per block when chunk_rows is not given
BLOCK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Layer:
    """What one :func:`read_hdf5` array reads: the file and dataset the user named, every
    file it reads through them (an external link's target, a virtual dataset's sources),
    and the label that messages use."""

    path: str
    dataset: str
    files: tuple
    label: str


#: graph layer name -> :class:`Layer`, for every array made by read_hdf5 in this process
#: (for :func:`files_of`, :func:`origins` and :func:`reblock`)
_layers: dict[str, Layer] = {}
#: graph layer name of a concatenation made by read_hdf5 -> [(first row, label), ...]
_concatenations: dict[str, list] = {}


def _describe(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda n, o: names.append("/" + n) if isinstance(o, h5py.Dataset) else None)
    return names


def _lookup(f: h5py.File, path: str, dataset: str) -> h5py.Dataset:
    name = dataset if dataset.startswith("/") else "/" + dataset
    obj = f.get(name)
    if obj is None:
        available = ", ".join(_describe(f)[:20]) or "none"
        raise KeyError(f"no dataset {name!r} in {path}; available: {available}")
    if isinstance(obj, h5py.Group):
        inside = (
            ", ".join(n for n in _describe(f) if n.startswith(name.rstrip("/") + "/")) or "none"
        )
        raise ValueError(f"{path}:{name} is a group, not a dataset; datasets inside: {inside}")
    return obj


def _block_rows(ds: h5py.Dataset, chunk_rows: int | None) -> int:
    n, d = ds.shape
    if chunk_rows is not None:
        return max(1, min(int(chunk_rows), n))
    row_bytes = max(1, d * ds.dtype.itemsize)
    rows = max(1, BLOCK_BYTES // row_bytes)
    if ds.chunks is not None:  # whole HDF5 chunks per block: no chunk is decoded twice
        step = ds.chunks[0]
        rows = max(step, (rows // step) * step)
    return int(min(rows, n))


def _cache_bytes(ds: h5py.Dataset, rows: int) -> int:
    """Enough chunk cache for every chunk that one block of rows touches (R4).

    Only filtered (compressed, checksummed) chunks need it, to be decoded once.
    Raw chunks larger than the cache are read straight into the block, whereas
    through the cache they cost a copy (column strips: 2.9 vs 1.5 GB/s).
    """
    if ds.chunks is None or ds.id.get_create_plist().get_nfilters() == 0:
        return 1 << 20
    c_rows, c_cols = ds.chunks
    per_chunk = c_rows * c_cols * ds.dtype.itemsize
    n_chunks = (math.ceil(rows / c_rows) + 1) * math.ceil(ds.shape[1] / c_cols)
    return int(min(max(per_chunk * n_chunks, 1 << 20), 1 << 30))


def _check(ds: h5py.Dataset, path: str) -> None:
    where = f"{path}:{ds.name}"
    if ds.ndim != 2:
        raise ValueError(f"{where}: expected 2-D (n_samples, n_features), got shape {ds.shape}")
    if ds.dtype.kind not in "biuf":
        raise TypeError(
            f"{where} has dtype {ds.dtype}: not real numbers (compound, string or other "
            "non-numeric datasets are not supported)"
        )


def allocated_fraction(ds: h5py.Dataset) -> float:
    """Share of a dataset's chunks that were ever written (1.0 for contiguous data; a
    virtual dataset's data are its sources', checked by :func:`virtual_sources`)."""
    if ds.is_virtual:
        return 1.0
    if ds.chunks is None:
        return 1.0 if ds.id.get_storage_size() >= ds.size * ds.dtype.itemsize else 0.0
    expected = math.prod(math.ceil(s / c) for s, c in zip(ds.shape, ds.chunks, strict=True))
    return ds.id.get_num_chunks() / expected if expected else 1.0


def virtual_sources(ds: h5py.Dataset, path: str) -> list[str]:
    """The files a virtual dataset reads, each checked to exist and to hold its dataset.

    HDF5 reads the rows of a missing source as the fill value, silently; here a missing
    file or dataset is an error naming it. Relative source names are looked up beside the
    virtual dataset's file, then in the working directory, as HDF5 does.
    """
    files = []
    for src in ds.virtual_sources():
        name = src.file_name
        if name == ".":
            continue
        where = (
            [name]
            if os.path.isabs(name)
            else [os.path.join(os.path.dirname(path), name), os.path.abspath(name)]
        )
        found = next((p for p in where if os.path.isfile(p)), None)
        if found is None:
            raise FileNotFoundError(
                f"{path}:{ds.name} is a virtual dataset whose source file {name!r} "
                f"(dataset {src.dset_name!r}) is missing (looked for "
                f"{' and '.join(dict.fromkeys(where))}); HDF5 would read its rows as the fill "
                "value, so it is refused"
            )
        with open_file(found) as f:
            if not isinstance(f.get(src.dset_name), h5py.Dataset):
                raise KeyError(
                    f"{path}:{ds.name} is a virtual dataset whose source {found} has no "
                    f"dataset {src.dset_name!r}; refused (HDF5 would read the fill value)"
                )
        files.append(os.path.abspath(found))
    return sorted(set(files))


def describe_datasets(path) -> tuple[object, list[tuple]]:
    """The root ``format`` attribute and, per dataset, (name, shape, dtype, chunks,
    :func:`allocated_fraction`): what ``streamgmm info`` shows of a data file (F8)."""
    path = os.fspath(path)
    with open_file(path) as f:
        rows = [
            (name, f[name].shape, f[name].dtype, f[name].chunks, allocated_fraction(f[name]))
            for name in _describe(f)
        ]
        return f.attrs.get("format"), rows


def _warn_if_partial(ds: h5py.Dataset, path: str) -> None:
    frac = allocated_fraction(ds)
    if frac < 1.0:
        warnings.warn(
            f"{path}:{ds.name}: only {100 * frac:.1f}% of its chunks are written (a file still "
            "being written, or cut short?); unwritten rows read as the fill value "
            f"{ds.fillvalue}.",
            PartialFileWarning,
            stacklevel=4,
        )


def _one(path, dataset: str, chunk_rows: int | None) -> da.Array:
    path = os.path.abspath(os.fspath(path))
    with open_file(path) as f:
        ds = _lookup(f, path, dataset)
        _check(ds, path)
        # Read what h5py reads: an external link (on the dataset or a group above it)
        # leads to a dataset of another file, which the reader then opens itself.
        real = os.path.abspath(ds.file.filename)
        files = [path] if real == path else [path, real]
        label = f"{path}:{ds.name}" if real == path else f"{path}:{dataset} (-> {real}:{ds.name})"
        if ds.is_virtual:
            files += virtual_sources(ds, real)
        else:
            _warn_if_partial(ds, path)
        rows = _block_rows(ds, chunk_rows)
        src = HDF5Source(real, ds.name, ds.shape, ds.dtype, _cache_bytes(ds, rows))
    stats = [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in files]
    name = "hdf5-" + tokenize(files, src.dataset, stats, rows)
    _layers[name] = Layer(path, dataset, tuple(dict.fromkeys(files)), label)
    return da.from_array(src, chunks=(rows, src.shape[1]), name=name, asarray=True, lock=False)


def reblock(arr, rows: int) -> da.Array | None:
    """``arr`` read again with ``rows`` per block, if :func:`read_hdf5` made it, else None."""
    layer = _layers.get(arr.name)
    if layer is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialFileWarning)  # said when it was first read
        return _one(layer.path, layer.dataset, rows)


def files_of(arr) -> list[str]:
    """The files that a Dask array reads through :func:`read_hdf5` (also derived arrays)."""
    layers = arr.__dask_graph__().layers
    return sorted({p for name in layers if name in _layers for p in _layers[name].files})


def origins(arr) -> list[tuple[int, str]] | None:
    """[(first row, "file:dataset"), ...] of a :func:`read_hdf5` array (one per file), or
    None for any other array: how messages name the file and row of a bad value."""
    if arr.name in _layers:
        return [(0, _layers[arr.name].label)]
    return _concatenations.get(arr.name)


def read_hdf5(path, dataset: str, chunk_rows: int | None = None) -> da.Array:
    """A Dask array of whole-row blocks over an HDF5 dataset, opened read-only by reference.

    Parameters
    ----------
    path : str, os.PathLike, a glob pattern or a list of them
        Several files are concatenated along rows, in sorted order for a glob.
    dataset : str
        Name of the 2-D dataset in each file, e.g. ``"/points"``.
    chunk_rows : int, optional
        Rows per block. By default about 32 MB of whole HDF5 chunks.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features)
        Safe to ship to distributed workers: tasks reopen the file by path.
    """
    paths = _expand(path)
    arrays = [_one(p, dataset, chunk_rows) for p in paths]
    if len(arrays) == 1:
        return arrays[0]
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        raise ValueError(f"files have different numbers of columns {sorted(widths)}: {paths}")
    out = da.concatenate(arrays, axis=0)
    starts = np.cumsum([0] + [a.shape[0] for a in arrays[:-1]])
    _concatenations[out.name] = [
        (int(s), _layers[a.name].label) for s, a in zip(starts, arrays, strict=True)
    ]
    return out


def _expand(path) -> list[str]:
    items = list(path) if isinstance(path, (list, tuple)) else [path]
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        if any(ch in s for ch in "*?[") and not os.path.exists(s):
            matches = sorted(_glob.glob(s))
            if not matches:
                raise FileNotFoundError(f"no file matches {s}")
            out.extend(matches)
        else:
            out.append(s)
    if not out:
        raise ValueError("no input files given")
    return out


def from_h5py_dataset(ds: h5py.Dataset, chunk_rows: int | None = None) -> da.Array:
    """The by-reference reader for an open ``h5py.Dataset`` (through its file and name)."""
    return _one(ds.file.filename, ds.name, chunk_rows)


def is_h5py_dataset(x) -> bool:
    return isinstance(x, h5py.Dataset)


def readable_by_path(ds: h5py.Dataset) -> bool:
    """Whether reopening ``ds``'s file read-only gives its data: a file on disk, opened
    read-only (an in-memory file has no path; a file open for writing may hold changes
    that are not on disk yet, and HDF5's locking refuses a second open)."""
    f = ds.file
    return f.driver not in ("core", "fileobj") and f.mode == "r" and os.path.isfile(f.filename)
