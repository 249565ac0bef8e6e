"""benchmarks/bench_missing.py runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_missing.py"


def test_bench_missing_smoke(tmp_path):
    png = tmp_path / "mar.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "all", "--quick", "--plot", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    cost = [line for line in lines if line.startswith(("| 0% ", "| 1% ", "| 10% | 1"))]
    assert len(cost) == 3 and cost[0].split("|")[4].strip() == "1.00"
    bias = [line for line in lines if line.startswith(("| 30% ", "| 60% "))]
    assert len(bias) == 2 and all(line.count("/") == 3 for line in bias)
    assert png.stat().st_size > 0
