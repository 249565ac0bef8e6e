"""Initialisation quality (issue 6): streamgmm's default start against scikit-learn's.

    python benchmarks/bench_init_quality.py              # 10 seeds, all datasets (~6 min, 2 cores)
    python benchmarks/bench_init_quality.py --quick      # smoke run: 2 seeds, small data
    python benchmarks/bench_init_quality.py --only iris,wine --seeds 5 --caps 10
    python benchmarks/bench_init_quality.py --json out.json   # also the per-seed numbers

For each dataset and seed, ``streamgmm.GaussianMixture(K, random_state=seed)`` and
``sklearn.mixture.GaussianMixture(K, random_state=seed)`` are fitted with the same
settings (covariance type, tol, max_iter, reg_covar: the defaults unless the dataset says
otherwise) and their final ``lower_bound_`` (mean log-likelihood per sample, nats) are
paired seed by seed: delta = ours - scikit-learn's. streamgmm runs with its default
``init_params="kmeans"``: k-means++ seeding (greedy on every row up to
``SEEDING_SAMPLE`` = 50,000 rows, k-means|| over the blocks above) and at most
``KMEANS_MAX_PASSES`` Lloyd passes; scikit-learn runs its KMeans to convergence (up to 300
iterations) in memory. Each dataset is fitted with ``streamgmm._fit.init.KMEANS_MAX_PASSES``
set to every value of ``--caps`` (default 3, 10 = the library's default, 30, and 300 =
scikit-learn's own KMeans max_iter: the start that Lloyd run to convergence gives).

Passes are counted, not inferred: streamgmm reads the data through
``dask.array.from_array(CountingReader(X), chunks=..., asarray=True)``, an array-like that
counts the block reads, with ``cache=False`` (the default ``cache="auto"`` would keep these
small arrays in memory after one read; caching changes no number, only where blocks come
from). Reads are divided by the number of blocks. The reads made before the first EM
iteration's callback, less that iteration's own pass, are the initialisation's (seeding:
one read of every row below 50,000 rows, the blocks holding the K seed rows, then the Lloyd
passes and a closing assignment pass); the rest are EM's (one pass per iteration).
"sk k-means" is the number of Lloyd iterations scikit-learn's own initialisation ran
(``KMeans(K, n_init=1, random_state=RandomState(seed))``, the very call its
GaussianMixture makes): out of core, each would be a pass over the data.

Columns: mean delta over the seeds (its standard error, sd(delta) / sqrt(seeds)) and the
worst (most negative) delta; "ours >= sk" the share of seeds where delta >= -1e-6; passes
as mean (max) over the seeds; "sk bound" the mean (standard deviation) of scikit-learn's
own lower bound over the seeds, the scale of the seed-to-seed variation. No timing is
measured, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

TIE = 1e-6  # "ours >= sklearn" allows this much below (float rounding of equal optima)


class CountingReader:
    """An array-like for ``dask.array.from_array`` that counts the block reads."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = 0
        self._lock = threading.Lock()

    def __getitem__(self, index):
        with self._lock:
            self.reads += 1
        return self.data[index]


# --- datasets --------------------------------------------------------------------------


@dataclass
class Dataset:
    name: str
    X: np.ndarray
    k: int
    note: str
    cov: str = "full"
    reg_covar: float = 1e-6
    n_blocks: int = 4


