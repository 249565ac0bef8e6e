"""Layer 7c: one fit: initialise the runs, advance them together, checkpoint, resume.

The estimator hands over its settings and the data; this module decides the runs
(``n_init`` restarts, or the warm-started model), shares every pass between them
(:func:`~streamgmm._em.run_em_many`), writes a checkpoint after each iteration,
resumes from one, and keeps the last finished iteration when interrupted. It
sets nothing on the estimator: it returns the outcome (issue 8).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._budget import check_model_memory, memory_budget
from ._checkpoint import (
    CheckpointState,
    RunState,
    compare_identity,
    data_identity,
    read_checkpoint,
    remove_stale_temporaries,
    settings_digest,
    write_checkpoint,
)
from ._datasource import DataSource
from ._em import EMResult, EMRun, Reporter, run_em_many
from ._init import initialise_many
from ._mstep import Params


@dataclass
class FitOutcome:
    best: EMResult
    stopped: bool  # a callback stopped the fit
    runs: list


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a fit; ``outcome`` holds the last finished iteration (or None)."""

    def __init__(self, outcome: FitOutcome | None, checkpoint=None):
        super().__init__()
        self.outcome, self.checkpoint = outcome, checkpoint


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


def fit_runs(
    est,
    source: DataSource,
    *,
    inits,
    random_state: np.random.RandomState,
    warm: EMRun | None,
    callback,
    checkpoint,
    resume: bool,
    snapshot: Callable[[EMResult], object],
) -> FitOutcome:
    """Fit ``est``'s model on ``source``; ``snapshot(result)`` makes a fitted estimator
    of a result (for checkpoints). Raises :class:`Interrupted` on Ctrl-C."""
    runs_wanted = 1 if (warm is not None or resume) else est.n_init
    check_model_memory(
        [(est.n_components, est.covariance_type)] * runs_wanted,
        source.n_features,
        memory_budget(est.memory_limit),
    )
    reporter = Reporter(est.verbose, est.verbose_interval)
    digest = settings_digest(est.get_params(deep=False))
    if checkpoint is not None:
        remove_stale_temporaries(checkpoint)
    if resume:
        runs = _resumed_runs(est, source, checkpoint, digest, random_state)
    elif warm is not None:
        runs = [warm]
    else:
        runs = _initial_runs(est, source, inits, random_state)
    save = None
    if checkpoint is not None:
        rng_state, identity = random_state.get_state(), data_identity(source)
        save = _Checkpointer(checkpoint, snapshot, est.max_iter, rng_state, identity, digest)

    for r in runs:
        reporter.init_begin(r.init)
    try:
        stopped = run_em_many(
            source,
            runs,
            tol=est.tol,
            max_iter=est.max_iter,
            reg_covar=est.reg_covar,
            callback=callback,
            reporter=reporter,
            after_iteration=save,
        )
    except KeyboardInterrupt:
        reporter.close()
        raise _interrupted(runs, est.max_iter, save, checkpoint) from None
    reporter.close()
    if save is not None:
        save(runs, finished=True)
    return FitOutcome(best_run(runs, est.max_iter), stopped, runs)


def _initial_runs(est, source, inits, random_state) -> list[EMRun]:
    """``n_init`` fresh starts; their initialisations share the passes over the data."""
    specs = [(est.n_components, est.covariance_type)] * est.n_init
    starts = initialise_many(source, specs, est.init_params, est.reg_covar, random_state, *inits)
    return [EMRun(p, est.covariance_type, init=i) for i, p in enumerate(starts)]


class _Checkpointer:
    """Writes the checkpoint (the ``after_iteration`` hook) and remembers what it wrote."""

    def __init__(self, path, snapshot, max_iter, rng_state, identity, digest):
        self.path, self.snapshot, self.max_iter = path, snapshot, max_iter
        self.rng_state, self.identity, self.digest = rng_state, identity, digest
        self.saved = None  # n_iter of each run at the last write

    def __call__(self, runs, finished=False):
        state = CheckpointState(
            [_run_state(r) for r in runs], self.rng_state, self.identity, self.digest, finished
        )
        write_checkpoint(self.path, self.snapshot(best_run(runs, self.max_iter)), state)
        self.saved = [r.n_iter for r in runs]


def _interrupted(runs, max_iter, save: _Checkpointer | None, checkpoint) -> Interrupted:
    """The :class:`Interrupted` to raise on Ctrl-C, the last finished iteration saved."""
    done = any(r.n_iter > 0 for r in runs)
    if save is not None and done and save.saved != [r.n_iter for r in runs]:
        save(runs)  # an interrupt raised after the M-steps (in a callback): keep them
    outcome = FitOutcome(_not_converged(best_run(runs, max_iter)), True, runs)
    return Interrupted(outcome if done else None, checkpoint)


def _not_converged(result: EMResult) -> EMResult:
    result.converged = False
    return result


def _run_state(r: EMRun) -> RunState:
    p = r.params
    return RunState(
        params={
            "weights": p.weights,
            "means": p.means,
            "covariances": p.covariances,
            "precisions_cholesky": p.precisions_cholesky,
        },
        lower_bound=r.lower_bound,
        lower_bounds=list(r.lower_bounds),
        n_iter=r.n_iter,
        converged=r.converged,
        init=r.init,
    )


def _resumed_runs(est, source, checkpoint, digest, random_state) -> list[EMRun]:
    if checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH: the checkpoint to continue from.")
    if not os.path.exists(checkpoint):
        raise FileNotFoundError(f"no checkpoint to resume from at {os.fspath(checkpoint)}")
    _, state = read_checkpoint(checkpoint)
    if state.settings_digest != digest:
        raise ValueError(
            f"checkpoint {os.fspath(checkpoint)} was written with other settings; only "
            "max_iter, tol, verbose, cache and memory_limit may change on resume."
        )
    compare_identity(state.data_identity, data_identity(source), os.fspath(checkpoint))
    random_state.set_state(state.rng_state)
    runs = []
    for s in state.runs:
        p = s.params
        params = Params(p["weights"], p["means"], p["covariances"], p["precisions_cholesky"])
        runs.append(
            EMRun(
                params,
                est.covariance_type,
                s.lower_bound,
                list(s.lower_bounds),
                s.n_iter,
                s.converged,
                s.converged,
                s.init,
            )
        )
    return runs
