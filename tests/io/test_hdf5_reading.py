"""Reading HDF5: column-chunked layouts (RELIABILITY R4), handles shared by fits and
released after them, read errors named by chunk; the long runs are in
``benchmarks/bench_reliability.py``."""

from __future__ import annotations

import os
import threading
import time

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm._io import handles

from conftest import make_blobs, write_points


@pytest.mark.parametrize("chunks", [(100, 1), (64, 3), (1000, 4), (7, 11), None])
@pytest.mark.parametrize("dtype", ["<f8", ">f8", "f4"])
def test_column_strip_reads_equal_plain_reads(tmp_path, chunks, dtype):
    """R4: column-chunked datasets are read strip by strip; the block is the same, C-ordered."""
    X = np.random.RandomState(1).randn(1000, 11).astype(dtype)
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=chunks, compression="gzip" if dtype == "f4" else None)
    rows = [slice(0, 1000), slice(3, 517), slice(5, 900, 7), slice(10, 10), slice(999, None)]
    cols = [slice(None), slice(2, 9), slice(1, 4), slice(3, 4), slice(0, 11, 2), slice(5, 5)]
    with h5py.File(path, "r") as f:
        ds = f["x"]
        for r in rows:
            for c in cols:
                got, want = handles.read_block(ds, (r, c)), ds[r, c]
                assert got.dtype == want.dtype and got.flags.c_contiguous, (r, c)
                np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            handles.read_block(ds, ([1, 5, 9], slice(None))), X[[1, 5, 9]]
        )


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_column_chunked_file_fits_the_same_model(tmp_path):
    """R4: the layout changes the reads, not the model; the dataset stays open (its chunk
    cache with it) during a fit and is closed afterwards."""
    X = make_blobs(seed=4, n_per=3000, d=6)
    for name, chunks in (("rows", (1024, 6)), ("columns", (5000, 1))):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.create_dataset("x", data=X, chunks=chunks)
    models = {}
    for name in ("rows", "columns"):
        gm = streamgmm.GaussianMixture(
            3, covariance_type="full", init_params="random_from_data", random_state=0, max_iter=5
        )
        models[name] = gm.fit(streamgmm.read_hdf5(tmp_path / f"{name}.h5", "x", chunk_rows=1500))
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(models["columns"], attr), getattr(models["rows"], attr), rtol=1e-12
        )
    src = handles.HDF5Source(str(tmp_path / "columns.h5"), "/x", X.shape, X.dtype, 1 << 20)
    with handles.keep_handles_open():
        assert src._dataset() is src._dataset()
    assert handles.release_handles(src.path) == 1 and not handles._datasets


def test_a_read_that_outlives_its_session_leaves_no_handle(tmp_path):
    """F12: a task still reading when its fit ended (Dask's local scheduler raises on the
    first failing task without waiting for the others) closes the handle it opened, so the
    file can be written again; a read inside a session keeps it."""
    X = make_blobs(seed=5, n_per=100, d=3)
    path = tmp_path / "late.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=(50, 3))
    src = handles.HDF5Source(str(path), "/x", X.shape, X.dtype, 1 << 20)
    with handles.keep_handles_open():
        np.testing.assert_array_equal(src._read_cached((slice(0, 10), slice(0, 3))), X[:10])
        assert src.path in handles._handles
    # the session is over; the late read finishes now
    np.testing.assert_array_equal(src._read_cached((slice(10, 20), slice(0, 3))), X[10:20])
    assert src.path not in handles._handles
    assert not [k for k in handles._datasets if k[0] == src.path]
    with h5py.File(path, "a") as f:  # writable again
        f["x"][0, 0] = 1.0


