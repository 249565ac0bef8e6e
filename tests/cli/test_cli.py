"""The command line: subprocess runs for exit codes, one-line errors and fit -> info -> predict;
in-process ``main([...])`` runs (same code, no interpreter start) for the many refused cases.

RELIABILITY F1, F5, F6, R6 and S4: an input is opened read-only and left bit-for-bit
and mtime unchanged; errors are one line with no traceback; outputs never replace
an input, and an existing output needs --force; worker processes listen on
127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest

import streamgmm
from streamgmm import cli

from conftest import colour_pixels, make_blobs

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COMMANDS = ("fit", "predict", "info", "select", "demo")
LEAKS = ("Traceback", "numba", "TypingError")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """600 rows x 3 features in /points, plus a 1-D /labels and a group /grp."""
    path = tmp_path_factory.mktemp("data") / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=make_blobs(seed=3, n_per=200, d=3, k=3), chunks=(128, 3))
        f["labels"] = np.zeros(600)
        f.create_group("grp")
    return path


@pytest.fixture(scope="module")
def model_file(data_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.h5"
    assert cli.main(_fit_args(data_file, path)) == 0
    return path


def _fit_args(data, out, *extra):
    return ["fit", str(data), "--dataset", "/points", "-k", "3", "--random-state", "0",
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


def _fingerprint(path):
    st = os.stat(path)
    return hashlib.sha256(open(path, "rb").read()).hexdigest(), st.st_mtime_ns, st.st_size


def _run(*args, cwd=None, timeout=180):
    """``python -m streamgmm ARGS`` in a subprocess; also the listening IPs of its processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamgmm", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    listeners, parent, deadline = set(), psutil.Process(proc.pid), time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            procs = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                listeners.update(
                    c.laddr.ip for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN
                )
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        time.sleep(0.05)
    out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), listeners


def _assert_one_line_error(stderr, *needles):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for leak in LEAKS:
        assert leak not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- subprocess: the tool as people run it ---------------------------------------------


@pytest.mark.subprocess
def test_fit_info_predict_leave_the_input_untouched(data_file, tmp_path):
    before = _fingerprint(data_file)
    model, labels = tmp_path / "model.h5", tmp_path / "labels.h5"

    done, listeners = _run(*_fit_args(data_file, model)[:-1])  # with the progress lines
    assert done.returncode == 0, done.stderr
    assert "3 components, 3 features, full covariances, float64" in done.stdout
    assert "EM iteration 1:" in done.stderr
    assert listeners == set(), "the default threaded run opens no socket"

    done, _ = _run("info", model)
    assert done.returncode == 0, done.stderr
    assert "streamgmm model file, format 1" in done.stdout and "converged" in done.stdout

    done, _ = _run("predict", model, data_file, "--dataset", "/points", "--out", labels, "--proba")
    assert done.returncode == 0, done.stderr
    gm = streamgmm.load(model)
    with h5py.File(data_file, "r") as f:
        X = f["points"][()]
    with h5py.File(labels, "r") as f:
        np.testing.assert_array_equal(f["labels"][()], gm.predict(X))
        np.testing.assert_allclose(f["proba"][()], gm.predict_proba(X), rtol=1e-12)
    assert _fingerprint(data_file) == before
    assert sorted(os.listdir(tmp_path)) == ["labels.h5", "model.h5"]  # no temporary files left


@pytest.mark.subprocess
def test_errors_are_one_line_without_traceback_and_debug_shows_it(data_file, tmp_path):
    done, _ = _run(*_fit_args(data_file, tmp_path / "m.h5", "--dataset", "/pointz"))
    assert done.returncode == 1
    _assert_one_line_error(done.stderr, "streamgmm fit: error:", "/pointz", "available:", "/points")
    assert done.stdout == ""

    done, _ = _run(*_fit_args(tmp_path / "nope.h5", tmp_path / "m.h5", "--debug"))
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "nope.h5" in done.stderr


