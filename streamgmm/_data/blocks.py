"""One NumPy block and an assignment rule -> statistics (or inference outputs).

Here, and only here, blocks are made kernel-ready: native byte order, C layout,
float32 or float64 (anything else numeric becomes float64), and empty blocks
short-circuit. The *assigners* say how responsibilities come about: from a
Gaussian mixture (EM), from the nearest centre (k-means) or from keyed random
numbers (``init_params="random"``). They are small, picklable values that travel
in the Dask graph once per pass.
"""

from __future__ import annotations

import numpy as np

from .. import _kernels as kernels
from .._model import (
    NONFINITE_DENSITY,
    NONFINITE_INPUT,
    Params,
    SuffStats,
    float32_estep_ok,
    float32_far_limit,
    get_covariance,
)
from . import engine
from .missing import impute_rows, missing_infer, missing_statistics, split_rows

#: What inference can ask of a block: log p(x) (n,), the log-responsibilities (n, K), the
#: responsibilities (n, K) and the most likely component (n,) int64.
INFERENCE_OUTPUTS = ("log_prob", "log_resp", "proba", "labels")


def as_kernel_array(X: np.ndarray) -> np.ndarray:
    """Native-endian, C-contiguous float32/float64 view or copy of one block."""
    X = np.asarray(X)
    if X.dtype == np.float32 or X.dtype == np.float64:
        dtype = X.dtype.newbyteorder("=")
    else:
        dtype = np.dtype(np.float64)
    if X.dtype != dtype or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=dtype)
    return X


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view. Numba compiles a kernel once per writeable flag of each array; the
    fused kernel only reads X and the weights, so it sees them read-only, memmaps and
    in-memory arrays alike: one compilation per dtype instead of two (~6 s each, cold)."""
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def as_weight_array(sample_weight, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows)
    return np.ascontiguousarray(sample_weight, dtype=np.float64).reshape(-1)


class ModelAssigner:
    """Responsibilities of a Gaussian mixture (the E-step).

    With ``missing="em"``, a NaN in a block marks a missing entry: such blocks go through
    ``missing.py`` (each row from its observed coordinates); blocks without NaN take the
    fused kernels as with ``missing="error"``. ``log_weights`` (K,), when given, replaces
    ``log(params.weights)`` as the per-component term added to each log-density: the
    variational E-step of a Bayesian mixture adds E[log pi_k] and the terms of its
    precision's posterior there (``_model.variational``).
    """

    def __init__(
        self, params: Params, covariance_type: str, missing: str = "error", log_weights=None
    ):
        cov = get_covariance(covariance_type)
        k, d = params.means.shape
        self.covariance_type = covariance_type
        self.missing = missing == "em"
        self.diagonal, self.shared = cov.fused_diagonal, cov.shared_precision
        self.n_components = k
        self.means = np.ascontiguousarray(params.means, dtype=np.float64)
        self.prec_chol = np.ascontiguousarray(params.precisions_cholesky, dtype=np.float64)
        self.log_det = np.ascontiguousarray(
            cov.log_det_chol(self.prec_chol, k, d), dtype=np.float64
        )
        if log_weights is not None:
            self.log_weights = np.array(log_weights, dtype=np.float64).reshape(k)
        else:
            with np.errstate(divide="ignore"):  # a zero weight is a -inf log weight, as in sklearn
                self.log_weights = np.log(np.asarray(params.weights, dtype=np.float64))
        # The fused kernels' view of the parameters: (log pi + log det) - d/2 log(2 pi).
        self.log_const = self.log_weights + self.log_det + (-0.5 * d * kernels.LOG_2PI)
        self.fused_prec = np.ascontiguousarray(cov.fused_precisions(self.prec_chol, k, d))
        self.far_limit = float32_far_limit(d)
        self.lam = None  # the precisions U U^T, for the conditionals of incomplete rows
        if self.missing and not self.diagonal:
            self.lam = self.fused_prec @ self.fused_prec.transpose(0, 2, 1)
        self._prec32 = False  # not decided yet: only float32 blocks need it
        self.engine = engine.default()  # set per pass (passes.plan_engine)

    @property
    def fused_prec32(self):
        """The float32 factors of float32 blocks, or None where float64 is needed.

        float32 blocks of full and tied models: Mahalanobis distances in float32 (1.2x
        per block on W1, docs/benchmarks.md), as scikit-learn computes float32 input,
        while the differences x - mu, the exp and every sum stay in float64. Only where
        the factors are well conditioned enough that this moves the statistics no more
        than rounding X to float32 does (_model.covariance.FLOAT32_MAX_COND). Decided on
        the first float32 block (a condition estimate per component).
        """
        if self._prec32 is False:
            cov = get_covariance(self.covariance_type)
            ok = float32_estep_ok(cov, self.prec_chol)
            self._prec32 = self.fused_prec.astype(np.float32) if ok else None
        return self._prec32

    @fused_prec32.setter
    def fused_prec32(self, value) -> None:
        """None forces the float64 E-step (a reference for the float32 one)."""
        self._prec32 = value

    def infer(self, X, what):
        """``what`` of each row of a kernel-ready block (see INFERENCE_OUTPUTS), and the
        first row whose density is not finite or -1 (float64 distances)."""
        if self.missing:
            split = split_rows(X, by_pattern=not self.diagonal)
            if split is not None:
                return missing_infer(X, self, what, split)
        if self.engine == engine.NUMPY:
            out, bad = kernels.numpy_engine.infer(
                X, self.means, self.fused_prec, self.log_const, self.diagonal, set(what)
            )
            return [out[name] for name in what], bad
        n, k = X.shape[0], self.n_components
        rows = {name: n if name in what else 0 for name in INFERENCE_OUTPUTS}  # 0: skipped
        out = {
            "log_prob": np.empty(rows["log_prob"]),
            "log_resp": np.empty((rows["log_resp"], k)),
            "proba": np.empty((rows["proba"], k)),
            "labels": np.empty(rows["labels"], np.int64),
        }
        diagonal = get_covariance(self.covariance_type).fused_diagonal
        bad = kernels.fused_infer(  # its outputs come in INFERENCE_OUTPUTS' order
            readonly(X), self.means, self.fused_prec, self.log_const, diagonal,
            *(out[name] for name in INFERENCE_OUTPUTS),
        )  # fmt: skip
        return [out[name] for name in what], bad

    def statistics(self, X, sample_weight, with_m2=True):
        """(nk, means, m2 in the layout of the covariance type or None, log_lik, bad row).

        One fused pass over a kernel-ready block: E-step and moments tile by tile
        (kernels.fused_block), no (n, K) responsibilities in memory.
        """
        cov = get_covariance(self.covariance_type)
        if self.engine == engine.NUMPY:
            log_lik, bad, nk, means, m2 = kernels.numpy_engine.block_statistics(
                X, sample_weight, self.means, self.fused_prec, self.log_const, self.diagonal,
                with_m2,
            )  # fmt: skip
            if bad >= 0:
                return None, None, None, 0.0, bad
            return nk, means, cov.fused_m2(m2) if with_m2 else None, log_lik, bad
        k, d = self.means.shape
        nk, means, m2 = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        X, sample_weight = readonly(X), readonly(sample_weight)
        for prec, far_limit in self._runs(X.dtype):
            log_lik, bad = kernels.fused_block(
                X, sample_weight, self.means, prec, self.fused_prec, far_limit, self.log_const,
                cov.fused_diagonal, with_m2, nk, means, m2,
            )  # fmt: skip
            if bad < 0:
                break
        return nk, means, cov.fused_m2(m2) if with_m2 else None, log_lik, bad

    def _runs(self, dtype) -> list:
        """(precisions, far_limit) of each E-step a block of ``dtype`` may take, in order.

        A float32 block of a well-conditioned model tries float32 distances first: tiles
        with a far outlier are redone in float64 inside the kernel; a distance beyond
        float32's range reads as a non-finite density, and that block is redone in float64,
        which decides whether it really is one.
        """
        runs = [(self.fused_prec, np.inf)]
        if dtype == np.float32 and self.fused_prec32 is not None:
            runs.insert(0, (self.fused_prec32, self.far_limit))
        return runs

    def engine_pass(self, dtype, n_rows: int, with_m2: bool = True) -> tuple[str, list, float]:
        """(kernel family, (kernel, example arguments) of each kernel ``statistics`` runs
        on blocks of ``dtype``, estimated NumPy seconds for ``n_rows`` rows)."""
        k, d = self.means.shape
        X, w = engine.example(dtype, d)
        out = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        head, tail = (X, w, self.means), (self.log_const, self.diagonal, with_m2, *out)
        probes = [
            kernels.fused_block_call(*head, prec, self.fused_prec, far, *tail)
            for prec, far in self._runs(X.dtype)
        ]
        family = "diag" if self.diagonal and with_m2 else "full"
        return family, probes, engine.numpy_seconds(family, n_rows, k, d)

    def engine_infer(self, dtype, n_rows: int) -> tuple[str, list, float]:
        """As ``engine_pass``, for ``infer``."""
        k, d = self.means.shape
        X, _ = engine.example(dtype, d)
        outs = np.empty(0), np.empty((0, k)), np.empty((0, k)), np.empty(0, np.int64)
        probe = (kernels.fused_infer, (X, self.means, self.fused_prec, self.log_const,
                                       self.diagonal, *outs))  # fmt: skip
        return "infer", [probe], engine.numpy_seconds("infer", n_rows, k, d)


class NearestCentreAssigner:
    """One-hot responsibilities of the nearest centre (a Lloyd step); score = -inertia."""

    def __init__(self, centres: np.ndarray):
        self.centres = np.ascontiguousarray(centres, dtype=np.float64)
        self.n_components = self.centres.shape[0]
        self.engine = engine.default()  # set per pass (passes.plan_engine)

    def statistics(self, X, sample_weight, covariance_type, with_m2=True):
        """(nk, means, m2 in the layout of the covariance type or None, -inertia)."""
        cov = get_covariance(covariance_type)
        k, d = self.centres.shape
        X, sample_weight = readonly(X), readonly(sample_weight)
        labels = np.empty(X.shape[0], np.int64)
        if self.engine == engine.NUMPY:
            ref = kernels.numpy_engine
            inertia = ref.nearest_centre(X, sample_weight, self.centres, labels)
            nk, means, m2 = ref.hard_statistics(
                X, sample_weight, labels, self.centres, cov.fused_diagonal, with_m2
            )
            return nk, means, cov.fused_m2(m2) if with_m2 else None, -inertia
        inertia = kernels.nearest_centre(X, sample_weight, self.centres, labels)
        nk, means, m2 = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        kernels.hard_statistics(
            X, sample_weight, labels, self.centres, cov.fused_diagonal, with_m2, nk, means, m2
        )
        return nk, means, cov.fused_m2(m2) if with_m2 else None, -inertia

    def engine_pass(self, dtype, n_rows: int, with_m2: bool = True) -> tuple[str, list, float]:
        """As ``ModelAssigner.engine_pass``: the nearest centre and a Lloyd step's statistics."""
        k, d = self.centres.shape
        X, w = engine.example(dtype, d)
        labels = np.zeros(1, np.int64)
        out = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
        probes = [
            (kernels.nearest_centre, (X, w, self.centres, labels)),
            (kernels.hard_statistics, (X, w, labels, self.centres, False, with_m2, *out)),
        ]
        return "kmeans", probes, engine.numpy_seconds("kmeans", n_rows, k, d)


