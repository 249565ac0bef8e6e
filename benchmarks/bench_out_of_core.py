"""Out-of-core benchmarks (issue 5): a file larger than the memory it is fitted with,
HDF5 vs in-memory vs cached seconds per iteration, and Dask's scheduling overhead.

    python benchmarks/bench_out_of_core.py big   [--gb 8] [--dir /tmp]   # peak RSS, GB/s per pass
    python benchmarks/bench_out_of_core.py w1    [--n 1000000]           # HDF5 / NumPy / cached
    python benchmarks/bench_out_of_core.py all   --quick                 # small smoke run

Each fit runs in a fresh subprocess so that ``ru_maxrss`` is that fit's peak
resident memory (mapped file pages of HDF5 reads are not mapped: h5py reads into
anonymous buffers, so RSS is an honest upper bound of what the fit holds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
import dask
import streamgmm
from streamgmm._data.source import as_source
from streamgmm._data.blocks import ModelAssigner
from streamgmm._data.passes import statistics_pass_many
from streamgmm._fit.init import initialise_many
from streamgmm._model.mstep import m_step

spec = json.loads(sys.argv[1])
if spec["kind"] == "hdf5":
    X = streamgmm.read_hdf5(spec["path"], "points")
else:
    import h5py
    with h5py.File(spec["path"], "r") as f:
        X = f["points"][:]
source = as_source(X, memory_limit=spec.get("memory_limit", "auto"))
k, cov = spec["k"], spec["cov"]
rng = np.random.RandomState(0)
with source.session():
    if spec.get("cache"):
        t = time.perf_counter()
        source.maybe_cache(True)
        t_cache = time.perf_counter() - t
    else:
        t_cache = 0.0
    params = initialise_many(source, [(k, cov)], "random_from_data", 1e-6, rng)[0]
    times = []
    for it in range(spec["iters"]):
        t = time.perf_counter()
        stats = statistics_pass_many(source, [(ModelAssigner(params, cov), cov, True)])[0]
        times.append(time.perf_counter() - t)
        params = m_step(stats, 1e-6)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"times": times, "peak": peak, "nbytes": source.nbytes,
                  "blocks": len(source.array.chunks[0]), "t_cache": t_cache,
                  "lower_bound": stats.log_lik / stats.weight_sum}))
"""


def write_file(path: Path, n: int, d: int, seed: int = 0, chunk_rows: int = 16384) -> float:
    """Blobs written in slabs (never whole in memory); returns seconds."""
    t = time.perf_counter()
    import h5py

    rng = np.random.RandomState(seed)
    centres = rng.uniform(-8, 8, size=(8, d))
    slab = 1 << 20
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", chunks=(chunk_rows, d))
        for i in range(0, n, slab):
            m = min(slab, n - i)
            lab = rng.randint(0, len(centres), m)
            ds[i : i + m] = centres[lab] + rng.standard_normal((m, d))
    return time.perf_counter() - t


def run_child(spec: dict) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_big(gb: float, folder: Path, d: int = 16, k: int = 8, iters: int = 3) -> None:
    n = int(gb * 1e9 / (8 * d))
    path = folder / f"big_{gb:g}GB.h5"
    if not path.exists() or path.stat().st_size < 0.99 * n * d * 8:
        print(f"writing {path} ({n:,} rows x {d}) ...", flush=True)
        print(f"  written in {write_file(path, n, d):.0f} s", flush=True)
    size = path.stat().st_size
    res = run_child(dict(kind="hdf5", path=str(path), k=k, cov="diag", iters=iters))
    print(f"\nbig file: {size / 1e9:.2f} GB on disk, {res['blocks']} blocks, K={k} diag")
    for i, t in enumerate(res["times"], 1):
        print(f"  pass {i}: {t:.1f} s  ({res['nbytes'] / 1e9 / t:.2f} GB/s)")
    print(
        f"  peak RSS of the fitting process: {res['peak'] / 1e6:.0f} MB "
        f"(file size / peak RSS = {size / res['peak']:.1f})"
    )


def bench_w1(n: int, folder: Path, repeats: int = 3) -> None:
    d, k = 16, 16
    path = folder / f"w1_{n}.h5"
    if not path.exists():
        write_file(path, n, d)
    results = {}
    for label, spec in (
        ("numpy (in memory)", dict(kind="numpy")),
        ("hdf5 (page cache warm)", dict(kind="hdf5")),
        ("hdf5, cache=True", dict(kind="hdf5", cache=True)),
    ):
        per_iter = []
        for _ in range(repeats):
            r = run_child(dict(spec, path=str(path), k=k, cov="full", iters=4))
            per_iter.append(float(np.median(r["times"][1:])))  # first pass may warm caches
        results[label] = float(np.median(per_iter))
    base = results["numpy (in memory)"]
    print(
        f"\nW1 from HDF5 (n={n:,}, d={d}, K={k}, full), seconds per iteration, median of {repeats}:"
    )
    for label, t in results.items():
        print(f"  {label:<24} {t:7.3f} s   {t / base:5.2f}x numpy")
    bench_overhead(path, k)


def bench_overhead(path: Path, k: int) -> None:
    """Dask's share of a pass: the threaded pass vs the same kernels called in a loop."""
    import dask
    import h5py

    import streamgmm
    from streamgmm._data.blocks import ModelAssigner, block_statistics
    from streamgmm._data.passes import statistics_pass_many
    from streamgmm._data.source import as_source
    from streamgmm._fit.init import initialise_many

    with h5py.File(path, "r") as f:
        X = f["points"][:]
    source = as_source(X)
    params = initialise_many(
        source, [(k, "full")], "random_from_data", 1e-6, np.random.RandomState(0)
    )[0]
    asg = ModelAssigner(params, "full")
    starts = source.block_starts
    blocks = [X[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    with dask.config.set(scheduler="threads", num_workers=1):
        jobs = [(asg, "full", True)]
        statistics_pass_many(source, jobs)
        t_dask = min(_timed(lambda: statistics_pass_many(source, jobs)) for _ in range(3))
    t_loop = min(
        _timed(lambda: [block_statistics(b, None, 0, "full", asg) for b in blocks])
        for _ in range(3)
    )
    over = t_dask - t_loop
    print(
        f"  Dask overhead per pass (1 thread, {len(blocks)} blocks of {blocks[0].shape[0]:,} "
        f"rows): {over * 1e3:.1f} ms = {100 * over / t_dask:.1f}% of the pass"
    )
    del streamgmm


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=["big", "w1", "all"])
    p.add_argument("--gb", type=float, default=8.0)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.gb, args.n = 0.05, 20_000
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        if args.what in ("big", "all"):
            bench_big(args.gb, folder)
        if args.what in ("w1", "all"):
            bench_w1(args.n, folder, repeats=1 if args.quick else 3)


if __name__ == "__main__":
    main()
