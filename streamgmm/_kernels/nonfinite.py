"""The first non-finite value of a block, the check behind every "NaN at row ..." error."""

from __future__ import annotations

import numpy as np

from .jit import jit

#: Values summed per vectorised pass of ``first_nonfinite`` before it looks closer.
_CHUNK = 4096


@jit
def first_nonfinite(X):
    """Return (row, col) of the first NaN/inf in X, or (-1, -1).

    x - x is 0 for a finite x and NaN for NaN or inf, so a sum of them over a chunk of
    values is NaN exactly when the chunk holds one; that sum vectorises (``reassoc``, no
    ``nnan``: LLVM may not fold x - x to 0), and only a chunk that fails is scanned value
    by value. Measured on a 125,000 x 16 float64 block: 0.9-1.0 ms for the scalar scan
    with early exit, 0.6-0.7 ms this way (it reads 16 MB: memory-bound now).
    """
    n, d = X.shape
    flat = X.ravel()  # a view of a C-contiguous X (every caller's), else a copy in C order
    for start in range(0, n * d, _CHUNK):
        stop = min(start + _CHUNK, n * d)
        acc = flat[start] - flat[start]
        for i in range(start + 1, stop):
            acc += flat[i] - flat[i]
        if acc == 0.0:
            continue
        for i in range(start, stop):
            if not np.isfinite(flat[i]):
                return i // d, i % d
    return -1, -1