def block_statistics(X, sample_weight, row_offset, covariance_type, assigner, with_m2=True):
    """Statistics of one block of rows starting at global row ``row_offset``."""
    X = as_kernel_array(X)
    n, d = X.shape
    k = assigner.n_components
    zero = SuffStats.zero(covariance_type, k, d, with_m2)
    if n == 0:
        return zero
    w = as_weight_array(sample_weight, n)
    if isinstance(assigner, ModelAssigner):
        split = split_rows(X, not assigner.diagonal) if assigner.missing else None
        if split is not None:  # NaN are missing values: complete rows still go below
            return missing_statistics(X, w, row_offset, covariance_type, assigner, split, with_m2)
        # A NaN or inf in X makes its row's log-density non-finite, so the fused kernel
        # stops there: X is checked only then, not in a pass of its own over every block
        # (0.6-1.0 ms of a W4 block's 20). A bad value anywhere in the block still wins
        # over a density problem, as when X was checked first.
        nk, means, m2, score, bad = assigner.statistics(X, w, with_m2)
        if bad >= 0:
            row, col = kernels.numpy_engine.first_nonfinite(X)  # an error path: no compile
            if row >= 0:
                return zero.with_problem(row_offset + row, col, NONFINITE_INPUT)
            return zero.with_problem(row_offset + bad, -1, NONFINITE_DENSITY)
        return SuffStats(covariance_type, nk, means, m2, float(score), float(w.sum()), n)
    # k-means: a NaN or inf makes the block's statistics non-finite, so X is checked only
    # then (as above), in _checked
    nk, means, m2, score = assigner.statistics(X, w, covariance_type, with_m2)
    stats = SuffStats(covariance_type, nk, means, m2, float(score), float(w.sum()), n)
    return _checked(stats, X, row_offset, zero)


