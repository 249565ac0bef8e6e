"""Numba kernels: pure functions on NumPy arrays (numpy and numba only).

Each module is one piece of a pass over a block: ``tile`` (a tile of rows, the vector
exp), ``densities`` (log-densities and one tile's E-step), ``tile_moments`` and
``fused``/``fused_diag`` (the fused E-step and moments of a block), ``infer``
(inference outputs), ``moments`` (statistics of given responsibilities), ``kmeans``
(Lloyd steps, k-means|| rounds), ``keyed_random`` (chunking-free random numbers),
``nonfinite`` (the first NaN/inf), and for missing values ``missing`` (NaN patterns),
``incomplete``/``incomplete_fused`` (full and tied) and ``incomplete_diag``. ``jit`` holds
the one compilation policy. ``numpy_engine`` gives the fused, inference and k-means
kernels' results in NumPy, for passes that run before those are compiled.
"""

from . import numpy_engine
from .densities import LOG_2PI
from .fused import fused_block, fused_block_call
from .incomplete_diag import incomplete_diag_block, incomplete_diag_impute, incomplete_diag_infer
from .incomplete_fused import incomplete_block, incomplete_impute, incomplete_infer
from .infer import fused_infer
from .kmeans import exponential_race, hard_statistics, nearest_centre, oversample
from .missing import fill_missing, first_infinite, nan_patterns, observed_sums
from .moments import scatter_diag, scatter_full, scatter_spherical, scatter_tied, weighted_means
from .nonfinite import first_nonfinite
from .tile import EXP_FLOOR, TILE, exp_nonpositive

__all__ = [
    "EXP_FLOOR",
    "LOG_2PI",
    "TILE",
    "exp_nonpositive",
    "exponential_race",
    "fill_missing",
    "first_infinite",
    "first_nonfinite",
    "fused_block",
    "fused_block_call",
    "fused_infer",
    "hard_statistics",
    "incomplete_block",
    "incomplete_diag_block",
    "incomplete_diag_impute",
    "incomplete_diag_infer",
    "incomplete_impute",
    "incomplete_infer",
    "nan_patterns",
    "nearest_centre",
    "numpy_engine",
    "observed_sums",
    "oversample",
    "scatter_diag",
    "scatter_full",
    "scatter_spherical",
    "scatter_tied",
    "weighted_means",
]
