"""Never lose finished work: checkpoints, resume, interrupts (issue 8, RELIABILITY 7.4)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm._io.checkpoint import read_checkpoint

from conftest import FITTED, make_blobs

SETTINGS = dict(n_components=3, n_init=2, random_state=0, max_iter=40, tol=1e-9, chunk_size=128)


def quiet(gm, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, **kw)


def assert_identical(a, b):
    for name in (*FITTED, "n_iter_", "converged_", "lower_bound_", "lower_bounds_"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))


@pytest.fixture
def data():
    return make_blobs(seed=50, n_per=300, d=3)


def interrupt_at(n):
    def callback(info):
        if info.n_iter == n and info.init == 1:
            raise KeyboardInterrupt

    return callback


def test_interrupt_keeps_the_last_iteration_and_resume_is_bitwise(data, tmp_path):
    ckpt = tmp_path / "fit.ckpt.h5"
    whole = quiet(streamgmm.GaussianMixture(**SETTINGS), data)
    gm = streamgmm.GaussianMixture(**SETTINGS)
    with pytest.raises(KeyboardInterrupt):
        quiet(gm, data, checkpoint=ckpt, callback=interrupt_at(5))
    # The estimator and the checkpoint hold the last finished iteration (the 5th: the
    # interrupt came from the callback, after the M-steps), flagged not converged.
    assert gm.n_iter_ == 5 and gm.converged_ is False
    assert [p.name for p in tmp_path.iterdir()] == [ckpt.name]
    _, state = read_checkpoint(ckpt, streamgmm.GaussianMixture().get_params())
    assert [r.n_iter for r in state.runs] == [5, 5] and not state.finished
    np.testing.assert_array_equal(streamgmm.load(ckpt).means_, gm.means_)
    resumed = quiet(streamgmm.GaussianMixture(**SETTINGS), data, checkpoint=ckpt, resume=True)
    assert_identical(resumed, whole)
    _, state = read_checkpoint(ckpt, streamgmm.GaussianMixture().get_params())
    assert state.finished


def test_resume_of_a_finished_fit_and_a_longer_max_iter(data, tmp_path):
    ckpt = tmp_path / "c.h5"
    short = dict(SETTINGS, max_iter=6)
    quiet(streamgmm.GaussianMixture(**short), data, checkpoint=ckpt)
    again = quiet(streamgmm.GaussianMixture(**short), data, checkpoint=ckpt, resume=True)
    assert again.n_iter_ == 6
    longer = quiet(streamgmm.GaussianMixture(**SETTINGS), data, checkpoint=ckpt, resume=True)
    assert_identical(longer, quiet(streamgmm.GaussianMixture(**SETTINGS), data))


def test_resume_is_refused_for_other_settings_or_data(data, tmp_path):
    ckpt = tmp_path / "c.h5"
    quiet(streamgmm.GaussianMixture(**dict(SETTINGS, max_iter=3)), data, checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings; only max_iter, tol"):
        streamgmm.GaussianMixture(**dict(SETTINGS, covariance_type="diag")).fit(
            data, checkpoint=ckpt, resume=True
        )
    with pytest.raises(ValueError, match="other data: its content"):
        streamgmm.GaussianMixture(**SETTINGS).fit(data + 1.0, checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="other data: its shape"):
        streamgmm.GaussianMixture(**SETTINGS).fit(data[:-1], checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="other settings"):
        streamgmm.GaussianMixture(**dict(SETTINGS, chunk_size=100)).fit(
            data, checkpoint=ckpt, resume=True
        )
    import dask.array as da

    dask_ckpt = tmp_path / "d.h5"
    kw = dict(SETTINGS, max_iter=3)
    quiet(streamgmm.GaussianMixture(**kw), da.from_array(data, chunks=100), checkpoint=dask_ckpt)
    with pytest.raises(ValueError, match="other data: its block boundaries"):
        streamgmm.GaussianMixture(**kw).fit(
            da.from_array(data, chunks=150), checkpoint=dask_ckpt, resume=True
        )
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        streamgmm.GaussianMixture(**SETTINGS).fit(data, checkpoint=tmp_path / "x.h5", resume=True)
    with pytest.raises(ValueError, match="needs checkpoint=PATH"):
        streamgmm.GaussianMixture(**SETTINGS).fit(data, resume=True)


def test_resume_refuses_a_modified_file(data, tmp_path):
    path, ckpt = tmp_path / "d.h5", tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data)
    X = streamgmm.read_hdf5(path, "x")
    quiet(streamgmm.GaussianMixture(**dict(SETTINGS, max_iter=3)), X, checkpoint=ckpt)
    with h5py.File(path, "a") as f:
        f["x"][0, 0] += 1.0
    with pytest.raises(ValueError, match="other data: its input files"):
        streamgmm.GaussianMixture(**SETTINGS).fit(
            streamgmm.read_hdf5(path, "x"), checkpoint=ckpt, resume=True
        )


KILLED_FIT = r"""
import os, sys, warnings
import numpy as np
import streamgmm
sys.path[:0] = [sys.argv[3], os.path.dirname(sys.argv[3])]  # this folder, and tests/
from conftest import make_blobs
from test_resume import SETTINGS
X = make_blobs(seed=50, n_per=300, d=3)
warnings.simplefilter("ignore")
def tick(info):
    print(info.init, info.n_iter, flush=True)
