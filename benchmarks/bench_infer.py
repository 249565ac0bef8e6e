"""Inference next to scikit-learn: score_samples, predict and predict_proba.

    python benchmarks/bench_infer.py [--n 400000] [--runs 5] [--quick]

Fits one model per covariance type (full and diag, d=16, K=16) on blobs, gives scikit-learn
the same parameters, and times each method on the same n rows in one process: the median
of ``--runs`` calls per side, streamgmm on Dask's local threads (one per core) and again
on one thread (the synchronous scheduler), scikit-learn at one BLAS thread. Prints seconds,
the ratios and the largest difference of the results (labels: the share that differ).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import dask
import numpy as np
from sklearn.mixture import GaussianMixture as SKGaussianMixture
from threadpoolctl import threadpool_limits

import streamgmm

METHODS = ("score_samples", "predict", "predict_proba")
ATTRS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def blobs(n, d, k, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-5, 5, (k, d))
    return centres[rng.randint(k, size=n)] + rng.standard_normal((n, d))


def models(X, cov, k):
    """(ours, scikit-learn's) with the same fitted parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = streamgmm.GaussianMixture(k, covariance_type=cov, max_iter=5, random_state=0)
        ours.fit(X[:100_000])
    sk = SKGaussianMixture(k, covariance_type=cov)
    for name in ATTRS:
        setattr(sk, name, getattr(ours, name))
    sk.converged_, sk.n_iter_, sk.lower_bound_ = True, 5, 0.0
    sk.n_features_in_ = X.shape[1]
    return ours, sk


def timed(model, method, X, runs):
    """(median seconds of ``runs`` calls of model.method(X), the last result)."""
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = getattr(model, method)(X)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def difference(method, a, b):
    if method == "predict":
        return f"{np.mean(a != b):.1e} differ"
    scale = np.maximum(np.abs(b), 1e-300)
    return f"{np.max(np.abs(a - b) / scale):.1e} rel"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="20,000 rows, 3 runs")
    a = p.parse_args(argv)
    n, runs = (20_000, 3) if a.quick else (a.n, a.runs)
    d, k = 16, 16
    X = blobs(n, d, k)
    print(f"n={n:,} d={d} K={k}; median of {runs} calls")
    header = f"{'cov':5} {'method':14} | {'ours s':>7} {'1 thread':>8} {'sklearn':>8} | "
    print(header + f"{'ratio':>6} {'1t':>6} | difference")
    print("-" * (len(header) + 32))
    for cov in ("full", "diag"):
        ours, sk = models(X, cov, k)
        for method in METHODS:
            getattr(ours, method)(X[:1000])  # compile outside the timing
            t_ours, got = timed(ours, method, X, runs)
            with dask.config.set(scheduler="synchronous"):
                t_one, _ = timed(ours, method, X, runs)
            with threadpool_limits(1, "blas"):
                t_sk, want = timed(sk, method, X, runs)
            print(
                f"{cov:5} {method:14} | {t_ours:7.3f} {t_one:8.3f} {t_sk:8.3f} | "
                f"{t_sk / t_ours:5.1f}x {t_sk / t_one:5.1f}x | {difference(method, got, want)}"
            )


if __name__ == "__main__":
    main()
