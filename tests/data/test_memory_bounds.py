"""Memory stays bounded: peak memory of an out-of-core fit depends on the blocks, not on n
(issue 5), and a fit completes under an address-space limit smaller than the file (R1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import write_points

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.subprocess

PROBE = r"""
import json, sys, threading, time, warnings
import numpy as np
import streamgmm

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")

def fit(path):
    X = streamgmm.read_hdf5(path, "points", chunk_rows=4096)
    gm = streamgmm.GaussianMixture(4, covariance_type="full", max_iter=3, tol=0.0,
                                   init_params="random_from_data", random_state=0,
                                   cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)

fit(sys.argv[1])                      # warm-up: imports, compilation, thread pool
baseline = rss_anon()
peak = [baseline]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.002)
t = threading.Thread(target=sample); t.start()
fit(sys.argv[2])
stop.set(); t.join()
print(json.dumps({"growth": peak[0] - baseline, "baseline": baseline}))
"""


def write(path, n, d=8, seed=0):
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", chunks=(4096, d))
        for i in range(0, n, 65536):
            m = min(65536, n - i)
            ds[i : i + m] = rng.randn(m, d) + (rng.randint(0, 4, m)[:, None] * 4.0)


def growth(warm, target):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(warm), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["growth"]


def test_peak_memory_does_not_grow_with_n(tmp_path):
    small, large = tmp_path / "small.h5", tmp_path / "large.h5"
    write(small, 100_000)  # 6.4 MB
    write(large, 800_000)  # 51 MB
    g_small, g_large = growth(small, small), growth(small, large)
    print(
        f"anonymous memory growth: {g_small / 1e6:.1f} MB (6.4 MB file), "
        f"{g_large / 1e6:.1f} MB (51 MB file)"
    )
    # Blocks are 4096 rows x 8 columns (262 KB); a few dozen in flight at most.
    assert g_large - g_small < 16e6
    assert g_large < 0.5 * 51.2e6


# Warm up (imports, compiled kernels, thread pool), then cap the address space at what
# the process already maps plus HEADROOM, and fit a file larger than the headroom.
LIMITED_FIT = r"""
import json, resource, sys, warnings
import h5py, numpy as np
import streamgmm

def vm(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

def fit(path, memory_limit):
    k, d = 4, 8
    means = np.arange(k * d, dtype=float).reshape(k, d) % 5
    start = dict(weights_init=np.full(k, 1 / k), means_init=means, precisions_init=np.ones((k, d)))
    gm = streamgmm.GaussianMixture(k, covariance_type="diag", max_iter=2, tol=0.0,
                                   memory_limit=memory_limit, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(streamgmm.read_hdf5(path, "points", chunk_rows=8192))

small, big, headroom, memory_limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fit(small, memory_limit)
with open("/proc/self/clear_refs", "w") as f:  # reset the peak: compiling kernels in the
    f.write("5")  # warm-up (a cold Numba cache) peaks far above what the fit then needs
base_vm, base_rss = vm("VmSize"), vm("VmRSS")
limit = base_vm + headroom
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:  # what an in-memory fit would have to do first
    with h5py.File(big, "r") as f:
        f["points"][:]
    whole = "read"
except MemoryError:
    whole = "MemoryError"
out = dict(whole=whole, base_rss=base_rss, headroom=headroom)
try:
    out["n_iter"] = fit(big, memory_limit).n_iter_
except MemoryError as exc:
    out["error"] = str(exc)[:300]
out["peak"] = vm("VmHWM")  # the peak since the reset, unlike ru_maxrss
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    "memory_limit",
    ["64MiB", "auto"],  # "auto": half of what RLIMIT_AS leaves (_data.budget._address_space_left)
)
def test_fit_under_an_address_space_limit(tmp_path, memory_limit):
    """R1 (CI size): 32 MiB of address space beyond the warmed-up process fits a 64 MB file,
    which cannot even be read whole under that limit."""
    small, big = tmp_path / "small.h5", tmp_path / "big.h5"
    write_points(small, 20_000)
    write_points(big, 1_000_000)  # 64 MB
    headroom = 32 * 2**20
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_FIT, str(small), str(big), str(headroom), memory_limit],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    size = big.stat().st_size
    print(
        f"R1 (CI): {size / 1e6:.0f} MB file, RLIMIT_AS = warmed-up VmSize + "
        f"{headroom / 2**20:.0f} MiB, memory_limit={memory_limit!r}: whole read -> "
        f"{res['whole']}, fit -> {res.get('error') or 'completed'}; peak RSS "
        f"{res['peak'] / 1e6:.0f} MB ({(res['peak'] - res['base_rss']) / 1e6:.1f} MB over the "
        "warmed-up process)"
    )
    assert res["whole"] == "MemoryError"  # the limit is tight: no in-memory fit possible
    assert "error" not in res and res["n_iter"] == 2
    assert res["peak"] - res["base_rss"] < headroom < size