def block_statistics_from_resp(X, sample_weight, row_offset, resp, covariance_type):
    """Statistics of one block for given responsibilities (a random start), its bad rows
    named as :func:`block_statistics` names them."""
    X = as_kernel_array(X)
    n, d = X.shape
    zero = SuffStats.zero(covariance_type, resp.shape[1], d)
    if n == 0:
        return zero
    w = as_weight_array(sample_weight, n)
    return _checked(statistics_from_resp(X, w, resp, covariance_type), X, row_offset, zero)


def _checked(stats: SuffStats, X, row_offset: int, zero: SuffStats) -> SuffStats:
    """``stats``, or the block's first bad value (NaN or inf) or first row whose squares
    overflow float64, when the statistics are not finite."""
    if _finite(stats):
        return stats
    row, col = kernels.numpy_engine.first_nonfinite(X)
    if row >= 0:
        return zero.with_problem(row_offset + row, col, NONFINITE_INPUT)
    return zero.with_problem(row_offset + overflowing_row(X), -1, NONFINITE_DENSITY)


def _finite(stats: SuffStats) -> bool:
    parts = [stats.nk, stats.means, [stats.log_lik]] + ([stats.m2] if stats.m2 is not None else [])
    return all(np.isfinite(p).all() for p in parts)


def overflowing_row(X: np.ndarray) -> int:
    """The first row of a finite block whose squared deviations overflow float64 (found only
    after a block's statistics came out non-finite): by the row's squared norm, else its
    squared distance from the block's first row, else its largest value."""
    X64 = np.asarray(X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for values in ((X64**2).sum(axis=1), ((X64 - X64[0]) ** 2).sum(axis=1)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                return int(bad[0])
    return int(np.argmax(np.abs(X64).max(axis=1)))


def statistics_from_resp(X, w, resp, covariance_type, score=0.0, with_m2=True):
    """Statistics of a kernel-ready block for given responsibilities."""
    n, d = X.shape
    k = resp.shape[1]
    nk = np.empty(k)
    means = np.empty((k, d))
    kernels.weighted_means(X, w, resp, nk, means)
    m2 = None
    if with_m2:
        cov = get_covariance(covariance_type)
        m2 = np.empty(cov.m2_shape(k, d))
        cov.scatter_kernel(X, w, resp, means, m2)
    return SuffStats(covariance_type, nk, means, m2, float(score), float(w.sum()), n)


def block_infer(X, assigner: ModelAssigner, what):
    """The outputs ``what`` (names in INFERENCE_OUTPUTS) of one block, and the first row
    whose density is not finite or -1."""
    X = as_kernel_array(X)
    return assigner.infer(X, what)


def block_impute(X, assigner: ModelAssigner):
    """One block with each NaN replaced by its conditional expectation under the mixture
    (``missing.impute_rows``), and the first row whose density is not finite or -1."""
    X = as_kernel_array(X)
    return impute_rows(X, assigner, split_rows(X, by_pattern=not assigner.diagonal))


def block_log_resp(X, assigner: ModelAssigner):
    """(n, 1 + K) [log p(x), log resp] of one block, and the first non-finite row or -1."""
    (log_prob, log_resp), bad = block_infer(X, assigner, ("log_prob", "log_resp"))
    return np.column_stack([log_prob, log_resp]), bad
