"""Missing values keep memory flat in n (issue 18): an out-of-core fit with ``missing="em"``
and the imputation written back block by block grow by what the blocks take, not by n."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.subprocess

PROBE = r"""
import json, sys, threading, time, warnings
import streamgmm

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")

def run(path, out):
    X = streamgmm.read_hdf5(path, "points", chunk_rows=4096)
    gm = streamgmm.GaussianMixture(4, covariance_type="full", max_iter=3, tol=0.0,
                                   init_params="random_from_data", random_state=0,
                                   cache=False, missing="em")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    streamgmm.write_hdf5(gm.impute(X), out, "points", overwrite=True)

run(sys.argv[1], sys.argv[3])         # warm-up: imports, compilation, thread pool
baseline = rss_anon()
peak = [baseline]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.002)
t = threading.Thread(target=sample); t.start()
run(sys.argv[2], sys.argv[3])
stop.set(); t.join()
print(json.dumps({"growth": peak[0] - baseline}))
"""


def write(path, n, d=8, seed=0):
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", chunks=(4096, d))
        for i in range(0, n, 65536):
            m = min(65536, n - i)
            X = rng.randn(m, d) + (rng.randint(0, 4, m)[:, None] * 4.0)
            X[rng.random_sample(X.shape) < 0.1] = np.nan
            ds[i : i + m] = X


def growth(warm, target, out):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(warm), str(target), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["growth"]


def test_peak_memory_with_missing_values_does_not_grow_with_n(tmp_path):
    small, large = tmp_path / "small.h5", tmp_path / "large.h5"
    write(small, 100_000)  # 6.4 MB
    write(large, 800_000)  # 51 MB
    out = tmp_path / "imputed.h5"
    g_small, g_large = growth(small, small, out), growth(small, large, out)
    print(
        f"missing='em', fit and impute: anonymous memory growth {g_small / 1e6:.1f} MB "
        f"(6.4 MB file), {g_large / 1e6:.1f} MB (51 MB file)"
    )
    assert g_large - g_small < 16e6
    assert g_large < 0.5 * 51.2e6
