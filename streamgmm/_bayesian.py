"""``streamgmm.BayesianGaussianMixture``: scikit-learn's variational mixture, out of core.

The same thin shell as ``_estimator.GaussianMixture``: the public methods check their
arguments, wrap X as a data source and hand over to the fit (``_fit.runs`` with the
variational model of ``_fit.variational``) or to one lazy inference pass; the fitted
attributes are set only once a fit has succeeded. ``streamgmm.load`` (``_estimator``)
returns this class for its model files.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data.passes import inference_array
from ._data.source import as_source, check_weight_sum
from ._fit import runs
from ._fit.variational import (
    FITTED_ATTRIBUTES,
    VariationalModel,
    fitted_attributes,
    variational_assigner,
)
from ._io import modelfile
from ._model import (
    WEIGHT_PRIORS,
    VariationalParams,
    check_bayesian_hyperparameters,
    check_n_features,
    feature_names,
    get_covariance,
)


class BayesianGaussianMixture(DensityMixin, BaseEstimator):
    """Variational Bayesian Gaussian mixture fitted over blocks of rows.

    Parameters, defaults, fitted attributes, methods, warnings and exceptions are those
    of :class:`sklearn.mixture.BayesianGaussianMixture`; ``X`` may be a NumPy array or
    memmap, a ``dask.array.Array`` or an ``h5py.Dataset``, read one block at a time (one
    pass over the data per iteration). With the same ``random_state`` the fitted model
    equals scikit-learn's to rounding.

    Parameters
    ----------
    n_components : int, default=1
        The most components the model may use; the prior switches off those it does
        not need (their ``weights_`` go to about 0).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (a total over the
        samples, as in scikit-learn, not a mean).
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float, optional
        Default ``1 / n_components``.
    mean_precision_prior : float, optional
        Default 1.
    mean_prior : array of shape (n_features,), optional
        Default: the mean of X.
    degrees_of_freedom_prior : float, optional
        Default ``n_features``; must exceed ``n_features - 1``.
    covariance_prior : float or array, optional
        (n_features, n_features) for full and tied, (n_features,) for diag, a float for
        spherical. Default: the covariance of X (``np.cov``), in that layout.
    random_state : int, RandomState or None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or "auto", default="auto"
        Rows per block for inputs that are not already chunked (NumPy, h5py).
    memory_limit : "auto", int or str, default="auto"
        The memory budget that bounds the rows per block.
    cache : bool or "auto", default="auto"
        Keep the blocks in memory after the first pass.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes per covariance type, as in scikit-learn.
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        The Dirichlet parameters, or for the Dirichlet process the two Beta parameters
        of each stick.
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,), or a float for tied
    weight_concentration_prior_, mean_precision_prior_, degrees_of_freedom_prior_ : float
    mean_prior_ : ndarray of shape (n_features,)
    covariance_prior_ : ndarray or float
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The lower bound of the last iteration (a total over the samples).
    lower_bounds_ : list of float
    n_features_in_ : int
    """

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: Literal["full", "tied", "diag", "spherical"] = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: Literal["kmeans", "k-means++", "random", "random_from_data"] = "kmeans",
        weight_concentration_prior_type: Literal[
            "dirichlet_process", "dirichlet_distribution"
        ] = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: ArrayLike | None = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: float | ArrayLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | Literal["auto"] = "auto",
        memory_limit: Any = "auto",
        cache: bool | Literal["auto"] = "auto",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.memory_limit = memory_limit
        self.cache = cache

    # -- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X,
        y: object = None,
        *,
        sample_weight=None,
        callback=None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
    ) -> BayesianGaussianMixture:
        """Estimate the variational posterior; one pass over X per iteration.

        As :meth:`streamgmm.GaussianMixture.fit`: ``n_init`` initialisations advance
        together and the one with the largest lower bound is kept; ``sample_weight``
        counts a row of weight w as w rows; ``callback``, ``checkpoint`` and ``resume``
        work the same (the callback's ``params`` is the posterior, a
        ``VariationalParams``). When ``mean_prior`` or ``covariance_prior`` is unset and
        ``init_params`` is "k-means++" or "random_from_data" (or on a warm start), one
        more pass reads the data's mean and covariance, as scikit-learn does.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        callback : callable, optional
        checkpoint : str or os.PathLike, optional
        resume : bool, default=False

        Returns
        -------
        self : BayesianGaussianMixture
        """
        self._fit(X, sample_weight, callback, checkpoint, resume)
        return self

    def fit_predict(
        self,
        X,
        y: object = None,
        *,
        sample_weight=None,
        callback=None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
    ) -> np.ndarray | da.Array:
        """Fit as :meth:`fit`, then return ``predict(X)`` (one more pass), shape (n_samples,)."""
        self._fit(X, sample_weight, callback, checkpoint, resume)
        return self.predict(X)

    # -- inference -------------------------------------------------------------------

    def score_samples(self, X) -> np.ndarray | da.Array:
        """Log of the summed variational weighted densities of each sample (scikit-learn's
        ``score_samples``), shape (n_samples,); lazy for Dask or HDF5 input."""
        log_prob, source, lazy = self._infer(X, "log_prob")
        return self._finish(log_prob.astype(self._out_dtype(source)), lazy)

    def predict(self, X) -> np.ndarray | da.Array:
        """Most likely component of each sample, shape (n_samples,); lazy for Dask or HDF5
        input."""
        labels, _, lazy = self._infer(X, "labels")
        return self._finish(labels, lazy)

    def predict_proba(self, X) -> np.ndarray | da.Array:
        """Responsibilities of each component for each sample, shape (n_samples,
        n_components); lazy for Dask or HDF5 input."""
        resp, source, lazy = self._infer(X, "proba")
        return self._finish(resp.astype(self._out_dtype(source)), lazy)

    def score(self, X, y: object = None, sample_weight=None) -> float:
        """Mean of :meth:`score_samples` over X (per unit weight with ``sample_weight``)."""
        log_prob, source, _ = self._infer(X, "log_prob", sample_weight)
        w = source.sample_weight
        if w is None:
            return float(log_prob.mean().compute())
        total, weight = da.compute((log_prob * w).sum(), w.sum())
        check_weight_sum(float(weight))
        return float(total) / float(weight)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples with scikit-learn's random calls; returns (X (n, d) float64, y
        (n,) int64 sorted by component)."""
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

        Parameters
        ----------
        path : str or os.PathLike
        """
        check_is_fitted(self)
        modelfile.save(path, self._record())

    # -- the steps behind fit ----------------------------------------------------------

    def _fit(self, X, sample_weight, callback, checkpoint=None, resume=False):
        check_bayesian_hyperparameters(self)
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            min_samples=2,
            memory_limit=self.memory_limit,
        )
        names = feature_names(X)
        settings = self.get_params(deep=False)
        warm = None
        if self.warm_start and hasattr(self, "converged_") and not resume:
            self._check_warm_start(source.n_features)
            warm = (self._posterior(), self.lower_bound_)
        model = VariationalModel(settings, source.dtype)

        def snapshot(result):
            fitted = fitted_attributes(settings, result, model.prior_attrs, source.n_features)
            return modelfile.ModelRecord(settings, fitted, file_format=modelfile.BAYESIAN_FORMAT)

        with source.session():
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
                    defaults=type(self)().get_params(deep=False),
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

    def _check_warm_start(self, n_features: int) -> None:
        check_n_features(self.n_features_in_, n_features, type(self).__name__)
        k_fitted = self.means_.shape[0]
        shape = get_covariance(self.covariance_type).prec_shape(self.n_components, n_features)
        prior_type = self.weight_concentration_prior_type
        conc = self._posterior().weight_concentration
        fits = conc.shape == WEIGHT_PRIORS[prior_type].concentration_shape(k_fitted)
        if k_fitted != self.n_components or self.covariances_.shape != shape or not fits:
            raise ValueError(
                f"warm_start=True continues from the fitted posterior ({k_fitted} components, "
                f"covariances of shape {self.covariances_.shape}), which does not fit "
                f"n_components={self.n_components}, covariance_type={self.covariance_type!r}, "
                f"weight_concentration_prior_type={prior_type!r}. Set warm_start=False to fit "
                "from a new initialisation."
            )

    def _set_fitted(self, fitted: dict, names=None) -> None:
        for name, value in fitted.items():
            setattr(self, name, value)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _record(self) -> modelfile.ModelRecord:
        fitted = {name: getattr(self, name) for name in FITTED_ATTRIBUTES}
        return modelfile.ModelRecord(
            self.get_params(deep=False), fitted, file_format=modelfile.BAYESIAN_FORMAT
        )

    # -- the steps behind inference ----------------------------------------------------

    def _posterior(self) -> VariationalParams:
        conc = self.weight_concentration_
        return VariationalParams(
            np.array(np.vstack(conc) if isinstance(conc, tuple) else conc, dtype=np.float64),
            np.array(self.mean_precision_, dtype=np.float64),
            np.array(self.means_, dtype=np.float64),
            np.array(self.degrees_of_freedom_, dtype=np.float64),
            np.array(self.covariances_, dtype=np.float64),
            np.array(self.precisions_cholesky_, dtype=np.float64),
        )

    def _infer(self, X, what, sample_weight=None):
        """(lazy per-row ``what``, the source, whether X was a lazy input)."""
        check_is_fitted(self)
        lazy = isinstance(X, da.Array) or hasattr(X, "id") and hasattr(X, "file")
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
        )
        validate_data(self, X, skip_check_array=True, reset=False)
        assigner = variational_assigner(
            self._posterior(), self.weight_concentration_prior_type, self.covariance_type
        )
        return inference_array(source, assigner, what), source, lazy

    def _out_dtype(self, source) -> type:
        """scikit-learn's result dtype: float32 only when X and the model both are."""
        both = source.dtype == np.float32 and self.means_.dtype == np.float32
        return np.float32 if both else np.float64

    @staticmethod
    def _finish(arr, lazy):
        return arr if lazy else arr.compute()


def from_record(record: modelfile.ModelRecord) -> BayesianGaussianMixture:
    """A fitted ``BayesianGaussianMixture`` from a checked model record."""
    estimator = BayesianGaussianMixture(**record.settings)
    for name, value in record.fitted.items():
        setattr(estimator, name, value)
    return estimator
