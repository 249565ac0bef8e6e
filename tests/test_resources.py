"""Resource limits and HDF5 layouts (RELIABILITY R1, R4); the long runs are in
``benchmarks/bench_reliability.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm._io import handles

from conftest import make_blobs

REPO = Path(__file__).resolve().parents[1]

# Warm up (imports, compiled kernels, thread pool), then cap the address space at what
# the process already maps plus HEADROOM, and fit a file larger than the headroom.
LIMITED_FIT = r"""
import json, resource, sys, warnings
import h5py, numpy as np
import streamgmm

def vm(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

def fit(path, memory_limit):
    k, d = 4, 8
    means = np.arange(k * d, dtype=float).reshape(k, d) % 5
    start = dict(weights_init=np.full(k, 1 / k), means_init=means, precisions_init=np.ones((k, d)))
    gm = streamgmm.GaussianMixture(k, covariance_type="diag", max_iter=2, tol=0.0,
                                   memory_limit=memory_limit, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(streamgmm.read_hdf5(path, "points", chunk_rows=8192))

small, big, headroom, memory_limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fit(small, memory_limit)
with open("/proc/self/clear_refs", "w") as f:  # reset the peak: compiling kernels in the
    f.write("5")  # warm-up (a cold Numba cache) peaks far above what the fit then needs
base_vm, base_rss = vm("VmSize"), vm("VmRSS")
limit = base_vm + headroom
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:  # what an in-memory fit would have to do first
    with h5py.File(big, "r") as f:
        f["points"][:]
    whole = "read"
except MemoryError:
    whole = "MemoryError"
out = dict(whole=whole, base_rss=base_rss, headroom=headroom)
try:
    out["n_iter"] = fit(big, memory_limit).n_iter_
except MemoryError as exc:
    out["error"] = str(exc)[:300]
out["peak"] = vm("VmHWM")  # the peak since the reset, unlike ru_maxrss
print(json.dumps(out))
"""


def write_points(path, n, d=8, chunks=(8192, 8), seed=0):
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", chunks=chunks)
        for i in range(0, n, 1 << 18):
            m = min(1 << 18, n - i)
            ds[i : i + m] = rng.randn(m, d) + rng.randint(0, 4, (m, 1)) * 3.0


@pytest.mark.parametrize(
    "memory_limit",
    ["64MiB", "auto"],  # "auto": half of what RLIMIT_AS leaves (_budget._address_space_left)
)
def test_fit_under_an_address_space_limit(tmp_path, memory_limit):
    """R1 (CI size): 32 MiB of address space beyond the warmed-up process fits a 64 MB file,
    which cannot even be read whole under that limit."""
    small, big = tmp_path / "small.h5", tmp_path / "big.h5"
    write_points(small, 20_000)
    write_points(big, 1_000_000)  # 64 MB
    headroom = 32 * 2**20
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_FIT, str(small), str(big), str(headroom), memory_limit],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    size = big.stat().st_size
    print(
        f"R1 (CI): {size / 1e6:.0f} MB file, RLIMIT_AS = warmed-up VmSize + "
        f"{headroom / 2**20:.0f} MiB, memory_limit={memory_limit!r}: whole read -> "
        f"{res['whole']}, fit -> {res.get('error') or 'completed'}; peak RSS "
        f"{res['peak'] / 1e6:.0f} MB ({(res['peak'] - res['base_rss']) / 1e6:.1f} MB over the "
        "warmed-up process)"
    )
    assert res["whole"] == "MemoryError"  # the limit is tight: no in-memory fit possible
    assert "error" not in res and res["n_iter"] == 2
    assert res["peak"] - res["base_rss"] < headroom < size


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
