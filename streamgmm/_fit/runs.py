"""One fit: check the start, set up the runs, advance them together, checkpoint, resume.

The estimator hands over its settings (``get_params()``), the data as a
:class:`~streamgmm._data.source.DataSource` and, for a warm start, its fitted
parameters. This module decides the runs (``n_init`` restarts, the warm-started model,
or those of a checkpoint), shares every pass between them
(:func:`~streamgmm._fit.em.run_em_many`), writes a checkpoint after each iteration
and keeps the last finished iteration when interrupted. It returns the outcome and
sets nothing on the estimator: a fit that raises leaves the estimator as it was.

What is particular to a model (its initial parameters, its update rule, what a warm
start or a resume restores) comes from a *model* object: :class:`GaussianModel` by
default, ``variational.VariationalModel`` for ``BayesianGaussianMixture``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.utils import check_random_state

from .._data import progress
from .._data.budget import check_model_memory, memory_budget
from .._data.fill import filled_source, observed_column_sums
from .._data.source import DataSource
from .._io.checkpoint import checkpoint_lock
from .._io.modelfile import FORMAT_NAME
from .._model import Params, check_means, check_precisions, check_weights
from .checkpointing import Checkpointer, data_identity, resumed_runs, settings_digest
from .em import EMResult, EMRun, GaussianEM, UpdateRule, best_run, nonfinite_error, run_em_many
from .init import initialise_many
from .report import Reporter


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


#: scikit-learn's warning when the initialisation kept did not converge
CONVERGENCE_MESSAGE = (
    "Best performing initialization did not converge. "
    "Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)


def checked_inits(settings: dict, n_features: int):
    """(weights_init, means_init, precisions_init) checked against K and d (None if unset)."""
    k, cov = settings["n_components"], settings["covariance_type"]
    w, m, p = settings["weights_init"], settings["means_init"], settings["precisions_init"]
    return (
        None if w is None else check_weights(w, k),
        None if m is None else check_means(m, k, n_features),
        None if p is None else check_precisions(p, cov, k, n_features),
    )


class FitModel(Protocol):
    """What :func:`fit` asks of a model (:class:`GaussianModel`, or
    ``variational.VariationalModel``)."""

    params_type: type  # the runs' parameters, as checkpoints rebuild them
    file_format: str  # the model file format of its checkpoints
    rule: UpdateRule

    def check(self, n_features: int) -> None:
        """Check what depends on the data's width, before any block is read."""

    def starts(self, source: DataSource, random_state) -> list:
        """The ``n_init`` fresh starts (their passes shared)."""

    def prepare_warm(self, source: DataSource) -> None:
        """Before a warm start continues from fitted parameters."""

    def restore(self, record) -> None:
        """Before a resume: what the checkpoint's model record holds beyond the runs."""


class GaussianModel:
    """What :func:`fit` needs to fit a GaussianMixture beyond the shared loop: the checks of
    its initial arrays, its starts, its update rule; a warm start and a resume restore
    nothing more than the runs."""

    params_type = Params
    file_format = FORMAT_NAME

    def __init__(self, settings: dict):
        self.settings = settings
        self.rule = GaussianEM(settings["reg_covar"])
        self.inits = (None, None, None)

    def check(self, n_features: int) -> None:
        """Checks that need the data's width, before any block is read."""
        self.inits = checked_inits(self.settings, n_features)

    def starts(self, source: DataSource, random_state) -> list[Params]:
        """``n_init`` fresh starts; their initialisations share the passes over the data."""
        s = self.settings
        specs = [(s["n_components"], s["covariance_type"])] * s["n_init"]
        if not all(i is not None for i in self.inits):  # no pass when all three are given
            source = init_source(source)
        return initialise_many(
            source, specs, s["init_params"], s["reg_covar"], random_state, *self.inits,
            memory_limit=s["memory_limit"],
        )  # fmt: skip

    def prepare_warm(self, source: DataSource) -> None:
        """Before continuing from fitted parameters (nothing to do)."""

    def restore(self, record) -> None:
        """What a resume takes from the checkpoint's model record (nothing more)."""


def check_enough_samples(n_samples: int, n_components: int) -> None:
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components but got n_components = "
            f"{n_components}, n_samples = {n_samples}"
        )


def fit(
    settings: dict,
    source: DataSource,
    *,
    random_state: np.random.RandomState,
    warm: tuple[Params, float] | None = None,
    callback: Callable | None = None,
    checkpoint=None,
    resume: bool = False,
    snapshot: Callable[[EMResult], object] | None = None,
    defaults: dict | None = None,
    model: FitModel | None = None,
) -> FitOutcome:
    """Fit the model ``settings`` describe on ``source``.

    ``warm`` is (parameters, lower bound) to continue from; ``snapshot(result)`` makes the
    model record a checkpoint stores; ``defaults`` are the estimator's default settings
    (to read a checkpoint); ``model`` says what is particular to the model (default: a
    :class:`GaussianModel` of ``settings``). Raises :class:`Interrupted` on Ctrl-C.
    """
    s = settings
    model = GaussianModel(s) if model is None else model
    check_enough_samples(source.n_samples, s["n_components"])
    model.check(source.n_features)
    source.maybe_cache(s["cache"], s["memory_limit"])
    source.total_weight()  # weights that sum to zero are refused before any pass
    n_runs = 1 if (warm is not None or resume) else s["n_init"]
    check_model_memory(
        [(s["n_components"], s["covariance_type"])] * n_runs,
        source.n_features,
        memory_budget(s["memory_limit"]),
    )
    lock = checkpoint_lock(checkpoint) if checkpoint is not None else nullcontext()
    with lock:
        if resume:
            runs = resumed_runs(s, defaults or s, source, checkpoint, random_state, model)
        elif warm is not None:
            model.prepare_warm(source)
            runs = [EMRun(warm[0], s["covariance_type"], warm[1])]
        else:
            starts = model.starts(source, random_state)
            runs = [EMRun(p, s["covariance_type"], init=i) for i, p in enumerate(starts)]
        save = None
        if checkpoint is not None:
            identity, digest = data_identity(source), settings_digest(s)
            rng_state = random_state.get_state()
            save = Checkpointer(checkpoint, snapshot, s["max_iter"], rng_state, identity, digest)
        return _advance(s, source, runs, callback, save, checkpoint, model.rule)


