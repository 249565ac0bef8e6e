"""Layer 8: what a fitted ``GaussianMixture`` computes over blocks of new data.

:class:`InferenceMixin` holds the private steps behind ``score_samples``,
``predict``, ``predict_proba``, ``score``, ``bic`` and ``aic`` of
:class:`~streamgmm.GaussianMixture` (which keeps the public methods and their
documentation): one lazy pass of log-responsibilities, scikit-learn's result
dtype, the weighted log-likelihood, the parameter count.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _covariance
from ._block import ModelAssigner
from ._coordinator import inference_array
from ._mstep import Params
from ._sources import as_source


class InferenceMixin:
    """Inference with the fitted parameters of a ``GaussianMixture``."""

    def _current_params(self) -> Params:
        return Params(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.covariances_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
        )

    def _infer(self, X, what, sample_weight=None):
        """(lazy per-row ``what``, see ``inference_array``; the source; whether X was a lazy
        input)."""
        check_is_fitted(self)
        lazy = isinstance(X, da.Array) or hasattr(X, "id") and hasattr(X, "file")
        source = as_source(
            X,
            chunk_size=self.chunk_size,
            n_components=self.n_components,
            sample_weight=sample_weight,
        )
        # scikit-learn's feature-name warnings and n_features message, from metadata only.
        validate_data(self, X, skip_check_array=True, reset=False)
        assigner = ModelAssigner(self._current_params(), self.covariance_type)
        return inference_array(source, assigner, what), source, lazy

    def _out_dtype(self, source) -> type:
        """scikit-learn's result dtype: float32 only when X and the model both are."""
        both = source.dtype == np.float32 and self.means_.dtype == np.float32
        return np.float32 if both else np.float64

    @staticmethod
    def _finish(arr, lazy):
        return arr if lazy else arr.compute()

    def _log_lik_and_n(self, X, sample_weight) -> tuple[float, float]:
        """(mean log-likelihood per unit weight, total weight) of X, in one pass."""
        log_prob, source, _ = self._infer(X, "log_prob", sample_weight)
        w = source.sample_weight
        if w is None:
            return float(log_prob.mean().compute()), float(source.n_samples)
        total, weight = da.compute((log_prob * w).sum(), w.sum())
        return float(total) / float(weight), float(weight)

    def _n_parameters(self) -> int:
        return _covariance.get(self.covariance_type).n_parameters(
            self.means_.shape[0], self.means_.shape[1]
        )
