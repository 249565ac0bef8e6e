"""Responsibilities that do not come from a Gaussian model: initialisation kernels.

``nearest_centre`` labels rows by their nearest centre (on tiles, rows as the SIMD
dimension, as the E-step) and ``hard_statistics`` turns labels into the statistics of a
k-means (Lloyd) step without an (n, K) one-hot array;
``random_resp`` gives scikit-learn's "random" initialisation (uniform, then
normalised per row) with numbers keyed by the global row index, so that the same
seed gives the same responsibilities whatever the chunking
(test_init.py::test_random_init_chunking_invariant).
"""

from __future__ import annotations

import numpy as np

from .._config import jit
from ._tile import TILE, load_tile


@jit
def _nearest_in_tile(Xt, centres, sq, best, label):
    """best[t], label[t]: the nearest centre of each row of a tile (the first on ties)."""
    best[:] = np.inf
    label[:] = 0
    for k in range(centres.shape[0]):
        sq[:] = 0.0
        for j in range(Xt.shape[0]):
            c = centres[k, j]
            for t in range(TILE):
                y = Xt[j, t] - c
                sq[t] += y * y
        for t in range(TILE):
            closer = sq[t] < best[t]
            best[t] = sq[t] if closer else best[t]
            label[t] = k if closer else label[t]


@jit
def nearest_centre(X, sample_weight, centres, labels):
    """labels[i] = nearest centre of row i (squared Euclidean, the first on ties);
    returns the weighted inertia sum_i w_i min_k ||x_i - c_k||^2."""
    n, d = X.shape
    Xt, wt = np.empty((d, TILE), X.dtype), np.empty(TILE)
    sq, best, label = np.empty(TILE), np.empty(TILE), np.empty(TILE, np.int64)
    inertia = 0.0
    for i0 in range(0, n, TILE):
        tn = load_tile(X, sample_weight, i0, Xt, wt)
        _nearest_in_tile(Xt, centres, sq, best, label)
        for t in range(tn):
            labels[i0 + t] = label[t]
            inertia += wt[t] * best[t]
    return inertia


@jit
def hard_statistics(X, sample_weight, labels, centres, diagonal, with_m2, nk, means, m2):
    """Statistics of one-hot responsibilities (a Lloyd step), as ``fused_block`` lays them out.

    nk[k] and the exact means (K, d) of the rows labelled k (0 where none), summed as
    offsets from centre k so a data offset keeps its digits; with ``with_m2`` the scatter
    (K, d, d) about those means in a second pass (only the diagonal when ``diagonal``).
    """
    n, d = X.shape
    nk[:] = 0.0
    means[:] = 0.0
    m2[:] = 0.0
    for i in range(n):
        k, w = labels[i], sample_weight[i]
        nk[k] += w
        for j in range(d):
            means[k, j] += w * (X[i, j] - centres[k, j])
    for k in range(nk.shape[0]):
        for j in range(d):
            means[k, j] = centres[k, j] + means[k, j] / nk[k] if nk[k] > 0.0 else 0.0
    if not with_m2:
        return
    diff = np.empty(d)
    for i in range(n):
        k, w = labels[i], sample_weight[i]
        for j in range(d):
            diff[j] = X[i, j] - means[k, j]
        for a in range(d):
            if diagonal:
                m2[k, a, a] += w * diff[a] * diff[a]
                continue
            wa = w * diff[a]
            for b in range(a, d):
                m2[k, a, b] += wa * diff[b]
    for k in range(nk.shape[0]):
        for a in range(d):
            for b in range(a + 1, d):
                m2[k, b, a] = m2[k, a, b]


@jit
def _splitmix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = x
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return z ^ (z >> np.uint64(31))


@jit
def uniform_keyed(seed, row, col):
    """A uniform number in [0, 1) that depends only on (seed, row, col)."""
    h = _splitmix64(np.uint64(seed) ^ _splitmix64(np.uint64(row)))
    h = _splitmix64(h ^ np.uint64(col))
    return (h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@jit
def random_resp(row_offset, seed, resp):
    """resp[i, k] = u(seed, row_offset + i, k), each row normalised to sum 1."""
    n, n_components = resp.shape
    for i in range(n):
        total = 0.0
        for k in range(n_components):
            u = uniform_keyed(seed, row_offset + i, k)
            resp[i, k] = u
            total += u
        for k in range(n_components):
            resp[i, k] /= total
