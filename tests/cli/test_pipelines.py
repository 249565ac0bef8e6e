"""The command line in pipelines: ``predict`` writes by the extension of --out (or CSV to
stdout with ``-``) with provenance, a reader that goes away ends the command quietly, ``info``
says what it leaves out, counts of one read right, and every option says what it does."""

from __future__ import annotations

import datetime
import hashlib
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm import cli
from streamgmm._version import __version__
from streamgmm.cli.output import EXIT_PIPE

from conftest import make_blobs

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A data file (/points: 3,000 rows x 8 features in 512-row chunks, /one: 1 feature)
    and a 3-component model of /points."""
    folder = tmp_path_factory.mktemp("pipelines")
    data, model = folder / "data.h5", folder / "model.h5"
    with h5py.File(data, "w") as f:
        f.create_dataset("points", data=make_blobs(seed=5, n_per=1000, d=8), chunks=(512, 8))
        f["one"] = np.random.default_rng(0).standard_normal((500, 1))
    argv = ["fit", str(data), "--dataset", "/points", "-k", "3", "--random-state", "0",
            "--out", str(model), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    with h5py.File(data, "r") as f:
        X = f["points"][()]
    gm = streamgmm.load(model)
    return data, model, X, gm


def _predict(files, out, *extra):
    data, model, _, _ = files
    return ["predict", str(model), str(data), "--dataset", "/points", "--out", str(out), *extra]


# -- predict: the format follows the extension -------------------------------------------


@pytest.mark.parametrize("name", ["l.h5", "l.hdf5", "L.H5"])
def test_hdf5_output_carries_provenance(files, tmp_path, capsys, name):
    data, model, X, gm = files
    out = tmp_path / name
    assert cli.main(_predict(files, out, "--proba", "--chunk-rows", "1024")) == 0
    line = capsys.readouterr().out
    assert "/labels (int64) and /proba (float64, 3 columns) for 3,000 rows" in line
    assert "provenance in its attributes" in line
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["labels"][()], gm.predict(X))
        np.testing.assert_allclose(f["proba"][()], gm.predict_proba(X), rtol=1e-12)
        attrs = {k: f.attrs[k] for k in f.attrs}
    assert attrs["model_file"] == str(model)
    assert attrs["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert attrs["data_file"] == str(data) and attrs["dataset"] == "/points"
    assert attrs["streamgmm_version"] == __version__
    assert datetime.datetime.fromisoformat(attrs["created"]).tzinfo is not None


def test_npy_output(files, tmp_path, capsys):
    _, _, X, gm = files
    assert cli.main(_predict(files, tmp_path / "l.npy")) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), gm.predict(X))
    assert cli.main(_predict(files, tmp_path / "lp.npy", "--proba")) == 0
    both = np.load(tmp_path / "lp.npy", mmap_mode="r")
    np.testing.assert_array_equal(both["label"], gm.predict(X))
    np.testing.assert_allclose(both["proba"], gm.predict_proba(X), rtol=1e-12)
    out = capsys.readouterr().out
    assert "l.npy: label (int64) for 3,000 rows" in out
    assert "a structured array of fields label (int64) and proba (float64, 3 columns)" in out


def test_csv_output_and_stdout_are_the_same_text(files, tmp_path, capsys):
    _, _, X, gm = files
    assert cli.main(_predict(files, tmp_path / "l.csv", "--proba", "--chunk-rows", "512")) == 0
    assert "columns label, proba_0 .. proba_2" in capsys.readouterr().out
    text = (tmp_path / "l.csv").read_text()
    assert text.splitlines()[0] == "label,proba_0,proba_1,proba_2"
    table = np.loadtxt(tmp_path / "l.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 0], gm.predict(X))
    np.testing.assert_allclose(table[:, 1:], gm.predict_proba(X), rtol=1e-12)

    assert cli.main(_predict(files, "-", "--proba", "--chunk-rows", "512")) == 0
    captured = capsys.readouterr()
    assert captured.out == text  # the CSV and nothing else on stdout
    assert captured.err == ""
    assert "-" not in os.listdir(tmp_path) and not os.path.exists("-")


def test_parquet_output(files, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    data, model, X, gm = files
    out = tmp_path / "l.parquet"
    assert cli.main(_predict(files, out, "--proba")) == 0
    assert "provenance in its metadata" in capsys.readouterr().out
    table = pq.read_table(out)
    np.testing.assert_array_equal(table["label"].to_numpy(), gm.predict(X))
    np.testing.assert_allclose(table["proba_1"].to_numpy(), gm.predict_proba(X)[:, 1])
    meta = table.schema.metadata
    assert meta[b"model_sha256"].decode() == hashlib.sha256(model.read_bytes()).hexdigest()
    assert meta[b"data_file"].decode() == str(data)


def test_parquet_without_pyarrow_says_how_to_get_it(files, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    assert cli.main(_predict(files, tmp_path / "l.parquet")) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "streamgmm[parquet]"' in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["labels.txt", "labels", "labels.csv.gz"])
def test_an_unknown_extension_is_refused_before_reading(files, tmp_path, capsys, name):
    assert cli.main(_predict(files, tmp_path / name, "--dataset", "/nope")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("streamgmm predict: error: --out")
    assert ".h5 or .hdf5 (HDF5), .npy, .csv, .parquet, or - for CSV on stdout" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["l.npy", "l.csv"])
def test_every_format_needs_force_to_replace_a_file(files, tmp_path, capsys, name):
    out = tmp_path / name
    out.write_text("precious")
    assert cli.main(_predict(files, out)) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "precious"
    assert cli.main(_predict(files, out, "--force")) == 0
    assert sorted(os.listdir(tmp_path)) == [name]


# -- a reader that goes away --------------------------------------------------------------


def _streamgmm(*args):
    return [sys.executable, "-m", "streamgmm", *map(str, args)]


@pytest.mark.subprocess
@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("command", ["info", "predict", "help"])
def test_a_closed_pipe_ends_the_command_quietly_by_sigpipe(files, command, unbuffered):
    """The reader has gone before the first write: the command ends by SIGPIPE, as cat and
    grep do (the shell reports 141), and says nothing on stderr; with Python's stdout
    buffered or not (PYTHONUNBUFFERED), where a failed write surfaces at different places."""
    data, model, _, _ = files
    argv = {
        "info": ["info", model],
        "predict": ["predict", model, data, "--dataset", "/points", "--out", "-", "--proba"],
        "help": ["fit", "--help"],
    }[command]
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen(
        _streamgmm(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    status = proc.wait(timeout=120)
    assert stderr == ""
    if command == "help" and unbuffered:  # argparse ignores the failed write: nothing is left
        assert status in (0, -signal.SIGPIPE)
    else:
        assert status == -signal.SIGPIPE


@pytest.mark.subprocess
def test_info_into_head_in_a_shell_pipeline(files):
    """``streamgmm info model.h5 | head -1``: the first line, no "Broken pipe", and a status
    of 0 or 141 (whether the pipe broke depends on when head exits, as for cat)."""
    _, model, _, _ = files
    command = " ".join(_streamgmm("info", model)) + ' | head -1; echo "status ${PIPESTATUS[0]}"'
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    first, status = done.stdout.splitlines()
    assert first.startswith(f"{model}: streamgmm model file")
    assert status in ("status 0", "status 141") and done.stderr == ""


@pytest.mark.subprocess
def test_predict_to_stdout_into_head_reports_141_to_the_shell(files):
    """3,000 rows of CSV are more than a pipe holds: head exits first, and the shell sees the
    status of a command cut short by SIGPIPE."""
    data, model, _, _ = files
    argv = _streamgmm("predict", model, data, "--dataset", "/points", "--out", "-", "--proba")
    command = " ".join(argv) + ' | head -2; echo "status ${PIPESTATUS[0]}"'
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    header, row, status = done.stdout.splitlines()
    assert header == "label,proba_0,proba_1,proba_2" and row.count(",") == 3
    assert status == "status 141" and done.stderr == ""


def test_in_process_a_closed_stdout_returns_141(files, tmp_path, monkeypatch):
    """``main([...])`` in a process that goes on returns the status instead of ending it."""
    _, model, _, _ = files
    read, write = os.pipe()
    os.close(read)
    closed = open(write, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert cli.main(["info", str(model)]) == EXIT_PIPE
    finally:
        monkeypatch.undo()
        try:
            closed.close()
        except BrokenPipeError:  # what was left in its buffer
            pass


# -- info and counts of one ---------------------------------------------------------------


def test_info_says_what_it_leaves_out_and_all_shows_every_column(files, capsys):
    _, model, _, gm = files
    assert cli.main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "(showing 6 of 8 features of each mean; --all for every one)" in out
    assert cli.main(["info", str(model), "--all"]) == 0
    out = capsys.readouterr().out
    assert "showing" not in out
    table = out[out.index("component  weight") :].splitlines()[1:]
    assert len(table) == 2 * 3  # each mean of 8 features wraps onto a second line
    values = " ".join(table).replace("[", " ").replace("]", " ").split()
    means = np.array(values, dtype=float).reshape(3, 10)[:, 2:]  # component, weight, mean
    order = np.argsort(-gm.weights_, kind="stable")
    np.testing.assert_allclose(means, gm.means_[order], rtol=1e-3)
    assert len(max(table, key=len)) <= 84


def test_fit_points_to_info_all(files, tmp_path, capsys):
    data, _, _, _ = files
    out = tmp_path / "m.h5"
    argv = ["fit", str(data), "--dataset", "/points", "-k", "2", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    assert f"streamgmm info {out} --all shows every one" in capsys.readouterr().out


def test_counts_of_one_are_singular(files, tmp_path, capsys):
    data, _, _, _ = files
    out = tmp_path / "one.h5"
    argv = ["fit", str(data), "--dataset", "/one", "-k", "1", "--max-iter", "1", "--out",
            str(out), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    fit_out = capsys.readouterr().out
    assert "1 component, 1 feature, full covariances" in fit_out
    assert " after 1 iteration (tol" in fit_out
    argv = ["select", str(data), "--dataset", "/one", "-k", "1", "--no-progress"]
    assert cli.main(argv) == 0
    assert "(1 model in shared passes" in capsys.readouterr().out
    for text in (fit_out,):
        for wrong in ("1 components", "1 features", "1 iterations"):
            assert wrong not in text


# -- help -----------------------------------------------------------------------------------


def _options():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name, sub in commands.items():
        for action in sub._actions:
            if action.option_strings and "--help" not in action.option_strings:
                yield name, action


def test_every_option_has_help_and_a_value_option_shows_its_default():
    missing, no_default = [], []
    for command, action in _options():
        where = f"{command} {'/'.join(action.option_strings)}"
        if not (action.help or "").strip(" ()"):
            missing.append(where)
        takes_value = action.nargs != 0
        if takes_value and not action.required and "default" not in action.help:
            no_default.append(where)
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"optional values that do not say their default: {no_default}"