@pytest.mark.subprocess
def test_help_through_the_entry_point():
    exe = shutil.which("streamgmm")
    if exe is None:
        pytest.skip("the streamgmm console script is not installed (pip install -e .)")
    done = subprocess.run([exe, "fit", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--covariance-type" in done.stdout


def _interrupt_after_first_iteration(argv):
    """Start ``python -m streamgmm ARGV``, send SIGINT after its first iteration line.

    The child gets SIGINT's default disposition back: a shell that starts this test run
    in the background (nohup, ``&``) sets SIGINT to ignored, which Python then keeps.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamgmm", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("EM iteration"):
            break
    children = psutil.Process(proc.pid).children(recursive=True)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + err, time.monotonic() - start, children


def _long_fit_args(tmp_path, *extra):
    data = tmp_path / "big.h5"
    with h5py.File(data, "w") as f:
        f["points"] = make_blobs(seed=4, n_per=100_000, d=2, k=3)
    return ["fit", data, "--dataset", "/points", "-k", "3", "--tol", "0", "--max-iter", "100000",
            "--out", tmp_path / "m.h5", *extra]  # fmt: skip


@pytest.mark.subprocess
def test_ctrl_c_exits_130_with_one_line_and_writes_nothing(tmp_path):
    status, stderr, seconds, _ = _interrupt_after_first_iteration(_long_fit_args(tmp_path))
    assert status == 130
    assert re.fullmatch(
        r"streamgmm fit: interrupted at iteration \d+", stderr.strip().splitlines()[-1]
    )
    assert "Traceback" not in stderr
    assert sorted(os.listdir(tmp_path)) == ["big.h5"]
    print(f"seconds from SIGINT to exit: {seconds:.2f}")


@pytest.mark.subprocess
@pytest.mark.parametrize("delay", [0.0, 0.15, 0.3, 0.6, 1.2])
def test_ctrl_c_at_any_moment_exits_130_with_one_line(tmp_path, delay):
    """SIGINT while the libraries load, the data are read or EM runs: exit 130 and one
    line on stderr, never a traceback. (The first ~50 ms are Python's own start-up, before
    any streamgmm code runs: a SIGINT there is Python's to report.)"""
    argv = _long_fit_args(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamgmm", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    lines = stderr.strip().splitlines()
    started = "/streamgmm/" in stderr or any(line.startswith("streamgmm") for line in lines)
    if not started:  # Ctrl-C in Python's own start-up, before any streamgmm code ran
        return
    assert proc.returncode == 130, stderr[-2000:]
    assert len(lines) == 1 and "interrupted" in lines[0], stderr[-2000:]
    assert not (tmp_path / "m.h5").exists()


def test_a_swallowed_ctrl_c_stops_the_progress_display_at_its_next_line():
    """Python can swallow the KeyboardInterrupt of a Ctrl-C (a finaliser, a ctypes
    callback): the initialisation then printed its pass lines until the fit's first
    callback (a CI run at delay 0.15 above). The CLI's progress stream raises it again at
    the main thread's next line, and drops other threads' lines."""
    import io
    import threading

    from streamgmm._data.progress import Progress, note
    from streamgmm.cli.output import InterruptibleStream, interrupt_requested

    shown = io.StringIO()
    try:
        with Progress(InterruptibleStream(shown), live=False):
            note("before", final=True)
            interrupt_requested.set()  # on_sigint ran, its exception went nowhere
            worker = threading.Thread(target=note, args=("from a worker", True))
            worker.start()
            worker.join()
            with pytest.raises(KeyboardInterrupt):
                note("after", final=True)
    finally:
        interrupt_requested.clear()
    assert "before" in shown.getvalue()
    assert "worker" not in shown.getvalue() and "after" not in shown.getvalue()


def test_out_equal_to_checkpoint_is_refused_before_reading(data_file, tmp_path, capsys):
    path = tmp_path / "same.h5"
    argv = _fit_args(data_file, path, "--checkpoint", str(path))
    assert cli.main(argv) == 2
    assert "--checkpoint and --out are the same file" in capsys.readouterr().err
    assert not path.exists()


@pytest.mark.subprocess
def test_ctrl_c_with_a_checkpoint_says_how_to_resume_and_resume_finishes(tmp_path):
    """P8 with --checkpoint: exit 130, the checkpoint loads, --resume reaches the fit of
    an uninterrupted run (same settings, a smaller --max-iter so it ends)."""
    ckpt = tmp_path / "fit.ckpt"
    base = [*_long_fit_args(tmp_path)[:-2], "--random-state", "0"]  # without --out
    status, stderr, _, _ = _interrupt_after_first_iteration(
        [*base, "--out", tmp_path / "m.h5", "--checkpoint", ckpt]
    )
    assert status == 130
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"streamgmm fit: interrupted at iteration \d+; resume with the same "
        rf"command and --resume \({re.escape(str(ckpt))} kept\)",
        last,
    ), last
    done = streamgmm.load(ckpt).n_iter_
    assert done >= 1 and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    limit = ["--max-iter", str(done + 3)]
    resumed, _ = _run(*base, "--checkpoint", ckpt, "--resume", *limit, "--out", tmp_path / "r.h5")
    assert resumed.returncode == 0, resumed.stderr
    whole, _ = _run(*base, *limit, "--out", tmp_path / "w.h5")
    assert whole.returncode == 0, whole.stderr
    a, b = streamgmm.load(tmp_path / "r.h5"), streamgmm.load(tmp_path / "w.h5")
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.n_iter_ == b.n_iter_ == done + 3


@pytest.mark.slow  # about 10 s of worker start-up
@pytest.mark.distributed
@pytest.mark.subprocess
def test_ctrl_c_closes_the_local_cluster(tmp_path):
    argv = _long_fit_args(tmp_path, "--workers", "2")
    status, stderr, _, children = _interrupt_after_first_iteration(argv)
    assert status == 130 and "Traceback" not in stderr, stderr
    assert children, "no worker processes were seen"
    psutil.wait_procs(children, timeout=10)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def _alive(procs):
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow  # worker start-up twice, about 30 s
@pytest.mark.distributed
@pytest.mark.subprocess
def test_sigkill_of_the_cluster_owner_leaves_no_orphans_and_resume_works(tmp_path):
    """P9: SIGKILL 'streamgmm fit --workers 2' once it has a checkpoint. Its workers are
    multiprocessing children of it that exit when their pipe from it closes (distributed's
    AsyncProcess), so none is left; the same command with --resume then finishes the fit."""
    ckpt = tmp_path / "fit.ckpt"
    base = [*_long_fit_args(tmp_path)[:-2], "--random-state", "0"]  # without --out
    argv = [*base, "--out", tmp_path / "m.h5", "--checkpoint", ckpt, "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamgmm", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc.stderr:
        for line in proc.stderr:
            if line.startswith("EM iteration") and ckpt.exists():
                break
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait(timeout=30)
    killed = time.monotonic()
    gone = None
    while time.monotonic() < killed + 5:
        time.sleep(0.05)
        if gone is None and not _alive(children):
            gone = time.monotonic() - killed
    orphans = _alive(children)
    when = "still running" if gone is None else f"all gone {gone:.2f} s after the kill"
    print(
        f"P9: {len(children)} processes under the killed CLI; after 5 s, {len(orphans)} "
        f"left ({when})"
    )
    assert len(children) >= 2 and not orphans, [c.cmdline() for c in orphans]

    done = streamgmm.load(ckpt).n_iter_
    limit = ["--max-iter", str(done + 2)]
    resume = [*base, "--checkpoint", ckpt, "--resume", *limit, "--workers", "2"]
    resumed, _ = _run(*resume, "--out", tmp_path / "r.h5")
    assert resumed.returncode == 0, resumed.stderr
    whole, _ = _run(*base, *limit, "--out", tmp_path / "w.h5")
    assert whole.returncode == 0, whole.stderr
    a, b = streamgmm.load(tmp_path / "r.h5"), streamgmm.load(tmp_path / "w.h5")
    assert a.n_iter_ == b.n_iter_ == done + 2
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)


@pytest.mark.distributed
@pytest.mark.subprocess
def test_workers_listen_on_loopback_only(data_file, tmp_path):
    done, listeners = _run(*_fit_args(data_file, tmp_path / "m.h5", "--workers", "2"))
    assert done.returncode == 0, done.stderr
    # the dashboard's link only where the scheduler serves it (bokeh, the distributed extra)
    line = next(x for x in done.stderr.splitlines() if "local worker processes" in x)
    assert "2 local worker processes x " in line
    if _dashboard_served():
        assert re.search(r"dashboard http://127\.0\.0\.1:\d+/status", line), line
    else:
        assert line.endswith(
            'no dashboard (it needs bokeh: python -m pip install "streamgmm[distributed]")'
        )
    assert listeners, "the LocalCluster's sockets were not seen"
    assert listeners <= {"127.0.0.1"}, listeners
    local = streamgmm.load(tmp_path / "m.h5")
    assert local.n_iter_ > 0


def _dashboard_served():
    try:
        import distributed.dashboard.scheduler  # noqa: F401 - needs bokeh
    except ImportError:
        return False
    return True


# -- F8: an input that a killed writer left half written ---------------------------------

PARTIAL_WRITER = """\
import sys
import h5py
import numpy as np
path, n_rows, written, chunk_rows = sys.argv[1], *map(int, sys.argv[2:])
f = h5py.File(path, "w")
ds = f.create_dataset("points", shape=(n_rows, 3), chunks=(chunk_rows, 3), dtype="f8")
ds[:written] = np.random.RandomState(0).randn(written, 3)
f.flush()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def partial_file(tmp_path_factory):
    """/points of 10,000 rows in 1,000-row chunks: a child writes the first 5,000, flush()es,
    and is SIGKILLed. Returns the path and the true share of rows written."""
    path = tmp_path_factory.mktemp("partial") / "partial.h5"
    n_rows, written = 10_000, 5_000
    child = subprocess.Popen(
        [sys.executable, "-c", PARTIAL_WRITER, str(path), str(n_rows), str(written), "1000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline().strip() == b"ready"
    finally:
        child.kill()  # SIGKILL: no close(), as a crashed writer leaves the file
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return path, written / n_rows


def test_info_reports_the_share_of_chunks_written(partial_file, capsys):
    path, truth = partial_file
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not a streamgmm model file" in out
    reported = float(re.search(r"/points +10,000 x 3 float64, .*chunks written ([\d.]+)%", out)[1])
    print(f"F8: info reports chunks written {reported:.1f}%, truth {100 * truth:.1f}% of rows")
    assert reported == pytest.approx(100 * truth)


@pytest.mark.filterwarnings("default::streamgmm.PartialFileWarning")
def test_fit_warns_on_a_partly_written_input(partial_file, tmp_path, capsys):
    path, _ = partial_file
    assert cli.main(_fit_args(path, tmp_path / "m.h5")) == 0
    err = capsys.readouterr().err
    assert "streamgmm: warning:" in err and "only 50.0% of its chunks are written" in err


@pytest.mark.subprocess
def test_fit_strict_refuses_a_partly_written_input(partial_file, tmp_path):
    path, _ = partial_file
    before = _fingerprint(path)
    done, _ = _run(*_fit_args(path, tmp_path / "m.h5", "--strict"))
    assert done.returncode == 1
    _assert_one_line_error(
        done.stderr, "streamgmm fit: error:", str(path), "only 50.0% of its chunks", "--strict"
    )
    assert done.stdout == "" and not (tmp_path / "m.h5").exists()
    assert _fingerprint(path) == before


@pytest.mark.parametrize("command", ["predict", "select"])
def test_predict_and_select_strict_refuse_it_too(
    partial_file, model_file, tmp_path, capsys, command
):
    path, _ = partial_file
    before = _fingerprint(path)
    head = ["predict", str(model_file)] if command == "predict" else ["select"]
    k = [] if command == "predict" else ["-k", "1..2"]
    argv = [*head, str(path), "--dataset", "/points", *k, "--out", str(tmp_path / "o.h5")]
    assert cli.main([*argv, "--strict"]) == 1
    _assert_one_line_error(capsys.readouterr().err, f"streamgmm {command}: error:", "--strict")
    assert not (tmp_path / "o.h5").exists() and _fingerprint(path) == before


# -- in process: every refused case ------------------------------------------------------


@pytest.mark.parametrize("command", (None, *COMMANDS))
def test_help_for_each_command(capsys, command):
    argv = ["--help"] if command is None else [command, "--help"]
    assert cli.main(argv) == 0
    assert "usage: streamgmm" in capsys.readouterr().out


def test_out_equal_to_the_input_is_refused(data_file, capsys):
    before = _fingerprint(data_file)
    relative = os.path.relpath(data_file)
    assert cli.main(_fit_args(data_file, relative, "--force")) == 1
    _assert_one_line_error(capsys.readouterr().err, "is the input", "never overwritten")
    assert _fingerprint(data_file) == before


def test_predict_out_equal_to_the_model_is_refused(data_file, model_file, capsys):
    argv = ["predict", str(model_file), str(data_file), "--dataset", "/points"]
    assert cli.main([*argv, "--out", str(model_file), "--force"]) == 1
    _assert_one_line_error(capsys.readouterr().err, "is the input")


def test_existing_out_needs_force(data_file, tmp_path, capsys):
    out = tmp_path / "model.h5"
    out.write_text("precious")
    assert cli.main(_fit_args(data_file, out)) == 1
    _assert_one_line_error(capsys.readouterr().err, "already exists", "--force")
    assert out.read_text() == "precious"
    assert cli.main(_fit_args(data_file, out, "--force")) == 0
    assert streamgmm.load(out).n_components == 3


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit", "{data}", "--dataset", "/points", "-k", "2", "--out", "{tmp}/no/m.h5"],
         "does not exist"),
        (["fit", "{tmp}", "--dataset", "/points", "-k", "2", "--out", "{tmp}/m.h5"],
         "is a directory"),
        (["fit", "{data}", "--dataset", "/grp", "-k", "2", "--out", "{tmp}/m.h5"], "is a group"),
        (["fit", "{data}", "--dataset", "/labels", "-k", "2", "--out", "{tmp}/m.h5"],
         "expected 2-D"),
        (["fit", "{data}", "--dataset", "/points", "-k", "2", "--out", "{tmp}"], "is a folder"),
        (["info", "{text}"], "not an HDF5 file"),
        (["predict", "{model}", "{other}", "--dataset", "/points", "--out", "{tmp}/l.h5"],
         "X has 2 features, but GaussianMixture is expecting 3"),
        (["demo", "--size", "lots", "--out", "{tmp}/d"], "is not a size"),
    ],
    ids=["no-folder", "data-dir", "group", "1-d", "out-dir", "info-text", "features", "size"],
)  # fmt: skip
def test_errors_exit_1_with_one_line(data_file, model_file, tmp_path, capsys, argv, needle):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["points"] = np.zeros((10, 2))
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    values = {"data": data_file, "tmp": tmp_path, "model": model_file, "other": other, "text": text}
    assert cli.main([a.format(**values) for a in argv]) == 1
    _assert_one_line_error(capsys.readouterr().err, needle)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit", "{data}", "--dataset", "/points", "--out", "m.h5"], "required: -k"),
        (["fit", "{data}", "--dataset", "/points", "-k", "0", "--out", "m.h5"], ">= 1"),
        (["fit", "{data}", "--dataset", "/points", "-k", "2", "--out", "m.h5",
          "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed with"),
        (["select", "{data}", "--dataset", "/points", "-k", "5..2"], "ranges go up"),
        (["select", "{data}", "--dataset", "/points", "-k", "a..b"], "expected numbers"),
        (["frobnicate"], "invalid choice"),
    ],
    ids=["no-k", "k-0", "both-clusters", "range-down", "range-words", "command"],
)  # fmt: skip
def test_usage_errors_exit_2(data_file, capsys, argv, needle):
    assert cli.main([a.format(data=data_file) for a in argv]) == 2
    _assert_one_line_error(capsys.readouterr().err, needle)


def test_checkpoint_is_written_and_loads_as_the_model(data_file, tmp_path):
    argv = _fit_args(data_file, tmp_path / "m.h5", "--checkpoint", str(tmp_path / "c.h5"))
    assert cli.main(argv) == 0
    saved, checkpoint = streamgmm.load(tmp_path / "m.h5"), streamgmm.load(tmp_path / "c.h5")
    np.testing.assert_array_equal(saved.means_, checkpoint.means_)


def test_paths_with_spaces_and_unicode(data_file, tmp_path, capsys):
    folder = tmp_path / "données à part"
    folder.mkdir()
    data = folder / "my data.h5"
    shutil.copy(data_file, data)
    out = folder / "modèle 1.h5"
    assert cli.main(_fit_args(data, out)) == 0
    assert cli.main(["info", str(out)]) == 0
    assert str(out) in capsys.readouterr().out


def test_select_prints_the_table_and_saves_the_best(data_file, tmp_path, capsys):
    best, plot = tmp_path / "best.h5", tmp_path / "bic.png"
    argv = ["select", str(data_file), "--dataset", "/points", "-k", "1..2,4", "--random-state",
            "0", "--no-progress", "--out", str(best), "--plot", str(plot)]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 4]
    bics = {int(r[0]): float(r[1]) for r in rows}
    k_best = min(bics, key=bics.get)
    assert f"best by BIC: K={k_best}" in out
    gm = streamgmm.load(best)
    with h5py.File(data_file, "r") as f:
        X = f["points"][()]
    assert gm.n_components == k_best
    assert gm.bic(X) == pytest.approx(bics[k_best], rel=1e-9, abs=0.01)
    if _has_matplotlib():  # BIC on the left, AIC on the right: neither hides the other
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        blue, orange = colour_pixels(plot, "C0"), colour_pixels(plot, "C1")
        assert blue[0] > 500 and orange[1] > 500, (blue, orange)
        assert blue[1] < 100 and orange[0] < 100, (blue, orange)
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "text, ks",
    [("3", [3]), ("1..4", [1, 2, 3, 4]), ("2,4,8", [2, 4, 8]), ("1..3,2,6", [1, 2, 3, 6])],
)
def test_parse_components(text, ks):
    assert cli.parse_components(text) == ks


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: streamgmm" in capsys.readouterr().out


@pytest.mark.subprocess
def test_the_user_guide_shows_the_current_help():
    """docs/user-guide.md's --help blocks are what the commands print (regenerate them with
    python tools/regen_cli_help.py)."""
    import importlib.util

    tool = Path(__file__).resolve().parents[2] / "tools" / "regen_cli_help.py"
    spec = importlib.util.spec_from_file_location("regen_cli_help", tool)
    regen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regen)
    text = regen.GUIDE.read_text()
    assert regen.regenerate(text) == text, "run: python tools/regen_cli_help.py"
