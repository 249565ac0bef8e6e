"""Layer 8: how ``GaussianMixture.fit`` runs: checks, warm start, the runs, the fitted state.

:class:`FitMixin` holds the private steps behind the public ``fit`` and
``fit_predict`` of :class:`~streamgmm.GaussianMixture` (which keeps the public
methods and their documentation): validate the settings and the initial
parameters, wrap X as a data source, run :func:`~streamgmm._fitting.fit_runs`, and
set the fitted attributes only once the fit has succeeded.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _covariance
from ._em import EMRun
from ._fitting import Interrupted, fit_runs
from ._sources import as_source
from ._validation import (
    check_hyperparameters,
    check_means,
    check_n_features,
    check_precisions,
    check_weights,
    feature_names,
)

CONVERGENCE_MESSAGE = (
    "Best performing initialization did not converge. "
    "Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)


class FitMixin:
    """The fit of a ``GaussianMixture`` (its settings are the estimator's attributes; a
    warm start takes the fitted parameters from ``InferenceMixin._current_params``)."""

    def _fit(self, X, sample_weight, callback, checkpoint=None, resume=False):
        check_hyperparameters(self)
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            min_samples=2,
            memory_limit=self.memory_limit,
        )
        names = feature_names(X)
        with source.session():
            try:
                best, stopped = self._fit_source(source, callback, checkpoint, resume, names)
            except Interrupted as stop:
                if stop.outcome is not None:  # keep the last finished iteration
                    self._set_fitted(stop.outcome.best, source.dtype, source.n_features, names)
                raise
        if not best.converged and self.max_iter > 0 and not stopped:
            # Before the attributes change: an error-filtered warning leaves the old state.
            warnings.warn(CONVERGENCE_MESSAGE, ConvergenceWarning, stacklevel=3)
        self._set_fitted(best, source.dtype, source.n_features, names)

    def _fit_source(self, source, callback, checkpoint, resume, names):
        """The best run over the initialisations, and whether a callback stopped the fit.

        Sets no attribute (the estimator changes only when the fit has succeeded).
        """
        n_samples, n_features = source.n_samples, source.n_features
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        inits = self._checked_inits(n_features)
        source.maybe_cache(self.cache, self.memory_limit)
        warm = None
        if self.warm_start and hasattr(self, "converged_") and not resume:
            self._check_warm_start(n_features)
            warm = EMRun(self._current_params(), self.covariance_type, self.lower_bound_)

        def snapshot(result):
            model = clone(self)
            model._set_fitted(result, source.dtype, n_features, names)
            return model

        outcome = fit_runs(
            self,
            source,
            inits=inits,
            random_state=check_random_state(self.random_state),
            warm=warm,
            callback=callback,
            checkpoint=checkpoint,
            resume=resume,
            snapshot=snapshot,
        )
        return outcome.best, outcome.stopped

    def _check_warm_start(self, n_features: int) -> None:
        check_n_features(self.n_features_in_, n_features)
        k_fitted = self.means_.shape[0]
        cov = _covariance.get(self.covariance_type)
        shape = cov.prec_shape(self.n_components, n_features)
        if k_fitted != self.n_components or self.covariances_.shape != shape:
            raise ValueError(
                f"warm_start=True continues from the fitted parameters ({k_fitted} components, "
                f"covariances of shape {self.covariances_.shape}), which do not fit "
                f"n_components={self.n_components}, covariance_type={self.covariance_type!r}. "
                "Set warm_start=False to fit from a new initialisation."
            )

    def _checked_inits(self, n_features):
        k, cov = self.n_components, self.covariance_type
        w = None if self.weights_init is None else check_weights(self.weights_init, k)
        m = None if self.means_init is None else check_means(self.means_init, k, n_features)
        p = None
        if self.precisions_init is not None:
            p = check_precisions(self.precisions_init, cov, k, n_features)
        return w, m, p

    def _set_fitted(self, result, dtype, n_features, names=None):
        out = np.float32 if dtype == np.float32 else np.float64
        params = result.params
        cov = _covariance.get(self.covariance_type)
        self.weights_ = params.weights.astype(out)
        self.means_ = params.means.astype(out)
        self.covariances_ = params.covariances.astype(out)
        self.precisions_cholesky_ = params.precisions_cholesky.astype(out)
        self.precisions_ = cov.precisions(params.precisions_cholesky).astype(out)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.lower_bound)
        self.lower_bounds_ = [float(b) for b in result.lower_bounds]
        self.n_features_in_ = int(n_features)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
