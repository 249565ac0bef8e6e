"""The EM loop on reduced statistics (it never sees where the data live).

One statistics pass per iteration yields both the log-likelihood of the current
parameters (scikit-learn's lower bound for that iteration) and the statistics of
the M-step. Convergence is scikit-learn's: ``|lower_bound - previous| < tol``.

The loop does not know which model it fits: an *update rule* (:class:`GaussianEM` by
default) gives the E-step's assigner of a run's parameters and, from the pass's
statistics, the iteration's lower bound and the next parameters. The variational rule
of ``BayesianGaussianMixture`` (``variational.py``) plugs in the same way.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .._data import progress
from .._data.blocks import ModelAssigner
from .._data.passes import statistics_pass_many
from .._data.source import DataSource, check_weight_sum
from .._model import NONFINITE_DENSITY, NONFINITE_INPUT, OK, Params, SuffStats, m_step
from .report import Reporter

logger = logging.getLogger("streamgmm")


@dataclass
class IterationInfo:
    """What a ``callback`` receives after each EM iteration.

    Attributes
    ----------
    n_iter : int
        The iteration just completed, counted from 1 within this initialisation.
    lower_bound : float
        Mean log-likelihood per unit of sample weight under the parameters that
        entered this iteration (scikit-learn's ``lower_bounds_[n_iter - 1]``).
    change : float
        ``lower_bound`` minus the previous one (``inf`` on the first iteration).
    params : Params or VariationalParams
        The parameters after this iteration's M-step, float64, scikit-learn's
        shapes (``weights``, ``means``, ``covariances``, ``precisions_cholesky``; for
        a ``BayesianGaussianMixture`` the posterior's ``weight_concentration``,
        ``mean_precision``, ``means``, ``degrees_of_freedom``, ``covariances``,
        ``precisions_cholesky``). A copy: changing it does not change the fit.
    seconds : float
        Wall time of this iteration.
    init : int
        Which initialisation (0 to ``n_init - 1``) this iteration belongs to.
    """

    n_iter: int
    lower_bound: float
    change: float
    params: Any
    seconds: float
    init: int = 0


class UpdateRule(Protocol):
    """What the loop asks of a model: the E-step of some parameters, then one step."""

    def assigner(self, params, covariance_type: str, missing: str = "error") -> ModelAssigner:
        """The E-step's assigner for a run's current parameters (``missing``: the data's
        setting, "em" when a NaN is a missing entry)."""

    def step(self, stats: SuffStats, assigner: ModelAssigner) -> tuple[float, Any]:
        """(lower bound of this iteration, next parameters) from the pass's statistics;
        ``assigner`` is the one that made them (it holds the parameters that entered)."""


class GaussianEM:
    """EM of a Gaussian mixture: the lower bound is the mean log-likelihood per unit weight
    of the parameters that entered the pass, the next parameters its M-step."""

    def __init__(self, reg_covar: float):
        self.reg_covar = reg_covar

    def assigner(self, params: Params, covariance_type: str, missing="error") -> ModelAssigner:
        return ModelAssigner(params, covariance_type, missing)

    def step(self, stats: SuffStats, assigner: ModelAssigner) -> tuple[float, Params]:
        return stats.log_lik / stats.weight_sum, m_step(stats, self.reg_covar)


@dataclass
class EMResult:
    params: Params
    n_iter: int
    converged: bool
    lower_bound: float
    lower_bounds: list = field(default_factory=list)


def check_pass(stats: SuffStats, source: DataSource) -> None:
    """Turn a problem recorded by the kernels into a clear error (no NaN model)."""
    if stats.bad_kind == OK and source.sample_weight is not None:
        check_weight_sum(stats.weight_sum)  # lazy weights: known after the first pass
    if stats.bad_kind == NONFINITE_INPUT:
        raise nonfinite_error(source, stats.bad_row, stats.bad_col)
    if stats.bad_kind == NONFINITE_DENSITY:
        raise too_large_error(source, stats.bad_row)


def nonfinite_error(source: DataSource, row: int, col: int) -> ValueError:
    if source.missing == "em":
        return ValueError(
            f"Input contains infinity at {source.describe_row(row)}, column {col}. With "
            "missing='em' a NaN marks a missing value, but infinity is an error: replace it."
        )
    return ValueError(
        f"Input contains NaN or infinity at {source.describe_row(row)}, column {col}. "
        "Remove or impute non-finite values before fitting."
    )


def note_rows_left_out(stats: SuffStats, source: DataSource) -> None:
    """With missing values: warn, once per fit, of the rows with no observed entry, which a
    pass leaves out (they carry nothing about the parameters)."""
    left_out = source.n_samples - stats.n_rows
    if source.missing != "em" or source.left_out is not None:
        return
    source.left_out = left_out
    if left_out:
        warnings.warn(
            f"{left_out:,} of the {source.n_samples:,} rows of {source.name} have no observed "
            "entry (every value is NaN): they are left out of the fit, its lower bound and "
            "its weights.",
            UserWarning,
            stacklevel=2,
        )


def too_large_error(source: DataSource, row: int) -> ValueError:
    return ValueError(
        f"The values at {source.describe_row(row)} are too large for float64 arithmetic "
        "(their squares overflow), so the model is not finite there. Rescale the data, "
        "e.g. divide each column by its standard deviation."
    )


@dataclass
class EMRun:
    """One EM run (an initialisation, or one model of a grid) as the loop advances it."""

    params: Any  # Params, or what the update rule works with
    covariance_type: str
    lower_bound: float = -math.inf  # the bound of the last iteration (or the warm start's)
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    done: bool = False
    init: int = 0

    def result(self) -> EMResult:
        return EMResult(
            self.params, self.n_iter, self.converged, self.lower_bound, list(self.lower_bounds)
        )


def best_run(runs: list[EMRun], max_iter: int) -> EMResult:
    """scikit-learn's choice among restarts, in their order."""
    if max_iter == 0 or all(r.n_iter == 0 for r in runs):
        result = runs[-1].result()
        result.lower_bound = -math.inf  # scikit-learn: the last start, bound -inf
        return result
    best = None
    for r in runs:
        if best is None or r.lower_bound > best.lower_bound or best.lower_bound == -math.inf:
            best = r
    return best.result()


def run_em_many(
    source: DataSource,
    runs: list[EMRun],
    *,
    tol: float,
    max_iter: int,
    reg_covar: float,
    callback: Callable[[IterationInfo], bool | None] | None = None,
    reporter: Reporter | None = None,
    after_iteration: Callable[[list[EMRun]], None] | None = None,
    rule: UpdateRule | None = None,
) -> bool:
    """Advance every run by E and M steps, all from the same pass over the data.

    Each iteration reads every block once for all the runs still going (restarts
    and model grids do not multiply the passes); a run stops at convergence or at
    ``max_iter`` of its own. ``callback`` runs after each run's iteration, in run
    order; a truthy return stops the whole loop after this iteration (returns
    True). ``after_iteration(runs)`` runs once the iteration is complete (the
    checkpoint hook). An exception, Ctrl-C included, propagates with every run
    holding its last finished iteration. ``rule`` is the model's update rule (default:
    :class:`GaussianEM` with ``reg_covar``).
    """
    rule = GaussianEM(reg_covar) if rule is None else rule
    stopped = False
    while not stopped:
        active = [r for r in runs if not r.done and r.n_iter < max_iter]
        if not active:
            break
        n_iter = max(r.n_iter for r in active) + 1
        going = f" ({len(active)} of {len(runs)} runs going)" if len(runs) > 1 else ""
        progress.phase(f"EM iteration {n_iter}{going}")
        updates, seconds = _one_pass(source, active, rule)
        line = _report_line(updates, n_iter, seconds, source.nbytes, going)
        for r, lower_bound, params in updates:
            change = _next_iteration(r, lower_bound, params, tol=tol, max_iter=max_iter)
            if reporter is not None:
                reporter.iteration(r.init, r.n_iter, change)
                if r.done:
                    reporter.init_end(r.init, r.lower_bound, r.converged)
            if callback is not None:
                copy = type(params)(*(np.copy(a) for a in params))
                info = IterationInfo(r.n_iter, lower_bound, change, copy, seconds, r.init)
                stopped = (bool(callback(info)) and not r.converged) or stopped
        if after_iteration is not None:
            after_iteration(runs)
        progress.note(line)  # once the iteration is done and saved
    return stopped


def _report_line(updates, n_iter, seconds, nbytes, going) -> str:
    """The progress display's line for one EM iteration (one run: its bound and change)."""
    best = max(updates, key=lambda u: u[1])
    bound = f"lower bound {best[1]:.6f}"
    if len(updates) == 1:
        change = best[1] - best[0].lower_bound
        bound += f", change {change:.2e}" if math.isfinite(change) else ""
    speed = progress.rate(nbytes, seconds)
    return f"EM iteration {n_iter}{going}: {bound}; {seconds:.2f} s, {speed}"


def _one_pass(source: DataSource, active: list[EMRun], rule: UpdateRule):
    """One read of the data for every active run: each run's lower bound and next
    parameters (``rule.step``), and the seconds taken."""
    t = time.perf_counter()
    jobs = [
        (rule.assigner(r.params, r.covariance_type, source.missing), r.covariance_type, True)
        for r in active
    ]
    all_stats = statistics_pass_many(source, jobs)
    for stats in all_stats:  # all or nothing per iteration
        check_pass(stats, source)
        note_rows_left_out(stats, source)
    updates = [
        (r, *rule.step(stats, job[0]))
        for r, stats, job in zip(active, all_stats, jobs, strict=True)
    ]
    seconds = time.perf_counter() - t
    logger.info(
        "pass %d: %d run(s), %.2f s, %.2f GB/s",
        max(r.n_iter for r in active) + 1,
        len(active),
        seconds,
        source.nbytes / 1e9 / max(seconds, 1e-9),
    )
    return updates, seconds


def _next_iteration(r: EMRun, lower_bound: float, params, *, tol: float, max_iter: int) -> float:
    """Move ``r`` to its next iteration and decide whether it is done; returns the change."""
    change = lower_bound - r.lower_bound
    r.params, r.lower_bound, r.n_iter = params, lower_bound, r.n_iter + 1
    r.lower_bounds.append(lower_bound)
    r.converged = abs(change) < tol
    r.done = r.converged or r.n_iter >= max_iter
    logger.info(
        "run %d iteration %d: lower bound %.8g, change %.3g%s",
        r.init,
        r.n_iter,
        lower_bound,
        change,
        " (converged)" if r.converged else "",
    )
    return change
