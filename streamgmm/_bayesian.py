"""``streamgmm.BayesianGaussianMixture``: scikit-learn's variational mixture, out of core.

What is particular to it on top of the shared shell (``_mixture.py``): its priors, its fit
model (``_fit.variational.VariationalModel``), its posterior and the variational E-step.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._data.blocks import ModelAssigner
from ._fit.variational import (
    FITTED_ATTRIBUTES,
    VariationalModel,
    fitted_attributes,
    variational_assigner,
)
from ._io import modelfile
from ._mixture import MixtureShell
from ._model import WEIGHT_PRIORS, VariationalParams, check_bayesian_hyperparameters


class BayesianGaussianMixture(MixtureShell):
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
        The memory budget that bounds the rows per block (bytes, or a size such as "4GB";
        "auto": half of this machine's memory, or of the smallest Dask worker's limit).
    cache : bool or "auto", default="auto"
        Keep the blocks in memory after the first pass: "auto" when all of them fit in half
        the budget, so later iterations read nothing.
    progress : bool, default=False
        Show the fit's progress on stderr, as :class:`streamgmm.GaussianMixture` does.

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
        progress: bool = False,
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
        self.progress = progress

    # -- what the shell asks ------------------------------------------------------------

    _file_format = modelfile.BAYESIAN_FORMAT
    _fitted_names = FITTED_ATTRIBUTES

    def _check_settings(self) -> None:
        check_bayesian_hyperparameters(self)

    def _fit_model(self, settings: dict, source) -> VariationalModel:
        return VariationalModel(settings, source.dtype)

    def _fitted(self, result, dtype, n_features: int, model: VariationalModel) -> dict:
        settings = self.get_params(deep=False)
        return fitted_attributes(settings, result, model.prior_attrs, n_features)

    def _warm_mismatch(self, n_features: int) -> str | None:
        mismatch = super()._warm_mismatch(n_features)
        prior_type = self.weight_concentration_prior_type
        shape = WEIGHT_PRIORS[prior_type].concentration_shape(self.means_.shape[0])
        if mismatch is None and self._current_params().weight_concentration.shape != shape:
            return (
                f"(a prior of another kind), which does not fit "
                f"weight_concentration_prior_type={prior_type!r}"
            )
        return mismatch

    def _current_params(self) -> VariationalParams:
        conc = self.weight_concentration_
        return VariationalParams(
            np.array(np.vstack(conc) if isinstance(conc, tuple) else conc, dtype=np.float64),
            np.array(self.mean_precision_, dtype=np.float64),
            np.array(self.means_, dtype=np.float64),
            np.array(self.degrees_of_freedom_, dtype=np.float64),
            np.array(self.covariances_, dtype=np.float64),
            np.array(self.precisions_cholesky_, dtype=np.float64),
        )

    def _assigner(self, missing: str) -> ModelAssigner:
        return variational_assigner(
            self._current_params(), self.weight_concentration_prior_type, self.covariance_type
        )
