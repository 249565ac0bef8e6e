"""Per-row results as NPY, CSV and Parquet (``_io/results.py``): the same values as the
arrays, block by block, through the atomic writer, and the provenance that goes with them."""

from __future__ import annotations

import datetime
import hashlib
import io
import os

import dask.array as da
import numpy as np
import pytest

from streamgmm._io.results import (
    column_names,
    npy_dtype,
    provenance,
    write_csv,
    write_npy,
    write_parquet,
)


def _columns(n=1000, k=3, chunks=128, proba=True, seed=0):
    rng = np.random.default_rng(seed)
    resp = rng.dirichlet(np.ones(k), size=n)
    columns = {"label": da.from_array(resp.argmax(axis=1).astype(np.int64), chunks=chunks)}
    if proba:
        columns["proba"] = da.from_array(resp, chunks=(chunks, k))
    return columns


def _failing(columns, at_block=3):
    """The same columns, whose computation fails at block ``at_block``."""

    def fail(block, block_info=None):
        if block_info[0]["chunk-location"][0] == at_block:
            raise RuntimeError("failed in block 3")
        return block

    return {n: a.map_blocks(fail, dtype=a.dtype) for n, a in columns.items()}


def test_npy_of_labels_is_a_plain_int64_array(tmp_path):
    columns = _columns(proba=False)
    path = tmp_path / "l.npy"
    write_npy(columns, path, batch=2)  # 8 blocks, 2 at a time
    got = np.load(path)
    assert got.dtype == np.dtype("<i8") and got.shape == (1000,)
    np.testing.assert_array_equal(got, columns["label"].compute())


def test_npy_with_proba_is_one_structured_array(tmp_path):
    columns = _columns(k=4)
    path = tmp_path / "lp.npy"
    write_npy(columns, path, batch=3)
    got = np.load(path, mmap_mode="r")
    assert got.dtype.names == ("label", "proba") and got.shape == (1000,)
    assert got["proba"].shape == (1000, 4)
    np.testing.assert_array_equal(got["label"], columns["label"].compute())
    np.testing.assert_array_equal(got["proba"], columns["proba"].compute())
    assert npy_dtype(columns).itemsize == 8 + 4 * 8
    assert os.path.getsize(path) == 128 + 1000 * (8 + 4 * 8)  # the header, then the rows


@pytest.mark.parametrize("proba", [False, True])
def test_csv_reads_back_to_the_same_numbers(tmp_path, proba):
    columns = _columns(proba=proba)
    path = tmp_path / "r.csv"
    write_csv(columns, path, batch=2)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(column_names(columns))
    assert lines[0] == ("label,proba_0,proba_1,proba_2" if proba else "label")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    assert table.shape == (1000, 4 if proba else 1)
    np.testing.assert_array_equal(table[:, 0].astype(np.int64), columns["label"].compute())
    if proba:  # Python's shortest repr reads back to the same float64, bit for bit
        np.testing.assert_array_equal(table[:, 1:], columns["proba"].compute())


def test_csv_to_a_stream_is_written_and_flushed_block_by_block(tmp_path):
    class Recorder(io.StringIO):
        flushes = 0

        def flush(self):
            self.flushes += 1

    stream = Recorder()
    columns = _columns(chunks=100)
    write_csv(columns, stream, batch=4)
    assert stream.flushes == 10  # one per block of 100 rows
    write_csv(columns, tmp_path / "same.csv")
    assert stream.getvalue() == (tmp_path / "same.csv").read_text()


@pytest.mark.parametrize("writer", [write_npy, write_csv], ids=["npy", "csv"])
def test_a_failed_computation_leaves_the_previous_file_and_no_temporary(tmp_path, writer):
    path = tmp_path / ("r.npy" if writer is write_npy else "r.csv")
    path.write_text("previous")
    with pytest.raises(RuntimeError, match="failed in block 3"):
        writer(_failing(_columns()), path, batch=1)
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == [path.name]


def test_parquet_one_row_group_per_block_with_the_metadata(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    columns = _columns(chunks=250)
    path = tmp_path / "r.parquet"
    write_parquet(columns, path, metadata={"model_sha256": "abc"}, batch=1)
    table = pq.read_table(path)
    assert table.column_names == ["label", "proba_0", "proba_1", "proba_2"]
    np.testing.assert_array_equal(table["label"].to_numpy(), columns["label"].compute())
    proba = np.column_stack([table[f"proba_{j}"].to_numpy() for j in range(3)])
    np.testing.assert_array_equal(proba, columns["proba"].compute())
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    assert table.schema.metadata[b"model_sha256"] == b"abc"
    with pytest.raises(RuntimeError, match="failed in block 3"):
        write_parquet(_failing(columns), tmp_path / "bad.parquet", batch=1)
    assert sorted(os.listdir(tmp_path)) == ["r.parquet"]


def test_provenance_names_the_model_its_hash_the_data_and_the_time(tmp_path):
    model = tmp_path / "m.h5"
    model.write_bytes(os.urandom(3_000_000))  # more than one piece of the hash loop
    meta = provenance(model, "data.h5", "/points", "9.9")
    assert meta["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert meta["model_file"] == str(model) and meta["data_file"] == os.path.abspath("data.h5")
    assert meta["dataset"] == "/points" and meta["streamgmm_version"] == "9.9"
    created = datetime.datetime.fromisoformat(meta["created"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created).total_seconds()) < 60
