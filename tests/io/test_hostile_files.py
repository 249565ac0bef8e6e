"""Every reader of untrusted files against the hostile-file generator (hostile.py): model
files through load, `streamgmm info` and `streamgmm predict`; checkpoints through resume;
data files through read_hdf5 and fit. Each refusal is one line naming the field, raised
before a buffer is allocated for what the file declares."""

from __future__ import annotations

import os
import shutil
import threading
import tracemalloc
import warnings

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm import cli

from conftest import make_blobs
from hostile import CHECKPOINT_CASES, MODEL_CASES

X = make_blobs(seed=11, n_per=100, d=3, k=2)


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "model.h5"
    streamgmm.GaussianMixture(2, random_state=0, means_init=X[:2]).fit(X).save(path)
    return path


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "checkpoint.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        streamgmm.GaussianMixture(2, random_state=0, n_init=2, max_iter=3).fit(X, checkpoint=path)
    return path


def damaged(good, tmp_path, damage):
    path = tmp_path / "hostile.h5"
    shutil.copy(good, path)
    damage(path)
    return path


@pytest.mark.parametrize("name, damage, expected", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_load_refuses_a_hostile_model_file(good_model, tmp_path, name, damage, expected):
    path = damaged(good_model, tmp_path, damage)
    tracemalloc.start()
    try:
        with pytest.raises((ValueError, OSError)) as info:
            streamgmm.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message.strip() and len(message) < 500, message
    assert __import__("re").search(expected, message), message
    assert peak < 50e6, f"{peak / 1e6:.0f} MB allocated while refusing {name}"


@pytest.mark.parametrize("name, damage, expected", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_info_and_predict_refuse_it_the_same_way(
    good_model, tmp_path, capsys, name, damage, expected
):
    path = damaged(good_model, tmp_path, damage)
    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as f:
        f["points"] = X
    for argv in (
        ["info", str(path)],
        ["predict", str(path), str(data), "--dataset", "/points", "--out", str(tmp_path / "o.h5")],
    ):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and __import__("re").search(expected, err[0]), err
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize(
    "name, damage, expected", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES]
)
def test_resume_refuses_a_hostile_checkpoint(good_checkpoint, tmp_path, name, damage, expected):
    path = damaged(good_checkpoint, tmp_path, damage)
    est = streamgmm.GaussianMixture(2, random_state=0, n_init=2, max_iter=5)
    with pytest.raises(ValueError, match=expected):
        est.fit(X, checkpoint=path, resume=True)
    assert not hasattr(est, "means_")  # the estimator is left unfitted


def test_a_declared_huge_model_file_is_small_and_refused_without_allocating(good_model, tmp_path):
    from hostile import HUGE_VALUES, _declared_huge

    path = damaged(good_model, tmp_path, _declared_huge)
    assert os.path.getsize(path) < 100_000  # a few kB that claim 8 GB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"declares .*{HUGE_VALUES // 2}"):
            streamgmm.load(path)
        assert tracemalloc.get_traced_memory()[1] < 10e6
    finally:
        tracemalloc.stop()


# -- data files ------------------------------------------------------------------------


def test_a_fifo_given_as_data_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "data.h5"
    os.mkfifo(fifo)
    outcome = {}

    def attempt():
        try:
            streamgmm.read_hdf5(fifo, "/points")
        except ValueError as exc:
            outcome["read_hdf5"] = str(exc)
        outcome["info"] = cli.main(["info", str(fifo)])

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "reading a FIFO hung"
    assert outcome["read_hdf5"].endswith(
        "is a FIFO (named pipe); streamgmm reads only regular files"
    )
    assert outcome["info"] == 1
    assert capsys.readouterr().err.strip().endswith("streamgmm reads only regular files")


def test_an_external_link_is_read_as_h5py_reads_it(tmp_path):
    with h5py.File(tmp_path / "target.h5", "w") as f:
        f["points"] = X + 100.0
    with h5py.File(tmp_path / "link.h5", "w") as f:
        f["points"] = X - 100.0  # a same-named dataset in the link's own file
        f["linked"] = h5py.ExternalLink("target.h5", "/points")
    arr = streamgmm.read_hdf5(tmp_path / "link.h5", "/linked")
    with h5py.File(tmp_path / "link.h5", "r") as f:
        np.testing.assert_array_equal(arr.compute(), f["linked"][()])
    gm = streamgmm.GaussianMixture(1).fit(arr)
    np.testing.assert_allclose(gm.means_[0], (X + 100.0).mean(axis=0))
    from streamgmm._io.hdf5 import files_of

    assert files_of(arr) == sorted([str(tmp_path / "link.h5"), str(tmp_path / "target.h5")])


def _virtual_file(tmp_path):
    layout = h5py.VirtualLayout(shape=(200, 3), dtype="f8")
    for i, name in enumerate(("a.h5", "b.h5")):
        with h5py.File(tmp_path / name, "w") as f:
            f["x"] = X[100 * i : 100 * (i + 1)]
        layout[100 * i : 100 * (i + 1)] = h5py.VirtualSource(name, "x", shape=(100, 3))
    with h5py.File(tmp_path / "vds.h5", "w") as f:
        f.create_virtual_dataset("points", layout, fillvalue=0.0)
    return tmp_path / "vds.h5"


def test_a_virtual_dataset_with_its_sources_fits_and_passes_strict(tmp_path, capsys):
    path = _virtual_file(tmp_path)
    arr = streamgmm.read_hdf5(path, "/points")
    np.testing.assert_array_equal(arr.compute(), X)
    out = tmp_path / "m.h5"
    argv = ["fit", str(path), "--dataset", "/points", "-k", "2", "--out", str(out), "--strict"]
    assert cli.main([*argv, "--no-progress", "--random-state", "0"]) == 0, capsys.readouterr()


def test_a_virtual_dataset_with_a_missing_source_is_refused_naming_it(tmp_path):
    path = _virtual_file(tmp_path)
    os.remove(tmp_path / "b.h5")
    with pytest.raises(FileNotFoundError, match=r"source file 'b.h5' .* is missing"):
        streamgmm.read_hdf5(path, "/points")


def test_a_virtual_source_that_disappears_during_a_fit_stops_it(tmp_path):
    path = _virtual_file(tmp_path)
    arr = streamgmm.read_hdf5(path, "/points")

    def remove_b(info):
        if info.n_iter == 1:
            os.remove(tmp_path / "b.h5")

    with pytest.raises(streamgmm.InputChangedError, match="b.h5"):
        streamgmm.GaussianMixture(2, random_state=0, cache=False).fit(arr, callback=remove_b)
