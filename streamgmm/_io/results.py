"""Per-row results (labels, probabilities) written as NPY, CSV or Parquet, block by block,
and the provenance that goes with them.

The results are *columns*: ``{name: dask array}`` of the same row blocks, each 1-D or 2-D
(a 2-D column of width K is K columns ``name_0 .. name_{K-1}`` in CSV and Parquet). Only a
batch of blocks is held at once (:func:`computed_blocks`), so results larger than memory
are never materialised. A file is written under a temporary name and renamed into place at
the end (the atomic writer); CSV can also go to a text stream (the command line's
stdout), flushed after each block.

NPY holds one array: a single 1-D column is written as it is (the labels, int64); several
columns become a structured array with one field per column, a 2-D column a sub-array
field, so that ``np.load(path, mmap_mode="r")["proba"]`` is the (n_samples, K) matrix and
one file, renamed once, holds a consistent result.
"""

from __future__ import annotations

import datetime
import hashlib
import os

import numpy as np

from .atomic import atomic_path
from .writing import check_arrays, check_free_space, computed_blocks

#: the fewest characters a CSV field takes: an integer ("0,"), a float ("0.0,")
_CSV_MIN_INT, _CSV_MIN_FLOAT = 2, 4


def provenance(model_path, data_path, dataset: str, version: str) -> dict:
    """What made a result: the model file and its sha256, the data file and dataset, the
    streamgmm version and the time (UTC, ISO 8601), as strings."""
    digest = hashlib.sha256()
    with open(model_path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {
        "model_file": os.path.abspath(os.fspath(model_path)),
        "model_sha256": digest.hexdigest(),
        "data_file": os.path.abspath(os.fspath(data_path)),
        "dataset": dataset,
        "streamgmm_version": version,
        "created": now,
    }


def _prepared(columns: dict, path) -> dict:
    columns = {n: a.rechunk({1: -1}) if a.ndim == 2 else a for n, a in columns.items()}
    if path is not None:
        check_arrays(columns, os.path.abspath(os.fspath(path)))
    for name, a in columns.items():
        if any(np.isnan(c) for c in a.chunks[0]):
            raise ValueError(f"column {name}: the number of rows must be known to write it")
    return columns


def column_names(columns: dict) -> list[str]:
    """The flat column names: ``label``, ``proba_0`` .. ``proba_{K-1}``."""
    names = []
    for name, a in columns.items():
        names += [name] if a.ndim == 1 else [f"{name}_{j}" for j in range(a.shape[1])]
    return names


# -- NPY -------------------------------------------------------------------------------


def npy_dtype(columns: dict) -> np.dtype:
    """The dtype of the NPY array: the column's own for one 1-D column, else structured."""
    if len(columns) == 1 and next(iter(columns.values())).ndim == 1:
        return np.dtype(next(iter(columns.values())).dtype).newbyteorder("<")
    return np.dtype(
        [(n, np.dtype(a.dtype).newbyteorder("<"), a.shape[1:]) for n, a in columns.items()]
    )


def write_npy(columns: dict, path, batch=None) -> None:
    """Write ``columns`` to an NPY file: the header, then each block's bytes appended."""
    columns = _prepared(columns, path)
    dtype = npy_dtype(columns)
    n = next(iter(columns.values())).shape[0]
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
    check_free_space(path, n * dtype.itemsize)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for _, _, values in computed_blocks(columns, batch):
            if dtype.names is None:
                block = np.asarray(next(iter(values.values())), dtype=dtype)
            else:
                block = np.empty(len(next(iter(values.values()))), dtype=dtype)
                for name, value in values.items():
                    block[name] = value
            f.write(block.tobytes())


# -- CSV -------------------------------------------------------------------------------


def _csv_text(values: dict) -> str:
    """One block as CSV rows: integers as they are, floats as Python's shortest repr that
    reads back to the same float64."""
    fields = []
    for value in values.values():
        value = np.asarray(value)
        text = str if value.dtype.kind in "iub" else repr
        for col in value.T if value.ndim == 2 else [value]:
            fields.append(map(text, col.tolist()))
    return "".join(",".join(row) + "\n" for row in zip(*fields, strict=True))


def write_csv(columns: dict, target, batch=None) -> None:
    """Write ``columns`` as CSV with a header line, one block of rows at a time.

    ``target`` is a path (written atomically) or a text stream such as ``sys.stdout``
    (flushed after each block, so a reader downstream sees rows as they are computed).
    """
    is_stream = hasattr(target, "write")
    columns = _prepared(columns, None if is_stream else target)
    header = ",".join(column_names(columns)) + "\n"
    if is_stream:
        target.write(header)
        for _, _, values in computed_blocks(columns, batch):
            target.write(_csv_text(values))
            target.flush()
        return
    n = next(iter(columns.values())).shape[0]
    row = sum(
        (a.shape[1] if a.ndim == 2 else 1)
        * (_CSV_MIN_FLOAT if a.dtype.kind == "f" else _CSV_MIN_INT)
        for a in columns.values()
    )
    check_free_space(target, n * row)  # a lower bound: refuse only what cannot fit
    with atomic_path(target) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(header)
        for _, _, values in computed_blocks(columns, batch):
            f.write(_csv_text(values))


# -- Parquet ---------------------------------------------------------------------------


PYARROW_HINT = 'writing Parquet needs pyarrow: python -m pip install "streamgmm[parquet]"'


def have_pyarrow() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401 - written with it just after
    except ImportError:
        return False
    return True


def write_parquet(columns: dict, path, metadata: dict | None = None, batch=None) -> None:
    """Write ``columns`` as a Parquet file, one row group per block; ``metadata`` (strings)
    goes into the file's key-value metadata."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(PYARROW_HINT) from None
    columns = _prepared(columns, path)
    names = column_names(columns)
    fields = []
    for a in columns.values():
        width = a.shape[1] if a.ndim == 2 else 1
        fields += [pa.from_numpy_dtype(np.dtype(a.dtype))] * width
    schema = pa.schema(list(zip(names, fields, strict=True)), metadata=metadata or None)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for _, _, values in computed_blocks(columns, batch):
            flat = []
            for value in values.values():
                flat += [value] if value.ndim == 1 else list(np.asarray(value).T)
            arrays = [pa.array(np.ascontiguousarray(c)) for c in flat]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
