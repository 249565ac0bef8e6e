"""Initial parameters, over the blocks through the pass graphs.

Methods (scikit-learn's names):

- ``random_from_data``: K distinct rows drawn with ``random_state.choice`` exactly
  as scikit-learn does, so the same seed starts from the same rows.
- ``k-means++``: greedy D^2 seeding on a row sample; the chosen rows start as in
  ``random_from_data``.
- ``kmeans``: the same seeding while the data have at most ``SEEDING_SAMPLE`` rows
  (then it is scikit-learn's greedy k-means++ on every row, and Lloyd runs to
  scikit-learn's convergence on those rows in memory, followed by one assignment
  pass: the start of scikit-learn's KMeans, in 2 reads); on larger data,
  k-means|| over the blocks (``kmeans.py``: a few passes whose draws are keyed by
  global row, so even small far clusters get a seed), then at most
  ``KMEANS_MAX_PASSES`` Lloyd passes
  over all blocks (each one statistics pass with nearest-centre assignments).
  scikit-learn runs k-means to convergence (up to 300 passes); out of core that
  is unaffordable, so we stop at a few passes or when centres move by less than
  ``KMEANS_TOL`` times the mean feature variance, as scikit-learn's ``tol``; then,
  unless the labels stopped changing, one more pass assigns rows to the final
  centres (scikit-learn's closing E-step).
- ``random``: scikit-learn's uniform responsibilities, drawn per global row.

All random numbers come from ``random_state`` or are keyed by global row, so the
start does not depend on chunking or scheduling.

Several runs (``n_init`` restarts, a grid of models) are initialised together by
:func:`initialise_many`: their random draws happen run by run, as consecutive fits
would make them, and their passes over the data are shared.

Sample weights act as row repetition: a row of weight w is w copies of it. A row
picked as a starting centre is *one* copy (scikit-learn's one-hot responsibility),
so its initial weight is 1 / sum(w), as 1 / n on the repeated data. With integer
weights, ``random_from_data`` and ``k-means++`` then pick the very rows that
scikit-learn's calls would pick on the repeated data, from the same random_state
(test_sample_weight.py::test_random_starts_equal_repetition). ``random`` draws one
responsibility vector per row, not per copy: equal to repetition in expectation only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._data.blocks import (
    NearestCentreAssigner,
    RandomAssigner,
    as_kernel_array,
    statistics_from_resp,
)
from .._data.passes import statistics_pass_many
from .._data.source import DataSource
from .._model import (
    Params,
    SuffStats,
    get_covariance,
    initial_parameters,
    parameters_from_init,
)
from .em import check_pass, nonfinite_error, too_large_error
from .kmeans import KMEANS_TOL, kmeans_parallel_many, kmeans_plusplus, lloyd_in_memory

_INT32_MAX = np.iinfo(np.int32).max

KMEANS_MAX_PASSES = 10
#: rows sampled (at most) for k-means++ seeding
SEEDING_SAMPLE = 50_000
#: with integer weights, random_from_data shuffles sum(w) indices (as scikit-learn
#: would on the repeated rows) up to max(n_samples, this); beyond, it draws rows.
EXPANDED_DRAW_LIMIT = 2**24
#: init methods whose responsibilities cover every row (one-hot labels of every row, or
#: normalised random draws): their statistics give the data's own moments
COVERING_INITS = ("kmeans", "random")


@dataclass
class _Plan:
    """How one run starts: from rows, from Lloyd passes, or from random responsibilities."""

    n_components: int
    covariance_type: str
    kind: str  # "rows" | "lloyd" | "random"
    indices: np.ndarray | None = None
    centres: np.ndarray | None = None
    seed: int = 0
    stats: object = None
    scale: float | None = None
    passes: int = 0
    closing: bool = False  # one more assignment to the final centres is due
    final: bool = False  # centres already converged (in memory): one assignment pass


def initialise_many(
    source: DataSource,
    specs,
    init_params: str,
    reg_covar: float,
    random_state: np.random.RandomState,
    weights_init=None,
    means_init=None,
    precisions_init=None,
) -> list[Params]:
    """Initial parameters of several runs ``specs = [(n_components, covariance_type), ...]``.

    ``random_state`` is one RandomState for every run, or a list with one per run
    (model selection: each model draws as its own fit would).

    Random draws are made run by run, in order, exactly as consecutive fits
    would make them (Lloyd passes draw nothing); the passes over
    the data are then shared: every Lloyd pass serves all k-means runs, one pass
    draws every "random" run's responsibilities, one read fetches every run's rows.
    """
    if weights_init is not None and means_init is not None and precisions_init is not None:
        return [
            parameters_from_init(cov, weights_init, means_init, precisions_init) for _, cov in specs
        ]
    return [
        initial_parameters(stats, reg_covar, weights_init, means_init, precisions_init)
        for stats in initial_statistics_many(source, specs, init_params, random_state)
    ]


def initial_statistics_many(
    source: DataSource, specs, init_params: str, random_state
) -> list[SuffStats]:
    """The statistics of each run's initial responsibilities (what :func:`initialise_many`
    turns into parameters; a Bayesian mixture applies its variational M-step to them).

    The draws and shared passes are those of :func:`initialise_many`. For the methods in
    COVERING_INITS the responsibilities sum to 1 on every row, so the statistics also hold
    the moments of the whole data.
    """
    states = random_state if isinstance(random_state, list) else [random_state] * len(specs)
    plans = _draw_plans(source, specs, init_params, states)
    _run_rows(source, [p for p in plans if p.kind == "rows"])
    _run_lloyd(source, [p for p in plans if p.kind == "lloyd"])
    _run_random(source, [p for p in plans if p.kind == "random"])
    return [p.stats for p in plans]


def _draw_plans(source, specs, init_params, states) -> list[_Plan]:
    plans, memo = [], {}
    large = source.n_samples > SEEDING_SAMPLE
    for (k, cov), rs in zip(specs, states, strict=True):
        if init_params == "random_from_data":
            plans.append(_Plan(k, cov, "rows", indices=_random_rows(source, k, rs)))
        elif init_params == "k-means++":
            plans.append(_Plan(k, cov, "rows", indices=_seed_indices(source, k, rs, memo=memo)))
        elif init_params == "kmeans":
            plans.append(_Plan(k, cov, "lloyd"))
            if not large:  # every row is in memory for the seeding: Lloyd runs there
                _, rows, w, chosen = _seed_indices(source, k, rs, with_rows=True, memo=memo)
                plans[-1].centres = lloyd_in_memory(rows, w, rows[chosen].copy())
                plans[-1].final = True
        elif init_params == "random":
            plans.append(_Plan(k, cov, "random", seed=int(rs.randint(_INT32_MAX))))
        else:  # validated before; kept for safety
            raise ValueError(f"Unimplemented initialization method {init_params!r}")
    unseeded = [i for i, p in enumerate(plans) if p.kind == "lloyd" and p.centres is None]
    if unseeded:  # large data: k-means|| over the blocks, its rounds shared by every run
        seedings = kmeans_parallel_many(
            source, [plans[i].n_components for i in unseeded], [states[i] for i in unseeded]
        )
        for i, seeding in zip(unseeded, seedings, strict=True):
            # Lloyd to convergence on a row sample in memory (one read), then the capped
            # passes over all the data start close to their end (bench_init_quality.py).
            rows, w = _sample_rows(source, SEEDING_SAMPLE, states[i])
            plans[i].centres = lloyd_in_memory(rows, w, seeding.centres.copy())
            plans[i].passes = seeding.passes + 1
    return plans


def _run_rows(source, plans) -> None:
    if not plans:
        return
    everything = np.concatenate([p.indices for p in plans])
    rows = as_kernel_array(source.take_rows(everything))  # one read for every run
    _check_finite_rows(rows, everything, source)
    total = source.total_weight()
    start = 0
    for p in plans:
        mine = rows[start : start + len(p.indices)]
        start += len(p.indices)
        stats = statistics_from_resp(mine, np.ones(len(mine)), np.eye(len(mine)), p.covariance_type)
        p.stats = replace(stats, weight_sum=total, n_rows=source.n_samples)


def _run_random(source, plans) -> None:
    if not plans:
        return
    jobs = [(RandomAssigner(p.seed, p.n_components), p.covariance_type, True) for p in plans]
    for p, stats in zip(plans, statistics_pass_many(source, jobs), strict=True):
        check_pass(stats, source)
        p.stats = stats


def _run_lloyd(source, plans) -> None:
    """Lloyd passes for every k-means run at once, until each has converged.

    A run stops after KMEANS_MAX_PASSES or when its centres move by less than
    KMEANS_TOL times the mean feature variance; then, if the labels changed in
    its last pass, one more pass assigns rows to its final centres, as
    scikit-learn's Lloyd loop does (test_init.py::test_kmeans_init_like_sklearn).
    """
    active = list(plans)
    while active:
        jobs = [(NearestCentreAssigner(p.centres), p.covariance_type, True) for p in active]
        results = statistics_pass_many(source, jobs)
        still = []
        for p, stats in zip(active, results, strict=True):
            check_pass(stats, source)
            p.stats = stats
            if p.closing or p.final:
                continue
            p.passes += 1
            if p.scale is None:  # mean feature variance, from the first pass's moments
                p.scale = _mean_variance(stats)
            new = np.where((stats.nk > 0)[:, None], stats.means, p.centres)  # keep empty ones
            shift = float(((new - p.centres) ** 2).sum())
            p.centres = new
            if shift <= KMEANS_TOL * p.scale or p.passes >= KMEANS_MAX_PASSES:
                if shift > 0.0:
                    p.closing = True
                    still.append(p)
            else:
                still.append(p)
        active = still


def _all_weights(source: DataSource) -> np.ndarray:
    """Every sample weight in memory (n floats: 1/d of the data; see EXPANDED_DRAW_LIMIT)."""
    return np.asarray(source.sample_weight.compute(), dtype=np.float64)


def _random_rows(source: DataSource, n_components: int, random_state) -> np.ndarray:
    """K rows drawn as scikit-learn's ``random_from_data`` draws them.

    Without weights: ``random_state.choice(n, K, replace=False)``, its very call.
    With integer weights: the same call on the sum(w) row copies, mapped back to
    rows, so the rows equal those drawn from the repeated data (a row may be
    drawn twice, as two copies). Otherwise (fractional weights, or sum(w) above
    EXPANDED_DRAW_LIMIT): K distinct rows with probability proportional to weight.
    """
    n = source.n_samples
    if source.sample_weight is None:
        return distinct_draw(random_state, n, n_components)
    w = _all_weights(source)
    total = float(w.sum())
    integral = bool(np.all(w == np.floor(w)))
    if integral and n_components <= total <= max(n, EXPANDED_DRAW_LIMIT):
        copies = random_state.choice(int(total), size=n_components, replace=False)
        return np.searchsorted(np.cumsum(w), copies, side="right")
    positive = int(np.count_nonzero(w))
    if positive < n_components:
        raise ValueError(
            f"init_params='random_from_data' needs at least n_components={n_components} "
            f"rows with a positive sample_weight, got {positive}. Use fewer components "
            "or another init_params."
        )
    return random_state.choice(n, size=n_components, replace=False, p=w / total)


def distinct_draw(random_state, n: int, size: int) -> np.ndarray:
    """``size`` distinct integers below ``n``: scikit-learn's ``choice(n, size,
    replace=False)`` (same draws) up to EXPANDED_DRAW_LIMIT rows; beyond, that call
    would shuffle all n indices (8n bytes: 500 MB at 62.5M rows, seen in the demo),
    so draws are repeated until distinct, in O(size) memory."""
    if n <= EXPANDED_DRAW_LIMIT:
        return random_state.choice(n, size=size, replace=False)
    chosen: dict[int, None] = {}
    while len(chosen) < size:
        for v in random_state.randint(0, n, size=2 * (size - len(chosen))):
            if len(chosen) < size:
                chosen.setdefault(int(v))
    return np.fromiter(chosen, dtype=np.int64, count=size)


def _check_finite_rows(rows: np.ndarray, indices, source: DataSource) -> None:
    """Rows read for a start: no NaN or inf, and squares within float64 (as the passes)."""
    bad = ~np.isfinite(rows)
    if bad.any():
        i, col = np.argwhere(bad)[0]
        raise nonfinite_error(source, int(indices[i]), int(col))
    with np.errstate(over="ignore"):
        too_large = np.flatnonzero(~np.isfinite(np.square(rows, dtype=np.float64).sum(axis=1)))
    if too_large.size:
        raise too_large_error(source, int(indices[too_large[0]]))


def _seed_indices(source: DataSource, n_components: int, random_state, with_rows=False, memo=None):
    """Global row indices of K k-means++ seeds chosen on a uniform row sample
    (and, with ``with_rows``, the sample's rows and weights). When the sample is every
    row, ``memo`` (a dict) keeps them for the next run: one read for all restarts."""
    n = source.n_samples
    m = min(n, max(SEEDING_SAMPLE, 10 * n_components))
    if m >= n and memo is not None and "all" in memo:
        sample_idx, rows, w = memo["all"]
    else:
        sample_idx = np.sort(distinct_draw(random_state, n, m)) if m < n else np.arange(n)
        rows = as_kernel_array(source.take_rows(sample_idx)).astype(np.float64)
        _check_finite_rows(rows, sample_idx, source)
        w = source.take_weights(sample_idx)
        if m >= n and memo is not None:
            memo["all"] = (sample_idx, rows, w)
    chosen = kmeans_plusplus(rows, w, n_components, random_state)
    if with_rows:
        return sample_idx[chosen], rows, w, chosen
    return sample_idx[chosen]


def _sample_rows(source: DataSource, m: int, random_state):
    """A uniform sample of m rows (sorted by row) and their weights, in one read."""
    idx = np.sort(distinct_draw(random_state, source.n_samples, m))
    rows = as_kernel_array(source.take_rows(idx)).astype(np.float64)
    _check_finite_rows(rows, idx, source)
    return rows, source.take_weights(idx)


def _mean_variance(stats) -> float:
    """Mean per-feature variance of the data, from one pass's per-cluster moments."""
    nk, means = stats.nk, stats.means
    overall = np.average(means, axis=0, weights=nk)
    spread = (nk[:, None] * (means - overall) ** 2).sum(axis=0)
    within = get_covariance(stats.covariance_type).feature_m2(stats.m2, means.shape[1])
    return float(((spread + within) / nk.sum()).mean())
