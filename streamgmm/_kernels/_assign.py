"""Responsibilities that do not come from a Gaussian model: initialisation kernels.

``nearest_centre`` gives the one-hot responsibilities of a k-means (Lloyd) step;
``random_resp`` gives scikit-learn's "random" initialisation (uniform, then
normalised per row) with numbers keyed by the global row index, so that the same
seed gives the same responsibilities whatever the chunking
(test_init.py::test_random_init_chunking_invariant).
"""

from __future__ import annotations

import numpy as np

from .._config import jit


@jit
def nearest_centre(X, centres, resp):
    """One-hot resp of the nearest centre (squared Euclidean); returns sum of min distances."""
    n, d = X.shape
    n_centres = centres.shape[0]
    resp[:] = 0.0
    inertia = 0.0
    for i in range(n):
        best = np.inf
        best_k = 0
        for k in range(n_centres):
            dist = 0.0
            for j in range(d):
                t = X[i, j] - centres[k, j]
                dist += t * t
            if dist < best:
                best = dist
                best_k = k
        resp[i, best_k] = 1.0
        inertia += best
    return inertia


@jit
def min_sq_distance(X, centres, out):
    """out[i] = min_k ||x_i - centres[k]||^2 (for D^2 seeding)."""
    n, d = X.shape
    for i in range(n):
        best = np.inf
        for k in range(centres.shape[0]):
            dist = 0.0
            for j in range(d):
                t = X[i, j] - centres[k, j]
                dist += t * t
            if dist < best:
                best = dist
        out[i] = best


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