def test_a_failed_fit_leaves_no_handle_open(tmp_path):
    """F12 with the whole fit: a block that fails on one thread while the other reads; after
    the error no handle of the file is left in this process."""
    X = make_blobs(seed=6, n_per=2000, d=4)
    X[4321, 2] = np.nan
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=(250, 4))
    gm = streamgmm.GaussianMixture(3, init_params="random_from_data", random_state=0, cache=False)
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(streamgmm.read_hdf5(path, "x", chunk_rows=250))
    # a read in flight may still be finishing on the other thread: its handle goes with it
    deadline = time.monotonic() + 10
    while str(path) in handles._handles and time.monotonic() < deadline:
        time.sleep(0.01)
    assert str(path) not in handles._handles


def test_a_release_does_not_close_a_file_another_fit_reads(tmp_path):
    """Two sessions on one file in one process (a fit and a score in threads): the first to
    end must not close the handle under the other's reads (it failed 79 of 300 reads)."""
    path = tmp_path / "shared.h5"
    write_points(path, 20_000, chunks=(2000, 4))
    src = handles.HDF5Source(str(path), "/points", (20_000, 8), np.float64, 1 << 24)
    errors, done, may_leave = [], threading.Event(), threading.Event()

    def reader():
        with handles.keep_handles_open([src.path]):
            for _ in range(200):
                try:
                    src[(slice(0, 4000), slice(0, 8))]
                except Exception as exc:  # noqa: BLE001 - counted, then asserted
                    errors.append(exc)
            done.set()
            may_leave.wait()  # stay inside until the last release below has returned

    thread = threading.Thread(target=reader)
    thread.start()
    releases = 0
    while not done.is_set():
        releases += handles.release_handles(src.path)  # the other session ending
    may_leave.set()
    thread.join()
    print(f"200 reads while another session released the file: {len(errors)} failed")
    assert not errors and releases == 0
    assert handles.release_handles(src.path) == 1  # closed once nobody reads it


def test_a_replaced_file_gets_a_fresh_handle(tmp_path):
    """A kept handle (a distributed worker keeps them) must not read the old inode after the
    file is replaced: the next read opens the new file."""
    path = tmp_path / "x.h5"
    write_points(path, 1000, chunks=(100, 8), seed=0)
    src = handles.HDF5Source(str(path), "/points", (1000, 8), np.float64, 1 << 20)
    with handles.keep_handles_open([src.path]):
        before = src[(slice(0, 10), slice(0, 8))]
        write_points(tmp_path / "new.h5", 1000, chunks=(100, 8), seed=1)
        os.replace(tmp_path / "new.h5", path)
        after = src[(slice(0, 10), slice(0, 8))]
    handles.release_handles(src.path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(after, f["points"][:10])
    assert not np.array_equal(before, after)


def test_out_of_memory_while_reading_is_not_called_corruption(tmp_path, monkeypatch):
    """R1: HDF5's 'memory allocation failed for chunk' (seen under RLIMIT_AS) is a MemoryError
    naming the rows, not 'corrupted or unreadable data'."""
    path = tmp_path / "m.h5"
    write_points(path, 1000, chunks=(100, 8))

    def fail(ds, index):
        raise OSError("Can't synchronously read data (memory allocation failed for chunk)")

    monkeypatch.setattr(handles, "read_block", fail)
    with pytest.raises(MemoryError, match=r"out of memory reading rows 0\.\.999 of .*m\.h5"):
        streamgmm.read_hdf5(path, "points").compute()


def test_a_bad_checksum_names_the_chunk_not_the_block(tmp_path):
    """F4 with the default (whole-file) block: the error names the corrupted chunk's rows."""
    path = tmp_path / "c.h5"
    write_points(path, 10_000, d=4, chunks=(500, 4))
    with h5py.File(path, "r") as f:
        X = f["points"][:]
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=X, chunks=(500, 4), fletcher32=True)
        offset = f["points"].id.get_chunk_info(10).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 64)
        f.write(bytes(256))
    X = streamgmm.read_hdf5(path, "points")
    assert X.numblocks[0] == 1
    with pytest.raises(OSError, match=r"reading rows 5000\.\.5499 of .*c\.h5:/points failed"):
        X.compute()
