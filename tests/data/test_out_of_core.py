"""Every input container gives the same model; HDF5 by reference; the input is never changed."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import subprocess
import sys
import warnings

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import COVARIANCE_TYPES, assert_same_model, make_blobs, pinned_start

N_ITER = 8


def fit(X, covariance_type="full", **kw):
    X_ref = kw.pop("X_ref")
    start = pinned_start(X_ref, 3, covariance_type)
    gm = streamgmm.GaussianMixture(
        3, covariance_type=covariance_type, max_iter=N_ITER, tol=0.0, **start, **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X)


def digest(path):
    st = os.stat(path)
    return hashlib.sha256(open(path, "rb").read()).hexdigest(), st.st_mtime_ns, st.st_size


@pytest.fixture
def data():
    return make_blobs(seed=11, n_per=300, d=4)


@pytest.fixture
def h5file(tmp_path, data):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=data, chunks=(64, 4))
        f.create_dataset("labels", data=np.arange(len(data)))
        f.create_group("group").create_dataset("inner", data=np.zeros(3))
    return path


def containers(data, h5file, tmp_path):
    np.save(tmp_path / "data.npy", data)
    half = len(data) // 2
    for i, part in enumerate((data[:half], data[half:])):
        with h5py.File(tmp_path / f"part{i}.h5", "w") as f:
            f.create_dataset("points", data=part, chunks=(50, 4))
    irregular = (100, 1, 299, 400, 100)
    return {
        "numpy-fortran": np.asfortranarray(data),
        "memmap": np.load(tmp_path / "data.npy", mmap_mode="r"),
        "memmap-slice": np.load(tmp_path / "data.npy", mmap_mode="r")[0:],
        "dask-regular": da.from_array(data, chunks=(128, 4)),
        "dask-irregular": da.from_array(data, chunks=(irregular, 4)),
        "dask-columns": da.from_array(data, chunks=(200, 2)),
        "h5py-dataset": h5py.File(h5file, "r")["points"],
        "read_hdf5": streamgmm.read_hdf5(h5file, "/points", chunk_rows=128),
        "read_hdf5-glob": streamgmm.read_hdf5(str(tmp_path / "part*.h5"), "points"),
        "float32-hdf5-as-float64": streamgmm.read_hdf5(h5file, "points").astype(np.float64),
    }


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_every_container_gives_the_same_model(data, h5file, tmp_path, covariance_type):
    ref = fit(data, covariance_type, X_ref=data, chunk_size=len(data))
    for name, X in containers(data, h5file, tmp_path).items():
        gm = fit(X, covariance_type, X_ref=data, chunk_size=100)
        try:
            assert_same_model(gm, ref, rtol=1e-10)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_input_file_is_never_changed_and_handles_are_released(data, h5file):
    before = digest(h5file)
    gm = fit(streamgmm.read_hdf5(h5file, "points"), X_ref=data)
    gm.predict(streamgmm.read_hdf5(h5file, "points")).compute()
    with h5py.File(h5file, "r") as f:
        gm.score(f["points"])
    assert digest(h5file) == before
    # No read handle lingers: the file opens for writing in this very process (F12).
    with h5py.File(h5file, "a") as f:
        f.attrs["touched"] = 1


def test_memmap_and_hdf5_travel_by_reference(data, h5file, tmp_path):
    from streamgmm._data.source import as_source

    np.save(tmp_path / "big.npy", data)
    for X in (np.load(tmp_path / "big.npy", mmap_mode="r"), h5py.File(h5file, "r")["points"]):
        source = as_source(X, chunk_size=64)
        graph = dict(source.array.__dask_graph__())
        size = len(pickle.dumps(graph))
        assert size < data.nbytes / 10, f"graph pickles to {size} bytes: data inside?"


def test_lazy_prediction_and_block_by_block_writing(data, h5file, tmp_path):
    gm = fit(data, X_ref=data)
    X = streamgmm.read_hdf5(h5file, "points", chunk_rows=100)
    labels = gm.predict(X)
    proba = gm.predict_proba(X)
    scores = gm.score_samples(X)
    assert all(isinstance(a, da.Array) for a in (labels, proba, scores))
    np.testing.assert_array_equal(labels.compute(), gm.predict(data))
    np.testing.assert_allclose(proba.compute(), gm.predict_proba(data), rtol=1e-12, atol=1e-300)
    assert gm.score(X) == pytest.approx(gm.score(data), rel=1e-12)
    assert gm.bic(X) == pytest.approx(gm.bic(data), rel=1e-12)
    out = tmp_path / "out.h5"
    streamgmm.write_hdf5(labels, out, "labels")
    streamgmm.write_hdf5(proba, out, "proba")
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["labels"][:], gm.predict(data))
        np.testing.assert_allclose(f["proba"][:], gm.predict_proba(data), rtol=1e-12)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        streamgmm.write_hdf5(labels, out, "labels")
    with pytest.raises(ValueError, match="input of this computation"):
        streamgmm.write_hdf5(labels, h5file, "labels2")


def test_cache_auto_follows_the_budget(data, h5file, caplog):
    from streamgmm._data.source import as_source

    for memory_limit, expected in ((int(1.5 * data.nbytes), False), ("1GB", True), (100, False)):
        source = as_source(streamgmm.read_hdf5(h5file, "points"), memory_limit="1GB")
        assert source.maybe_cache("auto", memory_limit) is expected
        source.close()
    in_memory = as_source(data)
    assert in_memory.maybe_cache(True) is False  # already in RAM: nothing to cache
    cached = fit(streamgmm.read_hdf5(h5file, "points"), X_ref=data, cache=True)
    plain = fit(streamgmm.read_hdf5(h5file, "points"), X_ref=data, cache=False)
    assert_same_model(cached, plain, rtol=0)


def test_oversized_chunk_size_is_capped_with_a_warning(data, caplog):
    with caplog.at_level(logging.WARNING, logger="streamgmm"):
        gm = fit(data, X_ref=data, chunk_size=10**9, memory_limit=2**20)
    assert "exceeds the memory budget" in caplog.text
    assert_same_model(gm, fit(data, X_ref=data), rtol=1e-10)


def test_unknown_chunk_sizes_name_the_fix(data):
    X = da.from_array(data, chunks=(100, 4))
    X = X[X[:, 0] > -np.inf]  # boolean indexing: unknown chunk sizes
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        streamgmm.GaussianMixture(2).fit(X)


# --- clear errors for bad files (RELIABILITY F1-F5, F7) ----------------------------------


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        streamgmm.read_hdf5(tmp_path / "nope.h5", "points")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        streamgmm.read_hdf5(tmp_path, "points")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        streamgmm.read_hdf5(str(tmp_path / "*.h5"), "points")


def test_not_hdf5_and_truncated(tmp_path, h5file):
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(OSError, match="not an HDF5 file"):
        streamgmm.read_hdf5(text, "points")
    raw = h5file.read_bytes()
    for frac in (0.5, 0.999):
        cut = tmp_path / f"cut{frac}.h5"
        cut.write_bytes(raw[: int(len(raw) * frac)])
        with pytest.raises(OSError, match=r"file is truncated \(\d+\.\d MB of \d+\.\d MB\)"):
            streamgmm.read_hdf5(cut, "points")


def test_wrong_dataset_group_ndim_dtype(tmp_path, h5file):
    with pytest.raises(
        KeyError, match=r"no dataset '/pointz' in .*available: /group/inner, /labels, /points"
    ):
        streamgmm.read_hdf5(h5file, "/pointz")
    with pytest.raises(
        ValueError, match="is a group, not a dataset; datasets inside: /group/inner"
    ):
        streamgmm.read_hdf5(h5file, "/group")
    with pytest.raises(ValueError, match=r"expected 2-D .* got shape \(900,\)"):
        streamgmm.read_hdf5(h5file, "labels")
    compound = tmp_path / "compound.h5"
    with h5py.File(compound, "w") as f:
        f.create_dataset("c", shape=(4, 2), dtype=np.dtype([("a", "f8"), ("b", "i4")]))
    with pytest.raises(TypeError, match="compound"):
        streamgmm.read_hdf5(compound, "c")


@pytest.mark.subprocess
def test_file_locked_by_a_writer(tmp_path):
    path = tmp_path / "busy.h5"
    code = (
        "import h5py, sys, time\n"
        f"f = h5py.File({str(path)!r}, 'w'); f.create_dataset('x', data=[[1.0, 2.0]]); f.flush()\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout.readline().strip() == b"ready"
        with pytest.raises(BlockingIOError, match="locked by another process"):
            streamgmm.read_hdf5(path, "x")
    finally:
        child.stdin.close()
        child.wait(timeout=30)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_as_dask_array_matches_numpy(data, covariance_type):
    w = np.random.RandomState(0).randint(0, 4, len(data)).astype(float)
    a = fit(data, covariance_type, X_ref=data, chunk_size=100)
    b = fit(data, covariance_type, X_ref=data, chunk_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(data, sample_weight=w)
        b.fit(da.from_array(data, chunks=(77, 4)), sample_weight=da.from_array(w, chunks=50))
    assert_same_model(b, a, rtol=1e-10)


def test_threads_scheduler_is_the_default(data):
    with dask.config.set(scheduler="sync"):
        a = fit(data, X_ref=data, chunk_size=100)
    b = fit(data, X_ref=data, chunk_size=100)
    assert_same_model(a, b, rtol=0)


def test_bad_lazy_sample_weight_names_the_row(data):
    w = np.ones(len(data))
    w[777] = -1.0
    gm = streamgmm.GaussianMixture(2, init_params="random_from_data", random_state=0)
    with pytest.raises(ValueError, match="non-negative; got -1.0 at row 777"):
        gm.fit(da.from_array(data, chunks=100), sample_weight=da.from_array(w, chunks=100))


def test_partially_written_file_warns(tmp_path):
    """F8: a dataset whose chunks were not all written reads as fill values: say so."""
    from streamgmm import PartialFileWarning

    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=(10_000, 3), chunks=(1000, 3), dtype="f8")
        ds[:3000] = np.random.RandomState(0).randn(3000, 3)
    with pytest.warns(PartialFileWarning, match=r"only 30\.0% of its chunks are written"):
        streamgmm.read_hdf5(path, "x")


@pytest.mark.parametrize("change", ["touch", "append"])
def test_input_changed_during_fit_is_detected_at_the_next_pass(data, h5file, change):
    """F9: between iterations the file changes; the next pass refuses to mix versions."""
    from streamgmm import InputChangedError

    seen = []

    def meddle(info):
        seen.append(info.n_iter)
        if info.n_iter == 2:
            if change == "touch":
                st = os.stat(h5file)
                os.utime(h5file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            else:
                with open(h5file, "ab") as fh:
                    fh.write(b"\0" * 4096)

    kw = dict(max_iter=10, tol=0, **pinned_start(data, 3, "full"))
    gm = streamgmm.GaussianMixture(3, cache=False, **kw)
    with pytest.raises(InputChangedError, match="input changed during the fit: .*data.h5"):
        gm.fit(streamgmm.read_hdf5(h5file, "points"), callback=meddle)
    assert seen == [1, 2]
    # With the blocks cached after the first read, a later change cannot reach the fit.
    seen.clear()
    cached = streamgmm.GaussianMixture(3, cache=True, **kw)
    with pytest.warns(ConvergenceWarning):
        cached.fit(streamgmm.read_hdf5(h5file, "points"), callback=meddle)
    assert seen == list(range(1, 11))


@pytest.mark.parametrize("fletcher32", [True, False])
def test_corrupted_chunk(tmp_path, fletcher32):
    """F4: 256 garbled bytes inside chunk 10. With fletcher32 the read fails and we name
    the rows; without, garbage is caught only when it is non-finite or overflows (it is
    here: random exponents), otherwise undetectable (docs/reliability.md, F4)."""
    X = make_blobs(seed=14, n_per=4000, d=4)[:10_000]
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=(500, 4), fletcher32=fletcher32)
        offset = f["x"].id.get_chunk_info(10).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 64 : offset + 64 + 256] = np.random.RandomState(3).bytes(256)
    path.write_bytes(bytes(raw))
    gm = streamgmm.GaussianMixture(3, init_params="random_from_data", random_state=0, cache=False)
    if fletcher32:
        with pytest.raises(OSError, match=r"rows 5000\.\.5499 of .*c\.h5:/x failed \(corrupted"):
            gm.fit(streamgmm.read_hdf5(path, "x", chunk_rows=500))
    else:
        with pytest.raises(ValueError, match=r"row 5,0\d\d .*(NaN or infinity|too large)"):
            gm.fit(streamgmm.read_hdf5(path, "x", chunk_rows=500))


def test_a_model_too_large_for_memory_is_refused_before_reading(data):
    """R2: K=4096, d=4096, full: ~550 GB of covariances; refused at once, nothing read."""
    import time

    from streamgmm._data.budget import ModelTooLargeError

    X = np.zeros((5000, 4096), dtype=np.float32)  # 80 MB; it is never read
    reader_calls = []

    class Watch:
        shape, dtype, ndim = X.shape, X.dtype, 2

        def __getitem__(self, index):
            out = X[index]
            if out.size:
                reader_calls.append(index)
            return out

    t = time.perf_counter()
    gm = streamgmm.GaussianMixture(4096, init_params="random_from_data")
    with pytest.raises(MemoryError, match=r"too large for the memory budget: .* GiB") as e:
        gm.fit(da.from_array(Watch(), chunks=(1000, 4096), asarray=True))
    assert isinstance(e.value, ModelTooLargeError)
    assert reader_calls == [] and time.perf_counter() - t < 1.0
    # The same model with diagonal covariances fits the budget (its statistics are K*d).
    from streamgmm._data.budget import check_model_memory

    assert check_model_memory([(4096, "diag")], 4096, 2**34) < 2**34


def test_big_endian_hdf5_matches(data, tmp_path):
    """D6: a '>f8' dataset is converted per block to native order: the same model."""
    path = tmp_path / "be.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data.astype(">f8"), chunks=(64, 4))
    ref = fit(data, X_ref=data, chunk_size=100)
    assert_same_model(fit(streamgmm.read_hdf5(path, "x", chunk_rows=100), X_ref=data), ref, 0)


TWO_READERS = r"""
import sys, warnings
import numpy as np
import streamgmm
warnings.simplefilter("ignore")
X = streamgmm.read_hdf5(sys.argv[1], "points")
gm = streamgmm.GaussianMixture(3, max_iter=30, random_state=0, cache=False).fit(X)
np.save(sys.argv[2], gm.means_)
"""


@pytest.mark.subprocess
def test_two_fits_read_one_file_at_once(h5file, tmp_path):
    """P10: two processes fit the same file concurrently (shared read locks): same result."""
    outs = [tmp_path / f"m{i}.npy" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_READERS, str(h5file), str(o)], stderr=subprocess.PIPE
        )
        for o in outs
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    np.testing.assert_array_equal(np.load(outs[0]), np.load(outs[1]))


def test_write_hdf5_keeps_the_previous_dataset_when_the_computation_fails(data, tmp_path):
    out = tmp_path / "results.h5"
    streamgmm.write_hdf5(da.from_array(np.arange(10.0), chunks=5), out, "labels")

    def fail(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 1:
            raise RuntimeError("the model could not be evaluated")
        return block

    failing = da.from_array(np.ones(10), chunks=5).map_blocks(fail, meta=np.empty(0))
    with pytest.raises(RuntimeError, match="could not be evaluated"):
        streamgmm.write_hdf5(failing, out, "labels", overwrite=True)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["labels"][()], np.arange(10.0))
        assert list(f) == ["labels"]  # no temporary dataset left
    streamgmm.write_hdf5(da.from_array(np.ones(10), chunks=5), out, "labels", overwrite=True)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["labels"][()], np.ones(10))


def test_a_copy_on_write_memmap_is_fitted_as_changed_in_memory(tmp_path):
    X = make_blobs(seed=31)
    np.save(tmp_path / "x.npy", X)
    cow = np.load(tmp_path / "x.npy", mmap_mode="c")
    cow[:] += 100.0  # only this process sees the change
    gm = streamgmm.GaussianMixture(1).fit(cow)
    np.testing.assert_allclose(gm.means_[0], X.mean(axis=0) + 100.0)
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_allclose(streamgmm.GaussianMixture(1).fit(ro).means_[0], X.mean(axis=0))


@pytest.mark.parametrize("kind", ["in-memory", "open for writing"])
def test_h5py_datasets_that_a_path_cannot_reopen_are_read_in_process(tmp_path, kind):
    X = make_blobs(seed=32)
    if kind == "in-memory":
        f = h5py.File(tmp_path / "never-on-disk.h5", "w", driver="core", backing_store=False)
    else:
        f = h5py.File(tmp_path / "writing.h5", "w")
    with f:
        f["x"] = X
        gm = streamgmm.GaussianMixture(1).fit(f["x"])
    np.testing.assert_allclose(gm.means_[0], X.mean(axis=0))


@pytest.mark.parametrize("method", ["fit", "score", "bic", "aic"])
@pytest.mark.parametrize("bad", ["negative", "NaN", "all zero"])
def test_dask_sample_weights_are_checked_everywhere(data, method, bad):
    X = da.from_array(data, chunks=200)
    w = np.ones(len(data))
    w[333] = {"negative": -1.0, "NaN": np.nan, "all zero": 1.0}[bad]
    if bad == "all zero":
        w[:] = 0.0
    weights = da.from_array(w, chunks=200)
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(data)
    match = "sums to zero" if bad == "all zero" else r"finite and non-negative; got .* at row 333"
    with pytest.raises(ValueError, match=match):
        if method == "fit":
            streamgmm.GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
        else:
            getattr(gm, method)(X, sample_weight=weights)


def test_nan_in_an_hdf5_input_names_the_file_and_dataset(tmp_path):
    X = make_blobs(seed=33)
    X[123, 2] = np.nan
    for name in ("a.h5", "b.h5"):
        with h5py.File(tmp_path / name, "w") as f:
            f["points"] = make_blobs(seed=34) if name == "a.h5" else X
    one = streamgmm.read_hdf5(tmp_path / "b.h5", "/points")
    with pytest.raises(ValueError, match=rf"row 123 of {tmp_path}/b.h5:/points \(block"):
        streamgmm.GaussianMixture(2, random_state=0).fit(one)
    both = streamgmm.read_hdf5([tmp_path / "a.h5", tmp_path / "b.h5"], "/points")
    n = len(make_blobs(seed=34))
    with pytest.raises(ValueError, match=rf"row {n + 123:,} \(row 123 of {tmp_path}/b.h5"):
        streamgmm.GaussianMixture(2, random_state=0).fit(both)
