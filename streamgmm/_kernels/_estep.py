"""Row checks shared by every pass: the first non-finite value, and log(2 pi).

The E-step itself is tiled: ``_fused.py`` (fitting) and ``_logresp.py`` (inference).
"""

from __future__ import annotations

import math

import numpy as np

from .._config import jit

LOG_2PI = math.log(2.0 * math.pi)


@jit
def first_nonfinite(X):
    """Return (row, col) of the first NaN/inf in X, or (-1, -1)."""
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            if not np.isfinite(X[i, j]):
                return i, j
    return -1, -1
