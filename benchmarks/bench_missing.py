"""Missing values (``missing="em"``): what a pass costs, and what the exact EM buys.

    python benchmarks/bench_missing.py cost            # W1's shape, 0%, 1%, 10% missing (1 min)
    python benchmarks/bench_missing.py bias --plot docs/missing_mar.png   # about 4 min
    python benchmarks/bench_missing.py all --quick     # smoke run of both

**cost**: one statistics pass (E-step and moments, what each EM iteration runs) over data of
W1's shape (1,000,000 x 16 float64, K = 16, full covariances; ``--shape W2`` or ``W3`` for
theirs) with no entry missing, 1% and 10% missing completely at random: the median over
``--reps`` passes of the wall time on the default scheduler (every core), and, per block of
131,072 rows (W3: 32,768) on one thread, the minimum thread time of its parts (finding the
NaN patterns and sorting the incomplete rows, the complete rows by the fused kernel, the
incomplete rows by the incomplete-row kernel). Parameters: the true centres moved by 0.3
s.d., unit covariances (a fit under way).

**bias**: a 2-component mixture in 3 dimensions whose third column is missing at random,
more often where the first column is large (logistic in x_1), at overall rates from 10% to
60%. Three fits per rate and seed: ``missing="em"``; the complete rows only (listwise
deletion); the NaN replaced by their column's observed mean. The figure: the error of each
against the true parameters (means and covariances, relative Frobenius norm, components
matched by their first mean coordinate), median over ``--seeds`` seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm._data.blocks import ModelAssigner, block_statistics
from streamgmm._data.missing import split_rows
from streamgmm._data.passes import statistics_pass_many
from streamgmm._data.source import as_source
from streamgmm._model.mstep import Params

# -- cost ----------------------------------------------------------------------------------


def _w1_data(n, d, k, rate, rng):
    centres = rng.uniform(-5, 5, (k, d))
    X = centres[rng.randint(k, size=n)] + rng.standard_normal((n, d))
    if rate > 0:
        X[rng.random_sample((n, d)) < rate] = np.nan
    near = centres + 0.3 * rng.standard_normal((k, d))
    params = Params(np.full(k, 1.0 / k), near, np.stack([np.eye(d)] * k), np.stack([np.eye(d)] * k))
    return X, params


def _block_parts(X, assigner, reps):
    """ms per block on this thread: (whole block_statistics, split, complete, incomplete)."""
    w = np.ones(len(X))
    block_statistics(X, w, 0, "full", assigner)  # compile, or load from the cache

    def best(fn):
        times = []
        for _ in range(reps):
            t = time.thread_time()
            fn()
            times.append(time.thread_time() - t)
        return 1e3 * min(times)

    whole = best(lambda: block_statistics(X, w, 0, "full", assigner))
    split = split_rows(X, by_pattern=True)
    if split is None:
        return whole, 0.0, whole, 0.0
    t_split = best(lambda: split_rows(X, by_pattern=True))
    Xc, Xi = X[split.complete], X[split.incomplete]
    plain = ModelAssigner(assigner_params(assigner), "full")
    t_complete = best(lambda: block_statistics(Xc, None, 0, "full", plain)) if len(Xc) else 0.0
    t_incomplete = best(lambda: block_statistics(Xi, None, 0, "full", assigner))
    return whole, t_split, t_complete, t_incomplete - best(lambda: split_rows(Xi, True))


def assigner_params(assigner):
    """The parameters of an assigner (the fused path's own assigner, without missing="em")."""
    return Params(np.exp(assigner.log_weights), assigner.means, None, assigner.prec_chol)


#: (n, d, K, rows per timed block) of bench_em.py's full workloads
SHAPES = {
    "W1": (1_000_000, 16, 16, 131_072),
    "W2": (2_000_000, 2, 8, 131_072),
    "W3": (200_000, 64, 8, 32_768),
}


def run_cost(args):
    n, d, k, block = SHAPES[args.shape]
    if args.quick:
        n, block = n // 16, block // 16
    reps = 2 if args.quick else args.reps
    print(f"{args.shape}: pass over {n:,} x {d} float64, K = {k}, full; default blocks")
    print("| missing | rows complete | pass s (median) | x complete | block ms: all | split |"
          " complete rows | incomplete rows |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for rate in (0.0, 0.01, 0.10):
        rng = np.random.RandomState(0)
        X, params = _w1_data(n, d, k, rate, rng)
        source = as_source(X, n_components=k, missing="em")
        jobs = [(ModelAssigner(params, "full", "em"), "full", True)]
        statistics_pass_many(source, jobs)  # compile / warm
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            statistics_pass_many(source, jobs)
            times.append(time.perf_counter() - t)
        seconds = statistics.median(times)
        base = seconds if base is None else base
        parts = _block_parts(X[:block], ModelAssigner(params, "full", "em"), reps)
        complete = float(np.mean(~np.isnan(X).any(axis=1)))
        print(f"| {rate:.0%} | {complete:.1%} | {seconds:.3f} | {seconds / base:.2f} | "
              + " | ".join(f"{p:.1f}" for p in parts) + " |")  # fmt: skip


# -- bias ----------------------------------------------------------------------------------

TRUE_WEIGHTS = np.array([0.4, 0.6])
TRUE_MEANS = np.array([[-2.0, 0.0, 1.0], [2.0, 1.0, -1.0]])
TRUE_COVS = np.array(
    [
        [[1.0, 0.6, 0.7], [0.6, 1.0, 0.5], [0.7, 0.5, 1.5]],
        [[1.0, -0.5, 0.8], [-0.5, 1.5, -0.3], [0.8, -0.3, 1.2]],
    ]
)


def mar_data(n, rate, rng):
    """(complete X, X with NaN): column 2 missing with probability logistic in x_1, scaled to
    the overall ``rate`` of rows."""
    labels = rng.choice(2, size=n, p=TRUE_WEIGHTS)
    X = np.empty((n, 3))
    for k in range(2):
        rows = labels == k
        X[rows] = rng.multivariate_normal(TRUE_MEANS[k], TRUE_COVS[k], rows.sum())
    score = 1.0 / (1.0 + np.exp(-2.0 * X[:, 0]))  # large x_1: more often missing
    p = np.clip(score * rate / score.mean(), 0, 1)
    Xm = X.copy()
    Xm[rng.random_sample(n) < p, 2] = np.nan
    return X, Xm


def _error(gm):
    order = np.argsort(gm.means_[:, 0])  # components matched by their first coordinate
    means, covs = gm.means_[order], gm.covariances_[order]
    e_mean = np.linalg.norm(means - TRUE_MEANS) / np.linalg.norm(TRUE_MEANS)
    e_cov = np.linalg.norm(covs - TRUE_COVS) / np.linalg.norm(TRUE_COVS)
    return e_mean, e_cov


def _fits(Xm, seed):
    kw = dict(n_components=2, random_state=seed, tol=1e-9, max_iter=5000)
    complete = Xm[~np.isnan(Xm).any(axis=1)]
    col_means = np.nanmean(Xm, axis=0)
    filled = np.where(np.isnan(Xm), col_means, Xm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            'missing="em"': streamgmm.GaussianMixture(missing="em", **kw).fit(Xm),
            "complete rows only": streamgmm.GaussianMixture(**kw).fit(complete),
            "mean imputation": streamgmm.GaussianMixture(**kw).fit(filled),
        }


def run_bias(args):
    rates = (0.1, 0.3, 0.6) if args.quick else (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    seeds = range(2 if args.quick else args.seeds)
    n = 2_000 if args.quick else 20_000
    results = {}  # method -> rate -> [(e_mean, e_cov)]
    for rate in rates:
        for seed in seeds:
            _, Xm = mar_data(n, rate, np.random.RandomState(seed))
            for method, gm in _fits(Xm, seed).items():
                results.setdefault(method, {}).setdefault(rate, []).append(_error(gm))
    print(f"MAR: column 3 missing where column 1 is large; n = {n:,}, median over "
          f"{len(seeds)} seeds; relative error of the means / covariances")  # fmt: skip
    print("| missing rows | " + " | ".join(results) + " |")
    print("|---:|" + "---:|" * len(results))
    for rate in rates:
        cells = []
        for method in results:
            errs = np.array(results[method][rate])
            cells.append(f"{np.median(errs[:, 0]):.3f} / {np.median(errs[:, 1]):.3f}")
        print(f"| {rate:.0%} | " + " | ".join(cells) + " |")
    if args.plot:
        _plot(results, rates, n, args.plot)


def _plot(results, rates, n, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for i, what in enumerate(("means", "covariances")):
        for method, by_rate in results.items():
            med = [np.median(np.array(by_rate[r])[:, i]) for r in rates]
            axes[i].plot([100 * r for r in rates], med, marker="o", label=method)
        axes[i].set_xlabel("rows with a missing value (%)")
        axes[i].set_ylabel(f"relative error of the {what}")
        axes[i].set_yscale("log")
        axes[i].grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"2 components, 3 features, n = {n:,}; column 3 missing at random given column 1")
    fig.savefig(path, dpi=110)
    print(f"{path}: figure written")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("cost", "bias", "all"))
    parser.add_argument("--reps", type=int, default=5, help="passes / block calls per case")
    parser.add_argument("--shape", choices=tuple(SHAPES), default="W1", help="cost: the data")
    parser.add_argument("--seeds", type=int, default=5, help="bias: data sets per rate")
    parser.add_argument("--plot", metavar="PNG", help="bias: write the figure")
    parser.add_argument("--quick", action="store_true", help="a smoke run at a tiny size")
    args = parser.parse_args(argv)
    if args.what in ("cost", "all"):
        run_cost(args)
    if args.what in ("bias", "all"):
        run_bias(args)


if __name__ == "__main__":
    main()
