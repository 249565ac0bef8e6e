"""Layer 7b: the EM loop on reduced statistics (it never sees where the data lives).

One statistics pass per iteration yields both the log-likelihood of the current
parameters (scikit-learn's lower bound for that iteration) and the statistics of
the M-step. Convergence is scikit-learn's: ``|lower_bound - previous| < tol``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._block import ModelAssigner
from ._coordinator import statistics_pass
from ._mstep import Params, m_step
from ._sources import DataSource
from ._stats import NONFINITE_DENSITY, NONFINITE_INPUT, SuffStats


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
    params : Params
        The parameters after this iteration's M-step, float64, scikit-learn's
        shapes (``weights``, ``means``, ``covariances``, ``precisions_cholesky``).
        A copy: changing it does not change the fit.
    seconds : float
        Wall time of this iteration.
    init : int
        Which initialisation (0 to ``n_init - 1``) this iteration belongs to.
    """

    n_iter: int
    lower_bound: float
    change: float
    params: Params
    seconds: float
    init: int = 0


@dataclass
class EMResult:
    params: Params
    n_iter: int
    converged: bool
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    stopped_by_callback: bool = False


def check_pass(stats: SuffStats, source: DataSource) -> None:
    """Turn a problem recorded by the kernels into a clear error (no NaN model)."""
    if stats.bad_kind == NONFINITE_INPUT:
        raise ValueError(
            f"Input contains NaN or infinity at {source.describe_row(stats.bad_row)}, "
            f"column {stats.bad_col}. Remove or impute non-finite values before fitting."
        )
    if stats.bad_kind == NONFINITE_DENSITY:
        raise ValueError(
            f"The log-likelihood is not finite at {source.describe_row(stats.bad_row)}: "
            "its values are too large for float64 arithmetic (their squares overflow). "
            "Rescale the data, e.g. divide each column by its standard deviation."
        )


class Reporter:
    """scikit-learn's ``verbose`` messages (its contract: printed on stdout)."""

    def __init__(self, verbose: int, verbose_interval: int):
        self.verbose, self.interval = verbose, verbose_interval
        self.t0 = self.t_iter = time.time()

    def init_begin(self, n_init: int) -> None:
        if self.verbose == 1:
            print(f"Initialization {n_init}")
        elif self.verbose >= 2:
            print(f"Initialization {n_init}")
            self.t0 = self.t_iter = time.time()

    def iteration(self, n_iter: int, change: float) -> None:
        if n_iter % self.interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                now = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self.t_iter:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self.t_iter = now

    def init_end(self, lower_bound: float, converged: bool) -> None:
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            print(
                f"Initialization {status}. time lapse {time.time() - self.t0:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )


def run_em(
    source: DataSource,
    params: Params,
    covariance_type: str,
    *,
    tol: float,
    max_iter: int,
    reg_covar: float,
    lower_bound: float = -math.inf,
    callback: Callable[[IterationInfo], bool | None] | None = None,
    reporter: Reporter | None = None,
    init: int = 0,
) -> EMResult:
    """Iterate E and M steps from ``params`` until convergence or ``max_iter``.

    ``callback`` runs after each iteration; a truthy return stops here, before
    convergence (``stopped_by_callback``); an exception from it propagates.
    """
    lower_bounds = []
    converged = stopped = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        t = time.perf_counter()
        previous = lower_bound
        stats = statistics_pass(source, ModelAssigner(params, covariance_type), covariance_type)
        check_pass(stats, source)
        lower_bound = stats.log_lik / stats.weight_sum
        params = m_step(stats, reg_covar)
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        if reporter is not None:
            reporter.iteration(n_iter, change)
        converged = abs(change) < tol
        if callback is not None:
            copy = Params(*(a.copy() for a in params))
            info = IterationInfo(n_iter, lower_bound, change, copy, time.perf_counter() - t, init)
            stopped = bool(callback(info)) and not converged
        if converged or stopped:
            break
    return EMResult(params, n_iter, converged, lower_bound, lower_bounds, stopped)
