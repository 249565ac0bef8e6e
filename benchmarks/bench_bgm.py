"""Seconds per iteration of BayesianGaussianMixture, streamgmm next to scikit-learn (issue 19),
with GaussianMixture's ratio on the same workload measured alongside.

    python benchmarks/bench_bgm.py                # W1 and W4 at full size (~10 min on 2 cores)
    python benchmarks/bench_bgm.py --only W4      # one workload
    python benchmarks/bench_bgm.py --quick        # smoke run at 1/500 of the rows

Workloads are bench_em.py's: W1 n=1,000,000 d=16 K=16 full, W4 the same with diag (blobs:
K centres uniform in [-5, 5]^d, unit noise). Each workload runs in a child process where
both sides take turns on the same data. An iteration costs (t(max_iter=3) - t(max_iter=1))
/ 2, so set-up, validation, the start and the priors' pass cancel; the median of ``--runs``
such pairs is reported (and the min-based cross-check of bench_em.py).

- BayesianGaussianMixture: both sides start from ``init_params="random_from_data"`` with
  the same ``random_state`` (the same rows: streamgmm draws scikit-learn's), default
  priors, tol=0.
- GaussianMixture: bench_em.py's fixed start (weights, means, precisions), tol=0.

scikit-learn runs at 1 or 2 BLAS threads (threadpoolctl), whichever gave the faster
max_iter=1 fit of its GaussianMixture; streamgmm on Dask threads, one per core. Next to
wall seconds, CPU seconds of the process: on a machine shared with other jobs the wall ratio
suffers most on the side that uses both cores (ours). The last columns are the largest
relative difference of the fitted attributes from scikit-learn's after 3 iterations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_em import WORKLOADS, fixed_start, make_data  # noqa: E402

MAX_ITERS = (1, 3)
BGM_ATTRS = ("weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_")
GM_ATTRS = ("weights_", "means_", "covariances_")


def estimator(model, side, spec, start, max_iter):
    kw = dict(covariance_type=spec["cov"], tol=0.0, max_iter=max_iter)
    if model == "bgm":
        kw.update(n_components=spec["k"], init_params="random_from_data", random_state=1)
        if side == "ours":
            import streamgmm

            return streamgmm.BayesianGaussianMixture(**kw)
        from sklearn.mixture import BayesianGaussianMixture

        return BayesianGaussianMixture(**kw)
    if side == "ours":
        import streamgmm

        return streamgmm.GaussianMixture(spec["k"], **kw, **start)
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(spec["k"], **kw, **start)


def timed_fit(model, side, spec, start, X, max_iter, threads):
    """(wall seconds, CPU seconds of this process, fitted estimator)."""
    import warnings

    from threadpoolctl import threadpool_limits

    est = estimator(model, side, spec, start, max_iter)
    with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        t, c = time.perf_counter(), time.process_time()
        est.fit(X)
        return time.perf_counter() - t, time.process_time() - c, est


def pairs(model, side, spec, start, X, threads, runs):
    """Per-iteration (wall, CPU) seconds of each run, the raw wall pairs, the last estimator."""
    out, raw, est = [], [], None
    for _ in range(runs):
        w1, c1, _ = timed_fit(model, side, spec, start, X, MAX_ITERS[0], threads)
        w3, c3, est = timed_fit(model, side, spec, start, X, MAX_ITERS[1], threads)
        m = MAX_ITERS[1] - MAX_ITERS[0]
        out.append(((w3 - w1) / m, (c3 - c1) / m))
        raw.append((w1, w3))
    return out, raw, est


def rel_diffs(ours, sk, names) -> dict:
    return {
        name: float(
            np.linalg.norm(np.asarray(getattr(ours, name), float) - getattr(sk, name))
            / np.linalg.norm(np.asarray(getattr(sk, name), float))
        )
        for name in names
    }


def child_timing(spec):
    X = np.load(spec["path"])
    start = fixed_start(X, spec["k"], spec["cov"])
    small = X[:2000]
    for model in ("gm", "bgm"):  # compile / load kernels, import everything
        for side in ("ours", "sklearn"):
            timed_fit(model, side, dict(spec, n=2000), fixed_start(small, spec["k"], spec["cov"]),
                      small, 1, 1)  # fmt: skip
    by_threads = {t: timed_fit("gm", "sklearn", spec, start, X, 1, t)[0] for t in (1, 2)}
    threads = min(by_threads, key=by_threads.get)
    result = dict(sk_threads=threads, sk_probe=by_threads)
    for model, names in (("gm", GM_ATTRS), ("bgm", BGM_ATTRS)):
        ours, ours_raw, ours_est = pairs(model, "ours", spec, start, X, None, spec["runs"])
        sk, sk_raw, sk_est = pairs(model, "sklearn", spec, start, X, threads, spec["runs"])
        result[model] = dict(
            ours=[w for w, _ in ours],
            ours_cpu=[c for _, c in ours],
            sklearn=[w for w, _ in sk],
            sklearn_cpu=[c for _, c in sk],
            ours_raw=ours_raw,
            sklearn_raw=sk_raw,
            diffs=rel_diffs(ours_est, sk_est, names),
        )
    return result


def min_based(raw):
    return (min(w3 for _, w3 in raw) - min(w1 for w1, _ in raw)) / (MAX_ITERS[1] - MAX_ITERS[0])


def run_child(spec):
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results) -> None:
    head = (
        f"{'':4} {'model':>22} | {'ours s/it':>9} {'sklearn s/it':>12} {'ratio':>6} "
        f"{'min-based':>9} {'CPU ratio':>9} | max rel diff"
    )
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        for model, label in (("gm", "GaussianMixture"), ("bgm", "BayesianGaussianMixture")):
            t = r[model]
            ours, sk = statistics.median(t["ours"]), statistics.median(t["sklearn"])
            cpu = statistics.median(t["sklearn_cpu"]) / statistics.median(t["ours_cpu"])
            mins = min_based(t["sklearn_raw"]) / min_based(t["ours_raw"])
            print(
                f"{name:4} {label:>22} | {ours:9.3f} {sk:9.3f} ({r['sk_threads']}t) "
                f"{sk / ours:5.1f}x {mins:8.1f}x {cpu:8.1f}x | {max(t['diffs'].values()):.1e}"
            )
    print()
    for name, r in results.items():
        for model in ("gm", "bgm"):
            t = r[model]
            runs = lambda xs: " ".join(f"{x:.3f}" for x in xs)  # noqa: E731
            print(
                f"{name} {model}: ours {runs(t['ours'])} s/it; sklearn {runs(t['sklearn'])} s/it; "
                f"diffs " + ", ".join(f"{k} {v:.1e}" for k, v in t["diffs"].items())
            )
        probe = ", ".join(f"{k}t {v:.2f} s" for k, v in r["sk_probe"].items())
        print(f"{name} scikit-learn max_iter=1 GaussianMixture probe: {probe}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="W1,W4", help="workloads, e.g. W1,W4 (default)")
    p.add_argument("--runs", type=int, default=3, help="timed pairs per side (default 3)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the rows")
    p.add_argument("--quick", action="store_true", help="--scale 0.002 --runs 1")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child_timing(json.loads(args.child))))
        return
    if args.quick:
        args.scale, args.runs = 0.002, 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            spec = dict(WORKLOADS[name])
            spec["n"] = max(2000, int(spec["n"] * args.scale))
            path = str(Path(tmp) / f"{name}.npy")
            make_data(spec, path)
            results[name] = run_child(dict(spec, path=path, runs=args.runs))
            results[name]["spec"] = spec
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
