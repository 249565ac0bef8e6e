"""``streamgmm demo`` at a tiny size, through the installed entry point, and without matplotlib."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
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
    assert "iteration   1" in done.stderr  # the progress display
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


def test_model_selection_example(tmp_path):
    best = _example("model_selection.py")["main"](n_rows=5_000, max_k=6, plot=tmp_path / "b.png")
    assert best == 5


@pytest.mark.slow  # 10-20 s of worker start-up; test_cli covers --workers (LocalCluster) in CI
@pytest.mark.distributed
@pytest.mark.subprocess
def test_dask_cluster_example():
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "dask_cluster.py"), "--rows", "20000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "local threads and cluster agree" in done.stdout


def test_bayesian_example_switches_the_extra_components_off(tmp_path):
    bgm = _example("bayesian_hdf5.py")["main"](n_rows=20_000, folder=str(tmp_path))
    assert bgm.converged_
    assert np.sum(bgm.weights_ > 0.01) == 5
    assert np.sort(bgm.weights_)[:15].sum() < 1e-3