def _advance(s, source, runs, callback, save: Checkpointer | None, checkpoint, rule) -> FitOutcome:
    """Run EM on every run to its end, with scikit-learn's verbose messages."""
    reporter = Reporter(s["verbose"], s["verbose_interval"])
    for r in runs:
        reporter.init_begin(r.init)
    try:
        stopped = run_em_many(
            source,
            runs,
            tol=s["tol"],
            max_iter=s["max_iter"],
            reg_covar=s["reg_covar"],
            callback=callback,
            reporter=reporter,
            after_iteration=save,
            rule=rule,
        )
    except KeyboardInterrupt:
        reporter.close()
        raise _interrupted(runs, s["max_iter"], save, checkpoint) from None
    reporter.close()
    if save is not None:
        save(runs, finished=True)
    best = best_run(runs, s["max_iter"])
    state = "converged" if best.converged else "stopped" if stopped else "did not converge"
    progress.note(f"EM {state} after {best.n_iter} iteration{'s' * (best.n_iter != 1)}", True)
    return FitOutcome(best, stopped, runs)


def init_source(source: DataSource) -> DataSource:
    """What the initialisation reads: the data, or with ``missing="em"`` the data with each
    NaN filled with the observed mean of its column (``_data/fill.py``; one more pass, which
    finds whether there is any NaN)."""
    if source.missing != "em":
        return source
    sums, weights, counts, (row, col) = observed_column_sums(source)
    if row >= 0:
        raise nonfinite_error(source, row, col)
    if (counts == source.n_samples).all():  # no NaN at all: the data as they are
        return source
    empty = np.flatnonzero(~(weights > 0))
    if empty.size:
        raise ValueError(
            f"column {int(empty[0])} of {source.name} has no observed value (every entry is "
            "NaN, or has zero sample_weight): the model cannot say anything about it. Drop the "
            "column before fitting."
        )
    return filled_source(source, sums / weights)


def _interrupted(runs, max_iter, save: Checkpointer | None, checkpoint) -> Interrupted:
    """The :class:`Interrupted` to raise on Ctrl-C, the last finished iteration saved."""
    done = any(r.n_iter > 0 for r in runs)
    if save is not None and done and save.is_behind(runs):
        save(runs)  # an interrupt raised after the M-steps (in a callback): keep them
    best = best_run(runs, max_iter)
    best.converged = False
    return Interrupted(FitOutcome(best, True, runs) if done else None, checkpoint)


def fit_grid(settings_list: list[dict], source: DataSource) -> list[EMResult]:
    """Fit several models (a grid of n_components and covariance types) in shared passes.

    Every model's restarts draw from that model's own ``random_state`` (a fresh one for an
    integer seed), so each result equals the separate fit of those settings. The
    settings differ only in ``n_components`` and ``covariance_type``; initial arrays
    (``weights_init``, ...) are refused, since one shape cannot fit every K.
    """
    s0 = settings_list[0]
    for name in ("weights_init", "means_init", "precisions_init"):
        if s0[name] is not None:
            raise ValueError(f"{name} cannot be given to a model selection: it fits several K")
    check_enough_samples(source.n_samples, max(s["n_components"] for s in settings_list))
    source.maybe_cache(s0["cache"], s0["memory_limit"])
    source.total_weight()
    specs, states, owners = [], [], []
    for m, s in enumerate(settings_list):
        rs = check_random_state(s["random_state"])  # each model: its own fit's draws
        for _ in range(s["n_init"]):
            specs.append((s["n_components"], s["covariance_type"]))
            states.append(rs)
            owners.append(m)
    check_model_memory(specs, source.n_features, memory_budget(s0["memory_limit"]))
    starts = initialise_many(
        init_source(source), specs, s0["init_params"], s0["reg_covar"], states,
        memory_limit=s0["memory_limit"],
    )  # fmt: skip
    all_runs = [
        EMRun(p, spec[1], init=i) for i, (p, spec) in enumerate(zip(starts, specs, strict=True))
    ]
    run_em_many(source, all_runs, tol=s0["tol"], max_iter=s0["max_iter"], reg_covar=s0["reg_covar"])
    return [
        best_run([r for r, o in zip(all_runs, owners, strict=True) if o == m], s0["max_iter"])
        for m in range(len(settings_list))
    ]
