"""``streamgmm.GaussianMixture``: scikit-learn's estimator, out of core, and ``load``.

A thin shell: the public methods check their arguments, wrap X as a data source
(``_data.source``) and hand over to the fit (``_fit.runs``) or to one lazy inference
pass (``_data.passes``); the fitted attributes are set only once a fit has succeeded.
Model files go through ``_io.modelfile`` as plain records.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, Literal

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._bayesian import BayesianGaussianMixture
from ._bayesian import from_record as bayesian_from_record
from ._data import progress
from ._data.blocks import ModelAssigner
from ._data.passes import inference
from ._data.source import as_source, check_weight_sum
from ._fit import runs
from ._fit.em import IterationInfo
from ._io import modelfile
from ._model import (
    Params,
    check_array_api_init,
    check_hyperparameters,
    check_n_features,
    feature_names,
    get_covariance,
)

#: What ``X`` may be: array-likes (NumPy arrays and memmaps, lists, pandas
#: DataFrames), Dask arrays, h5py datasets (which have ``__array__``).
MatrixLike = ArrayLike | da.Array
#: Per-row sample weights: array-like, or a Dask array when X is one.
VectorLike = ArrayLike | da.Array
#: A per-iteration callback: a truthy return stops the fit.
Callback = Callable[[IterationInfo], bool | None]

CONVERGENCE_MESSAGE = runs.CONVERGENCE_MESSAGE  # scikit-learn's words, kept in one place


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by exact, full-batch EM over blocks of rows.

    Parameters and fitted attributes are those of
    :class:`sklearn.mixture.GaussianMixture`; ``X`` may be a NumPy array or
    memmap, a ``dask.array.Array`` or an ``h5py.Dataset``, and is read one block
    at a time (one pass over the data per EM iteration).

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per sample.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
    n_init : int, default=1
        Initialisations to try; the one with the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weights_init : array of shape (n_components,), optional
    means_init : array of shape (n_components, n_features), optional
    precisions_init : array, optional
        Shape per covariance type, as in scikit-learn.
    random_state : int, RandomState or None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or "auto", default="auto"
        Rows per block for inputs that are not already chunked (NumPy, h5py).
    memory_limit : "auto", int or str, default="auto"
        The memory budget that bounds the rows per block (bytes, or a size such as "4GB";
        "auto": half of this machine's memory, or of the smallest Dask worker's limit).
    cache : bool or "auto", default="auto"
        Keep the blocks in memory after the first pass: "auto" when all of them fit in half
        the budget, so later iterations read nothing.
    progress : bool, default=False
        Show the fit's progress on stderr: on a terminal or in a notebook a live line
        naming the phase (initialisation pass, EM iteration) with the blocks done, GB/s
        and the time left; elsewhere (a batch job's log) a plain line every few seconds.
        ``with streamgmm.Progress(): ...`` shows it for any call, with more options.
    missing : {"error", "em"}, default="error"
        "error": a NaN or infinity in X is refused, naming its row and column. "em": a NaN
        marks a missing entry (missing at random) and ``fit`` maximises the observed-data
        likelihood by exact EM; the other methods use each row's observed coordinates, and
        :meth:`impute` fills the NaN in. An infinity is still an error.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes per covariance type, as in scikit-learn.
    converged_ : bool
    n_iter_ : int
        Iterations of the last ``fit`` call (of the best initialisation).
    lower_bound_ : float
        Mean log-likelihood per sample under the parameters of the last E-step.
    lower_bounds_ : list of float
        One per iteration of the best initialisation.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: Literal["full", "tied", "diag", "spherical"] = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: Literal["kmeans", "k-means++", "random", "random_from_data"] = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | Literal["auto"] = "auto",
        memory_limit: Any = "auto",
        cache: bool | Literal["auto"] = "auto",
        progress: bool = False,
        missing: Literal["error", "em"] = "error",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.memory_limit = memory_limit
        self.cache = cache
        self.progress = progress
        self.missing = missing

    # -- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X: MatrixLike,
        y: object = None,
        *,
        sample_weight: VectorLike | None = None,
        callback: Callback | None = None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
    ) -> GaussianMixture:
        """Estimate the parameters with EM; one pass over X per iteration.

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
            Non-negative; a row of weight w counts as w copies of it (weights,
            means, covariances, ``lower_bound_`` per unit weight, the
            initialisation's draws). A Dask array when X is one.
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
            differ (only ``max_iter``, ``tol``, ``verbose``, ``cache`` and
            ``memory_limit`` may change).

        Ctrl-C (``KeyboardInterrupt``) stops within about one block; the estimator
        then holds the last finished iteration with ``converged_`` False, the
        checkpoint holds it too, and the exception propagates.

        Returns
        -------
        self : GaussianMixture
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

    # -- inference ---------------------------------------------------------------------

    def score_samples(self, X: MatrixLike) -> np.ndarray | da.Array:
        """Log-density of each sample under the model.

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
        """Mean log-likelihood per sample of X (per unit weight with ``sample_weight``).

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

    def bic(self, X: MatrixLike, sample_weight: VectorLike | None = None) -> float:
        """Bayesian information criterion of the model on X (lower is better).

        ``-2 * score(X) * n + n_parameters * log(n)`` with n the number of rows,
        or the total weight ``sum(sample_weight)`` (a row of weight w is w rows).

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        bic : float
        """
        mean, n = self._log_lik_and_n(X, sample_weight)
        return -2 * mean * n + self._n_parameters() * math.log(n)

    def aic(self, X: MatrixLike, sample_weight: VectorLike | None = None) -> float:
        """Akaike information criterion of the model on X (lower is better).

        ``-2 * score(X) * n + 2 * n_parameters``, n as in :meth:`bic`.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        aic : float
        """
        mean, n = self._log_lik_and_n(X, sample_weight)
        return -2 * mean * n + 2 * self._n_parameters()

    def impute(self, X: MatrixLike) -> np.ndarray | da.Array:
        """A copy of X with each NaN replaced by its conditional expectation under the model.

        For a row with observed coordinates o and missing ones m, the value is
        ``sum_k p(k | x_o) E[x_m | x_o, k]``; a row with no observed entry gets
        ``sum_k weights_[k] * means_[k]``. Observed entries are unchanged bit for bit. Any
        fitted model imputes, whatever its ``missing`` setting.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
            NaN marks the missing entries; an infinity raises ``ValueError``.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            float32 when X is, float64 otherwise; a lazy Dask array for Dask or HDF5
            input, computed block by block.
        """
        imputed, _, _ = self._infer(X, "imputed", missing="em")
        return imputed

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

    def save(self, path):
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
        check_hyperparameters(self)
        check_array_api_init(self.init_params)
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            min_samples=2,
            memory_limit=self.memory_limit,
            missing=self.missing,
        )
        names = feature_names(X)
        settings = self.get_params(deep=False)
        warm = None
        if self.warm_start and hasattr(self, "converged_") and not resume:
            self._check_warm_start(source.n_features)
            warm = (self._current_params(), self.lower_bound_)

        def snapshot(result):
            return modelfile.ModelRecord(
                settings, self._fitted(result, source.dtype, source.n_features)
            )

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
                )
            except runs.Interrupted as stop:
                if stop.outcome is not None:  # keep the last finished iteration
                    self._set_fitted(stop.outcome.best, source.dtype, source.n_features, names)
                raise
        if not outcome.best.converged and self.max_iter > 0 and not outcome.stopped:
            # Before the attributes change: an error-filtered warning leaves the old state.
            warnings.warn(CONVERGENCE_MESSAGE, ConvergenceWarning, stacklevel=3)
        self._set_fitted(outcome.best, source.dtype, source.n_features, names)

    @classmethod
    def _defaults(cls) -> dict:
        """The constructor's default settings (what a model file may omit)."""
        return cls().get_params(deep=False)

    def _check_warm_start(self, n_features: int) -> None:
        check_n_features(self.n_features_in_, n_features)
        k_fitted = self.means_.shape[0]
        shape = get_covariance(self.covariance_type).prec_shape(self.n_components, n_features)
        if k_fitted != self.n_components or self.covariances_.shape != shape:
            raise ValueError(
                f"warm_start=True continues from the fitted parameters ({k_fitted} components, "
                f"covariances of shape {self.covariances_.shape}), which do not fit "
                f"n_components={self.n_components}, covariance_type={self.covariance_type!r}. "
                "Set warm_start=False to fit from a new initialisation."
            )

    def _fitted(self, result, dtype, n_features) -> dict:
        """The fitted attributes of an EM result, in the data's float dtype."""
        out = np.float32 if dtype == np.float32 else np.float64
        params = result.params
        cov = get_covariance(self.covariance_type)
        return {
            "weights_": params.weights.astype(out),
            "means_": params.means.astype(out),
            "covariances_": params.covariances.astype(out),
            "precisions_cholesky_": params.precisions_cholesky.astype(out),
            "precisions_": cov.precisions(params.precisions_cholesky).astype(out),
            "converged_": bool(result.converged),
            "n_iter_": int(result.n_iter),
            "lower_bound_": float(result.lower_bound),
            "lower_bounds_": [float(b) for b in result.lower_bounds],
            "n_features_in_": int(n_features),
        }

    def _set_fitted(self, result, dtype, n_features, names=None):
        for name, value in self._fitted(result, dtype, n_features).items():
            setattr(self, name, value)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _record(self) -> modelfile.ModelRecord:
        fitted = {name: getattr(self, name) for name in FITTED_ATTRIBUTES}
        return modelfile.ModelRecord(self.get_params(deep=False), fitted)

    # -- the steps behind inference ------------------------------------------------------

    def _current_params(self) -> Params:
        return Params(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.covariances_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
        )

    def _infer(self, X, what, sample_weight=None, missing=None, lazy=None):
        """(per-row ``what``, see ``passes.inference``: a Dask array for Dask and HDF5
        input, else NumPy; the source; whether it is lazy). ``missing`` overrides the
        model's setting (``impute`` takes NaN as missing)."""
        missing = self.missing if missing is None else missing
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
        assigner = ModelAssigner(self._current_params(), self.covariance_type, missing)
        return inference(source, assigner, what, lazy), source, lazy

    def _out_dtype(self, source) -> type:
        """scikit-learn's result dtype: float32 only when X and the model both are."""
        both = source.dtype == np.float32 and self.means_.dtype == np.float32
        return np.float32 if both else np.float64

    def _log_lik_and_n(self, X, sample_weight) -> tuple[float, float]:
        """(mean log-likelihood per unit weight, total weight) of X, in one pass; with
        ``missing="em"`` of the rows with an observed entry (the rows a fit uses)."""
        log_prob, source, lazy = self._infer(X, "log_prob", sample_weight)
        w = source.sample_weight
        if not lazy and w is None and self.missing != "em":
            return float(log_prob.mean()), float(source.n_samples)
        if not lazy:
            log_prob = da.from_array(log_prob, chunks=(source.array.chunks[0],))
        if self.missing == "em":  # counted in the same read of each block as log_prob
            used = ~da.isnan(source.array).all(axis=1)
            w = used.astype(np.float64) if w is None else w * used
        if w is None:
            return float(log_prob.mean().compute()), float(source.n_samples)
        total, weight = da.compute((log_prob * w).sum(), w.sum())
        check_weight_sum(float(weight))
        return float(total) / float(weight), float(weight)

    def _n_parameters(self) -> int:
        return get_covariance(self.covariance_type).n_parameters(
            self.means_.shape[0], self.means_.shape[1]
        )


