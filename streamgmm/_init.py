"""Layer 7a: initial parameters, over the blocks through the coordinator.

Methods (scikit-learn's names):

- ``random_from_data``: K distinct rows drawn with ``random_state.choice`` exactly
  as scikit-learn does, so the same seed starts from the same rows.
- ``k-means++``: greedy D^2 seeding on a row sample; the chosen rows start as in
  ``random_from_data``.
- ``kmeans``: the same seeding, then at most ``KMEANS_MAX_PASSES`` Lloyd passes
  over all blocks (each one statistics pass with nearest-centre assignments).
  scikit-learn runs k-means to convergence (up to 300 passes); out of core that
  is unaffordable, so we stop at a few passes or when centres move by less than
  ``KMEANS_TOL`` times the mean feature variance, as scikit-learn's ``tol``; then,
  unless the labels stopped changing, one more pass assigns rows to the final
  centres (scikit-learn's closing E-step).
- ``random``: scikit-learn's uniform responsibilities, drawn per global row.

All random numbers come from ``random_state`` or are keyed by global row, so the
start does not depend on chunking or scheduling.

Sample weights act as row repetition: a row of weight w is w copies of it. A row
picked as a starting centre is *one* copy (scikit-learn's one-hot responsibility),
so its initial weight is 1 / sum(w), as 1 / n on the repeated data. With integer
weights, ``random_from_data`` and ``k-means++`` then pick the very rows that
scikit-learn's calls would pick on the repeated data, from the same random_state
(test_sample_weight.py::test_random_starts_equal_repetition). ``random`` draws one
responsibility vector per row, not per copy: equal to repetition in expectation only.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._block import NearestCentreAssigner, RandomAssigner, as_kernel_array, statistics_from_resp
from ._coordinator import statistics_pass
from ._em import check_pass
from ._mstep import Params, initial_parameters, parameters_from_init
from ._sources import DataSource

KMEANS_MAX_PASSES = 10
KMEANS_TOL = 1e-4
#: rows sampled (at most) for k-means++ seeding
SEEDING_SAMPLE = 50_000
#: with integer weights, random_from_data shuffles sum(w) indices (as scikit-learn
#: would on the repeated rows) up to max(n_samples, this); beyond, it draws rows.
EXPANDED_DRAW_LIMIT = 2**24


def initialise(
    source: DataSource,
    covariance_type: str,
    n_components: int,
    init_params: str,
    reg_covar: float,
    random_state: np.random.RandomState,
    weights_init=None,
    means_init=None,
    precisions_init=None,
) -> Params:
    if weights_init is not None and means_init is not None and precisions_init is not None:
        return parameters_from_init(covariance_type, weights_init, means_init, precisions_init)
    if init_params == "random_from_data":
        stats = _stats_of_rows(
            source, _random_rows(source, n_components, random_state), covariance_type
        )
    elif init_params == "k-means++":
        stats = _stats_of_rows(
            source, _seed_indices(source, n_components, random_state), covariance_type
        )
    elif init_params == "kmeans":
        stats = _kmeans_stats(source, covariance_type, n_components, random_state)
    elif init_params == "random":
        seed = int(random_state.randint(np.iinfo(np.int32).max))
        stats = statistics_pass(source, RandomAssigner(seed, n_components), covariance_type)
        check_pass(stats, source)
    else:  # validated before; kept for safety
        raise ValueError(f"Unimplemented initialization method {init_params!r}")
    return initial_parameters(stats, reg_covar, weights_init, means_init, precisions_init)


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
        return random_state.choice(n, size=n_components, replace=False)
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


def _check_finite_rows(rows: np.ndarray, indices, source: DataSource) -> None:
    bad = ~np.isfinite(rows)
    if bad.any():
        i, col = np.argwhere(bad)[0]
        raise ValueError(
            f"Input contains NaN or infinity at {source.describe_row(int(indices[i]))}, "
            f"column {int(col)}. Remove or impute non-finite values before fitting."
        )


def _stats_of_rows(source: DataSource, indices, covariance_type):
    """Statistics of one-hot responsibilities on the given rows (row i -> component i).

    Each picked row counts once (one copy of it), whatever its sample weight, and
    the initial weights divide by the total weight, as scikit-learn's do by n.
    """
    rows = as_kernel_array(source.take_rows(indices))
    _check_finite_rows(rows, indices, source)
    ones = np.ones(len(indices))
    stats = statistics_from_resp(rows, ones, np.eye(len(indices)), covariance_type)
    total = (
        source.n_samples
        if source.sample_weight is None
        else float(source.sample_weight.sum().compute())
    )
    return replace(stats, weight_sum=total, n_rows=source.n_samples)


def _seed_indices(source: DataSource, n_components: int, random_state) -> np.ndarray:
    """Global row indices of K k-means++ seeds chosen on a uniform row sample."""
    n = source.n_samples
    m = min(n, max(SEEDING_SAMPLE, 10 * n_components))
    sample_idx = np.sort(random_state.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    rows = as_kernel_array(source.take_rows(sample_idx)).astype(np.float64)
    _check_finite_rows(rows, sample_idx, source)
    w = source.take_weights(sample_idx)
    chosen = _kmeans_plusplus(rows, w, n_components, random_state)
    return sample_idx[chosen]


def _kmeans_plusplus(X, w, n_clusters, random_state) -> np.ndarray:
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


def _kmeans_stats(source: DataSource, covariance_type, n_components, random_state):
    """Seed, then Lloyd passes; returns the statistics of the final hard assignment."""
    seeds = _seed_indices(source, n_components, random_state)
    centres = as_kernel_array(source.take_rows(seeds)).astype(np.float64)
    scale = None
    for _ in range(KMEANS_MAX_PASSES):
        stats = statistics_pass(source, NearestCentreAssigner(centres), covariance_type)
        check_pass(stats, source)
        if scale is None:  # mean feature variance, from the first pass's moments
            scale = _mean_variance(stats)
        new = np.where((stats.nk > 0)[:, None], stats.means, centres)  # keep empty clusters
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if shift <= KMEANS_TOL * scale:
            break
    if shift > 0.0:
        # Labels changed in the last pass: assign to the final centres, as scikit-learn's
        # Lloyd loop does after stopping on tol (test_init.py::test_kmeans_init_like_sklearn).
        stats = statistics_pass(source, NearestCentreAssigner(centres), covariance_type)
        check_pass(stats, source)
    return stats


def _mean_variance(stats) -> float:
    """Mean per-feature variance of the data, from one pass's per-cluster moments."""
    nk, means = stats.nk, stats.means
    overall = np.average(means, axis=0, weights=nk)
    spread = (nk[:, None] * (means - overall) ** 2).sum(axis=0)
    return float(((spread + _within_diag(stats)) / nk.sum()).mean())


def _within_diag(stats) -> np.ndarray:
    m2 = stats.m2
    d = stats.means.shape[1]
    if m2.ndim == 3:
        return np.diagonal(m2, axis1=1, axis2=2).sum(axis=0)
    if stats.covariance_type == "tied":
        return np.diagonal(m2).copy()
    if stats.covariance_type == "diag":
        return m2.sum(axis=0)
    return np.full(d, m2.sum() / d)
