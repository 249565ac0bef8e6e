"""One EM iteration on 100 and 1,000 cores, projected from the costs measured here (issue 20).

    python benchmarks/cluster_model.py                        # the inputs of docs/cluster.md
    python benchmarks/cluster_model.py --json figures.json    # inputs from bench_cluster.py --json
    python benchmarks/cluster_model.py --fs-gbs 40 --no-overlap  # other hardware, no read-ahead

The pass as built since issue 20, for ``--rows`` x ``--features`` float64 rows in blocks of
``--block-mb``, K=``--k`` full, on P cores (one thread each): G = 4 P group tasks (a
worker with a free thread takes the next), each reading its blocks in turn and reducing
them into the tree's nodes; merge tasks of fan-in 8 over the groups; the M-step on the
client. One iteration:

    T       = t_first + T_work + T_reduce + T_client
    T_work  = the larger of rows/P * c_row + blocks/P * c_block (the kernels) and
              rows/P * 8 d / r (the reads: each group task reads its next block while the
              kernel runs; --no-overlap adds them instead), r = min(r_core, B_fs / P): each
              core's share of the shared file system's bandwidth, or r_core for rows held
              in the workers' memory (cache=True)
    T_sched = tasks * t_task, tasks = G + G/7 + 2 (the scheduler's CPU; it hands tasks out
              while the workers compute, so it counts against T only where it is longer
              than T_work, and its share of T is the figure to keep under 10%)
    T_reduce = levels * (latency + 8 S / net + 8 t_merge), levels = ceil(log8 G)

Measured on this machine (bench_cluster.py, each figure's source in docs/cluster.md):
c_row, the kernel's seconds per row on one core; c_block, a block's fixed cost in a group
task (its read call, its merge, Python); t_task, the scheduler's CPU per task; t_merge and
S, one merge of two statistics values and their size; t_first, the time from the client's
call to the first task; r_core, one core's read rate from the page cache. Assumed (the
cluster's hardware, options): B_fs, net, latency. ``--check`` prints the model next to
the LocalCluster measurements of ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

#: measured on 2026-12-07 on the 2-core development machine (docs/cluster.md)
MEASURED = dict(
    c_row=0.59e-6,  # s per row, K=16 full, d=16, one core (77 ms per 131,072-row block)
    c_block=2.0e-4,  # s per block in a group task beyond its rows (64-row blocks)
    t_task=1.0e-3,  # scheduler CPU s per task
    t_merge=1.0e-4,  # s per merge of two K=16 full statistics values
    stat_bytes=36_000,  # bytes of one K=16 full, d=16 statistics value
    t_first=0.02,  # s from the client's call to the first task, later passes
    r_core=1.0e9,  # bytes/s one core reads from the page cache
    client=0.05,  # s of client CPU per pass (graph, M-step)
)

GROUPS_PER_THREAD, FAN_IN = 4, 8


def predict(m: dict, rows: float, d: int, cores: int, block_bytes: float, fs_gbs, a) -> dict:
    """The seconds of each part of one iteration (see the module docstring)."""
    blocks = math.ceil(rows * d * 8 / block_bytes)
    groups = min(blocks, GROUPS_PER_THREAD * cores)
    tasks = groups + math.ceil(groups / (FAN_IN - 1)) + 2
    rate = m["r_core"] if fs_gbs is None else min(m["r_core"], fs_gbs * 1e9 / cores)
    compute = rows / cores * m["c_row"] + blocks / cores * m["c_block"]
    read = rows / cores * d * 8 / rate
    work = compute + read if a.no_overlap else max(compute, read)
    levels = max(1, math.ceil(math.log(max(groups, 2), FAN_IN)))
    reduce = levels * (a.latency + FAN_IN * m["stat_bytes"] / (a.net_gbs * 1e9))
    reduce += levels * FAN_IN * m["t_merge"]
    sched = tasks * m["t_task"]
    total = m["t_first"] + max(work, sched) + reduce + m["client"]
    return dict(
        cores=cores,
        blocks=blocks,
        tasks=tasks,
        compute=compute,
        read=read,
        work=work,
        sched=sched,
        reduce=reduce,
        total=total,
        sched_share=sched / total,
    )


def inputs(path: Path | None) -> dict:
    """The measured costs: MEASURED, or those of a bench_cluster.py --json file."""
    m = dict(MEASURED)
    if path is None:
        return m
    after = json.loads(path.read_text())["after"]
    s = after.get("startup", {})
    if "kernel16_seconds" in s:
        m["c_row"] = s["kernel16_seconds"] / s["kernel_rows"]
        m["t_merge"], m["stat_bytes"] = s["merge_seconds"], s["stat_bytes"]
        m["r_core"] = s["read_gbs"] * 1e9
    sched = next((r for r in after.get("scheduler", []) if "tasks" in r), None)
    if sched is not None:
        m["c_block"] = sched["seconds"] * 2 / sched["blocks"]
        m["t_task"] = sched.get("t_task", m["t_task"])
    passes = next((r for r in after.get("passes", []) if "tasks" in r), None)
    if passes is not None:
        m["t_first"] = passes["first_task_ms"][1] / 1e3
        m["client"] = passes["client_ms"] / 1e3
    return m


def print_projection(m: dict, a) -> None:
    print(
        f"{a.rows:.3g} rows x {a.features}, K={a.k} full, {a.block_mb:g} MB blocks; network "
        f"{a.net_gbs:g} GB/s, latency {1e3 * a.latency:g} ms; "
        f"{'read, then compute' if a.no_overlap else 'blocks read ahead of the kernel'}\n"
    )
    print(
        "| data read from | cores | blocks | tasks | compute s | read s | scheduler s | "
        "reduce s | iteration s | scheduler share |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    scenarios = [(f"shared file system, {fs:g} GB/s", fs) for fs in a.fs_gbs]
    scenarios.append(("memory (cache=True)", None))
    for what, fs in scenarios:
        for cores in a.cores:
            p = predict(m, a.rows, a.features, cores, a.block_mb * 2**20, fs, a)
            print(
                f"| {what} | {cores:,} | {p['blocks']:,} | {p['tasks']:,} | {p['compute']:.1f} "
                f"| {p['read']:.1f} | {p['sched']:.2f} | {p['reduce']:.3f} | **{p['total']:.1f}** "
                f"| {100 * p['sched_share']:.1f}% |"
            )


def print_check(m: dict, path: Path, a) -> None:
    """The model for the LocalCluster runs of bench_cluster.py, next to what they measured
    (the 2-core machine: P workers share min(P, 2) cores; the file is in the page cache)."""
    after = json.loads(path.read_text())["after"]
    s = after["startup"]
    m = dict(m, c_row=s["kernel8_seconds"] / s["kernel_rows"])
    print("\n| run | model s/iter | measured s/iter |")
    print("|---|---:|---:|")
    for r in after["passes"]:
        workers = int(r["config"].split()[0]) if "threads" in r["config"] else None
        cores = workers or int(r["config"].split()[-1].split("x")[0])
        p = predict(m, r["rows"], 16, min(cores, 2), r["block_bytes"], None, a)
        slow = max(1.0, cores / 2)  # 4 workers on 2 cores: each runs at half speed
        print(f"| {r['config']} | {p['total'] * slow:.2f} | {r['s_iter']:.2f} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", type=Path, help="figures written by bench_cluster.py --json")
    p.add_argument("--rows", type=float, default=1e10)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--block-mb", type=float, default=64)
    p.add_argument("--cores", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--fs-gbs", type=float, nargs="+", default=[20.0, 100.0],
                   help="shared file systems to project for, GB/s in all")  # fmt: skip
    p.add_argument("--net-gbs", type=float, default=1.25, help="one link, GB/s (10 Gb/s)")
    p.add_argument("--latency", type=float, default=2e-4, help="one message, s")
    p.add_argument("--no-overlap", action="store_true", help="no read-ahead: read, then compute")
    p.add_argument("--check", action="store_true", help="the model against --json's runs")
    a = p.parse_args(argv)
    m = inputs(a.json)
    print("inputs: " + ", ".join(f"{k}={v:.3g}" for k, v in m.items()) + "\n")
    print_projection(m, a)
    if a.check and a.json:
        print_check(m, a.json, a)


if __name__ == "__main__":
    main()
