"""The same fit on a real dask.distributed LocalCluster with worker processes."""

from __future__ import annotations

import os
import warnings

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import assert_same_model, make_blobs, pinned_start

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.distributed


def double_then_halve(block):
    """A function from the test module, shipped to workers inside the graph."""
    return (block * 2.0) / 2.0


@pytest.fixture
def data():
    return make_blobs(seed=21, n_per=400, d=3)


def fit(X, data, **kw):
    start = pinned_start(data, 3, "full")
    gm = streamgmm.GaussianMixture(3, max_iter=6, tol=0.0, **start, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X)


def test_cluster_fit_equals_local_fit(client, data, tmp_path):
    with dask.config.set(scheduler="threads"):
        ref = fit(data, data, chunk_size=150)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=data, chunks=(100, 3))
    np.save(tmp_path / "data.npy", data)
    user_handle = h5py.File(path, "r")
    inputs = {
        "numpy": data,
        "memmap": np.load(tmp_path / "data.npy", mmap_mode="r"),
        "read_hdf5": streamgmm.read_hdf5(path, "points", chunk_rows=150),
        "h5py-dataset": user_handle["points"],
        "dask-map_blocks-test-function": da.from_array(
            data, chunks=((150, 450, 600), 3)
        ).map_blocks(double_then_halve),
    }
    with client.as_current():
        for name, X in inputs.items():
            gm = fit(X, data, chunk_size=150)
            try:
                assert_same_model(gm, ref, rtol=1e-10)
                if name != "dask-map_blocks-test-function":  # the same blocks: the same bits
                    assert_bitwise(gm, ref)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    # After a cluster fit, no worker or local handle of ours keeps the file open (F12).
    user_handle.close()
    with h5py.File(path, "a") as f:
        f.attrs["written"] = True


def assert_bitwise(gm, ref):
    for attr in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(gm, attr), getattr(ref, attr), err_msg=attr)


def _data_sent(dask_worker):
    """(recipient, bytes) of the data (not streamgmm's statistics) this worker sent since
    the last call, from distributed's own log of transfers."""
    log = list(dask_worker.transfer_outgoing_log)
    dask_worker.transfer_outgoing_log.clear()
    return [
        (entry["who"], nbytes)
        for entry in log
        for key, nbytes in entry["keys"].items()
        if _holds_rows(key)
    ]


def _holds_rows(key) -> bool:
    """Keys of the input's graph and of cached blocks hold rows; streamgmm's other keys
    hold statistics, parameters or reading plans."""
    name = str(key[0] if isinstance(key, tuple) else key)
    return name.startswith("streamgmm-cached-") or not name.startswith("streamgmm-")


def test_cached_blocks_stay_on_the_workers_that_read_them(client, data, tmp_path):
    """cache=True: each group of blocks is kept where it was read and its tasks run there;
    after the pass that reads them, no data bytes travel between workers."""
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=data, chunks=(50, 3))
    X = streamgmm.read_hdf5(path, "points", chunk_rows=50)  # 24 blocks
    with dask.config.set(scheduler="threads"):
        ref = fit(X, data, cache=True)
    sent, workers = [], set(client.scheduler_info()["workers"])

    def after_each_pass(info):
        log = [e for per in client.run(_data_sent).values() for e in per]
        sent.append(sum(nbytes for who, nbytes in log if who in workers))

    with client.as_current():
        client.run(_data_sent)
        start = pinned_start(data, 3, "full")
        gm = streamgmm.GaussianMixture(3, max_iter=6, tol=0.0, cache=True, **start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X, callback=after_each_pass)
    assert len(sent) == 6 and sent[1:] == [0] * 5, sent
    assert_bitwise(gm, ref)


def test_a_zarr_array_fits_as_any_dask_array(client, data, tmp_path):
    """dask.array.from_zarr: each task opens the store itself, as for read_hdf5."""
    zarr = pytest.importorskip("zarr", reason="zarr is an optional test dependency")
    store = zarr.open_array(tmp_path / "data.zarr", mode="w", shape=data.shape, chunks=(150, 3))
    store[:] = data
    X = da.from_zarr(str(tmp_path / "data.zarr"))
    with dask.config.set(scheduler="threads"):
        ref = fit(data, data, chunk_size=150)
        local = fit(X, data)
    with client.as_current():
        gm = fit(X, data)
    assert_bitwise(local, ref)
    assert_bitwise(gm, ref)


def test_relative_path_is_shipped_absolute(client, data, tmp_path, monkeypatch):
    """read_hdf5('data.h5') from one folder; workers run elsewhere (F10)."""
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("points", data=data)
    here = os.getcwd()
    monkeypatch.chdir(tmp_path)
    X = streamgmm.read_hdf5("data.h5", "points", chunk_rows=300)
    monkeypatch.chdir(here)
    with client.as_current():
        gm = fit(X, data)
    with dask.config.set(scheduler="threads"):
        ref = fit(data, data)
    assert_same_model(gm, ref, rtol=1e-10)
