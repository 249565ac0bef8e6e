"""One EM iteration on 100 and 1,000 cores, projected from the costs measured here (issue 20).

    python benchmarks/cluster_model.py                           # the inputs of docs/cluster.md
    python benchmarks/cluster_model.py --json figures.json       # inputs of bench_cluster.py --json
    python benchmarks/cluster_model.py --json figures.json --check   # and the LocalCluster runs
    python benchmarks/cluster_model.py --fs-gbs 40 --tasks-per-thread 2   # other hardware

The pass as built since issue 20, over ``--rows`` x ``--features`` float64 rows in blocks
of ``--block-mb`` MB, K=``--k`` full, on P cores (one thread each): G = t P group tasks
(t = tasks per thread, 4 by default), handed out by the scheduler to threads as they free
up, each reading its blocks in turn (the next one in a helper thread while the kernel runs)
and reducing them into the tree's nodes; merge tasks of fan-in 8 over the groups; the
M-step on the client. One iteration:

    T        = t_first + T_ramp + T_work + T_reduce + T_client
    T_work   = the larger of  rows/P * (c_row + 8 d / r_core) + blocks/P * c_block
               (a core's CPU: the kernel, copying the rows out of the page cache or the
               file system's buffers, a block's fixed costs)  and  rows/P * 8 d / (B / P)
               (waiting on a shared file system of B bytes/s in all, which the read-ahead
               overlaps with the kernel). Rows held in memory (cache=True) cost neither.
    T_ramp   = P * t_task / 2: the scheduler hands the first wave out one task at a time
    T_sched  = tasks * t_task, tasks = G + ceil(G / 7) + 2: the scheduler's CPU per pass,
               busy while the workers compute (the figure the goal keeps under 10% of T)
    T_reduce = levels * (latency + 8 S / net + 8 t_merge), levels = ceil(log8 G)

Measured on this machine (bench_cluster.py; docs/cluster.md names each source): c_row,
the kernel's seconds per row on one core; c_block, a block's fixed cost inside a group
task; t_task, the scheduler's CPU per task (no-op tasks); t_merge and S, one merge of two
statistics values and their size; t_first, the client's call to the first task; r_core, a
core's copy rate out of the page cache; t_client, the client's CPU per pass. Assumed (the
cluster's hardware): B, net, latency.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

#: measured on 2026-12-07 on the 2-core development machine (docs/cluster.md)
MEASURED = dict(
    c_row=0.542e-6,  # s per row, K=16 full, d=16, one core
    c_block=2.27e-4,  # s per block in a group task beyond its rows
    t_task=0.938e-3,  # scheduler CPU s per task (no-op tasks, LocalCluster of 2)
    t_merge=0.054e-3,  # s per merge of two K=16 full statistics values
    stat_bytes=35_400,  # bytes of one K=16 full, d=16 statistics value
    t_first=0.0074,  # s from the client's call to the first task (passes after the first)
    r_core=0.965e9,  # bytes/s a core reads out of the page cache (h5py, one thread)
    t_client=0.0049,  # s of client CPU per pass (graph, M-step)
)

FAN_IN = 8


def predict(m: dict, a, cores: int, source: str, per_thread: float = 4.0) -> dict:
    """Seconds of each part of one iteration; ``source`` is "fs" (a shared file system of
    ``a.fs`` GB/s), "page cache" (files in memory) or "memory" (cache=True)."""
    rows, d = a.rows, a.features
    blocks = math.ceil(rows * d * 8 / (a.block_mb * 2**20))
    groups = min(blocks, max(1, round(per_thread * cores)))
    tasks = groups + math.ceil(groups / (FAN_IN - 1)) + 2
    copy = 0.0 if source == "memory" else rows / cores * d * 8 / m["r_core"]
    cpu = rows / cores * m["c_row"] + copy + blocks / cores * m["c_block"]
    wait = rows * d * 8 / (a.fs * 1e9) if source == "fs" else 0.0
    work = max(cpu, wait)
    levels = max(1, math.ceil(math.log(max(groups, 2), FAN_IN)))
    reduce = levels * (a.latency + FAN_IN * m["stat_bytes"] / (a.net_gbs * 1e9))
    reduce += levels * FAN_IN * m["t_merge"]
    sched = tasks * m["t_task"]
    ramp = min(cores, groups) * m["t_task"] / 2
    total = m["t_first"] + ramp + max(work, sched) + reduce + m["t_client"]
    return dict(
        blocks=blocks, tasks=tasks, cpu=cpu, wait=wait, sched=sched, ramp=ramp,
        reduce=reduce, total=total, share=sched / total,
    )  # fmt: skip


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
    if sched is not None:  # the cheap pass: blocks of 64 rows, all but their fixed cost
        m["c_block"] = sched["seconds"] * 2 / sched["blocks"]
        m["t_task"] = sched["t_task"]
    passes = next((r for r in after.get("passes", []) if "tasks" in r), None)
    if passes is not None:
        m["t_first"] = passes["first_task_ms"][1] / 1e3
        m["t_client"] = passes["client_ms"] / 1e3
    return m


def print_projection(m: dict, a) -> None:
    print(
        f"{a.rows:.3g} rows x {a.features}, K={a.k} full, {a.block_mb:g} MB blocks; network "
        f"{a.net_gbs:g} GB/s, latency {1e3 * a.latency:g} ms\n"
    )
    print(
        "| data read from | cores | tasks per thread | blocks | tasks | CPU per core s | "
        "waiting on reads s | scheduler s (ramp) | reduce s | iteration s | scheduler share |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sources = [(f"shared file system, {fs:g} GB/s", "fs", fs) for fs in a.fs_gbs]
    sources += [("page cache", "page cache", 0), ("memory (cache=True)", "memory", 0)]
    for what, source, fs in sources:
        a.fs = fs
        for cores in a.cores:
            for per_thread in a.tasks_per_thread:
                p = predict(m, a, cores, source, per_thread)
                print(
                    f"| {what} | {cores:,} | {per_thread:g} | {p['blocks']:,} | {p['tasks']:,} "
                    f"| {p['cpu']:.1f} | {p['wait']:.1f} | {p['sched']:.2f} ({p['ramp']:.2f}) "
                    f"| {p['reduce']:.3f} | **{p['total']:.1f}** | {100 * p['share']:.1f}% |"
                )


def print_check(m: dict, path: Path, a) -> None:
    """The model for bench_cluster.py's runs (1.6 GB, K=8 full, the file in the page cache;
    P workers share the machine's 2 cores) next to what they measured."""
    after = json.loads(path.read_text())["after"]
    s = after.get("startup")
    if not s:
        print("\n(--check needs the start-up figures: bench_cluster.py --only ...,startup)")
        return
    m = dict(m, c_row=s["kernel8_seconds"] / s["kernel_rows"])
    print("\n| run | model s/iter | measured s/iter |")
    print("|---|---:|---:|")
    for table, source in (("passes", "page cache"), ("cached", "memory")):
        for r in after.get(table, []):
            n = int(r["config"].split()[0] if "threads" in r["config"] else r["config"][-3])
            run = argparse.Namespace(**vars(a))
            run.rows, run.features, run.block_mb = r["rows"], 16, r["block_bytes"] / 2**20
            p = predict(m, run, min(n, a.machine_cores), source)
            print(f"| {r['config']}, {table} | {p['total']:.2f} | {r['s_iter']:.2f} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", type=Path, help="figures written by bench_cluster.py --json")
    p.add_argument("--rows", type=float, default=1e10)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--k", type=int, default=16, help="(the kernel's cost is measured at 16)")
    p.add_argument("--block-mb", type=float, default=64)
    p.add_argument("--cores", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--tasks-per-thread", type=float, nargs="+", default=[4.0, 1.0])
    p.add_argument("--fs-gbs", type=float, nargs="+", default=[20.0, 100.0],
                   help="shared file systems to project for, GB/s in all")  # fmt: skip
    p.add_argument("--net-gbs", type=float, default=1.25, help="one link, GB/s (10 Gb/s)")
    p.add_argument("--latency", type=float, default=2e-4, help="one message, s")
    p.add_argument("--machine-cores", type=int, default=2, help="cores of --check's machine")
    p.add_argument("--check", action="store_true", help="the model against --json's runs")
    a = p.parse_args(argv)
    m = inputs(a.json)
    print("inputs: " + ", ".join(f"{k}={v:.3g}" for k, v in m.items()) + "\n")
    print_projection(m, a)
    if a.check and a.json:
        print_check(m, a.json, a)


if __name__ == "__main__":
    main()
