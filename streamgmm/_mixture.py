"""The estimator shell that ``GaussianMixture`` and ``BayesianGaussianMixture`` share.

A thin shell: the public methods check their arguments, wrap X as a data source
(``_data.source``) and hand over to the fit (``_fit.runs``, with the estimator's *model*:
what is particular to it) or to one lazy inference pass (``_data.passes``); the fitted
attributes are set only once a fit has succeeded. Model files go through
``_io.modelfile`` as plain records.

A subclass says what differs: its settings checks, its fit model, its fitted attributes,
its current parameters and their E-step (see the methods marked "subclass").
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import TypeVar

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data import progress
from ._data.blocks import ModelAssigner
from ._data.passes import inference
from ._data.source import as_source, check_weight_sum
from ._fit import runs
from ._fit.em import IterationInfo
from ._io import modelfile
from ._model import check_n_features, feature_names, get_covariance

#: What ``X`` may be: array-likes (NumPy arrays and memmaps, lists, pandas
#: DataFrames), Dask arrays, h5py datasets (which have ``__array__``).
MatrixLike = ArrayLike | da.Array
#: Per-row sample weights: array-like, or a Dask array when X is one.
VectorLike = ArrayLike | da.Array
#: A per-iteration callback: a truthy return stops the fit.
Callback = Callable[[IterationInfo], bool | None]
#: the estimator a method returns (itself)
Estimator = TypeVar("Estimator", bound="MixtureShell")


class MixtureShell(DensityMixin, BaseEstimator):
    """What both mixtures do the same way: fit, inference, sampling, saving."""

    #: the model file format of the estimator's files and checkpoints
    _file_format: str = modelfile.FORMAT_NAME
    #: the attributes a fit sets (``feature_names_in_`` aside), as model files store them
    _fitted_names: tuple = ()

    # -- what a subclass says ------------------------------------------------------------

    def _check_settings(self) -> None:
        """Subclass: raise ``InvalidParameterError`` for a bad constructor argument."""
        raise NotImplementedError

    def _fit_model(self, settings: dict, source) -> runs.FitModel:
        """Subclass: what ``runs.fit`` needs beyond the shared loop."""
        raise NotImplementedError

    def _fitted(self, result, dtype, n_features: int, model) -> dict:
        """Subclass: the fitted attributes of a fit's result."""
        raise NotImplementedError

    def _current_params(self):
        """Subclass: the fitted parameters, as the fit's runs hold them (float64)."""
        raise NotImplementedError

    def _assigner(self, missing: str) -> ModelAssigner:
        """Subclass: the E-step of the fitted model."""
        raise NotImplementedError

    def _warm_mismatch(self, n_features: int) -> str | None:
        """What keeps a warm start from the fitted model (None: nothing). Subclasses add
        their own reasons."""
        shape = get_covariance(self.covariance_type).prec_shape(self.n_components, n_features)
        k_fitted = self.means_.shape[0]
        if k_fitted != self.n_components or self.covariances_.shape != shape:
            return (
                f"({k_fitted} components, covariances of shape {self.covariances_.shape}), "
                f"which do not fit n_components={self.n_components}, "
                f"covariance_type={self.covariance_type!r}"
            )
        return None

    @property
    def _missing_mode(self) -> str:
        """How NaN are read: "error", or "em" (missing values)."""
        return "error"

    # -- fitting -------------------------------------------------------------------------

    def fit(
        self: Estimator,
        X: MatrixLike,
        y: object = None,
        *,
        sample_weight: VectorLike | None = None,
        callback: Callback | None = None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
    ) -> Estimator:
        """Estimate the model's parameters; one pass over X per iteration.

        The fit runs ``n_init`` initialisations and keeps the one with the largest
        lower bound; the restarts advance together, every pass over the data
        serving all of them. With ``warm_start`` and a fitted model, it continues
        from the fitted parameters instead (one run, ``n_iter_`` counts this call
        only).
        The fitted attributes change only when the fit completes: if it raises
        (bad data, a callback's exception, a ``ConvergenceWarning`` turned into an
        error), the estimator keeps its previous state.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
            A pandas DataFrame with string column names sets ``feature_names_in_``.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative; a row of weight w counts as w copies of it (the fitted
            parameters, the lower bound, the initialisation's draws). A Dask array
            when X is one.
        callback : callable, optional
            Called after each iteration with an :class:`~streamgmm.IterationInfo`.
            Returning True stops the whole fit there (remaining initialisations
            included): the model is the best initialisation so far, with
            ``converged_`` False if it had not converged, and no
            ``ConvergenceWarning``. An exception raised by the callback propagates.
        checkpoint : str or os.PathLike, optional
            A file written atomically after every iteration: a model file
            (``streamgmm.load`` reads the best run so far) plus the state of the fit.
        resume : bool, default=False
            Continue from ``checkpoint`` instead of initialising: the result is the
            model an uninterrupted fit gives. Refused if the data or the settings
            differ (only ``max_iter``, ``tol``, ``verbose``, ``cache``,
            ``memory_limit`` and ``progress`` may change).

        Ctrl-C (``KeyboardInterrupt``) stops within about one block; the estimator
        then holds the last finished iteration with ``converged_`` False, the
        checkpoint holds it too, and the exception propagates.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, callback, checkpoint, resume)
        return self

    def fit_predict(
        self,
        X: MatrixLike,
        y: object = None,
        *,
        sample_weight: VectorLike | None = None,
        callback: Callback | None = None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
    ) -> np.ndarray | da.Array:
        """Fit as :meth:`fit`, then return ``predict(X)`` (one more pass), shape (n_samples,)."""
        self._fit(X, sample_weight, callback, checkpoint, resume)
        return self.predict(X)

    # -- inference -----------------------------------------------------------------------

    def score_samples(self, X: MatrixLike) -> np.ndarray | da.Array:
        """Log-density of each sample under the model (scikit-learn's ``score_samples``).

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            A lazy Dask array for Dask or HDF5 input.
        """
        log_prob, source, _ = self._infer(X, "log_prob")
        return log_prob.astype(self._out_dtype(source))

    def predict(self, X: MatrixLike) -> np.ndarray | da.Array:
        """Most likely component of each sample.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            A lazy Dask array for Dask or HDF5 input.
        """
        labels, _, _ = self._infer(X, "labels")
        return labels

    def predict_proba(self, X: MatrixLike) -> np.ndarray | da.Array:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            A lazy Dask array for Dask or HDF5 input.
        """
        resp, source, _ = self._infer(X, "proba")
        return resp.astype(self._out_dtype(source))

    def score(
        self, X: MatrixLike, y: object = None, sample_weight: VectorLike | None = None
    ) -> float:
        """Mean of :meth:`score_samples` over X (per unit weight with ``sample_weight``).

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Row weights, as in :meth:`fit` (a row of weight w counts w times).

        Returns
        -------
        log_likelihood : float
        """
        return self._log_lik_and_n(X, sample_weight)[0]

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture, with scikit-learn's random calls.

        With the same ``random_state`` and parameters, the draws equal scikit-learn's.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
        y : ndarray of shape (n_samples,), int64
            The component of each draw (sorted, as in scikit-learn).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        cov = get_covariance(self.covariance_type)
        X = np.vstack(
            [
                cov.sample(rng, self.means_[k], self.covariances_, k, int(c))
                for k, c in enumerate(counts)
            ]
        )
        y = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return X.astype(np.float64, copy=False), y

    def save(self, path) -> None:
        """Write the fitted model to an HDF5 file; ``streamgmm.load(path)`` reads it back.

        Parameters (dtypes included), constructor settings and the fit history
        round-trip exactly; no pickle is involved. An existing file is replaced
        atomically.

        Parameters
        ----------
        path : str or os.PathLike
        """
        check_is_fitted(self)
        modelfile.save(path, self._record())

    # -- the steps behind fit ------------------------------------------------------------

    def _fit(self, X, sample_weight, callback, checkpoint=None, resume=False):
        self._check_settings()
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            min_samples=2,
            memory_limit=self.memory_limit,
            missing=self._missing_mode,
        )
        names = feature_names(X)
        settings = self.get_params(deep=False)
        warm = None
        if self.warm_start and hasattr(self, "converged_") and not resume:
            self._check_warm_start(source.n_features)
            warm = (self._current_params(), self.lower_bound_)
        model = self._fit_model(settings, source)

        def snapshot(result):
            fitted = self._fitted(result, source.dtype, source.n_features, model)
            return modelfile.ModelRecord(settings, fitted, file_format=self._file_format)

        show = self.progress and progress.current() is None
        with source.session(), progress.Progress() if show else nullcontext():
            try:
                outcome = runs.fit(
                    settings,
                    source,
                    random_state=check_random_state(self.random_state),
                    warm=warm,
                    callback=callback,
                    checkpoint=checkpoint,
                    resume=resume,
                    snapshot=snapshot,
                    defaults=self._defaults() if resume else None,
                    model=model,
                )
            except runs.Interrupted as stop:
                if stop.outcome is not None:  # keep the last finished iteration
                    self._set_fitted(snapshot(stop.outcome.best).fitted, names)
                raise
        if not outcome.best.converged and self.max_iter > 0 and not outcome.stopped:
            # Before the attributes change: an error-filtered warning leaves the old state.
            warnings.warn(runs.CONVERGENCE_MESSAGE, ConvergenceWarning, stacklevel=3)
        self._set_fitted(snapshot(outcome.best).fitted, names)

    @classmethod
    def _defaults(cls) -> dict:
        """The constructor's default settings (what a model file may omit)."""
        return cls().get_params(deep=False)

    def _check_warm_start(self, n_features: int) -> None:
        check_n_features(self.n_features_in_, n_features, type(self).__name__)
        mismatch = self._warm_mismatch(n_features)
        if mismatch is not None:
            raise ValueError(
                f"warm_start=True continues from the fitted model {mismatch}. Set "
                "warm_start=False to fit from a new initialisation."
            )

    def _set_fitted(self, fitted: dict, names=None) -> None:
        for name, value in fitted.items():
            setattr(self, name, value)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _record(self) -> modelfile.ModelRecord:
        fitted = {name: getattr(self, name) for name in self._fitted_names}
        return modelfile.ModelRecord(
            self.get_params(deep=False), fitted, file_format=self._file_format
        )

    @classmethod
    def _from_record(cls, record: modelfile.ModelRecord):
        """A fitted estimator from a checked model record."""
        estimator = cls(**record.settings)
        for name, value in record.fitted.items():
            setattr(estimator, name, value)
        return estimator

    # -- the steps behind inference ------------------------------------------------------

    def _infer(self, X, what, sample_weight=None, missing=None, lazy=None):
        """(per-row ``what``, see ``passes.inference``: a Dask array for Dask and HDF5
        input, else NumPy; the source; whether it is lazy). ``missing`` overrides the
        model's setting (``impute`` takes NaN as missing)."""
        missing = self._missing_mode if missing is None else missing
        check_is_fitted(self)
        if lazy is None:
            lazy = isinstance(X, da.Array) or hasattr(X, "id") and hasattr(X, "file")
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            missing=missing,
        )
        # scikit-learn's feature-name warnings and n_features message, from metadata only.
        validate_data(self, X, skip_check_array=True, reset=False)
        return inference(source, self._assigner(missing), what, lazy), source, lazy

    def _out_dtype(self, source) -> type:
        """scikit-learn's result dtype: float32 only when X and the model both are."""
        both = source.dtype == np.float32 and self.means_.dtype == np.float32
        return np.float32 if both else np.float64

    def _log_lik_and_n(self, X, sample_weight) -> tuple[float, float]:
        """(mean log-likelihood per unit weight, total weight) of X, in one pass; with
        ``missing="em"`` of the rows with an observed entry (the rows a fit uses)."""
        log_prob, source, lazy = self._infer(X, "log_prob", sample_weight)
        w = source.sample_weight
        em = self._missing_mode == "em"
        if not lazy and w is None and not em:
            return float(log_prob.mean()), float(source.n_samples)
        if not lazy:
            log_prob = da.from_array(log_prob, chunks=(source.array.chunks[0],))
        if em:  # counted in the same read of each block as log_prob
            used = ~da.isnan(source.array).all(axis=1)
            w = used.astype(np.float64) if w is None else w * used
        if w is None:
            return float(log_prob.mean().compute()), float(source.n_samples)
        total, weight = da.compute((log_prob * w).sum(), w.sum())
        check_weight_sum(float(weight))
        return float(total) / float(weight), float(weight)
