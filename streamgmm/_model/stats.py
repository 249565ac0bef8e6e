"""Sufficient statistics as a value type with an exact pairwise merge.

A :class:`SuffStats` holds, per component, the weighted count ``nk``, the exact
weighted mean ``means`` and the centred second moments ``m2`` (layout per
covariance type, see ``covariance.py``), plus the pass-wide log-likelihood sum,
weight sum, row count and the first problem row. ``merge`` is the pairwise
(Chan et al.) update, associative and commutative up to rounding, with the zero
value as an exact identity (tests/model/test_stats.py::test_merge_laws).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import covariance

#: problem codes carried by statistics (the first problem row of the pass wins)
OK, NONFINITE_INPUT, NONFINITE_DENSITY = 0, 1, 2


@dataclass(frozen=True)
class SuffStats:
    covariance_type: str
    nk: np.ndarray  # (K,) sum of w_i r_ik
    means: np.ndarray  # (K, d) exact weighted means (0 where nk == 0)
    m2: np.ndarray | None  # centred second moments, or None when not requested
    log_lik: float  # sum_i w_i log p(x_i); for k-means passes, minus the inertia
    weight_sum: float  # sum_i w_i
    n_rows: int
    bad_row: int = -1  # global row of the first problem, or -1
    bad_col: int = -1
    bad_kind: int = OK

    @classmethod
    def zero(cls, covariance_type, n_components, n_features, with_m2=True):
        cov = covariance.get(covariance_type)
        m2 = np.zeros(cov.m2_shape(n_components, n_features)) if with_m2 else None
        return cls(
            covariance_type,
            np.zeros(n_components),
            np.zeros((n_components, n_features)),
            m2,
            0.0,
            0.0,
            0,
        )

    def merge(self, other: SuffStats) -> SuffStats:
        na, nb = self.nk, other.nk
        n = na + nb
        safe_n = np.where(n > 0, n, 1.0)
        delta = other.means - self.means
        # Exact identity when one side is empty: no rounding through delta * nb / n.
        means = np.where(
            (na == 0)[:, None],
            other.means,
            np.where((nb == 0)[:, None], self.means, self.means + delta * (nb / safe_n)[:, None]),
        )
        m2 = None
        if self.m2 is not None and other.m2 is not None:
            c = np.where((na > 0) & (nb > 0), na * nb / safe_n, 0.0)
            corr = covariance.get(self.covariance_type).chan_correction(c, delta)
            m2 = self.m2 + other.m2 + corr
        first = self if _earlier(self.bad_row, other.bad_row) else other
        return SuffStats(
            self.covariance_type,
            n,
            means,
            m2,
            self.log_lik + other.log_lik,
            self.weight_sum + other.weight_sum,
            self.n_rows + other.n_rows,
            first.bad_row,
            first.bad_col,
            first.bad_kind,
        )

    def with_problem(self, row: int, col: int, kind: int) -> SuffStats:
        return replace(self, bad_row=row, bad_col=col, bad_kind=kind)


def _earlier(a: int, b: int) -> bool:
    """True when problem row a comes first (-1 means no problem)."""
    if a < 0:
        return False
    return b < 0 or a <= b


def merge_all(parts) -> SuffStats:
    """Merge a non-empty sequence of statistics, left to right (a tree node's task)."""
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out
