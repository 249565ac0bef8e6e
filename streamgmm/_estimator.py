"""Layer 8: ``streamgmm.GaussianMixture``, scikit-learn's estimator, out of core."""

from __future__ import annotations

import math
import warnings

import dask.array as da
import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _covariance
from ._block import ModelAssigner
from ._coordinator import log_resp_array
from ._em import Reporter, run_em
from ._init import initialise
from ._mstep import Params
from ._sources import as_source
from ._validation import (
    check_hyperparameters,
    check_means,
    check_n_features,
    check_precisions,
    check_weights,
)

CONVERGENCE_MESSAGE = (
    "Best performing initialization did not converge. "
    "Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)


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
    memory_limit, cache : "auto"
        Reserved for the out-of-core memory budget and block caching.

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
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        chunk_size="auto",
        memory_limit="auto",
        cache="auto",
    ):
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

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X, y=None, *, sample_weight=None, callback=None):
        """Estimate the parameters with EM; one pass over X per iteration.

        Parameters
        ----------
        X : array-like, dask array or h5py.Dataset of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Behaves exactly like repeating each row ``w`` times.
        callback : callable, optional
            Called after each iteration with an :class:`~streamgmm.IterationInfo`;
            returning True stops the fit (``converged_`` stays False).

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, callback)
        return self

    def fit_predict(self, X, y=None, *, sample_weight=None, callback=None):
        """Fit, then return the labels of X under the fitted model (one more pass)."""
        self._fit(X, sample_weight, callback)
        return self.predict(X)

    def _fit(self, X, sample_weight, callback):
        check_hyperparameters(self)
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
            min_samples=2,
            memory_limit=self.memory_limit,
        )
        with source.session():
            self._fit_source(source, callback)

    def _fit_source(self, source, callback):
        n_samples, n_features = source.n_samples, source.n_features
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        inits = self._checked_inits(n_features)
        source.maybe_cache(self.cache, self.memory_limit)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            check_n_features(self.n_features_in_, n_features)
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        reporter = Reporter(self.verbose, self.verbose_interval)

        best = None
        for init in range(n_init):
            reporter.init_begin(init)
            if do_init:
                params = initialise(
                    source,
                    self.covariance_type,
                    self.n_components,
                    self.init_params,
                    self.reg_covar,
                    random_state,
                    *inits,
                )
                start_bound = -math.inf
            else:
                params, start_bound = self._current_params(), self.lower_bound_
            result = run_em(
                source,
                params,
                self.covariance_type,
                tol=self.tol,
                max_iter=self.max_iter,
                reg_covar=self.reg_covar,
                lower_bound=start_bound,
                callback=callback,
                reporter=reporter,
            )
            if self.max_iter == 0:
                result.lower_bound = -math.inf
            else:
                reporter.init_end(result.lower_bound, result.converged)
            if best is None or result.lower_bound > best.lower_bound:
                best = result
        if not best.converged and self.max_iter > 0:
            warnings.warn(CONVERGENCE_MESSAGE, ConvergenceWarning, stacklevel=3)
        self._set_fitted(best, source.dtype, n_features)

    def _checked_inits(self, n_features):
        k, cov = self.n_components, self.covariance_type
        w = None if self.weights_init is None else check_weights(self.weights_init, k)
        m = None if self.means_init is None else check_means(self.means_init, k, n_features)
        p = None
        if self.precisions_init is not None:
            p = check_precisions(self.precisions_init, cov, k, n_features)
        return w, m, p

    def _set_fitted(self, result, dtype, n_features):
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

    def _current_params(self) -> Params:
        return Params(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.covariances_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
        )

    # -- inference ---------------------------------------------------------------------

    def _log_resp(self, X):
        """(lazy (n, 1+K) array of [log p(x), log resp], whether X was a lazy input)."""
        check_is_fitted(self)
        lazy = isinstance(X, da.Array) or hasattr(X, "id") and hasattr(X, "file")
        source = as_source(X, chunk_size=self.chunk_size, n_components=self.n_components)
        check_n_features(self.n_features_in_, source.n_features)
        assigner = ModelAssigner(self._current_params(), self.covariance_type)
        return log_resp_array(source, assigner), lazy

    @staticmethod
    def _finish(arr, lazy):
        return arr if lazy else arr.compute()

    def score_samples(self, X):
        """Log-density of each sample, shape (n_samples,); lazy for Dask/HDF5 input."""
        arr, lazy = self._log_resp(X)
        return self._finish(arr[:, 0], lazy)

    def predict(self, X):
        """Most likely component of each sample, shape (n_samples,)."""
        arr, lazy = self._log_resp(X)
        return self._finish(arr[:, 1:].argmax(axis=1), lazy)

    def predict_proba(self, X):
        """Responsibilities, shape (n_samples, n_components)."""
        arr, lazy = self._log_resp(X)
        return self._finish(da.exp(arr[:, 1:]), lazy)

    def score(self, X, y=None):
        """Mean log-likelihood per sample of X, a float."""
        arr, _ = self._log_resp(X)
        return float(arr[:, 0].mean().compute())

    def _n_parameters(self) -> int:
        return _covariance.get(self.covariance_type).n_parameters(
            self.means_.shape[0], self.means_.shape[1]
        )

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better)."""
        n = X.shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw samples; returns ``(X, y)`` as scikit-learn does."""
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        cov = _covariance.get(self.covariance_type)
        X = np.vstack(
            [
                cov.sample(rng, self.means_[k], self.covariances_, k, int(c))
                for k, c in enumerate(counts)
            ]
        )
        y = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return X, y

    def save(self, path):
        """Write the fitted model to an HDF5 file; ``streamgmm.load(path)`` reads it back.

        Parameters (dtypes included), constructor settings and the fit history
        round-trip exactly; no pickle is involved. An existing file is replaced
        atomically.

        Parameters
        ----------
        path : str or os.PathLike
        """
        from . import _modelfile  # the io layer; imported here to keep this class's imports

        _modelfile.save(self, path)
