"""Seconds per EM iteration, streamgmm next to scikit-learn (issue 4).

    python benchmarks/bench_em.py                 # W1..W5 at full size (~15 min on 2 cores)
    python benchmarks/bench_em.py --only W1,W4    # some workloads
    python benchmarks/bench_em.py --quick         # smoke run at 1/100 of the rows

Workloads (blobs: K centres uniform in [-5, 5]^d, unit noise): W1 n=1,000,000 d=16 K=16
full; W2 n=2,000,000 d=2 K=8 full; W3 n=200,000 d=64 K=8 full; W4 = W1 diag; W5 = W1
float32. Both estimators get the same data and the same fixed start (weights, means and
precisions), tol=0. An iteration costs (t(max_iter=3) - t(max_iter=1)) / 2, so set-up,
validation and the final steps cancel; the median of ``--runs`` (>= 3) such pairs is
reported, the two sides taking turns in one process. scikit-learn runs with 1 and then 2
BLAS threads (threadpoolctl) and keeps the faster (a 2-thread max_iter=1 fit more than
twice as slow as the 1-thread one is not timed further). streamgmm runs on Dask threads,
one per core, at the default BLAS threads and again at 1 ("BLAS 1t", ratio "1t"): its
kernels call no BLAS, but the M-step's small triangular solves do, and scipy's OpenBLAS
spends ~8 ms per call with 2 threads on this machine. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are removed from the children's environment (on some machines they
select a slower kernel); the BLAS kernel that ran is printed.

Next to wall seconds the CPU seconds of the process are printed: on a machine shared with
other jobs the wall ratio suffers most on the side that needs both cores (ours), while
the CPU-time ratio (scikit-learn's CPU seconds over ours, all threads) barely moves.

GFLOP/s counts the useful work of one iteration (see ``useful_flops``), also for
scikit-learn, against ``--peak`` (70 GFLOP/s: float64 GEMM on 2 cores of this kind of
machine). Peak memory: each side fits again (max_iter=1) in a fresh process after a small
warm-up fit; the kernel's high-water mark of resident memory (VmHWM) is reset just before
the fit, so the number is that fit's peak, data included; "added" is that peak minus the
resident memory just before the fit. The first-fit compile cost is a fresh process's first
fit minus its second, with an empty Numba cache folder (cold) and then with it filled
(warm).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORKLOADS = {
    "W1": dict(n=1_000_000, d=16, k=16, cov="full", dtype="float64"),
    "W2": dict(n=2_000_000, d=2, k=8, cov="full", dtype="float64"),
    "W3": dict(n=200_000, d=64, k=8, cov="full", dtype="float64"),
    "W4": dict(n=1_000_000, d=16, k=16, cov="diag", dtype="float64"),
    "W5": dict(n=1_000_000, d=16, k=16, cov="full", dtype="float32"),
}
MAX_ITERS = (1, 3)
ATTRS = ("weights_", "means_", "covariances_")


def useful_flops(n, d, k, cov, **_):
    """Floating-point work one EM iteration cannot avoid, counting an FMA as 2.

    full: per (row, component) the triangular solve d(d+1), the symmetric weighted outer
    product d(d+1), and 6d for the difference, the squares, the mean and centring sums.
    diag: 10d (difference, scaling, square on each side, the mean sum).
    """
    per = 2 * d * (d + 1) + 6 * d if cov == "full" else 10 * d
    return float(n) * k * per


# --- children ------------------------------------------------------------------------


def make_data(spec, path):
    rng = np.random.RandomState(0)
    n, d, k = spec["n"], spec["d"], spec["k"]
    centres = rng.uniform(-5, 5, (k, d))
    X = np.empty((n, d), dtype=spec["dtype"])
    for i in range(0, n, 1 << 18):  # in slabs: no n x d float64 temporaries
        m = min(1 << 18, n - i)
        X[i : i + m] = rng.standard_normal((m, d)) + centres[rng.randint(k, size=m)]
    np.save(path, X)


def fixed_start(X, k, cov):
    """scikit-learn's init parameters: K distinct rows, precisions from the data's variance."""
    rng = np.random.RandomState(1)
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    var = X[:100_000].astype(np.float64).var(axis=0)
    prec = np.stack([np.diag(1.0 / var)] * k) if cov == "full" else np.tile(1.0 / var, (k, 1))
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=prec)


def estimator(side, spec, start, max_iter):
    kw = dict(covariance_type=spec["cov"], tol=0.0, max_iter=max_iter, **start)
    if side == "ours":
        import streamgmm

        return streamgmm.GaussianMixture(spec["k"], **kw)
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(spec["k"], **kw)


def timed_fit(side, spec, start, X, max_iter, threads):
    """(wall seconds, CPU seconds of this process, fitted estimator)."""
    import warnings

    from threadpoolctl import threadpool_limits

    est = estimator(side, spec, start, max_iter)
    with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        t, c = time.perf_counter(), time.process_time()
        est.fit(X)
        return time.perf_counter() - t, time.process_time() - c, est


def per_iteration(side, spec, start, X, threads, give_up_after=None, raw=None):
    """((wall, CPU) seconds per iteration, the max_iter=3 estimator); appends the two fits'
    wall seconds to ``raw`` when given.

    (None, None) when the max_iter=1 fit takes longer than ``give_up_after`` seconds.
    """
    wall1, cpu1, _ = timed_fit(side, spec, start, X, MAX_ITERS[0], threads)
    if give_up_after is not None and wall1 > give_up_after:
        return None, None
    wall3, cpu3, est = timed_fit(side, spec, start, X, MAX_ITERS[1], threads)
    if raw is not None:
        raw.append((wall1, wall3))
    m = MAX_ITERS[1] - MAX_ITERS[0]
    return ((wall3 - wall1) / m, (cpu3 - cpu1) / m), est


def min_based(raw):
    """(min t(max_iter=3) - min t(max_iter=1)) / 2: a cross-check of the median of the
    per-run differences, since a slow max_iter=1 fit (another job took the core) makes one
    difference far too small and a slow max_iter=3 fit one far too large; the fastest of
    each is the least disturbed."""
    return (min(w3 for _, w3 in raw) - min(w1 for w1, _ in raw)) / (MAX_ITERS[1] - MAX_ITERS[0])


def child_timing(spec):
    """Both sides in one process, taking turns; per-iteration (wall, CPU) seconds and diffs."""
    X = np.load(spec["path"])
    start = fixed_start(X, spec["k"], spec["cov"])
    small = dict(spec, n=2000)
    for side in ("ours", "sklearn"):  # compile / load kernels, import everything
        timed_fit(side, small, fixed_start(X[:2000], spec["k"], spec["cov"]), X[:2000], 1, 1)
    # scikit-learn's 2-thread runs were 2-17x slower than 1 thread on these shapes (issue 4):
    # a 2-thread max_iter=1 fit slower than twice the 1-thread one is not timed further.
    sk_by_threads, raw_by_threads = {}, {1: [], 2: []}
    sk_by_threads[1], sk_est = per_iteration("sklearn", spec, start, X, 1, raw=raw_by_threads[1])
    t1_one = timed_fit("sklearn", spec, start, X, MAX_ITERS[0], 1)[0]
    sk_by_threads[2], est2 = per_iteration(
        "sklearn", spec, start, X, 2, 2 * t1_one, raw=raw_by_threads[2]
    )
    # The faster setting by the two fits' total time, not by their difference: one pair's
    # difference can even come out negative when page faults slow its max_iter=1 fit.
    total = {n: sum(raw[0]) for n, raw in raw_by_threads.items() if raw}
    best = 2 if sk_by_threads[2] is not None and total[2] < total[1] else 1
    sk_est = est2 if best == 2 else sk_est
    # Ours at the default BLAS threads (what a user gets) and at 1: the kernels use no BLAS,
    # but the M-step's small triangular solves do (docs/benchmarks.md).
    ours, ours1, sk = [], [], [sk_by_threads[best]]
    ours_raw, sk_raw = [], raw_by_threads[best]
    for _ in range(spec["runs"]):
        t, our_est = per_iteration("ours", spec, start, X, None, raw=ours_raw)
        ours.append(t)
        ours1.append(per_iteration("ours", spec, start, X, 1)[0])
        if len(sk) < spec["runs"]:
            t, sk_est = per_iteration("sklearn", spec, start, X, best, raw=sk_raw)
            sk.append(t)
    diffs = {}
    for name in ATTRS:
        a = np.asarray(getattr(our_est, name), float)
        b = np.asarray(getattr(sk_est, name), float)
        diffs[name] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    from threadpoolctl import threadpool_info

    blas = [
        f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return dict(
        ours=[w for w, _ in ours],
        ours_blas1=[w for w, _ in ours1],
        sklearn=[w for w, _ in sk],
        ours_cpu=[c for _, c in ours],
        sklearn_cpu=[c for _, c in sk],
        ours_raw=ours_raw,
        sklearn_raw=sk_raw,
        sk_threads=best,
        sk_by_threads={k: None if v is None else v[0] for k, v in sk_by_threads.items()},
        diffs=diffs,
        blas=blas,
        dtype=str(our_est.means_.dtype),
    )


def _status_kb(field):
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def child_memory(spec):
    """Peak resident memory of one fit (max_iter=1) after a warm-up, in MB."""
    X = np.load(spec["path"])
    start = fixed_start(X, spec["k"], spec["cov"])
    small_start = fixed_start(X[:2000], spec["k"], spec["cov"])
    timed_fit(spec["side"], dict(spec, n=2000), small_start, X[:2000], 1, spec["threads"])
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    timed_fit(spec["side"], spec, start, X, 1, spec["threads"])
    peak = _status_kb("VmHWM")
    return dict(peak_mb=peak / 1024, added_mb=(peak - before) / 1024, x_mb=X.nbytes / 2**20)


def child_compile(spec):
    """First fit minus second fit of a small W1 problem in this fresh process."""
    t = time.perf_counter()
    import streamgmm

    t_import = time.perf_counter() - t
    rng = np.random.RandomState(0)
    X = (
        rng.standard_normal((20_000, 16))
        + rng.uniform(-5, 5, (16, 16))[rng.randint(16, size=20_000)]
    )
    times = []
    for _ in range(2):
        t = time.perf_counter()
        streamgmm.GaussianMixture(16, max_iter=2, tol=0, random_state=0).fit(X)
        times.append(time.perf_counter() - t)
    return dict(import_s=t_import, first_s=times[0], second_s=times[1])


CHILDREN = {"timing": child_timing, "memory": child_memory, "compile": child_compile}


# --- parent --------------------------------------------------------------------------


def child_env(**extra):
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    env.update(extra)
    return env


def run_child(kind, spec, **env):
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(spec)],
        env=child_env(**env),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_workload(name, spec, runs, tmp):
    path = str(Path(tmp) / f"{name}.npy")
    make_data(spec, path)
    spec = dict(spec, path=path, runs=runs)
    timing = run_child("timing", spec)
    memory = {
        side: run_child("memory", dict(spec, side=side, threads=threads))
        for side, threads in (("ours", None), ("sklearn", timing["sk_threads"]))
    }
    os.unlink(path)
    return dict(spec=spec, timing=timing, memory=memory)


def bench_compile(tmp):
    cache = str(Path(tmp) / "numba-cache")
    cold = run_child("compile", {}, NUMBA_CACHE_DIR=cache)
    warm = run_child("compile", {}, NUMBA_CACHE_DIR=cache)
    return dict(cold=cold, warm=warm)


def report(results, compile_cost, peak):
    head = (
        f"{'':4} {'n':>9} {'d':>3} {'K':>3} {'cov':>5} {'dtype':>7} | {'ours s/it':>9} "
        f"{'BLAS 1t':>7} {'sklearn s/it':>12} {'ratio':>6} {'1t':>5} | {'GFLOP/s ours':>12} "
        f"{'sklearn':>7} {'% peak':>6} | {'peak MB ours':>12} {'sklearn':>7} {'ratio':>5} "
        f"{'added MB ours':>13} {'sklearn':>7} | max rel diff"
    )
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        s, t, m = r["spec"], r["timing"], r["memory"]
        ours, sk = statistics.median(t["ours"]), statistics.median(t["sklearn"])
        ours1 = statistics.median(t["ours_blas1"])
        flops = useful_flops(**s)
        gflops_ours, gflops_sk = flops / min(ours, ours1) / 1e9, flops / sk / 1e9
        print(
            f"{name:4} {s['n']:>9,} {s['d']:>3} {s['k']:>3} {s['cov']:>5} {s['dtype']:>7} | "
            f"{ours:9.3f} {ours1:7.3f} {sk:9.3f} ({t['sk_threads']}t) {sk / ours:5.1f}x "
            f"{sk / ours1:4.1f}x | "
            f"{gflops_ours:12.1f} {gflops_sk:7.1f} {100 * gflops_ours / peak:5.0f}% | "
            f"{m['ours']['peak_mb']:12.0f} {m['sklearn']['peak_mb']:7.0f} "
            f"{m['ours']['peak_mb'] / m['sklearn']['peak_mb']:5.2f} "
            f"{m['ours']['added_mb']:13.0f} {m['sklearn']['added_mb']:7.0f} | "
            f"{max(t['diffs'].values()):.1e}"
        )
    print()
    for name, r in results.items():
        t = r["timing"]
        runs = lambda xs: " ".join(f"{x:.3f}" for x in xs)  # noqa: E731
        by_threads = ", ".join(
            f"{k} thread(s) "
            + ("not timed: max_iter=1 over 2x slower" if v is None else f"{v:.3f}")
            for k, v in t["sk_by_threads"].items()
        )
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in t["diffs"].items())
        print(
            f"{name}: ours {runs(t['ours'])} (BLAS 1 thread: {runs(t['ours_blas1'])}); "
            f"sklearn {runs(t['sklearn'])} [{by_threads}]"
        )
        cpu = statistics.median(t["sklearn_cpu"]) / statistics.median(t["ours_cpu"])
        print(
            f"    CPU s/it (all threads): ours {runs(t['ours_cpu'])}; "
            f"sklearn {runs(t['sklearn_cpu'])}; CPU-time ratio {cpu:.1f}x"
        )
        if t.get("sklearn_raw"):
            o, k = min_based(t["ours_raw"]), min_based(t["sklearn_raw"])
            print(
                f"    min-based s/it (fastest max_iter=3 fit minus fastest max_iter=1 fit): "
                f"ours {o:.3f}, sklearn {k:.3f}, ratio {k / o:.1f}x"
            )
        print(f"    X {r['memory']['ours']['x_mb']:.0f} MB; fitted {t['dtype']}; rel diff {diffs}")
    if results:
        print("BLAS:", "; ".join(next(iter(results.values()))["timing"]["blas"]))
    if compile_cost:
        c, w = compile_cost["cold"], compile_cost["warm"]
        print(
            f"First fit (n=20,000 d=16 K=16 full, k-means init): compile + load "
            f"{c['first_s'] - c['second_s']:.1f} s cold (empty cache), "
            f"{w['first_s'] - w['second_s']:.1f} s warm (cached); "
            f"import streamgmm {c['import_s']:.1f} s / {w['import_s']:.1f} s"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--runs", type=int, default=3, help="timed (max_iter 1, 3) pairs per side")
    ap.add_argument(
        "--quick", action="store_true", help="1/100 of the rows, 3 runs, no compile cost"
    )
    ap.add_argument(
        "--scale", type=float, default=None, help="fraction of the rows (overrides --quick)"
    )
    ap.add_argument("--peak", type=float, default=70.0, help="machine GFLOP/s for the %% column")
    ap.add_argument("--no-compile", action="store_true", help="skip the first-fit compile cost")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](json.loads(args.child[1]))))
        return
    scale = args.scale if args.scale is not None else (0.01 if args.quick else 1.0)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"note: {var}={os.environ[var]} is removed from the benchmark's processes")
    print(f"{os.cpu_count()} CPUs; {args.runs} runs; rows x {scale:g}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            spec = dict(WORKLOADS[name])
            spec["n"] = max(2000, int(spec["n"] * scale))
            results[name] = bench_workload(name, spec, args.runs, tmp)
            print(f"{name} done", flush=True)
        skip = args.no_compile or args.quick
        compile_cost = None if skip else bench_compile(tmp)
    report(results, compile_cost, args.peak)
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(results=results, compile=compile_cost), indent=1)
        )


if __name__ == "__main__":
    main()
