"""Random numbers keyed by (seed, global row, column): the same draws whatever the chunking.

k-means|| (``kmeans.py``) draws its rows with them, so that which rows a round picks
does not depend on how the data are chunked (tests/fit/test_kmeans.py).
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
