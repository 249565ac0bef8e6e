"""Layer 2: Numba kernels, pure functions on NumPy arrays (numpy and numba only)."""

from ._assign import (
    hard_statistics,
    nearest_centre,
    random_resp,
    uniform_keyed,
)
from ._estep import LOG_2PI, first_nonfinite
from ._fused import fused_block
from ._logresp import fused_infer
from ._moments import (
    scatter_diag,
    scatter_full,
    scatter_spherical,
    scatter_tied,
    weighted_means,
)
from ._tile import EXP_FLOOR, exp_nonpositive

__all__ = [
    "EXP_FLOOR",
    "LOG_2PI",
    "exp_nonpositive",
    "first_nonfinite",
    "fused_block",
    "fused_infer",
    "hard_statistics",
    "nearest_centre",
    "random_resp",
    "scatter_diag",
    "scatter_full",
    "scatter_spherical",
    "scatter_tied",
    "uniform_keyed",
    "weighted_means",
]
