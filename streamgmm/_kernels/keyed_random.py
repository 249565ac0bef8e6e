"""Random numbers keyed by (seed, global row, column): the same draws whatever the chunking.

``random_resp`` gives scikit-learn's "random" initialisation (uniform, then normalised
per row) with numbers keyed by the global row index, so that the same seed gives the
same responsibilities whatever the chunking
(tests/fit/test_init.py::test_random_init_chunking_invariant); k-means|| keys its
draws the same way (``kmeans.py``).
"""

from __future__ import annotations

import numpy as np

from .jit import jit


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
