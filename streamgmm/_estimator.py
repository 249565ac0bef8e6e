"""``streamgmm.GaussianMixture``: scikit-learn's estimator, out of core.

What is particular to it on top of the shared shell (``_mixture.py``): its settings
(``weights_init`` and the others, ``missing``), its fit model (``_fit.runs.GaussianModel``),
``bic``, ``aic`` and ``impute``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

from ._data.blocks import ModelAssigner
from ._fit import runs
from ._mixture import MatrixLike, MixtureShell, VectorLike
from ._model import Params, check_array_api_init, check_hyperparameters, get_covariance


class GaussianMixture(MixtureShell):
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

    # -- what only GaussianMixture has ---------------------------------------------------

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

    # -- what the shell asks ------------------------------------------------------------

    _fitted_names = (
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

    def _check_settings(self) -> None:
        check_hyperparameters(self)
        check_array_api_init(self.init_params)

    def _fit_model(self, settings: dict, source) -> runs.GaussianModel:
        return runs.GaussianModel(settings)

    @property
    def _missing_mode(self) -> str:
        return self.missing

    def _fitted(self, result, dtype, n_features: int, model=None) -> dict:
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

    def _current_params(self) -> Params:
        return Params(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.covariances_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
        )

    def _assigner(self, missing: str) -> ModelAssigner:
        return ModelAssigner(self._current_params(), self.covariance_type, missing)

    def _n_parameters(self) -> int:
        return get_covariance(self.covariance_type).n_parameters(
            self.means_.shape[0], self.means_.shape[1]
        )


#: the attributes a fit sets (``feature_names_in_`` aside), as model files store them
FITTED_ATTRIBUTES = GaussianMixture._fitted_names


def fitted_from_result(estimator: GaussianMixture, result, dtype, n_features) -> GaussianMixture:
    """``estimator`` (unfitted, its settings those of the fit) given the fitted attributes of
    an EM result (model selection fits its grid in shared passes, then makes each model)."""
    estimator._set_fitted(estimator._fitted(result, dtype, n_features))
    return estimator
