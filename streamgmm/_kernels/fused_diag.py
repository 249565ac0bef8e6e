"""Moments of diagonal and spherical models in one pass over each tile, digits guarded.

The exact per-tile moments (``tile_moments.py``) take two passes over a (tile,
component): its weighted mean, then the scatter about it. For a diagonal model those
passes are most of the moment work, so here each (tile, component) is summed once about
a centre c, the block's running mean of that component (mu before the first tile):

    n_t = sum r,   s1 = sum r (x - c),   s2 = sum r (x - c)^2,   m2_t = s2 - s1^2 / n_t,

and merged into the running moments with the pairwise (Chan) update. Subtracting
s1^2 / n_t cancels digits when the tile's mean lies far from c; the rounding error of
m2_t is a few eps * s2. So a tile is taken only when one of these holds per feature:

* s2 <= LOSS * m2_t: the tile's own moment keeps all but log2(LOSS) bits;
* spent + s2 <= LOSS * M2: the rounding error of this tile and of every tile already
  taken this way (``spent``) stays below LOSS * eps times M2, the block's running second
  moment, which only grows (this takes the tails of a component far from the rows of a
  file sorted by cluster, whose tiny moments lose digits that M2 never sees).

Otherwise that (tile, component) is redone with the exact two passes, its
responsibilities still in cache. So the block's second moments stay within a small
multiple of LOSS * eps (1.4e-14) of exact, relative, whatever the data; the means,
c + s1 / n_t, cancel nothing and are as exact as the two-pass ones. Measured with
benchmarks/bench_blocks.py on W4 (one thread, 131,072 x 16 rows, K = 16): 20.9 -> 18.8
ms per block near the fit and 21.5 -> 19.6 ms from bench_em.py's start, no (tile,
component) pair redone in random row order; with rows sorted by cluster 7 and 150 of
the 8,192 were redone.
"""

from __future__ import annotations

import numpy as np

from .densities import estep_tile, estep_workspace
from .jit import jit
from .tile import TILE
from .tile_moments import scatter_diag, tile_mean

#: Largest factor by which cancellation may grow the rounding error of a tile's moments.
LOSS = 64.0


@jit
def _sums_about(Xt, lp, k, centre, s1, s2):
    """Returns n_t = sum_t r; s1[k, j] = sum_t r (x_tj - c_j), s2[k, j] likewise squared,
    with r = lp[k] and c = centre[k]."""
    n_t = 0.0
    for t in range(TILE):
        n_t += lp[k, t]
    for j in range(Xt.shape[0]):
        c = centre[k, j]
        a1 = 0.0
        a2 = 0.0
        for t in range(TILE):
            x = Xt[j, t] - c
            w = lp[k, t] * x
            a1 += w
            a2 += w * x
        s1[k, j] = a1
        s2[k, j] = a2
    return n_t


@jit
def _chan_step(k, j, f, g, mean_tj, v, means, run_mean, run_m2, centre):
    """Feature j of the Chan update of component k; its centre follows the running mean."""
    delta = mean_tj - run_mean[k, j]
    run_m2[k, j] += v + f * delta * delta
    run_mean[k, j] += delta * g
    centre[k, j] = means[k, j] + run_mean[k, j]


@jit
def _merge_sums(k, n_t, s1, s2, means, centre, nk, run_mean, run_m2, spent):
    """Merge a tile's sums about the centre into component k's running moments; False,
    merging nothing, when the guard (module docstring) rejects them."""
    d = means.shape[1]
    inv = 1.0 / n_t
    rejected = 0
    for j in range(d):
        m2 = s2[k, j] - s1[k, j] * (s1[k, j] * inv)
        rejected += not (s2[k, j] <= LOSS * m2 or spent[k, j] + s2[k, j] <= LOSS * run_m2[k, j])
    if rejected:
        return False
    total = nk[k] + n_t
    f, g = nk[k] * n_t / total, n_t / total
    for j in range(d):
        m = s1[k, j] * inv
        m2 = s2[k, j] - s1[k, j] * m
        m2 = m2 if m2 > 0.0 else 0.0
        spent[k, j] += 0.0 if s2[k, j] <= LOSS * m2 else s2[k, j]
        mean_tj = (centre[k, j] - means[k, j]) + m
        _chan_step(k, j, f, g, mean_tj, m2, means, run_mean, run_m2, centre)
    nk[k] = total
    return True


@jit
def _merge_exact(k, n_t, mean_t, S, means, centre, nk, run_mean, run_m2):
    """Merge a tile's exact moments (tile_mean, scatter_diag) into component k's."""
    total = nk[k] + n_t
    f, g = nk[k] * n_t / total, n_t / total
    for j in range(means.shape[1]):
        _chan_step(k, j, f, g, mean_t[j], S[j, j], means, run_mean, run_m2, centre)
    nk[k] = total


@jit
def diag_block(X, sample_weight, means, prec, prec64, far_limit, log_const, nk, mean_out, m2_out):
    """``fused_block`` for diagonal precisions (K, 1, d) with second moments; writes the
    diagonal of m2_out (zeros elsewhere). Returns (log_lik, bad row or -1, the number of
    (tile, component) pairs the guard sent to the exact two passes)."""
    n, d = X.shape
    n_components = means.shape[0]
    ws = estep_workspace(X, prec, n_components, far_limit)
    Xt, lp = ws.Xt, ws.lp
    s1, s2 = np.empty((n_components, d)), np.empty((n_components, d))
    spent, run_m2 = np.zeros((n_components, d)), np.zeros((n_components, d))
    run_mean, centre = np.zeros((n_components, d)), means.copy()
    mean_t, S = np.empty(d), np.zeros((d, d))
    nk[:] = 0.0
    log_lik = 0.0
    redone = 0
    for i0 in range(0, n, TILE):
        ll, bad = estep_tile(
            X, sample_weight, i0, means, prec, prec64, far_limit, log_const, True, ws
        )
        if bad >= 0:
            return 0.0, i0 + bad, redone
        log_lik += ll
        for k in range(n_components):
            n_t = _sums_about(Xt, lp, k, centre, s1, s2)
            if n_t == 0.0:  # every responsibility underflowed: nothing to add
                continue
            if not _merge_sums(k, n_t, s1, s2, means, centre, nk, run_mean, run_m2, spent):
                redone += 1
                tile_mean(Xt, lp[k], means[k], mean_t)
                scatter_diag(Xt, lp[k], means[k], mean_t, S)
                _merge_exact(k, n_t, mean_t, S, means, centre, nk, run_mean, run_m2)
    m2_out[:] = 0.0
    for k in range(n_components):
        for j in range(d):
            mean_out[k, j] = means[k, j] + run_mean[k, j] if nk[k] > 0.0 else 0.0
            m2_out[k, j, j] = run_m2[k, j]
    return log_lik, -1, redone
