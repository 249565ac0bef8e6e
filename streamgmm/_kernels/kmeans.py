"""k-means kernels of the initialisation: Lloyd steps and k-means|| rounds over blocks.

``nearest_centre`` labels rows by their nearest centre (on tiles, rows as the SIMD
dimension, as the E-step) and ``hard_statistics`` turns labels into the statistics of a
k-means (Lloyd) step without an (n, K) one-hot array. ``oversample`` and
``exponential_race`` are k-means|| (Bahmani et al., 2012) over blocks; their random
numbers are keyed by (seed, global row, round), so which rows a round picks does not
depend on how the data are chunked (tests/fit/test_kmeans.py).
"""

from __future__ import annotations

import math

import numpy as np

from .jit import jit
from .keyed_random import uniform_keyed
from .tile import TILE, load_tile


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
def oversample(X, sample_weight, centres, row_offset, seed, round_, rate, selected):
    """One k-means|| round on a block.

    Marks ``selected[i]`` with probability ``min(1, rate * w_i * d2_i)``, where
    ``d2_i`` is the squared distance of row i to its nearest centre, and returns
    the cost ``sum_i w_i d2_i`` of the block for the current centres.
    """
    n, d = X.shape
    cost = 0.0
    for i in range(n):
        best = np.inf
        for k in range(centres.shape[0]):
            dist = 0.0
            for j in range(d):
                t = X[i, j] - centres[k, j]
                dist += t * t
            if dist < best:
                best = dist
        wd = sample_weight[i] * best
        cost += wd
        selected[i] = uniform_keyed(seed, row_offset + i, round_) < rate * wd
    return cost


@jit
def exponential_race(sample_weight, row_offset, seed):
    """(key, row) of the row with the smallest -log(u)/w: a draw proportional to w."""
    best_key = np.inf
    best_row = -1
    for i in range(sample_weight.shape[0]):
        if sample_weight[i] > 0.0:
            u = uniform_keyed(seed, row_offset + i, -1)
            key = -math.log(max(u, 1e-300)) / sample_weight[i]
            if key < best_key:
                best_key = key
                best_row = row_offset + i
    return best_key, best_row
