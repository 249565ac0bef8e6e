"""benchmarks/bench_bgm.py runs end to end at a tiny size (no timing is asserted, only that
it prints its table and that both estimators match scikit-learn's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_bgm_smoke(tmp_path):
    out_json = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_bgm.py"), "--quick", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line[:3] in ("W1 ", "W4 ") and "|" in line]
    assert len(rows) == 4 and sum("BayesianGaussianMixture |" in r for r in rows) == 2
    for result in json.loads(out_json.read_text()).values():
        for model in ("gm", "bgm"):
            assert max(result[model]["diffs"].values()) < 1e-8
