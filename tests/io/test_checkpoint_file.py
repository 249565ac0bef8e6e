"""Checkpoint files: a model file plus the state of the fit, written atomically (P2)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import streamgmm
from streamgmm._estimator import FITTED_ATTRIBUTES
from streamgmm._fit.checkpointing import settings_digest
from streamgmm._io.checkpoint import (
    CheckpointState,
    RunState,
    checkpoint_lock,
    read_checkpoint,
    write_checkpoint,
)
from streamgmm._io.modelfile import ModelRecord

from conftest import make_blobs

DEFAULTS = streamgmm.GaussianMixture().get_params()


def fitted():
    X = make_blobs(seed=40)
    return streamgmm.GaussianMixture(3, random_state=0, n_init=2).fit(X)


def record(gm):
    """The model record a fit's checkpoint stores for ``gm``."""
    return ModelRecord(gm.get_params(), {name: getattr(gm, name) for name in FITTED_ATTRIBUTES})


def state(gm, n_iter=7, **kw):
    run = RunState(
        params={
            "weights": gm.weights_,
            "means": gm.means_,
            "covariances": gm.covariances_,
            "precisions_cholesky": gm.precisions_cholesky_,
        },
        lower_bound=gm.lower_bound_,
        lower_bounds=[float(b) for b in np.linspace(-5.0, gm.lower_bound_, n_iter)],
        n_iter=n_iter,
        converged=False,
        init=1,
    )
    base = dict(
        runs=[run, RunState(**{**run.__dict__, "init": 2, "converged": True})],
        rng_state=np.random.RandomState(5).get_state(),
        data_identity={"shape": [600, 3]},
        settings_digest=settings_digest(gm.get_params()),
    )
    base.update(kw)
    return CheckpointState(**base)


def test_round_trip_and_loadable_as_a_model(tmp_path):
    gm = fitted()
    path = tmp_path / "ckpt.h5"
    s = state(gm, finished=True, extra={"note": "x"})
    write_checkpoint(path, record(gm), s)
    _, got = read_checkpoint(path, DEFAULTS)
    for name in ("data_identity", "settings_digest", "extra", "finished"):
        assert getattr(got, name) == getattr(s, name), name
    assert len(got.runs) == 2
    for want, have in zip(s.runs, got.runs, strict=True):
        for name in ("lower_bound", "lower_bounds", "n_iter", "converged", "init"):
            assert getattr(have, name) == getattr(want, name), name
        for key, value in want.params.items():
            np.testing.assert_array_equal(have.params[key], value)
    rs = np.random.RandomState()
    rs.set_state(got.rng_state)
    np.testing.assert_array_equal(
        rs.randint(0, 2**31, 5), np.random.RandomState(5).randint(0, 2**31, 5)
    )
    loaded = streamgmm.load(path)
    np.testing.assert_array_equal(loaded.means_, gm.means_)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.h5"]  # no temporary left


def test_settings_digest_ignores_only_resumable_settings():
    gm = streamgmm.GaussianMixture(3)
    d = settings_digest(gm.get_params())
    assert settings_digest(gm.set_params(max_iter=7, tol=1e-9).get_params()) == d
    assert settings_digest(gm.set_params(covariance_type="diag").get_params()) != d
    assert settings_digest(gm.set_params(means_init=np.zeros((3, 2))).get_params()) != d


def test_a_plain_model_file_is_not_a_checkpoint(tmp_path):
    gm = fitted()
    gm.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="field 'checkpoint' is missing"):
        read_checkpoint(tmp_path / "m.h5", DEFAULTS)


# The fault is injected from outside the library: os.replace, which the atomic writer calls
# once the temporary file is written and fsynced, kills the process instead.
KILL_DURING_WRITE = r"""
import os, signal, sys
sys.path[:0] = [sys.argv[2], os.path.dirname(sys.argv[2])]  # this folder, and tests/
from test_checkpoint_file import fitted, record, state
from streamgmm._io.checkpoint import write_checkpoint
gm = fitted()
write_checkpoint(sys.argv[1], record(gm), state(gm, n_iter=1))
gm.means_ = gm.means_ + 1.0
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
write_checkpoint(sys.argv[1], record(gm), state(gm, n_iter=2))
"""


@pytest.mark.subprocess
def test_sigkill_between_write_and_rename_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.h5"
    tests = os.path.dirname(__file__)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_DURING_WRITE, str(path), tests],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    _, got = read_checkpoint(path, DEFAULTS)
    assert got.runs[0].n_iter == 1
    np.testing.assert_array_equal(streamgmm.load(path).means_, fitted().means_)
    assert len(list(tmp_path.iterdir())) == 2  # the killed writer's temporary
    with checkpoint_lock(path):  # the next fit on this path removes it
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.h5"]
