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

import os
from dataclasses import dataclass

import numpy as np

from .._data import progress
from .._data.blocks import (
    NearestCentreAssigner,
    as_kernel_array,
    as_weight_array,
    block_statistics_from_resp,
)
from .._data.budget import memory_budget
from .._data.passes import merge_columns, reduce_pass, statistics_pass_many
from .._data.source import CACHE_SHARE, DataSource
from .._model import (
    Estimate,
    Params,
    SuffStats,
    estimate_from_rows,
    estimate_from_stats,
    get_covariance,
    initial_parameters,
    parameters_from_init,
)
from .em import check_pass, nonfinite_error, too_large_error
from .kmeans import KMEANS_TOL, kmeans_parallel_many, kmeans_plusplus, lloyd_in_memory

KMEANS_MAX_PASSES = 10
#: rows sampled (at most) for k-means++ seeding
SEEDING_SAMPLE = 50_000
#: with integer weights, random_from_data shuffles sum(w) indices (as scikit-learn
#: would on the repeated rows) up to max(n_samples, this); beyond, it draws rows.
EXPANDED_DRAW_LIMIT = 2**24


@dataclass
class _Plan:
    """How one run starts: from rows, from Lloyd passes, or from random responsibilities."""

    n_components: int
    covariance_type: str
    kind: str  # "rows" | "lloyd" | "random"
    indices: np.ndarray | None = None
    centres: np.ndarray | None = None
    rng_start: tuple | None = None  # "random": the RandomState where its draws begin
    stats: object = None
    scale: float | None = None
    passes: int = 0
    closing: bool = False  # one more assignment to the final centres is due
    final: bool = False  # centres already converged (in memory): one assignment pass
    estimate: Estimate | None = None  # "rows": scikit-learn's estimate of the chosen rows


def initialise_many(
    source: DataSource,
    specs,
    init_params: str,
    reg_covar: float,
    random_state: np.random.RandomState,
    weights_init=None,
    means_init=None,
    precisions_init=None,
    memory_limit="auto",
) -> list[Params]:
    """Initial parameters of several runs ``specs = [(n_components, covariance_type), ...]``.

    ``random_state`` is one RandomState for every run, or a list with one per run
    (model selection: each model draws as its own fit would). The parameters are
    scikit-learn's ``_initialize`` of the same draws: the same rows, centres and
    responsibilities, with its covariance definitions (``tied`` included: one more pass
    gives the second moment of the rows the chosen ones leave out). Data that fit in
    ``memory_limit`` are seeded on every row, as scikit-learn does; larger data, which
    scikit-learn could not hold, on a sample (k-means++) or by k-means|| (kmeans).
    """
    if weights_init is not None and means_init is not None and precisions_init is not None:
        return [
            parameters_from_init(cov, weights_init, means_init, precisions_init) for _, cov in specs
        ]
    starts = initial_estimates_many(
        source, specs, init_params, reg_covar, random_state, memory_limit
    )
    inits = (weights_init, means_init, precisions_init)
    return [initial_parameters(start.estimate, *inits) for start in starts]


@dataclass(frozen=True)
class Start:
    """One run's initial responsibilities: scikit-learn's estimate of them, and their
    statistics where a pass made them ("kmeans" and "random", whose responsibilities sum
    to 1 on every row, so the statistics also hold the moments of the whole data; None
    for a start from chosen rows)."""

    estimate: Estimate
    stats: SuffStats | None


def initial_estimates_many(
    source: DataSource, specs, init_params: str, reg_covar: float, random_state,
    memory_limit="auto",
) -> list[Start]:  # fmt: skip
    """The start of each run (what :func:`initialise_many` turns into parameters; a
    Bayesian mixture applies its variational M-step to the estimates).

    Random draws are made run by run, in order, exactly as consecutive fits
    would make them (Lloyd passes draw nothing); the passes over
    the data are then shared: every Lloyd pass serves all k-means runs, one pass
    draws every "random" run's responsibilities, one read fetches every run's rows.
    """
    states = random_state if isinstance(random_state, list) else [random_state] * len(specs)
    in_memory = rows_in_memory(source, memory_limit)
    plans = _draw_plans(source, specs, init_params, states, in_memory)
    _run_rows(source, [p for p in plans if p.kind == "rows"], reg_covar)
    _run_lloyd(source, [p for p in plans if p.kind == "lloyd"])
    _run_random(source, [p for p in plans if p.kind == "random"])
    return [
        Start(p.estimate, None)
        if p.kind == "rows"
        else Start(estimate_from_stats(p.stats, reg_covar), p.stats)
        for p in plans
    ]


def rows_in_memory(source: DataSource, memory_limit) -> int:
    """How many rows a seeding may hold in memory (as float64): every row when they take
    at most the cached share of the budget (scikit-learn's case: X in memory), else a
    sample of SEEDING_SAMPLE."""
    whole = source.n_samples * source.n_features * 8
    if whole <= CACHE_SHARE * memory_budget(memory_limit):
        return source.n_samples
    return min(source.n_samples, SEEDING_SAMPLE)


def _draw_plans(source, specs, init_params, states, in_memory) -> list[_Plan]:
    plans, memo = [], {}
    large = source.n_samples > in_memory
    for (k, cov), rs in zip(specs, states, strict=True):
        if init_params == "random_from_data":
            plans.append(_Plan(k, cov, "rows", indices=_random_rows(source, k, rs)))
        elif init_params == "k-means++":
            chosen = _seed_indices(source, k, rs, in_memory, memo=memo)
            plans.append(_Plan(k, cov, "rows", indices=chosen))
        elif init_params == "kmeans":
            plans.append(_Plan(k, cov, "lloyd"))
            if not large:  # every row is in memory for the seeding: Lloyd runs there
                _, rows, w, chosen = _seed_indices(source, k, rs, in_memory, True, memo)
                plans[-1].centres = lloyd_in_memory(rows, w, rows[chosen].copy())
                plans[-1].final = True
        elif init_params == "random":  # scikit-learn's uniform(size=(n, K)), drawn later
            plans.append(_Plan(k, cov, "random", rng_start=rs.get_state()))
            _skip_uniforms(rs, source.n_samples * k)
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