#: the attributes a fit sets (``feature_names_in_`` aside), as model files store them
FITTED_ATTRIBUTES = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
    "lower_bounds_",
    "n_features_in_",
)


def fitted_from_result(estimator: GaussianMixture, result, dtype, n_features) -> GaussianMixture:
    """``estimator`` (unfitted, its settings those of the fit) given the fitted attributes of
    an EM result (model selection fits its grid in shared passes, then makes each model)."""
    estimator._set_fitted(result, dtype, n_features)
    return estimator


def load(path) -> GaussianMixture | BayesianGaussianMixture:
    """Read a model written by :meth:`GaussianMixture.save` or
    :meth:`BayesianGaussianMixture.save` (the file's format says which).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    GaussianMixture or BayesianGaussianMixture
        Fitted, with the saved parameters (same dtypes, bit for bit), settings
        and fit history.

    Raises
    ------
    ValueError
        If the file is not a streamgmm model, has an unknown format version, or any
        field is missing, of the wrong dtype or shape, not finite, invalid, or
        stored outside the file (external, virtual or linked datasets, which are
        refused without being read). The message names the field.
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    """
    return from_record(read_record(path))


def read_record(path) -> modelfile.ModelRecord:
    """The checked record of a model file (what :func:`load` builds the estimator from)."""
    if modelfile.read_format(path) == modelfile.BAYESIAN_FORMAT:
        defaults = BayesianGaussianMixture().get_params(deep=False)
        return modelfile.read_model(path, defaults, file_format=modelfile.BAYESIAN_FORMAT)
    return modelfile.read_model(path, GaussianMixture._defaults())


def from_record(record: modelfile.ModelRecord) -> GaussianMixture | BayesianGaussianMixture:
    """A fitted estimator of the record's format from a checked model record."""
    if record.file_format == modelfile.BAYESIAN_FORMAT:
        return bayesian_from_record(record)
    estimator = GaussianMixture(**record.settings)
    for name, value in record.fitted.items():
        setattr(estimator, name, value)
    return estimator
