"""Smoke run of benchmarks/bench_init_quality.py --quick: it runs and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_init_quality.py"


def test_quick_run_prints_a_table():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| data | Lloyd cap"))
    assert set(lines[head + 1]) <= set("|-:")
    rows = [line for line in lines[head + 2 :] if line.startswith("| ")]
    assert len(rows) == 2 * 4  # two datasets, caps 3, 10, 30, 300
    assert all(row.count("|") == lines[head].count("|") for row in rows)
    assert any(row.startswith("| iris | **10** |") for row in rows)
