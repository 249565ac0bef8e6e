"""Moment kernels: per-component weighted counts, means and centred scatter of one block.

Two passes over the block (it is in cache): the first gives N_k and the weighted
mean of the block, the second the scatter about that mean. Blocks are then merged
with the pairwise (Chan) update in ``_model/stats.py``, so no raw ``sum(r x x^T)`` is
ever formed and neither a data offset nor far-away means cost digits
(tests/estimator/test_exactness.py::test_offset_data,
tests/kernels/test_kernels.py::test_moments_offset).
"""

from __future__ import annotations

import numpy as np

from .jit import jit


@jit
def weighted_means(X, sample_weight, resp, nk, means):
    """nk[k] = sum_i w_i r_ik; means[k] = weighted mean of the block (0 where nk is 0).

    Sums are shifted by the block's first row, so a large common offset keeps
    its digits in the means.
    """
    n, d = X.shape
    n_components = resp.shape[1]
    nk[:] = 0.0
    means[:] = 0.0
    if n == 0:
        return
    shift = np.empty(d)
    for j in range(d):
        shift[j] = X[0, j]
    for i in range(n):
        for k in range(n_components):
            wr = sample_weight[i] * resp[i, k]
            nk[k] += wr
            for j in range(d):
                means[k, j] += wr * (X[i, j] - shift[j])
    for k in range(n_components):
        if nk[k] > 0.0:
            for j in range(d):
                means[k, j] = shift[j] + means[k, j] / nk[k]


@jit
def scatter_full(X, sample_weight, resp, means, m2):
    """m2[k] = sum_i w_i r_ik (x_i - means[k])(x_i - means[k])^T."""
    n, d = X.shape
    n_components = resp.shape[1]
    m2[:] = 0.0
    diff = np.empty(d)
    for i in range(n):
        for k in range(n_components):
            wr = sample_weight[i] * resp[i, k]
            if wr == 0.0:
                continue
            for j in range(d):
                diff[j] = X[i, j] - means[k, j]
            for a in range(d):
                wa = wr * diff[a]
                for b in range(a, d):
                    m2[k, a, b] += wa * diff[b]
    for k in range(n_components):
        for a in range(d):
            for b in range(a + 1, d):
                m2[k, b, a] = m2[k, a, b]


@jit
def scatter_tied(X, sample_weight, resp, means, m2):
    """m2 = sum_k sum_i w_i r_ik (x_i - means[k])(x_i - means[k])^T (pooled)."""
    n, d = X.shape
    n_components = resp.shape[1]
    m2[:] = 0.0
    diff = np.empty(d)
    for i in range(n):
        for k in range(n_components):
            wr = sample_weight[i] * resp[i, k]
            if wr == 0.0:
                continue
            for j in range(d):
                diff[j] = X[i, j] - means[k, j]
            for a in range(d):
                wa = wr * diff[a]
                for b in range(a, d):
                    m2[a, b] += wa * diff[b]
    for a in range(d):
        for b in range(a + 1, d):
            m2[b, a] = m2[a, b]


@jit
def scatter_diag(X, sample_weight, resp, means, m2):
    """m2[k, j] = sum_i w_i r_ik (x_ij - means[k, j])^2."""
    n, d = X.shape
    n_components = resp.shape[1]
    m2[:] = 0.0
    for i in range(n):
        for k in range(n_components):
            wr = sample_weight[i] * resp[i, k]
            for j in range(d):
                t = X[i, j] - means[k, j]
                m2[k, j] += wr * t * t


@jit
def scatter_spherical(X, sample_weight, resp, means, m2):
    """m2[k] = sum_i w_i r_ik ||x_i - means[k]||^2."""
    n, d = X.shape
    n_components = resp.shape[1]
    m2[:] = 0.0
    for i in range(n):
        for k in range(n_components):
            wr = sample_weight[i] * resp[i, k]
            acc = 0.0
            for j in range(d):
                t = X[i, j] - means[k, j]
                acc += t * t
            m2[k] += wr * acc
