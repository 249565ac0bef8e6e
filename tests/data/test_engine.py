"""Which engine runs a pass: compiled kernels when ready, NumPy while compiling does not pay."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import streamgmm
from streamgmm._data import engine


@pytest.fixture
def auto(monkeypatch):
    """The ``auto`` engine with an empty ledger."""
    monkeypatch.setenv("STREAMGMM_ENGINE", "auto")
    monkeypatch.setattr(engine, "_spent", {})


def _unready_probe():
    """A kernel never compiled (defined here, no cache) and its example arguments."""

    @numba.njit
    def kernel(x):
        return x.sum()

    return kernel, (np.ones(3),)


def test_ready_means_compiled_or_cached():
    kernel, args = _unready_probe()
    assert not engine.ready(kernel, args)
    assert not kernel.signatures  # asking did not compile it
    kernel(*args)
    assert engine.ready(kernel, args)
    assert not engine.ready(kernel, (np.ones((2, 2)),))  # another signature is not


def test_rent_numpy_until_it_would_cost_the_compile(auto, monkeypatch):
    """Ski rental: NumPy while the NumPy time spent on a family stays under its compile
    time, then the kernels; the decision depends on estimated costs, not on the clock."""
    monkeypatch.setitem(engine.COMPILE_SECONDS, "full", 1.0)
    probe = _unready_probe()
    picks = [engine.choose("full", [probe], 0.3) for _ in range(5)]
    assert picks == [engine.NUMPY] * 3 + [engine.NUMBA] * 2
    assert engine.choose("diag", [probe], 0.3) == engine.NUMPY  # its own ledger
    assert engine.choose("infer", [probe], 10.0) == engine.NUMBA  # too large to rent


def test_ready_kernels_distributed_and_forced_engines(auto, monkeypatch):
    kernel, args = _unready_probe()
    kernel(*args)
    assert engine.choose("full", [(kernel, args)], 0.1) == engine.NUMBA
    unready = _unready_probe()
    assert engine.choose("full", [unready], 0.1, distributed=True) == engine.NUMBA
    monkeypatch.setenv("STREAMGMM_ENGINE", "numpy")
    assert engine.choose("full", [(kernel, args)], 100.0) == engine.NUMPY
    monkeypatch.setenv("STREAMGMM_ENGINE", "NumBa")
    assert engine.choose("full", [unready], 0.1) == engine.NUMBA
    monkeypatch.setenv("STREAMGMM_ENGINE", "fast")
    with pytest.raises(ValueError, match="STREAMGMM_ENGINE must be 'auto', 'numba' or 'numpy'"):
        engine.choose("full", [unready], 0.1)


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8", "int16"])
def test_examples_are_typed_as_the_blocks_are(dtype):
    """A big-endian or integer input is probed with the dtype its blocks run in."""
    from streamgmm._data.blocks import as_kernel_array

    X, w = engine.example(dtype, 3)
    assert X.dtype == as_kernel_array(np.zeros((1, 3), dtype=dtype)).dtype
    assert not X.flags.writeable and not w.flags.writeable


def test_the_estimated_costs_grow_with_the_pass():
    small = engine.numpy_seconds("full", 200, 3, 2)
    assert small < 1e-3
    assert engine.numpy_seconds("full", 20_000, 16, 16) > 100 * small
    big = engine.numpy_seconds("full", 10_000_000, 16, 16)
    assert big > engine.COMPILE_SECONDS["full"]  # a big pass compiles at once


COLD = r"""
import json, sys, warnings
import numpy as np
from numba.core import event
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Listener())
import streamgmm
from streamgmm import _kernels as kernels
X = np.load(sys.argv[1])
warnings.simplefilter("ignore")
gm = streamgmm.GaussianMixture(4, random_state=0, max_iter=5).fit(X)
score = gm.score(X)
loaded = [f.py_func.__name__ for f in (kernels.fused.tile_block, kernels.fused_infer)
          if f.signatures]
print(json.dumps({"compiled": compiled, "loaded": loaded, "score": score,
                  "means": gm.means_.tolist()}))
"""


@pytest.mark.subprocess
def test_a_first_small_fit_compiles_nothing_and_a_cached_kernel_is_used(tmp_path):
    """Empty Numba cache: a small fit and its score run on NumPy and compile nothing; once
    a process has compiled the kernels into the cache, the next one loads and runs them.
    Both give the in-process fit's model to rounding."""
    X = np.random.RandomState(0).randn(3000, 5) + np.random.RandomState(1).randint(0, 4, (3000, 1))
    np.save(tmp_path / "x.npy", X)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("STREAMGMM_NO_CACHE", None)

    def run(engine_name):
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(tmp_path / "x.npy")], capture_output=True,
            text=True, check=True, env=dict(env, STREAMGMM_ENGINE=engine_name), timeout=300,
        )  # fmt: skip
        return json.loads(out.stdout)

    want = streamgmm.GaussianMixture(4, random_state=0, max_iter=5).fit(X)
    cold = run("auto")
    assert cold["compiled"] == [] and cold["loaded"] == []
    run("numba")  # compiles into the cache
    warm = run("auto")
    assert warm["compiled"] == []
    assert warm["loaded"] == ["tile_block", "fused_infer"]
    for result in (cold, warm):
        np.testing.assert_allclose(result["means"], want.means_, rtol=1e-10)
        assert result["score"] == pytest.approx(want.score(X), rel=1e-12)
