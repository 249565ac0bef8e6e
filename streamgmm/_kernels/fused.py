"""Fused E-step and moments of one block, one tile of rows at a time (issue 4).

For each tile (``tile.TILE`` rows, transposed so rows are the SIMD dimension) the kernel
computes the log-densities of every component (``densities.py``), the weighted
responsibilities and their moments before moving on, so a block's work stays in cache
and no (n, K) array exists. One kernel serves every covariance type: ``diagonal``
selects diagonal precisions, given as (K, 1, d), whose moments are summed in one pass
per tile under a guard on lost digits (``fused_diag.py``); full ones take the exact
per-tile moments (``tile_moments.py``). Tied and spherical are full and diag with
shared or repeated precisions, their statistics summed by the caller (``_data/blocks.py``).

For full models, summing each tile once about a running centre (as the diagonal path
does) saves only the tile-mean pass next to the O(d^2) scatter: measured 2-5% per block,
not worth a second code path.

A float32 block is read as float32; the E-step's Mahalanobis distances run in the dtype
of the precisions the caller passes (float32 ones only for well-conditioned full and
tied models, see ``_data/blocks.py``), the differences x - mu, the exp and every sum in float64.
"""

from __future__ import annotations

import numpy as np

from .densities import estep_tile, estep_workspace
from .fused_diag import diag_block
from .jit import jit
from .tile import TILE
from .tile_moments import centred_diffs, chan_add, finish, scatter, tile_mean


@jit
def tile_block(
    X, sample_weight, means, prec, prec64, far_limit, log_const, diagonal, with_m2, nk,
    mean_out, m2_out,
):  # fmt: skip
    """``fused_block`` with exact moments tile by tile: full models, and the means only."""
    n, d = X.shape
    ws = estep_workspace(X, prec, means.shape[0], far_limit)
    Xt, lp = ws.Xt, ws.lp
    D, W, S = np.empty((d, TILE)), np.empty((d, TILE)), np.zeros((d, d))
    mean_t, delta = np.empty(d), np.empty(d)
    nk[:] = 0.0
    mean_out[:] = 0.0  # the running means are kept about mu until finish: digits of
    m2_out[:] = 0.0  # a large offset are not rounded away tile after tile
    log_lik = 0.0
    for i0 in range(0, n, TILE):
        ll, bad = estep_tile(
            X, sample_weight, i0, means, prec, prec64, far_limit, log_const, diagonal, ws
        )
        if bad >= 0:
            return 0.0, i0 + bad
        log_lik += ll
        for k in range(means.shape[0]):
            n_t = tile_mean(Xt, lp[k], means[k], mean_t)
            if n_t == 0.0:  # every responsibility underflowed: nothing to add
                continue
            if with_m2:  # only full models reach here with m2
                centred_diffs(Xt, lp[k], means[k], mean_t, D, W)
                scatter(D, W, S)
            nk[k] = chan_add(nk[k], mean_out[k], m2_out[k], n_t, mean_t, S, with_m2, delta)
    finish(means, nk, mean_out, m2_out)
    return log_lik, -1


def fused_block(
    X, sample_weight, means, prec, prec64, far_limit, log_const, diagonal, with_m2, nk, mean_out,
    m2_out,
):  # fmt: skip
    """Weighted log-likelihood and statistics of a block under a Gaussian mixture.

    X (n, d) float32/float64; ``prec`` (K, d, d) upper-triangular precision Cholesky factors,
    or (K, 1, d) diagonal ones when ``diagonal``; the E-step runs in prec's dtype, except in
    tiles with a row whose smallest squared distance exceeds ``far_limit``: those are redone
    with ``prec64``, the float64 factors (``densities.estep_tile``).
    ``log_const[k]`` = log pi_k + log det U_k - d/2 log(2 pi). Writes nk (K,), the exact
    weighted means (K, d) (0 where nk is 0) and, when ``with_m2``, the centred second
    moments (K, d, d) (only the diagonal when ``diagonal``). Returns (sum_i w_i log p(x_i),
    first row whose log p is not finite or -1).
    """
    kernel, args = fused_block_call(
        X, sample_weight, means, prec, prec64, far_limit, log_const, diagonal, with_m2, nk,
        mean_out, m2_out,
    )  # fmt: skip
    log_lik, bad, *_ = kernel(*args)
    return log_lik, bad


def fused_block_call(
    X, sample_weight, means, prec, prec64, far_limit, log_const, diagonal, with_m2, nk, mean_out,
    m2_out,
):  # fmt: skip
    """The compiled kernel that ``fused_block`` runs for these arguments, and its arguments.

    The kernel is chosen here, in Python, so that a fit compiles only the one it runs:
    with both in one Numba function a full model's first call compiled for 13.5 s; apart,
    8.0 s for ``tile_block`` and 3.9 s more for ``diag_block`` where a fit needs it.
    """
    args = (X, sample_weight, means, prec, prec64, far_limit, log_const)
    if diagonal and with_m2:
        return diag_block, (*args, nk, mean_out, m2_out)
    return tile_block, (*args, diagonal, with_m2, nk, mean_out, m2_out)