def blobs(n, d, k, *, seed, spread, std=(1.0, 1.0), sizes=None, aniso=False, far=None):
    """Gaussian clusters: centres uniform in [-spread, spread]^d, ``sizes`` relative weights,
    per-cluster scale uniform in ``std``; ``aniso``: a random linear map per cluster
    (axis scales 0.3..3); ``far``: the last cluster's centre moved out to this distance."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-spread, spread, (k, d))
    if far is not None:
        centres[-1] = np.full(d, far / math.sqrt(d))
    p = np.ones(k) if sizes is None else np.asarray(sizes, float)
    counts = np.floor(n * p / p.sum()).astype(int)
    counts[0] += n - counts.sum()
    parts = []
    for c, m in zip(centres, counts, strict=True):
        Z = rng.standard_normal((m, d)) * rng.uniform(*std)
        if aniso:
            q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            Z = (Z * rng.uniform(0.3, 3.0, d)) @ q.T
        parts.append(Z + c)
    X = np.vstack(parts)
    return X[rng.permutation(n)]


def datasets(quick: bool) -> list[Dataset]:
    from sklearn.datasets import load_digits, load_iris, load_wine

    iris = load_iris().data.astype(np.float64)
    if quick:
        return [
            Dataset("iris", iris, 3, "150x4, K=3", n_blocks=2),
            Dataset(
                "blobs-small",
                blobs(600, 2, 3, seed=1, spread=4, sizes=[5, 3, 1]),
                3,
                "600x2, K=3, unequal",
                n_blocks=2,
            ),
        ]
    wine = load_wine().data.astype(np.float64)
    digits = load_digits().data.astype(np.float64)
    return [
        Dataset(
            "blobs-separated",
            blobs(20_000, 2, 5, seed=1, spread=10),
            5,
            "20000x2, K=5, equal sizes, well apart",
        ),
        Dataset(
            "blobs-overlap",
            blobs(20_000, 5, 8, seed=2, spread=3, std=(0.5, 1.5), sizes=[10, 6, 4, 3, 2, 2, 1, 1]),
            8,
            "20000x5, K=8, sizes 10:1, overlapping",
        ),
        Dataset(
            "blobs-aniso",
            blobs(20_000, 10, 10, seed=3, spread=4, sizes=np.arange(1, 11), aniso=True),
            10,
            "20000x10, K=10, sizes 1..10, anisotropic, overlapping",
        ),
        Dataset(
            "blobs-tiny-far",
            blobs(20_000, 3, 6, seed=4, spread=3, sizes=[40, 30, 20, 10, 10, 0.5], far=25),
            6,
            "20000x3, K=6, one far cluster of 0.5% of rows",
        ),
        Dataset(
            "blobs-large",
            blobs(60_000, 5, 8, seed=5, spread=3, std=(0.5, 1.5), sizes=[10, 6, 4, 3, 2, 2, 1, 1]),
            8,
            "60000x5, K=8 (k-means|| seeding: over 50,000 rows)",
            n_blocks=8,
        ),
        Dataset("iris", iris, 3, "150x4, K=3"),
        Dataset("wine", wine, 3, "178x13, K=3, raw columns (scales 0.1..1000)"),
        Dataset(
            "wine-std",
            (wine - wine.mean(axis=0)) / wine.std(axis=0),
            3,
            "178x13, K=3, standardised",
        ),
        Dataset("digits", digits, 10, "1797x64, K=10, full covariance, reg_covar 1e-6"),
    ]


# --- fits ------------------------------------------------------------------------------


@dataclass
class Fit:
    lower_bound: float
    n_iter: int
    converged: bool
    init_passes: float = math.nan
    em_passes: float = math.nan


@dataclass
class Result:
    dataset: Dataset
    sklearn: list = field(default_factory=list)  # Fit per seed
    sk_kmeans_iter: list = field(default_factory=list)
    ours: dict = field(default_factory=dict)  # cap -> [Fit per seed]


def fit_sklearn(ds: Dataset, seed: int) -> tuple[Fit, int]:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        ds.k, covariance_type=ds.cov, reg_covar=ds.reg_covar, random_state=seed
    ).fit(ds.X)
    km = KMeans(ds.k, n_init=1, random_state=np.random.RandomState(seed)).fit(ds.X)
    return Fit(float(gm.lower_bound_), int(gm.n_iter_), bool(gm.converged_)), int(km.n_iter_)


def fit_ours(ds: Dataset, seed: int) -> Fit:
    import streamgmm

    n, d = ds.X.shape
    reader = CountingReader(ds.X)
    X = da.from_array(reader, chunks=(-(-n // ds.n_blocks), d), asarray=True)
    n_blocks = len(X.chunks[0])
    at_first = []

    def callback(info):
        if not at_first:
            at_first.append(reader.reads)

    gm = streamgmm.GaussianMixture(
        ds.k, covariance_type=ds.cov, reg_covar=ds.reg_covar, random_state=seed, cache=False
    )
    gm.fit(X, callback=callback)
    init_reads = at_first[0] - n_blocks if at_first else reader.reads
    return Fit(
        float(gm.lower_bound_),
        int(gm.n_iter_),
        bool(gm.converged_),
        init_reads / n_blocks,
        (reader.reads - init_reads) / n_blocks,
    )


def run(ds: Dataset, seeds, caps) -> Result:
    import streamgmm._fit.init as sinit

    res = Result(ds)
    for seed in seeds:
        sk, km_iter = fit_sklearn(ds, seed)
        res.sklearn.append(sk)
        res.sk_kmeans_iter.append(km_iter)
    default = sinit.KMEANS_MAX_PASSES
    try:
        for cap in caps:
            sinit.KMEANS_MAX_PASSES = cap
            res.ours[cap] = [fit_ours(ds, seed) for seed in seeds]
    finally:
        sinit.KMEANS_MAX_PASSES = default
    return res


# --- report ----------------------------------------------------------------------------


def _mean_max(values, digits=1) -> str:
    return f"{np.mean(values):.{digits}f} ({np.max(values):.{digits}f})"


def summary(res: Result, cap: int) -> dict:
    ours, sk = res.ours[cap], res.sklearn
    delta = np.array([o.lower_bound - s.lower_bound for o, s in zip(ours, sk, strict=True)])
    return dict(
        mean=float(delta.mean()),
        se=float(delta.std(ddof=1) / math.sqrt(len(delta))) if len(delta) > 1 else math.nan,
        worst=float(delta.min()),
        share=float(np.mean(delta >= -TIE)),
        init=[o.init_passes for o in ours],
        em=[o.em_passes for o in ours],
        not_converged=sum(not o.converged for o in ours),
        sk_not_converged=sum(not s.converged for s in sk),
    )


def table(results, caps, default_cap) -> str:
    head = (
        "| data | Lloyd cap | mean Δ (s.e.) | worst Δ | ours ≥ sk | init passes | EM passes "
        "| total passes | sk k-means iters | sk EM iters | sk bound |"
    )
    lines = [head, "|" + "|".join(["---"] + ["---:"] * (head.count("|") - 2)) + "|"]
    for res in results:
        sk_lb = [s.lower_bound for s in res.sklearn]
        for cap in caps:
            s = summary(res, cap)
            total = [a + b for a, b in zip(s["init"], s["em"], strict=True)]
            cap_txt = f"**{cap}**" if cap == default_cap else str(cap)
            lines.append(
                f"| {res.dataset.name} | {cap_txt} | {s['mean']:+.1e} ({s['se']:.0e}) "
                f"| {s['worst']:+.1e} "
                f"| {s['share']:.0%} | {_mean_max(s['init'])} | {_mean_max(s['em'])} "
                f"| {_mean_max(total)} | {_mean_max(res.sk_kmeans_iter)} "
                f"| {_mean_max([f.n_iter for f in res.sklearn])} "
                f"| {np.mean(sk_lb):.3f} ({np.std(sk_lb):.3f}) |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, small data (smoke run)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10)")
    ap.add_argument("--caps", default="3,10,30,300", help="KMEANS_MAX_PASSES values")
    ap.add_argument("--only", default=None, help="comma-separated dataset names")
    ap.add_argument("--json", default=None, help="write the per-seed numbers here")
    args = ap.parse_args(argv)

    from sklearn.exceptions import ConvergenceWarning

    import streamgmm._fit.init as sinit

    warnings.simplefilter("ignore", ConvergenceWarning)
    default_cap = sinit.KMEANS_MAX_PASSES
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 10)
    seeds = list(range(n_seeds))
    caps = [int(c) for c in args.caps.split(",")]
    chosen = datasets(args.quick)
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {ds.name for ds in chosen}
        if unknown:
            ap.error(f"unknown datasets {sorted(unknown)}; have {[ds.name for ds in chosen]}")
        chosen = [ds for ds in chosen if ds.name in names]

    results = []
    for ds in chosen:
        t = time.perf_counter()
        results.append(run(ds, seeds, caps))
        print(f"# {ds.name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    print(
        f"Seeds 0..{n_seeds - 1}; Δ = streamgmm − scikit-learn final lower bound "
        f"(nats per sample); default Lloyd cap in bold (KMEANS_MAX_PASSES={default_cap}).\n"
    )
    print(table(results, caps, default_cap))
    print()
    for res in results:
        ds = res.dataset
        nc = {cap: summary(res, cap)["not_converged"] for cap in caps}
        sk_nc = summary(res, caps[0])["sk_not_converged"]
        extra = ""
        if any(nc.values()) or sk_nc:
            extra = f"; EM not converged: ours {nc}, sklearn {sk_nc}"
        print(f"- {ds.name}: {ds.note}, covariance {ds.cov}{extra}")

    if args.json:
        dump = {
            res.dataset.name: dict(
                sklearn=[vars(f) for f in res.sklearn],
                sk_kmeans_iter=res.sk_kmeans_iter,
                ours={str(c): [vars(f) for f in fits] for c, fits in res.ours.items()},
            )
            for res in results
        }
        with open(args.json, "w") as fh:
            json.dump(dump, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
