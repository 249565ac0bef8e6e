"""Reliability benchmarks, RELIABILITY.md rows R1, R4, R5 and F4 (too long for CI).

    python benchmarks/bench_reliability.py                     # everything (about 10 min)
    python benchmarks/bench_reliability.py --quick             # small sizes (about 2 min)
    python benchmarks/bench_reliability.py --only r4 f4        # some sections
    python benchmarks/bench_reliability.py --json figures.json # also write the figures

R1  a fit under ``RLIMIT_AS`` of a file twice the limit: peak RSS, data size / peak RSS.
R4  column chunks ``(200000, 1)`` vs row chunks ``(16384, d)``: GB/s of a read and an EM pass.
R5  a gzip dataset: GB/s with 1, 2, 4 threads and 2, 4 worker processes.
F4  20 random 4 KiB overwrites of chunk data, without and with fletcher32: how many are caught.

Every measurement that needs a fresh process (a memory limit, a scheduler, ``ru_maxrss``)
runs in a subprocess; the files sit in the page cache (just written), so GB/s are read and
decode speeds, not disk speeds. The machine may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30

CHILD = r"""
import json, logging, resource, sys, time, warnings
spec = json.loads(sys.argv[1])
if spec.get("limit"):
    resource.setrlimit(resource.RLIMIT_AS, (spec["limit"], spec["limit"]))

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))

import numpy as np
import dask
import streamgmm

out = {"rss_imports": rss()}
passes = []

class Passes(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("pass "):
            passes.append(record.args[2])  # seconds of the pass (_em.py's INFO line)

log = logging.getLogger("streamgmm")
log.setLevel(logging.INFO)
log.addHandler(Passes())

def start_params(k, d):
    rng = np.random.RandomState(0)
    return dict(weights_init=np.full(k, 1.0 / k), means_init=rng.uniform(-8, 8, (k, d)),
                precisions_init=np.ones((k, d)))

def fit(X, iters, **kw):
    gm = streamgmm.GaussianMixture(spec["k"], covariance_type="diag", max_iter=iters, tol=0.0,
                                   **start_params(spec["k"], X.shape[1]), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    return gm

if spec.get("legacy"):  # the read path before column strips: whole blocks, a big cache
    import math
    from streamgmm._io import handles, hdf5
    def old_cache_bytes(ds, rows):
        c_rows, c_cols = ds.chunks
        n = (math.ceil(rows / c_rows) + 1) * math.ceil(ds.shape[1] / c_cols)
        return int(min(max(c_rows * c_cols * ds.dtype.itemsize * n, 1 << 20), 1 << 30))
    hdf5._cache_bytes, handles.read_block = old_cache_bytes, lambda ds, index: ds[index]

def run():
    X = streamgmm.read_hdf5(spec["path"], "points", chunk_rows=spec.get("chunk_rows"))
    out["nbytes"], out["blocks"] = int(X.nbytes), len(X.chunks[0])
    if spec.get("r1"):
        fit(X, spec["iters"], **spec.get("fit_kw", {}))  # the user's call
        out["pass_times"] = list(passes)
        return
    fit(X, 1, cache=False)      # warm-up: compiled kernels loaded, workers' handles opened
    out["read_times"], out["pass_times"] = [], []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        X.sum().compute()
        out["read_times"].append(time.perf_counter() - t)
        del passes[:]
        fit(X, 1, cache=False)
        out["pass_times"].append(passes[0])

if spec.get("processes"):
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=spec["processes"], threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster):
        run()
else:
    with dask.config.set(scheduler="threads", num_workers=spec.get("threads") or None):
        run()
out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out["rss_end"] = rss()
print(json.dumps(out))
"""


def child(spec: dict, timeout: float = 900) -> dict:
    """Run CHILD with ``spec`` in a fresh interpreter; {"error": ...} if it fails."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    cmd = [sys.executable, "-c", CHILD, json.dumps(spec)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def write_points(
    path: Path, n: int, d: int = 16, seed: int = 0, quantum: float = 0.0, **dataset_kw
) -> float:
    """Blobs (8 centres) written in slabs of 2**20 rows, never whole in memory; seconds.

    ``quantum`` rounds the values to multiples of it, as instruments do (compressible).
    """
    import h5py

    t = time.perf_counter()
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-8, 8, size=(8, d))
    slab = 1 << 20
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", **dataset_kw)
        for i in range(0, n, slab):
            m = min(slab, n - i)
            x = centres[rng.randint(0, 8, m)] + rng.standard_normal((m, d))
            ds[i : i + m] = np.round(x / quantum) * quantum if quantum else x
    return time.perf_counter() - t


