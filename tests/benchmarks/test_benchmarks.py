"""The benchmarks run end to end at a tiny size: their scripts stay working (no timing is
asserted, only that they print their figures and that the results match the oracle)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_em_smoke(tmp_path):
    """benchmarks/bench_em.py runs end to end at a tiny size (no timing is asserted)."""
    script = BENCHMARKS / "bench_em.py"
    out_json = tmp_path / "bench.json"
    args = ["--only", "W1", "--scale", "0.002", "--runs", "1", "--no-compile", "--json"]
    out = subprocess.run(
        [sys.executable, str(script), *args, str(out_json)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "W1 " in out.stdout and "BLAS:" in out.stdout and "min-based" in out.stdout
    result = json.loads(out_json.read_text())["results"]["W1"]
    assert max(result["timing"]["diffs"].values()) < 1e-8  # same parameters as the oracle
    assert result["memory"]["ours"]["peak_mb"] > 0


def test_bench_blocks_smoke():
    """benchmarks/bench_blocks.py runs at a tiny size and counts the guard's redone tiles."""
    script = BENCHMARKS / "bench_blocks.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--only", "W2,W4"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith(("W2", "W4"))]
    assert len(lines) == 8  # 2 workloads x 2 row orders x 2 starts
    assert all(line.endswith("of 512") for line in lines if line.startswith("W4"))


def test_bench_infer_smoke():
    """benchmarks/bench_infer.py times each inference method and agrees with scikit-learn."""
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_infer.py"), "--quick"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    rows = [
        line.split("|") for line in out.stdout.splitlines() if line.startswith(("full", "diag"))
    ]
    assert len(rows) == 6
    for row in rows:
        value, kind = row[-1].split()
        assert float(value) < (1e-10 if kind == "rel" else 1e-3), row


def test_bench_init_quality_prints_its_table():
    """benchmarks/bench_init_quality.py --quick runs and prints its table."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_init_quality.py"), "--quick"],
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


@pytest.mark.distributed
def test_bench_cluster_and_its_model_smoke(tmp_path):
    """benchmarks/bench_cluster.py --quick measures every table on LocalClusters, and
    cluster_model.py projects from its figures (no timing is asserted)."""
    figures = tmp_path / "figures.json"
    args = ["--quick", "--dir", str(tmp_path), "--json", str(figures)]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_cluster.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| LocalCluster")]
    assert len(rows) == 3 + 1 + 1  # 1, 2, 4 workers; cache=True; the scheduler table
    assert all(row.rstrip().endswith("| bitwise |") for row in rows[:4])
    after = json.loads(figures.read_text())["after"]
    assert [r["data_mb_max"] for r in after["cached"] if "tasks" in r] == [0.0]
    model = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cluster_model.py"), "--json", str(figures), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert model.returncode == 0, model.stderr[-2000:]
    assert "| 1,000 | 4 |" in model.stdout and "| LocalCluster 2x1, passes |" in model.stdout
