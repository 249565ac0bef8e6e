"""Model selection over a grid of n_components and covariance types.

Every model of the grid (and every restart of each) advances in the same passes
over the data: a grid of ten K costs the passes of its slowest model, not of ten
fits. Each model draws its random numbers from its own copy of ``random_state``
(a fresh one for an integer seed), so each equals the separate fit
``GaussianMixture(K, covariance_type=c, **params).fit(X)`` exactly
(tests/estimator/test_selection.py).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._data.blocks import ModelAssigner
from ._data.passes import statistics_pass_many
from ._data.source import as_source
from ._estimator import GaussianMixture, fitted_from_result
from ._fit.runs import fit_grid
from ._model import check_hyperparameters, get_covariance

CRITERIA = ("bic", "aic")


@dataclass
class ModelSelection:
    """What :func:`select_model` found: one row per model, and the best model."""

    criterion: str
    rows: list = field(default_factory=list)  # dicts: n_components, covariance_type, ...
    models: list = field(default_factory=list)  # fitted GaussianMixture, in row order
    best_index: int = 0

    @property
    def best_(self) -> GaussianMixture:
        return self.models[self.best_index]

    def table(self) -> str:
        """The rows as a Markdown table (the best row marked)."""
        head = "| n_components | covariance_type | BIC | AIC | lower bound | converged | n_iter |"
        lines = [head, "|---:|---|---:|---:|---:|---|---:|"]
        for i, r in enumerate(self.rows):
            mark = " *" if i == self.best_index else ""
            lines.append(
                f"| {r['n_components']}{mark} | {r['covariance_type']} | {r['bic']:.6g} | "
                f"{r['aic']:.6g} | {r['lower_bound']:.6g} | {r['converged']} | {r['n_iter']} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def select_model(
    X,
    n_components=range(1, 11),
    covariance_types=("full",),
    *,
    criterion: str = "bic",
    sample_weight=None,
    **params,
) -> ModelSelection:
    """Fit every (n_components, covariance_type) of a grid with shared passes; pick the best.

    Parameters
    ----------
    X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
    n_components : iterable of int
    covariance_types : iterable of {"full", "tied", "diag", "spherical"}
    criterion : {"bic", "aic"}
        Lower is better.
    sample_weight : array-like of shape (n_samples,), optional
    **params
        Any other :class:`GaussianMixture` setting (``n_init``, ``random_state``,
        ``tol``, ``max_iter``, ``reg_covar``, ``init_params``, ``chunk_size``, ...).

    Returns
    -------
    ModelSelection
        ``rows`` (n_components, covariance_type, bic, aic, lower_bound, converged,
        n_iter), ``models`` (fitted estimators), ``best_`` and ``table()``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    grid, templates = _grid(n_components, covariance_types, params)
    est0 = templates[0]
    k_max = max(k for k, _ in grid)
    source = as_source(
        X,
        chunk_size=est0.chunk_size,
        n_components=k_max,
        sample_weight=sample_weight,
        min_samples=2,
        memory_limit=est0.memory_limit,
        missing=est0.missing,
    )
    with source.session():
        per_model = fit_grid([e.get_params(deep=False) for e in templates], source)
        scores = _scores(source, per_model, grid)
    return _assemble(templates, per_model, scores, source, criterion)


def _grid(n_components, covariance_types, params):
    """The (n_components, covariance_type) pairs, and one checked, unfitted estimator each."""
    grid = [(int(k), c) for c in covariance_types for k in n_components]
    if not grid:
        raise ValueError("the grid is empty: give at least one n_components and covariance type")
    templates = [GaussianMixture(k, covariance_type=c, **params) for k, c in grid]
    for est in templates:
        check_hyperparameters(est)
    return grid, templates


def _scores(source, results, grid):
    """Mean log-likelihood of each final model: one shared pass."""
    jobs = [
        (ModelAssigner(r.params, c, source.missing), c, False)
        for r, (_, c) in zip(results, grid, strict=True)
    ]
    stats = statistics_pass_many(source, jobs)
    return [s.log_lik / s.weight_sum for s in stats], stats[0].weight_sum


def _assemble(templates, results, scores, source, criterion):
    (means, n) = scores
    out = ModelSelection(criterion)
    late = []
    for est, result, score in zip(templates, results, means, strict=True):
        est = fitted_from_result(est, result, source.dtype, source.n_features)
        p = get_covariance(est.covariance_type).n_parameters(est.n_components, source.n_features)
        row = dict(
            n_components=est.n_components,
            covariance_type=est.covariance_type,
            bic=-2 * score * n + p * math.log(n),
            aic=-2 * score * n + 2 * p,
            lower_bound=result.lower_bound,
            converged=bool(result.converged),
            n_iter=int(result.n_iter),
        )
        out.rows.append(row)
        out.models.append(est)
        if not result.converged and est.max_iter > 0:
            late.append(f"{est.n_components}/{est.covariance_type}")
    values = [r[criterion] for r in out.rows]
    out.best_index = int(np.nanargmin(values))
    if late:
        warnings.warn(
            f"{len(late)} model(s) did not converge ({', '.join(late)}). Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return out