gm = streamgmm.GaussianMixture(**SETTINGS)
gm.fit(X, checkpoint=sys.argv[1], resume=sys.argv[2] == "resume", callback=tick)
np.save(sys.argv[1] + ".means.npy", gm.means_)
print("done", flush=True)
"""


def run_fit(ckpt, mode, kill_after=None):
    tests = os.path.dirname(__file__)
    cmd = [sys.executable, "-c", KILLED_FIT, str(ckpt), mode, tests]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        return out
    deadline = time.time() + 120
    while not os.path.exists(ckpt) and time.time() < deadline:  # a first checkpoint, then
        time.sleep(0.005)  # a kill at a random moment of the iterations that follow
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return None


@pytest.mark.parametrize("trial", range(3))
@pytest.mark.subprocess
def test_sigkill_then_resume_matches_the_uninterrupted_fit(data, tmp_path, trial):
    """P1: SIGKILL at a seeded random moment; the checkpoint loads; the resume is bitwise."""
    whole = quiet(streamgmm.GaussianMixture(**SETTINGS), data)
    ckpt = tmp_path / "k.h5"
    run_fit(ckpt, "fresh", kill_after=random.Random(trial).uniform(0.0, 0.4))
    record, state = read_checkpoint(
        ckpt, streamgmm.GaussianMixture().get_params()
    )  # loadable after any kill
    done = max(r.n_iter for r in state.runs)
    out = run_fit(ckpt, "resume")
    assert out.strip().endswith("done")
    np.testing.assert_array_equal(np.load(str(ckpt) + ".means.npy"), whole.means_)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    print(f"trial {trial}: killed after iteration {done}, resumed to {whole.n_iter_}")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_second_fit_on_a_checkpoint_in_use_is_refused(tmp_path):
    """The running fit keeps its checkpoint and its temporary files; the second is refused
    at once, before it initialises anything."""
    X = make_blobs(seed=50, n_per=300, d=3)
    ckpt = tmp_path / "shared.h5"
    inside, release, errors = threading.Event(), threading.Event(), []

    def hold(info):
        inside.set()
        release.wait(60)

    def first():
        try:
            streamgmm.GaussianMixture(3, random_state=0, max_iter=2, tol=0.0).fit(
                X, checkpoint=ckpt, callback=hold
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(60)
        stray = tmp_path / f".{ckpt.name}.tmp-stray.tmp"  # looks like a temporary of ours
        stray.write_bytes(b"")
        with pytest.raises(streamgmm.CheckpointInUseError, match="in use by another running fit"):
            streamgmm.GaussianMixture(3, random_state=1).fit(X, checkpoint=ckpt)
        assert stray.exists()  # not removed while the first fit holds the path
    finally:
        release.set()
        thread.join(60)
    assert not errors, errors
    assert streamgmm.load(ckpt).n_iter_ == 2
    streamgmm.GaussianMixture(3, random_state=1, max_iter=1).fit(X, checkpoint=ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.h5"]  # stray and lock gone
