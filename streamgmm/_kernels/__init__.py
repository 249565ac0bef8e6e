"""Layer 2: Numba kernels, pure functions on NumPy arrays (numpy and numba only)."""

from ._assign import min_sq_distance, nearest_centre, random_resp, uniform_keyed
from ._estep import (
    exp_inplace,
    first_nonfinite,
    log_normalise,
    weighted_log_prob_diag,
    weighted_log_prob_full,
    weighted_log_prob_spherical,
    weighted_log_prob_tied,
    weighted_sum,
)
from ._moments import (
    scatter_diag,
    scatter_full,
    scatter_spherical,
    scatter_tied,
    weighted_means,
)

__all__ = [
    "exp_inplace",
    "first_nonfinite",
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
