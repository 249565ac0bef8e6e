"""k-means for the initialisation: k-means|| seeding over blocks (for data too large to
seed in memory), greedy k-means++ and Lloyd on rows in memory.

Bahmani et al. (2012): start from one row drawn in proportion to its weight, then
for a few rounds draw every row independently with probability
``min(1, l * w * d^2 / cost)`` (``l`` = oversampling * K), one pass per round; the
rows drawn travel back with the statistics (never a second read to fetch them).
One more pass weights each candidate by the rows nearest to it, and the weighted
candidates are reduced to K in memory (k-means++ then Lloyd), as the paper does.
Passes: rounds + 2 (+1 with sample weights, to draw the first row).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._data import progress
from .._data.blocks import NearestCentreAssigner, as_kernel_array, as_weight_array
from .._data.passes import reduce_pass, statistics_pass_many
from .._data.source import DataSource
from .._kernels import exponential_race, oversample

#: k-means|| defaults: rounds and oversampling factor l / K
ROUNDS = 3
OVERSAMPLING = 2.0
#: Lloyd iterations on the weighted candidates (in memory, cheap)
CANDIDATE_LLOYD = 100
#: scikit-learn's KMeans tol: Lloyd stops when the centres move by less than this times
#: the mean feature variance
KMEANS_TOL = 1e-4
#: scikit-learn's KMeans max_iter, for Lloyd on rows held in memory
LLOYD_IN_MEMORY_MAX_ITER = 300


@dataclass
class Seeding:
    centres: np.ndarray  # (K, d)
    n_candidates: int
    passes: int


def kmeans_parallel_many(
    source: DataSource, n_clusters, random_state, rounds=ROUNDS, oversampling=OVERSAMPLING
) -> list[Seeding]:
    """k-means|| seedings of several clusterings (restarts, a grid of K) sharing passes.

    ``random_state`` is one RandomState or a list, one per seeding. Random draws
    happen in a fixed order (every seeding's seed and first row, then each
    reduction in turn), so the result depends on the random states only.
    """
    m = len(n_clusters)
    states = random_state if isinstance(random_state, list) else [random_state] * m
    seeds = [int(rs.randint(np.iinfo(np.int32).max)) for rs in states]
    passes = 0
    if source.sample_weight is None:
        firsts = [int(rs.randint(source.n_samples)) for rs in states]
    else:
        progress.phase("initialisation: k-means|| first row")
        firsts = [int(r) for _, r in reduce_pass(source, _race_block, seeds, _race_merge, "race")]
        passes += 1
    first_rows = as_kernel_array(source.take_rows(firsts)).astype(np.float64)
    centres = [first_rows[i : i + 1] for i in range(m)]
    rows = [[f] for f in firsts]
    payload = [(c, seed, 0, 0.0) for c, seed in zip(centres, seeds, strict=True)]
    progress.phase(f"initialisation: k-means|| cost, round 0 of {rounds}")
    costs = [c for c, _, _ in reduce_pass(source, _round_block, payload, _round_merge, "knn")]
    passes += 1
    for r in range(1, rounds + 1):
        rates = [
            oversampling * k / cost if cost > 0 else 0.0
            for k, cost in zip(n_clusters, costs, strict=True)
        ]
        if not any(rates):  # every row sits on a centre already
            break
        payload = [(c, seed, r, rate) for c, seed, rate in zip(centres, seeds, rates, strict=True)]
        progress.phase(f"initialisation: k-means|| round {r} of {rounds}")
        results = reduce_pass(source, _round_block, payload, _round_merge, "knn")
        passes += 1
        costs = []
        for i, (cost, new_rows, new_values) in enumerate(results):
            costs.append(cost)
            keep = ~np.isin(new_rows, rows[i])
            rows[i].extend(new_rows[keep].tolist())
            centres[i] = np.vstack([centres[i], new_values[keep]])
    jobs = [(NearestCentreAssigner(c), "diag", False) for c in centres]
    progress.phase("initialisation: k-means|| weighting the candidates")
    counts = statistics_pass_many(source, jobs)
    passes += 1
    return [
        Seeding(reduce_candidates(c, st.nk, k, rs), len(c), passes)
        for c, st, k, rs in zip(centres, counts, n_clusters, states, strict=True)
    ]


def reduce_candidates(candidates, weights, n_clusters, random_state) -> np.ndarray:
    """K centres from weighted candidates: weighted k-means++, then weighted Lloyd."""
    if len(candidates) <= n_clusters:
        extra = n_clusters - len(candidates)
        pad = candidates[random_state.choice(len(candidates), extra)] if extra else candidates[:0]
        return np.vstack([candidates, pad])
    w = np.where(weights > 0, weights, 0.0)
    if not w.sum() > 0:
        w = np.ones(len(candidates))
    centres = candidates[kmeans_plusplus(candidates, w, n_clusters, random_state)].copy()
    for _ in range(CANDIDATE_LLOYD):
        d2 = ((candidates[:, None, :] - centres[None]) ** 2).sum(axis=2)
        label = d2.argmin(axis=1)
        new = centres.copy()
        for k in range(n_clusters):
            mask = label == k
            if w[mask].sum() > 0:
                new[k] = np.average(candidates[mask], axis=0, weights=w[mask])
        if np.array_equal(new, centres):
            break
        centres = new
    return centres


def _round_block(X, sample_weight, row_offset, payload):
    """For each seeding: (block cost, rows drawn, their values)."""
    X = as_kernel_array(X)
    w = as_weight_array(sample_weight, X.shape[0])
    out = []
    for centres, seed, round_, rate in payload:
        selected = np.zeros(X.shape[0], dtype=np.bool_)
        cost = oversample(X, w, centres, row_offset, seed, round_, rate, selected)
        idx = np.flatnonzero(selected)
        out.append((cost, idx + row_offset, np.asarray(X[idx], dtype=np.float64)))
    return out


def _round_merge(parts):
    return [_merge_one(column) for column in zip(*parts, strict=True)]


def _merge_one(parts):
    costs, rows, values = zip(*parts, strict=True)
    d = values[0].shape[1]
    rows = np.concatenate(rows).astype(np.int64)
    values = np.concatenate(values).reshape(-1, d)
    order = np.argsort(rows, kind="stable")  # by global row: chunking-invariant order
    return float(sum(costs)), rows[order], values[order]


def _race_block(X, sample_weight, row_offset, seeds):
    w = as_weight_array(sample_weight, np.shape(X)[0])
    return [exponential_race(w, row_offset, seed) for seed in seeds]


def _race_merge(parts):
    return [min(column, key=lambda p: (p[0], p[1])) for column in zip(*parts, strict=True)]


def lloyd_in_memory(X, w, centres, max_iter=LLOYD_IN_MEMORY_MAX_ITER, tol=KMEANS_TOL):
    """Weighted Lloyd on rows in memory from ``centres``, to scikit-learn's convergence (its
    tol scaled by the mean feature variance, or labels that stop changing); returns the
    centres.

    It is scikit-learn's own Lloyd (``KMeans`` started from these centres), so the centres
    are the ones scikit-learn's ``GaussianMixture`` starts from, to 4e-15 (its threads sum
    in another order), and there is nothing to compile: on 20,000 x 16, K=16 (119
    iterations) 0.10 s against 0.40 s for a loop over the nearest-centre kernel
    (docs/design.md, "Initialisation"). Its tolerance is scaled so that its threshold is
    ours: ``tol`` times the *weighted* mean feature variance (weights are repetitions).
    Rows of weight 0 are absent, not rows that an empty cluster may be moved to (which
    would put it on the data's mean); one OpenMP thread, because scikit-learn adds the
    threads' partial sums in the order they finish, and the same seed must give the same
    centres bit for bit.
    """
    from sklearn.cluster import KMeans  # imported where used: import streamgmm stays light

    X, w = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64)
    var = np.average((X - np.average(X, axis=0, weights=w)) ** 2, axis=0, weights=w)
    present = w > 0
    if np.count_nonzero(present) >= len(centres):
        X, w = X[present], w[present]
    unweighted = float(np.var(X, axis=0).mean())
    scaled = tol * float(var.mean()) / unweighted if unweighted > 0 else 0.0
    km = KMeans(len(centres), init=np.asarray(centres, dtype=np.float64), n_init=1,
                max_iter=max_iter, tol=scaled, algorithm="lloyd")  # fmt: skip
    with warnings.catch_warnings(), _thread_pools().limit(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct clusters than K
        km.fit(X, sample_weight=w)
    return km.cluster_centers_


@functools.cache
def _thread_pools():
    """threadpoolctl's view of the loaded libraries, once: finding them reads the process's
    memory map (2 ms a call, more than a small fit's Lloyd)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def kmeans_plusplus(X, w, n_clusters, random_state) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii, with 2 + log K local trials), weighted."""
    n_local_trials = 2 + int(math.log(n_clusters))
    p = w / w.sum()
    first = random_state.choice(len(X), p=p)
    chosen = [first]
    closest = w * ((X - X[first]) ** 2).sum(axis=1)
    for _ in range(1, n_clusters):
        pot = closest.sum()
        if not pot > 0:  # every remaining point of positive weight coincides with a centre
            rest = np.setdiff1d(np.flatnonzero(w > 0), chosen)
            if rest.size == 0:
                rest = np.setdiff1d(np.arange(len(X)), chosen)
            chosen.append(int(random_state.choice(rest)))
            continue
        cand = np.searchsorted(np.cumsum(closest), random_state.uniform(size=n_local_trials) * pot)
        cand = np.clip(cand, 0, len(X) - 1)
        d2 = ((X[None, :, :] - X[cand][:, None, :]) ** 2).sum(axis=2) * w[None, :]
        cand_closest = np.minimum(closest[None, :], d2)
        best = int(np.argmin(cand_closest.sum(axis=1)))
        chosen.append(int(cand[best]))
        closest = cand_closest[best]
    return np.asarray(chosen)
