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
    rows = max(1, _CHUNK // max(d, 1))
    for start in range(0, n, rows):  # rows, not X.ravel(): a reshape compiles its error
        stop = min(start + rows, n)  # path (str and repr of shapes, ~1 s cold)
        acc = X[start, 0] - X[start, 0]
        for i in range(start, stop):
            for j in range(d):
                acc += X[i, j] - X[i, j]
        if acc == 0.0:
            continue
        for i in range(start, stop):
            for j in range(d):
                if not np.isfinite(X[i, j]):
                    return i, j
    return -1, -1
