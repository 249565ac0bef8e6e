"""E-step kernels: weighted log-densities of one block, and their normalisation.

Each ``weighted_log_prob_*`` writes ``out[i, k] = log pi_k + log N(x_i | mu_k, Sigma_k)``
with scikit-learn's parametrisation by the upper-triangular Cholesky factor of the
precision, but on ``x - mu`` rather than ``x @ P - mu @ P`` so that a large data
offset does not cancel digits (test_exactness.py::test_offset_data).
"""

from __future__ import annotations

import math

import numpy as np

from .._config import jit

LOG_2PI = math.log(2.0 * math.pi)


@jit
def first_nonfinite(X):
    """Return (row, col) of the first NaN/inf in X, or (-1, -1)."""
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            if not np.isfinite(X[i, j]):
                return i, j
    return -1, -1


@jit
def weighted_log_prob_full(X, means, prec_chol, log_det, log_weights, out):
    n, d = X.shape
    n_components = means.shape[0]
    diff = np.empty(d)
    const = -0.5 * d * LOG_2PI
    for i in range(n):
        for k in range(n_components):
            for j in range(d):
                diff[j] = X[i, j] - means[k, j]
            sq = 0.0
            for j in range(d):
                y = 0.0
                for m in range(j + 1):  # prec_chol[k] is upper triangular
                    y += diff[m] * prec_chol[k, m, j]
                sq += y * y
            out[i, k] = log_weights[k] + log_det[k] + const - 0.5 * sq


@jit
def weighted_log_prob_tied(X, means, prec_chol, log_det, log_weights, out):
    n, d = X.shape
    n_components = means.shape[0]
    diff = np.empty(d)
    const = -0.5 * d * LOG_2PI
    for i in range(n):
        for k in range(n_components):
            for j in range(d):
                diff[j] = X[i, j] - means[k, j]
            sq = 0.0
            for j in range(d):
                y = 0.0
                for m in range(j + 1):
                    y += diff[m] * prec_chol[m, j]
                sq += y * y
            out[i, k] = log_weights[k] + log_det[k] + const - 0.5 * sq


@jit
def weighted_log_prob_diag(X, means, prec_chol, log_det, log_weights, out):
    n, d = X.shape
    n_components = means.shape[0]
    const = -0.5 * d * LOG_2PI
    for i in range(n):
        for k in range(n_components):
            sq = 0.0
            for j in range(d):
                y = (X[i, j] - means[k, j]) * prec_chol[k, j]
                sq += y * y
            out[i, k] = log_weights[k] + log_det[k] + const - 0.5 * sq


@jit
def weighted_log_prob_spherical(X, means, prec_chol, log_det, log_weights, out):
    n, d = X.shape
    n_components = means.shape[0]
    const = -0.5 * d * LOG_2PI
    for i in range(n):
        for k in range(n_components):
            sq = 0.0
            for j in range(d):
                y = X[i, j] - means[k, j]
                sq += y * y
            p = prec_chol[k]
            out[i, k] = log_weights[k] + log_det[k] + const - 0.5 * sq * p * p


@jit
def log_normalise(wlp, log_norm):
    """Turn weighted log-probabilities into log-responsibilities, in place.

    ``log_norm[i]`` receives logsumexp over components. Returns the first row
    whose normaliser is not finite (every density underflowed, or overflowed
    values made NaN), or -1.
    """
    n, n_components = wlp.shape
    bad = -1
    for i in range(n):
        top = -np.inf
        for k in range(n_components):
            if wlp[i, k] > top:
                top = wlp[i, k]
        total = 0.0
        for k in range(n_components):
            total += math.exp(wlp[i, k] - top)
        lse = top + math.log(total)
        log_norm[i] = lse
        if not np.isfinite(lse) and bad < 0:
            bad = i
        for k in range(n_components):
            wlp[i, k] -= lse
    return bad


@jit
def weighted_sum(values, sample_weight):
    total = 0.0
    for i in range(values.shape[0]):
        total += sample_weight[i] * values[i]
    return total
