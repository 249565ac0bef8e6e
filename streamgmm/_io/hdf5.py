"""HDF5 datasets as Dask arrays, by reference, and results written back block by block.

:func:`read_hdf5` returns a Dask array whose graph holds an
:class:`~streamgmm._io.handles.HDF5Source` (path and dataset name, never an open
h5py object; how it reads is in :mod:`streamgmm._io.handles`). This module finds
and checks the datasets (named errors, :class:`PartialFileWarning`), chooses the
rows per block and the chunk cache, knows which files an array reads
(:func:`files_of`, :func:`reblock`), and writes results (:func:`write_hdf5`).
"""

from __future__ import annotations

import glob as _glob
import math
import os
import warnings

import dask.array as da
import h5py
import numpy as np
from dask.base import tokenize

from .handles import HDF5Source, open_file


class PartialFileWarning(UserWarning):
    """An HDF5 dataset has chunks that were never written (RELIABILITY F8)."""


#: target bytes per block when chunk_rows is not given
BLOCK_BYTES = 32 * 2**20

#: graph layer name -> (file path, dataset name), for every array made by read_hdf5 in
#: this process (for :func:`files_of` and :func:`reblock`)
_layers: dict[str, tuple[str, str]] = {}


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
    """Share of a dataset's chunks that were ever written (1.0 for contiguous data)."""
    if ds.chunks is None:
        return 1.0 if ds.id.get_storage_size() >= ds.size * ds.dtype.itemsize else 0.0
    expected = math.prod(math.ceil(s / c) for s, c in zip(ds.shape, ds.chunks, strict=True))
    return ds.id.get_num_chunks() / expected if expected else 1.0


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
        _warn_if_partial(ds, path)
        rows = _block_rows(ds, chunk_rows)
        src = HDF5Source(path, ds.name, ds.shape, ds.dtype, _cache_bytes(ds, rows))
    st = os.stat(path)
    name = "hdf5-" + tokenize(path, src.dataset, st.st_size, st.st_mtime_ns, rows)
    _layers[name] = (path, src.dataset)
    return da.from_array(src, chunks=(rows, src.shape[1]), name=name, asarray=True, lock=False)


def reblock(arr, rows: int) -> da.Array | None:
    """``arr`` read again with ``rows`` per block, if :func:`read_hdf5` made it, else None."""
    if arr.name not in _layers:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialFileWarning)  # said when it was first read
        return _one(*_layers[arr.name], rows)


def files_of(arr) -> list[str]:
    """The HDF5 files that a Dask array reads through :func:`read_hdf5` (also derived arrays)."""
    layers = arr.__dask_graph__().layers
    return sorted({_layers[name][0] for name in layers if name in _layers})


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
    return da.concatenate(arrays, axis=0)


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


def write_hdf5(array, path, dataset: str | None = None, *, overwrite: bool = False, batch=None):
    """Compute Dask arrays block by block and write them into HDF5 datasets.

    ``array`` is one Dask array (written to ``dataset``) or a mapping
    ``{dataset: array}`` of arrays with the same row blocks, computed together
    so that a shared input (labels and probabilities of one model, say) is read
    once. Only ``batch`` blocks (default: two per CPU) are held at once, so
    results for data larger than memory are never materialised whole. The file
    is created if needed; an existing dataset is replaced only with
    ``overwrite=True``; a file that the arrays themselves read is refused.

    Returns the written datasets' names (one name for a single array).
    """
    import dask

    single = not isinstance(array, dict)
    arrays = {dataset: array} if single else dict(array)
    if single and dataset is None:
        raise ValueError("write_hdf5(array, path, dataset): name the dataset to write")
    path = os.path.abspath(os.fspath(path))
    arrays = {
        (n if n.startswith("/") else "/" + n): (a.rechunk({1: -1}) if a.ndim == 2 else a)
        for n, a in arrays.items()
    }
    first = next(iter(arrays.values()))
    for a in arrays.values():
        if path in files_of(a):
            raise ValueError(f"refusing to write into {path}: it is an input of this computation")
        if a.chunks[0] != first.chunks[0]:
            raise ValueError("write_hdf5: the arrays must have the same row blocks")
    blocks = {n: list(a.to_delayed().ravel()) for n, a in arrays.items()}
    starts = np.concatenate([[0], np.cumsum(first.chunks[0])]).astype(int)
    batch = batch or 2 * (os.cpu_count() or 1)
    with h5py.File(path, "a") as f:
        outs = {}
        for name, a in arrays.items():
            if name in f:
                if not overwrite:
                    raise FileExistsError(f"{path} already has {name}; pass overwrite=True")
                del f[name]
            chunk_rows = int(max(1, min(max(a.chunks[0]), 65536)))
            outs[name] = f.create_dataset(
                name, shape=a.shape, dtype=a.dtype, chunks=(chunk_rows, *a.shape[1:])
            )
        for i in range(0, len(starts) - 1, batch):
            todo = [blocks[n][i : i + batch] for n in arrays]
            values = dask.compute(*todo)  # one graph: shared inputs are read once
            for name, vals in zip(arrays, values, strict=True):
                for j, value in enumerate(vals):
                    outs[name][starts[i + j] : starts[i + j + 1]] = value
    return next(iter(arrays)) if single else list(arrays)