def _run_rows(source, plans, reg_covar) -> None:
    if not plans:
        return
    everything = np.concatenate([p.indices for p in plans])
    rows = as_kernel_array(source.take_rows(everything))  # one read for every run
    _check_finite_rows(rows, everything, source)
    total = source.total_weight()
    raw = _raw_second_moment(source) if any(p.covariance_type == "tied" for p in plans) else None
    start = 0
    for p in plans:
        mine = rows[start : start + len(p.indices)]
        start += len(p.indices)
        p.estimate = estimate_from_rows(mine, p.covariance_type, reg_covar, total, raw)


def _raw_second_moment(source) -> np.ndarray:
    """sum_i w_i x_i x_i^T over every row, from one pass of centred moments (scikit-learn's
    tied estimator takes X^T X; the centred pass gives it as M2 + W xbar xbar^T)."""
    centre = as_kernel_array(source.take_rows([0])).astype(np.float64)
    progress.phase("initialisation: second moment of every row (tied)")
    (stats,) = statistics_pass_many(source, [(NearestCentreAssigner(centre), "tied", True)])
    check_pass(stats, source)
    mean = stats.means[0]
    return stats.m2 + stats.nk[0] * np.outer(mean, mean)


def _run_random(source, plans) -> None:
    """scikit-learn's random start: resp = uniform(size=(n, K)) from each run's random
    state, normalised per row. The draws follow the rows in order, so every block gets
    the very numbers scikit-learn gives its rows, whatever the chunking; they are drawn
    on this process a few blocks at a time and travel with those blocks' tasks."""
    if not plans:
        return
    gens = []
    for p in plans:
        gen = np.random.RandomState()
        gen.set_state(p.rng_start)
        gens.append(gen)
    starts = source.block_starts
    n_blocks = len(starts) - 1
    batch = RANDOM_BATCH_BLOCKS * (os.cpu_count() or 1)
    totals = None
    for b0 in range(0, n_blocks, batch):
        draws = {}
        for i in range(b0, min(b0 + batch, n_blocks)):
            rows = int(starts[i + 1] - starts[i])
            draws[i] = _Draws(
                [
                    (g.uniform(size=(rows, p.n_components)), p.covariance_type)
                    for g, p in zip(gens, plans, strict=True)
                ]  # fmt: skip
            )
        progress.phase(
            f"initialisation: random responsibilities, blocks {b0 + 1}..{b0 + len(draws)}"
        )
        parts = reduce_pass(source, _random_block, None, merge_columns, "random", draws)
        totals = parts if totals is None else merge_columns([totals, parts])
    for p, stats in zip(plans, totals, strict=True):
        check_pass(stats, source)
        p.stats = stats


#: blocks per thread whose random responsibilities are drawn and held at once
RANDOM_BATCH_BLOCKS = 2


class _Draws:
    """One block's drawn responsibilities for each run (an opaque value in the graph)."""

    def __init__(self, runs):
        self.runs = runs


def _random_block(X, sample_weight, row_offset, draws: _Draws):
    X = as_kernel_array(X)
    w = as_weight_array(sample_weight, X.shape[0])
    out = []
    for resp, covariance_type in draws.runs:
        resp = resp / resp.sum(axis=1)[:, np.newaxis]  # scikit-learn's normalisation
        out.append(block_statistics_from_resp(X, w, row_offset, resp, covariance_type))
    return out


def _skip_uniforms(random_state, count: int, chunk: int = 1 << 20) -> None:
    """Advance ``random_state`` as ``uniform(size=count)`` would, in bounded memory."""
    while count > 0:
        random_state.random_sample(min(chunk, count))
        count -= chunk


def _run_lloyd(source, plans) -> None:
    """Lloyd passes for every k-means run at once, until each has converged.

    A run stops after KMEANS_MAX_PASSES or when its centres move by less than
    KMEANS_TOL times the mean feature variance; then, if the labels changed in
    its last pass, one more pass assigns rows to its final centres, as
    scikit-learn's Lloyd loop does (test_init.py::test_kmeans_init_like_sklearn).
    """
    active, lloyd = list(plans), 0
    while active:
        closing = all(p.closing or p.final for p in active)
        lloyd += not closing
        step = "assigning rows to the centres" if closing else f"Lloyd pass {lloyd}"
        progress.phase(f"initialisation: {step}")
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


def _seed_indices(source: DataSource, n_components, random_state, in_memory, with_rows=False,
                  memo=None):  # fmt: skip
    """Global row indices of K k-means++ seeds chosen on every row, or on a uniform row
    sample when only ``in_memory`` rows may be held (and, with ``with_rows``, the rows and
    weights). When the sample is every row, ``memo`` (a dict) keeps them for the next
    run: one read for all restarts."""
    n = source.n_samples
    m = min(n, max(in_memory, 10 * n_components))
    if m >= n and memo is not None and "all" in memo:
        sample_idx, rows, w = memo["all"]
    else:
        sample_idx = np.sort(distinct_draw(random_state, n, m)) if m < n else np.arange(n)
        what = "every row" if m >= n else f"a sample of {m:,} rows"
        progress.note(f"initialisation: reading {what} to seed k-means++ in memory")
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
