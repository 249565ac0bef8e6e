"""Layer 2: Numba kernels, pure functions on NumPy arrays (numpy and numba only)."""

from ._assign import min_sq_distance, nearest_centre, random_resp, uniform_keyed
from ._estep import (
    LOG_2PI,
    first_nonfinite,
    log_normalise,
    weighted_log_prob_diag,
    weighted_log_prob_full,
    weighted_log_prob_spherical,
    weighted_log_prob_tied,
    weighted_sum,
)
from ._fused import fused_block
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
    "log_normalise",
    "min_sq_distance",
    "nearest_centre",
    "random_resp",
    "scatter_diag",
    "scatter_full",
    "scatter_spherical",
    "scatter_tied",
    "uniform_keyed",
    "weighted_log_prob_diag",
    "weighted_log_prob_full",
    "weighted_log_prob_spherical",
    "weighted_log_prob_tied",
    "weighted_means",
    "weighted_sum",
]
