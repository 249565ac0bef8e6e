"""Missing values (``missing="em"``): which entries of each row are NaN, the first infinity,
and the observed column sums behind the mean-filled initialisation.

With ``missing="em"`` a NaN marks a missing entry and only an infinity is bad input. A block
is first checked as always (``nonfinite.first_nonfinite``, vectorised); only a block that
fails is scanned here entry by entry.
"""

from __future__ import annotations

import numpy as np

from .jit import jit

#: Values counted per vectorised pass of ``first_infinite`` before it looks closer.
_CHUNK = 4096


@jit
def nan_patterns(X, keys, n_missing):
    """Per row i: the bits of its NaN entries, keys[i, j // 64] bit j % 64 (keys: (n, W)
    uint64, W = ceil(d / 64)), and their count n_missing[i]; returns (row, col) of the
    first infinity, or (-1, -1) (then keys and counts are complete). Branch-free per
    value: measured 3.3 -> 1.2 ms on a 131,072 x 16 block with 10% missing."""
    n, d = X.shape
    for i in range(n):
        count = 0
        infinite = False
        for w in range(keys.shape[1]):
            key = np.uint64(0)
            for j in range(64 * w, min(d, 64 * w + 64)):
                x = X[i, j]
                missing = x != x
                key |= np.uint64(missing) << np.uint64(j - 64 * w)
                count += missing
                infinite |= abs(x) == np.inf
            keys[i, w] = key
        n_missing[i] = count
        if infinite:
            for j in range(d):
                if abs(X[i, j]) == np.inf:
                    return i, j
    return -1, -1


@jit
def first_infinite(X):
    """(row, col) of the first +inf or -inf in X, NaN ignored, or (-1, -1).

    As ``nonfinite.first_nonfinite``: a count per chunk of 4,096 values vectorises, and
    only a chunk that holds an infinity is scanned value by value.
    """
    n, d = X.shape
    flat = X.ravel()
    for start in range(0, n * d, _CHUNK):
        stop = min(start + _CHUNK, n * d)
        count = 0
        for i in range(start, stop):
            count += 1 if abs(flat[i]) == np.inf else 0
        if count == 0:
            continue
        for i in range(start, stop):
            if abs(flat[i]) == np.inf:
                return i // d, i % d
    return -1, -1


@jit
def observed_sums(X, sample_weight, sums, weights, counts):
    """Per column j: sums[j] += sum of w_i x_ij over the rows where x_ij is observed,
    weights[j] += sum of those w_i (float64) and counts[j] += their number; returns the
    first infinity as (row, col), or (-1, -1)."""
    n, d = X.shape
    for i in range(n):
        w = sample_weight[i]
        for j in range(d):
            x = X[i, j]
            if x != x:
                continue
            if not np.isfinite(x):
                return i, j
            sums[j] += w * x
            weights[j] += w
            counts[j] += 1
    return -1, -1


@jit
def fill_missing(X, values):
    """X with each NaN of column j replaced by values[j] (a copy in X's dtype)."""
    out = X.copy()
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            if out[i, j] != out[i, j]:
                out[i, j] = values[j]
    return out