def rows_for(nbytes: float, d: int = 16) -> int:
    return int(nbytes // (8 * d))


def gbps(nbytes: int, seconds: float) -> float:
    return nbytes / 1e9 / seconds


# --------------------------------------------------------------------------------------- R1


def bench_r1(folder: Path, quick: bool) -> dict:
    """A fit under RLIMIT_AS of a file twice the limit (quick: a smaller file, same limit)."""
    probe = folder / "r1_probe.h5"
    write_points(probe, rows_for(64e6), chunks=(16384, 16))
    smallest = None
    for mib in (1024, 896, 768, 640, 512):  # the smallest limit a small fit completes under
        r = child(dict(path=str(probe), k=8, iters=2, r1=True, limit=mib * 2**20))
        if "error" in r:
            print(f"  RLIMIT_AS {mib} MiB, 64 MB file: fails ({r['error'][:110]})")
            break
        smallest = mib
        print(f"  RLIMIT_AS {mib} MiB, 64 MB file: completes (peak RSS {r['peak'] / 1e6:.0f} MB)")
    limit = GIB if smallest is None else max(smallest * 2**20, GIB)
    size = (0.25 if quick else 2.0) * limit
    path = folder / "r1.h5"
    secs = write_points(path, rows_for(size), chunks=(16384, 16))
    on_disk = path.stat().st_size
    print(f"  wrote {on_disk / GIB:.2f} GiB in {secs:.0f} s; fitting under {limit / GIB:g} GiB")
    fig = dict(limit=limit, smallest_limit_mib=smallest, file_bytes=on_disk, runs={})
    for label, fit_kw in (
        ("defaults", {}),  # cache="auto", memory_limit="auto"
        (f'memory_limit="{limit // 2**20}MiB"', dict(memory_limit=limit)),
    ):
        r = child(dict(path=str(path), k=8, iters=2, r1=True, limit=limit, fit_kw=fit_kw))
        fig["runs"][label] = r
        if "error" in r:
            print(f"  {label}: FAILED under RLIMIT_AS {limit / GIB:g} GiB: {r['error'][:200]}")
            continue
        print(
            f"R1 ({label}): {on_disk / GIB:.2f} GiB file fitted under RLIMIT_AS="
            f"{limit / GIB:g} GiB (2 EM passes, {r['blocks']} blocks, "
            f"{np.mean(r['pass_times']):.1f} s/pass): completed; peak RSS {r['peak'] / 1e6:.0f} MB "
            f"({r['rss_imports'] / 1e6:.0f} MB after imports), file / peak RSS = "
            f"{on_disk / r['peak']:.1f}; smallest working limit {smallest} MiB"
        )
    return fig


# --------------------------------------------------------------------------------------- R4


def timed_layout(path: Path, repeats: int, **spec) -> dict:
    r = child(dict(path=str(path), k=8, repeats=repeats, **spec))
    if "error" in r:
        raise RuntimeError(f"{path.name}: {r['error']}")
    return dict(
        read=gbps(r["nbytes"], min(r["read_times"])),
        em=gbps(r["nbytes"], min(r["pass_times"])),
        blocks=r["blocks"],
    )


def bench_r4(folder: Path, quick: bool) -> dict:
    """Column chunks (200000, 1) vs row chunks (16384, d): the same data, GB/s each."""
    n, d = (1_000_000 if quick else 4_000_000), 16
    layouts = {"rows (16384, 16)": (16384, d), "columns (200000, 1)": (200000, 1)}
    figs = {}
    for label, chunks in layouts.items():
        path = folder / f"r4_{chunks[0]}x{chunks[1]}.h5"
        write_points(path, n, d, chunks=chunks)
        figs[label] = timed_layout(path, 1 if quick else 3)
        if chunks[1] == 1:  # the same file through the read path before column strips
            figs["columns, before (whole-block reads)"] = timed_layout(path, 1, legacy=True)
        path.unlink()
    rows, cols = figs["rows (16384, 16)"], figs["columns (200000, 1)"]
    print(f"  {n:,} x {d} float64 ({n * d * 8 / 1e6:.0f} MB), K=8 diag, default threads")
    for label, f in figs.items():
        print(f"  {label:<22} read {f['read']:5.2f} GB/s   EM pass {f['em']:5.2f} GB/s")
    out = dict(
        n=n,
        d=d,
        layouts=figs,
        read_ratio=rows["read"] / cols["read"],
        em_ratio=rows["em"] / cols["em"],
    )
    print(
        f"R4: column chunks {cols['read']:.2f} vs row chunks {rows['read']:.2f} GB/s read "
        f"(row/column = {out['read_ratio']:.2f}x), EM pass {cols['em']:.2f} vs "
        f"{rows['em']:.2f} GB/s ({out['em_ratio']:.2f}x)"
    )
    return out


# --------------------------------------------------------------------------------------- R5


#: rows per block in R5: 8 MB, so that even --quick has a block for every worker
R5_BLOCK = 65536


def bench_r5(folder: Path, quick: bool) -> dict:
    """A gzip dataset read and fitted with 1, 2, 4 threads and 2, 4 worker processes."""
    n, d = (1_000_000 if quick else 4_000_000), 16
    path = folder / "r5_gzip.h5"
    write_points(
        path, n, d, quantum=2**-10, chunks=(16384, d), compression="gzip", compression_opts=4
    )
    ratio = n * d * 8 / path.stat().st_size
    print(
        f"  {n:,} x {d} float64 ({n * d * 8 / 1e6:.0f} MB) in multiples of 2**-10, gzip level 4 "
        f"({ratio:.2f}:1), chunks (16384, {d}), blocks of {R5_BLOCK:,} rows"
    )
    figs = {}
    for label, spec in (
        ("1 thread", dict(threads=1)),
        ("2 threads", dict(threads=2)),
        ("4 threads", dict(threads=4)),
        ("2 processes", dict(processes=2)),
        ("4 processes", dict(processes=4)),
    ):
        figs[label] = timed_layout(path, 1 if quick else 2, chunk_rows=R5_BLOCK, **spec)
        f = figs[label]
        print(f"  {label:<12} read {f['read']:5.3f} GB/s   EM pass {f['em']:5.3f} GB/s")
    line = ", ".join(f"{k} {v['read']:.3f}" for k, v in figs.items())
    em = ", ".join(f"{k} {v['em']:.3f}" for k, v in figs.items())
    print(f"R5: gzip read GB/s: {line}; EM pass GB/s: {em}")
    return dict(n=n, d=d, compression_ratio=ratio, configs=figs)


# --------------------------------------------------------------------------------------- F4


def corrupt(src: Path, dst: Path, rng: np.random.RandomState, plausible: bool):
    """Copy src to dst with 4 KiB overwritten inside one random chunk's stored bytes.

    Random bytes (``plausible=False``) or 4 KiB of other, valid float64 values of the same
    file (8-byte aligned). Returns the rows of the chunk hit.
    """
    import h5py

    shutil.copyfile(src, dst)
    with h5py.File(src, "r") as f:
        ds = f["points"]
        i = int(rng.randint(ds.id.get_num_chunks()))
        info = ds.id.get_chunk_info(i)
        rows = (info.chunk_offset[0], min(info.chunk_offset[0] + ds.chunks[0], ds.shape[0]))
        # the rows' bytes: not the checksum after them, nor the padding of an edge chunk
        data_bytes = min(info.size - 4 * ds.fletcher32, (rows[1] - rows[0]) * ds.shape[1] * 8)
    start = info.byte_offset + 8 * rng.randint((data_bytes - 4096) // 8)
    with open(dst, "r+b") as f:
        if plausible:
            donor = info.byte_offset + 8 * rng.randint((data_bytes - 4096) // 8)
            f.seek(donor)
            patch = f.read(4096)
            if donor == start:
                patch = patch[8:] + patch[:8]
        else:
            patch = rng.bytes(4096)
        f.seek(start)
        f.write(patch)
    return rows


def named_rows(message: str) -> list[tuple[int, int]]:
    """The row ranges an error message names: "rows a..b" and "row r"."""
    num = r"(\d[\d,]*)"
    spans = [(a, b) for a, b in re.findall(rf"rows {num}\.\.{num}", message)]
    spans += [(r, r) for r in re.findall(rf"\brow {num}", message)]
    return [(int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in spans]


def _span(widths: list[int]) -> str:
    return f"{min(widths):,}-{max(widths):,}" if widths else "-"


def bench_f4(folder: Path, quick: bool) -> dict:
    """20 random 4 KiB overwrites per case: caught (an error naming the rows) or silent."""
    import warnings

    import streamgmm

    n, d, k = (200_000 if quick else 1_000_000), 8, 4
    trials = 20
    out = {}
    for fletcher32 in (False, True):
        clean = folder / f"f4_{int(fletcher32)}.h5"
        write_points(clean, n, d, chunks=(8192, d), fletcher32=fletcher32)
        rng0 = np.random.RandomState(0)
        start = dict(
            weights_init=np.full(k, 1.0 / k),
            means_init=rng0.uniform(-8, 8, (k, d)),
            precisions_init=np.ones((k, d)),
        )

        def fit(path, start=start):
            gm = streamgmm.GaussianMixture(
                k, covariance_type="diag", max_iter=3, tol=0.0, cache=False, **start
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return gm.fit(streamgmm.read_hdf5(path, "points"))

        ref = fit(clean).means_
        for plausible in (False, True):
            kind = "valid floats" if plausible else "random bytes"
            rng = np.random.RandomState(1 + plausible)
            counts = dict(
                caught=0, caught_right_rows=0, silent_different=0, silent_same=0, rows_named=[]
            )
            for t in range(trials):
                bad = folder / f"f4_bad_{t}.h5"
                a, b = corrupt(clean, bad, rng, plausible)
                try:
                    means = fit(bad).means_
                except (OSError, ValueError) as exc:
                    counts["caught"] += 1
                    named = named_rows(str(exc))
                    if any(lo < b and a <= hi for lo, hi in named):
                        counts["caught_right_rows"] += 1
                        counts["rows_named"].append(min(hi - lo + 1 for lo, hi in named))
                else:
                    same = np.array_equal(means, ref)
                    counts["silent_same" if same else "silent_different"] += 1
                bad.unlink()
            label = f"{'fletcher32' if fletcher32 else 'no checksum'}, {kind}"
            out[label] = counts
            print(
                f"  {label:<28} caught {counts['caught']}/{trials} "
                f"(naming the hit rows {counts['caught_right_rows']}, a span of "
                f"{_span(counts['rows_named'])} rows), silently different model "
                f"{counts['silent_different']}, no effect {counts['silent_same']}"
            )
        clean.unlink()
    summary = "; ".join(
        f"{label}: {c['caught']}/{trials} caught, {c['silent_different']} silent"
        for label, c in out.items()
    )
    print(f"F4: {summary}")
    return out


SECTIONS = {"r1": bench_r1, "r4": bench_r4, "r5": bench_r5, "f4": bench_f4}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    p.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    p.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    figures = {"quick": args.quick, "cpus": os.cpu_count(), "load_before": load}
    for name in args.only:
        print(f"\n{name.upper()}: {SECTIONS[name].__doc__.splitlines()[0]}", flush=True)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            figures[name] = SECTIONS[name](Path(tmp), args.quick)
        figures[name]["seconds"] = time.perf_counter() - t
        print(f"  ({figures[name]['seconds']:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
    figures["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
