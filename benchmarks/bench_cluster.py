"""A cluster pass next to a local one (issue 20): where a pass on worker processes spends its
time, before and after a change.

    python benchmarks/bench_cluster.py                     # every table (about 15 min on 2 cores)
    python benchmarks/bench_cluster.py --before 545585a    # the same for that commit, and both
    python benchmarks/bench_cluster.py --quick             # a smoke run at a tiny size
    python benchmarks/bench_cluster.py --json out.json     # figures for cluster_model.py

The data: ``--rows`` (12,500,000) x 16 float64 blobs in an HDF5 file under ``--dir`` (1.6 GB,
written once and reused; ``--keep`` leaves it there), read with ``read_hdf5`` (48 blocks), K=8
full, a fixed start, tol=0, ``--iters`` iterations. Each configuration runs in a fresh
process (``cluster_probe.py``): 2 local threads, and LocalClusters of 1, 2 and 4
single-thread worker processes on 127.0.0.1; they take turns, ``--repeats`` times, and each
keeps its best repeat. Seconds per iteration is the median over the iterations after the
first (the first pass also opens the file and loads the kernels in fresh workers; it is
shown apart). Tables:

1. **Passes**, cache off (every pass reads the file): s/iter and its ratio to the threads,
   tasks, bytes moved, scheduler CPU per task, client CPU, time to first task, and whether
   the model is bitwise the threads' one.
2. **cache=True**: data bytes sent between workers in the passes after the first.
3. **Scheduler**: ``--sched-blocks`` (10,000) blocks of 64 rows x 4, K=2 diag (a cheap
   kernel), on 2 workers: client and scheduler CPU per pass, against the pass itself and
   against a pass of that many real blocks (the kernel seconds per block of table 1).
4. **Start-up** of a fresh process: imports, loading the kernels, opening the file; the
   kernel's seconds per row and the read rate on one core (cluster_model.py's inputs).

``--before REV`` checks REV out in a temporary git worktree under /tmp, compiles its
kernels, runs every table with ``PYTHONPATH`` at it, then at this checkout, and prints both
and a comparison. Timings are wall-clock on a shared machine: run ``uptime`` around it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = [("threads", 2), ("cluster", 1), ("cluster", 2), ("cluster", 4)]


def write_points(path: Path, n: int, d: int, seed: int = 0, chunk_rows: int = 16384) -> None:
    """Blobs around 8 centres (stored as the dataset's "centres" attribute), in slabs."""
    import h5py

    rng = np.random.RandomState(seed)
    centres = rng.uniform(-8, 8, size=(8, d))
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", (n, d), "f8", chunks=(min(chunk_rows, n), d))
        ds.attrs["centres"] = centres
        for i in range(0, n, 1 << 20):
            m = min(1 << 20, n - i)
            ds[i : i + m] = centres[rng.randint(0, 8, m)] + rng.standard_normal((m, d))


def ensure_file(path: Path, n: int, d: int) -> Path:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f["points"].shape == (n, d) and "centres" in f["points"].attrs:
                return path
    except (OSError, KeyError):
        pass
    t = time.perf_counter()
    write_points(path, n, d)
    print(f"wrote {path} ({n:,} x {d}) in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def probe(spec: dict, code: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code))
    cmd = [sys.executable, str(HERE / "cluster_probe.py"), json.dumps(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{spec}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def label(mode: str, n: int) -> str:
    return f"{n} local threads" if mode == "threads" else f"LocalCluster {n}x1"


def steady(result: dict) -> float:
    return statistics.median(p["seconds"] for p in result["passes"][1:])


def best_of(runs: list[dict]) -> dict:
    return min(runs, key=steady)


def median_of(passes: list[dict], key: str):
    values = [p[key] for p in passes if p.get(key) is not None]
    return statistics.median(values) if values else None


def run_passes(path: Path, args, code: Path, cache=False) -> dict:
    """Every configuration, ``--repeats`` times in turn; the best repeat of each."""
    configs = CONFIGS if not cache else [("threads", 2), ("cluster", 2)]
    runs: dict[str, list] = {label(*c): [] for c in configs}
    for _ in range(args.repeats):
        for mode, n in configs:
            spec = dict(mode=mode, workers=n, threads=n, path=str(path), k=8, cov="full")
            spec.update(iters=args.iters, cache=cache)
            runs[label(mode, n)].append(probe(spec, code))
    return {name: best_of(rs) for name, rs in runs.items()}


def summarise(results: dict) -> list[dict]:
    base = results[label("threads", 2)]
    rows = []
    for name, r in results.items():
        later = r["passes"][1:]
        row = dict(config=name, s_iter=steady(r), ratio=steady(r) / steady(base))
        row["cpu"] = median_of(later, "host_cpu") + (median_of(later, "worker_cpu") or 0.0)
        row["cpu_ratio"] = row["cpu"] / median_of(base["passes"][1:], "host_cpu")
        row["first"] = r["passes"][0]["seconds"]
        row["same"] = "bitwise" if r["digest"] == base["digest"] else f"{rel_diff(r, base):.1e}"
        row.update(blocks=r["blocks"], rows=r["nbytes"] // 128)  # 16 float64 columns
        row["block_bytes"] = r["nbytes"] / r["blocks"]
        if "cluster_start" in r:
            moved = [p["moved"] for p in later]
            tasks = median_of(later, "tasks")
            row.update(
                tasks=tasks,
                data_mb=statistics.median(m["data"] for m in moved) / 1e6,
                data_mb_max=max(m["data"] for m in moved) / 1e6,
                stats_n=statistics.median(m["stats"] for m in moved),
                client_n=statistics.median(m["client"] for m in moved),
                graph_kb=median_of(later, "graph_bytes") / 1e3,
                sched_ms_task=1e3 * median_of(later, "scheduler_cpu") / max(tasks, 1),
                sched_ms=1e3 * median_of(later, "scheduler_cpu"),
                client_ms=1e3 * median_of(later, "client_cpu"),
                first_task_ms=(
                    1e3 * r["passes"][0]["first_task"], 1e3 * median_of(later, "first_task")
                ),
                busy=median_of(later, "compute") / (row["s_iter"] * r["spec"]["workers"]),
                compute_per_block=median_of(later, "compute") / r["blocks"],
                cluster_start=r["cluster_start"],
            )  # fmt: skip
        rows.append(row)
    return rows


def rel_diff(a: dict, b: dict) -> float:
    pairs = [(a["means"], b["means"]), (a["covariances"], b["covariances"])]
    return max(float(np.abs(np.subtract(x, y)).max() / np.abs(y).max()) for x, y in pairs)


def print_passes(rows: list[dict], title: str) -> None:
    print(f"\n{title}\n")
    head = (
        "| configuration | s/iter | x threads | CPU s/iter (x threads) | first pass s | tasks/pass "
        "| data MB between workers (max) | values between workers | values to client | graph kB "
        "| scheduler CPU ms (per task) | client CPU ms | first task ms (first pass / later) "
        "| workers busy | model |"
    )
    print(head)
    print("|---" + "|---:" * (head.count("|") - 3) + "|---|")
    for r in rows:
        cells = [r["config"], f"{r['s_iter']:.3f}", f"{r['ratio']:.2f}x"]
        cells += [f"{r['cpu']:.2f} ({r['cpu_ratio']:.2f}x)", f"{r['first']:.2f}"]
        if "tasks" in r:
            a, b = r["first_task_ms"]
            cells += [
                f"{r['tasks']:.0f}",
                f"{r['data_mb']:.1f} ({r['data_mb_max']:.1f})",
                f"{r['stats_n']:.0f}",
                f"{r['client_n']:.0f}",
                f"{r['graph_kb']:.0f}",
                f"{r['sched_ms']:.0f} ({r['sched_ms_task']:.2f})",
                f"{r['client_ms']:.0f}",
                f"{a:.0f} / {b:.0f}",
                f"{100 * r['busy']:.0f}%",
            ]
        else:
            cells += ["-"] * 9
        print("| " + " | ".join(cells + [r["same"]]) + " |")


def run_scheduler(folder: Path, args, code: Path, per_block: float | None) -> list[dict]:
    """Many cheap blocks: what the client and the scheduler cost per pass."""
    rows_per, n = 64, args.sched_blocks
    path = ensure_file(folder / f"sched_{n}.h5", n * rows_per, 4)
    out = []
    for mode, w in [("threads", 2), ("cluster", 2)]:
        spec = dict(mode=mode, workers=w, threads=w, path=str(path), k=2, cov="diag")
        spec.update(iters=3, cache=False, chunk_rows=rows_per, noop_tasks=args.noop_tasks)
        r = probe(spec, code)
        later = r["passes"][1:]
        row = dict(config=label(mode, w), blocks=r["blocks"], seconds=steady(r))
        if mode == "cluster":
            over = median_of(later, "client_cpu") + median_of(later, "scheduler_cpu")
            row.update(
                tasks=median_of(later, "tasks"),
                client_ms=1e3 * median_of(later, "client_cpu"),
                sched_ms=1e3 * median_of(later, "scheduler_cpu"),
                overhead=over,
                share=over / row["seconds"],
                real_share=None if per_block is None else over / (n * per_block / w + over),
                t_task=r["noop"]["scheduler_per_task"],
                t_task_wall=r["noop"]["wall_per_task"],
            )
        out.append(row)
    return out


def print_scheduler(rows: list[dict], title: str) -> None:
    print(f"\n{title}\n")
    print(
        "| configuration | blocks | tasks/pass | s/pass | client CPU ms | scheduler CPU ms | "
        "(client + scheduler) / this pass | / a pass of real blocks |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r["config"], f"{r['blocks']:,}"]
        if "tasks" in r:
            real = "-" if r["real_share"] is None else f"{100 * r['real_share']:.2f}%"
            cells += [f"{r['tasks']:,.0f}", f"{r['seconds']:.3f}", f"{r['client_ms']:.0f}"]
            cells += [f"{r['sched_ms']:.0f}", f"{100 * r['share']:.1f}%", real]
        else:
            cells += ["-", f"{r['seconds']:.3f}", "-", "-", "-", "-"]
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        if "t_task" in r:
            print(
                f"\nNo-op tasks on {r['config']}: {1e3 * r['t_task_wall']:.2f} ms per task end to "
                f"end, {1e3 * r['t_task']:.2f} ms of scheduler CPU per task"
            )


def run_all(path: Path, folder: Path, args, code: Path, name: str) -> dict:
    print(f"\n## {name} ({code})", flush=True)
    out: dict = {}
    if "passes" in args.only:
        out["passes"] = summarise(run_passes(path, args, code))
        print_passes(out["passes"], f"Passes, cache off ({name})")
    if "cached" in args.only:
        out["cached"] = summarise(run_passes(path, args, code, cache=True))
        print_passes(out["cached"], f"Passes, cache=True ({name})")
    if "scheduler" in args.only:
        rows = out.get("passes", [])
        per_block = next((r["compute_per_block"] for r in rows if "tasks" in r), None)
        out["scheduler"] = run_scheduler(folder, args, code, per_block)
        print_scheduler(out["scheduler"], f"Scheduler, {args.sched_blocks:,} cheap blocks ({name})")
    if "startup" in args.only:
        spec = dict(mode="startup", path=str(path), k=16, cov="full", block_rows=131072)
        out["startup"] = s = probe(spec, code)
        us = {k: s[f"kernel{k}_seconds"] / s["kernel_rows"] * 1e6 for k in (8, 16)}
        print(
            f"\nStart-up of a fresh process ({name}): imports {s['imports']:.2f} s, kernels "
            f"{s['kernel_load']:.2f} s, opening the file {1e3 * s['open_file']:.1f} ms. One "
            f"core: kernel K=8 full {us[8]:.3f} us/row, K=16 full {us[16]:.3f} us/row; read "
            f"{s['read_gbs']:.2f} GB/s; a merge of two K=16 full statistics "
            f"{1e3 * s['merge_seconds']:.3f} ms, {s['stat_bytes'] / 1e3:.1f} kB each"
        )
    return out


def compare(before: dict, after: dict) -> None:
    print("\n## Before -> after\n")
    print(
        "| table | configuration | s/iter | x threads | CPU x threads | tasks/pass | data MB "
        "between workers | scheduler CPU ms/pass | client CPU ms/pass | first task ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for table in [t for t in ("passes", "cached") if t in after and t in before]:
        for b, a in zip(before[table], after[table], strict=True):

            def pair(key, fmt, r_b=b, r_a=a):
                return f"{fmt(r_b[key])} -> {fmt(r_a[key])}" if key in r_b else "-"

            cells = [table, a["config"], pair("s_iter", "{:.3f}".format)]
            cells += [pair("ratio", "{:.2f}x".format), pair("cpu_ratio", "{:.2f}x".format)]
            cells += [pair("tasks", "{:.0f}".format), pair("data_mb", "{:.1f}".format)]
            cells += [pair("sched_ms", "{:.0f}".format), pair("client_ms", "{:.0f}".format)]
            cells += [pair("first_task_ms", lambda v: f"{v[1]:.0f}")]
            print("| " + " | ".join(cells) + " |")
    for b, a in zip(before.get("scheduler", []), after.get("scheduler", []), strict=True):
        if "tasks" in a:
            print(
                f"\nScheduler ({a['blocks']:,} blocks, {a['config']}): tasks {b['tasks']:,.0f} -> "
                f"{a['tasks']:,.0f}; s/pass {b['seconds']:.3f} -> {a['seconds']:.3f}; client + "
                f"scheduler CPU {1e3 * b['overhead']:.0f} -> {1e3 * a['overhead']:.0f} ms"
            )


def worktree(rev: str) -> Path:
    """REV checked out under /tmp, kernels compiled (removed again by main)."""
    if Path(rev).is_dir():  # a checkout already made (and compiled): used as it is
        return Path(rev)
    where = Path(tempfile.mkdtemp(prefix="streamgmm-before-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True)  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(where))
    subprocess.run([sys.executable, "-m", "streamgmm._warmup"], cwd=where, env=env, check=True)
    return where


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=12_500_000)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--sched-blocks", type=int, default=10_000)
    p.add_argument("--noop-tasks", type=int, default=5_000)
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--keep", action="store_true", help="keep the data files for the next run")
    p.add_argument("--before", metavar="REV", help="also measure this git revision (or checkout)")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--only", default="passes,cached,scheduler,startup", help="tables to run")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.iters, args.repeats, args.sched_blocks = 200_000, 3, 1, 300
        args.noop_tasks = 200
    folder = args.dir
    path = ensure_file(folder / f"bench_cluster_{args.rows}.h5", args.rows, 16)
    tree = worktree(args.before) if args.before else None
    figures = {}
    try:
        if tree is not None:
            figures["before"] = run_all(path, folder, args, tree, f"before: {args.before}")
        figures["after"] = run_all(path, folder, args, ROOT, "this checkout")
        if tree is not None:
            compare(figures["before"], figures["after"])
    finally:
        if tree is not None and not Path(args.before).is_dir():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)  # fmt: skip
        if not args.keep:
            for f in (path, folder / f"sched_{args.sched_blocks}.h5"):
                f.unlink(missing_ok=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
