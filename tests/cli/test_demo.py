"""``streamgmm demo`` at a tiny size, through the installed entry point, and without matplotlib."""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import streamgmm
from streamgmm import cli
from streamgmm.cli import demo
from streamgmm.plotting import INSTALL_HINT

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.subprocess
def test_demo_through_the_entry_point(tmp_path):
    pytest.importorskip("matplotlib", reason="the figures need the plot extra")
    exe = shutil.which("streamgmm")
    if exe is None:
        pytest.skip("the streamgmm console script is not installed (pip install -e .)")
    folder = tmp_path / "demo out"
    done = subprocess.run(
        [exe, "demo", "--size", "2MB", "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for needle in ("125,000 rows x 2 features", "converged", "s per iteration", "GB/s",
                   "peak RSS", "demo-mixture.png"):  # fmt: skip
        assert needle in done.stdout, needle
    assert "EM iteration 1:" in done.stderr  # the progress display
    assert "Traceback" not in done.stderr
    for name in demo.FIGURES:
        png = (folder / name).read_bytes()
        assert png[:8] == PNG and len(png) > 10_000, name
    assert not (folder / demo.DATA_FILE).exists(), "the data file is removed without --keep-data"
    gm = streamgmm.load(folder / demo.MODEL_FILE)
    truth = demo.truth()
    order = demo.match(gm, truth)
    np.testing.assert_allclose(gm.weights_[order], truth.weights, atol=0.02)
    np.testing.assert_allclose(gm.means_[order], truth.means, atol=0.1)


def test_demo_without_matplotlib_fits_and_says_how_to_get_figures(tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert cli.main(["demo", "--size", "1MB", "--out", str(tmp_path), "--keep-data"]) == 0
    out = capsys.readouterr().out
    assert f"figures   none: {INSTALL_HINT}" in out
    assert not any(p.suffix == ".png" for p in tmp_path.iterdir())
    assert (tmp_path / demo.DATA_FILE).exists() and (tmp_path / demo.MODEL_FILE).exists()


@pytest.fixture
def no_matplotlib(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_demo_writes_into_a_new_folder_it_names(tmp_path, capsys, monkeypatch, no_matplotlib):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for name in (demo.DEMO_FOLDER, f"{demo.DEMO_FOLDER}-2"):
        assert cli.main(["demo", "--size", "1MB"]) == 0
        out = capsys.readouterr().out
        assert f"points in {name} (a new folder)" in out
        assert f"everything is in {name}" in out
        assert (tmp_path / name / demo.MODEL_FILE).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt", demo.DEMO_FOLDER, f"{demo.DEMO_FOLDER}-2"
    ]  # fmt: skip


def test_demo_refuses_a_folder_with_files_unless_force(tmp_path, capsys, no_matplotlib):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "precious.txt").write_text("mine")
    before = _mtimes(folder)
    assert cli.main(["demo", "--size", "1MB", "--out", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds files" in err and "--force" in err
    assert _mtimes(folder) == before  # refused before anything was generated

    assert cli.main(["demo", "--size", "1MB", "--out", str(folder), "--force"]) == 0
    assert (folder / demo.MODEL_FILE).exists() and (folder / "precious.txt").read_text() == "mine"
    assert "a new folder" not in capsys.readouterr().out

    (tmp_path / "file").write_text("")
    assert cli.main(["demo", "--size", "1MB", "--out", str(tmp_path / "file")]) == 1
    assert "is a file; the demo needs a folder" in capsys.readouterr().err


@pytest.mark.subprocess
def test_ctrl_c_leaves_no_empty_demo_folder(tmp_path):
    """Interrupted while it generates or fits, before the model is saved: exit 130, and the
    folder the demo created for this run is gone (the data file is removed, as always)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamgmm", "demo", "--size", "64MB"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout.readline().startswith("streamgmm demo: generating 64 MB")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_generated_data_do_not_depend_on_the_scheduler(tmp_path):
    import dask

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    size = 3 * demo.GENERATE_ROWS * 16 // 2  # 1.5 generation blocks
    with dask.config.set(scheduler="threads"):
        demo.make_data(a, size, seed=1)
    with dask.config.set(scheduler="synchronous"):
        demo.make_data(b, size, seed=1)
    x = streamgmm.read_hdf5(a / demo.DATA_FILE, demo.DATASET).compute()
    y = streamgmm.read_hdf5(b / demo.DATA_FILE, demo.DATASET).compute()
    assert x.shape == (size // 16, 2)
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "text, size", [("64MB", 64_000_000), ("1GiB", 2**30), ("2 MB", 2_000_000), ("20000", 20_000)]
)
def test_parse_size(text, size):
    assert demo.parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "1kB", "-5MB"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError, match="size"):
        demo.parse_size(text)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_quickstart_example(capsys):
    _example("quickstart.py")["main"](n_per_component=2_000)
    assert "max relative difference of the means" in capsys.readouterr().out


def test_out_of_core_example(tmp_path):
    gm = _example("out_of_core_hdf5.py")["main"](n_rows=20_000, folder=str(tmp_path))
    assert gm.converged_
    assert streamgmm.load(tmp_path / "model.h5").n_iter_ == gm.n_iter_


def test_out_of_core_example_cleans_up_its_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where TemporaryDirectory goes
    gm = _example("out_of_core_hdf5.py")["main"](n_rows=20_000)
    assert gm.converged_
    assert list(tmp_path.iterdir()) == []


def test_model_selection_example(tmp_path):
    best = _example("model_selection.py")["main"](n_rows=5_000, max_k=6, plot=tmp_path / "b.png")
    assert best == 5


@pytest.mark.slow  # 10-20 s of worker start-up; test_cli covers --workers (LocalCluster) in CI
@pytest.mark.distributed
@pytest.mark.subprocess
def test_dask_cluster_example(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "dask_cluster.py"), "--rows", "20000"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "local threads and cluster agree" in done.stdout
    # its data file's folder is removed; Dask's workers keep their own scratch folder there
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("streamgmm-example")]


def test_bayesian_example_switches_the_extra_components_off(tmp_path):
    bgm = _example("bayesian_hdf5.py")["main"](n_rows=20_000, folder=str(tmp_path))
    assert bgm.converged_
    assert np.sum(bgm.weights_ > 0.01) == 5
    assert np.sort(bgm.weights_)[:15].sum() < 1e-3
