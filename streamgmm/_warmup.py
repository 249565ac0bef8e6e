"""Compile (or load from the cache) every kernel for float32 and float64 blocks.

``python -m streamgmm._warmup`` runs it; CI calls it once so that tests do not
each pay the compilation.
"""

from __future__ import annotations

import time

import numpy as np

from ._data.blocks import (
    ModelAssigner,
    NearestCentreAssigner,
    block_impute,
    block_log_resp,
    block_statistics,
    block_statistics_from_resp,
)
from ._model import COVARIANCE_TYPES, m_step


def warm_up() -> float:
    """Run each kernel once on a tiny block per dtype (with and without missing values);
    returns the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.RandomState(0)
    for dtype in (np.float64, np.float32):
        X = rng.randn(8, 2).astype(dtype)
        for name in COVARIANCE_TYPES:
            resp = np.full((X.shape[0], 2), 0.5)
            stats = block_statistics_from_resp(X, None, 0, resp, name)
            assigner = ModelAssigner(m_step(stats, 1e-6), name)
            block_statistics(X, None, 0, name, assigner)
            block_statistics(X, None, 0, name, NearestCentreAssigner(X[:2].astype(float)))
            block_log_resp(X, assigner)
            holes = X.copy()  # missing values: the incomplete-row kernels
            holes[[0, 3, 5], [1, 0, 1]] = np.nan
            incomplete = ModelAssigner(m_step(stats, 1e-6), name, "em")
            block_statistics(holes, None, 0, name, incomplete)
            block_log_resp(holes, incomplete)
            block_impute(holes, incomplete)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"streamgmm kernels ready in {warm_up():.1f} s")
