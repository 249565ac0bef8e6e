"""Seeding kernels for k-means|| over blocks (Bahmani et al., 2012).

Random numbers are keyed by (seed, global row, round), so which rows a round picks
does not depend on how the data are chunked (test_seeding.py).
"""

from __future__ import annotations

import math

import numpy as np

from .._config import jit
from ._assign import uniform_keyed


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
