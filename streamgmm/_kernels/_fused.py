"""Fused E-step and moments of one block, one tile of rows at a time (issue 4).

For each tile (``_tile.TILE`` rows, transposed so rows are the SIMD dimension) the kernel
computes the log-densities of every component, the weighted responsibilities and their
moments before moving on, so a block's work stays in cache and no (n, K) array exists.
Distances are taken on x - mu, scikit-learn's parametrisation by the upper-triangular
Cholesky factor U of the precision but not its x U - mu U, so that a large data offset
does not cancel digits (test_exactness.py::test_offset_data). One kernel serves every
covariance type: ``diagonal`` selects diagonal precisions, given
as (K, 1, d); tied and spherical are full and diag with shared or repeated precisions,
their statistics summed by the caller (``_block.py``).

Second moments stay centred exactly as before the fusion: each (tile, component) is
centred on the tile's own weighted mean (one reduction over the tile, in cache) and merged
into the block's running moments with the pairwise (Chan) update, so neither a data offset
nor means far from the data cost digits (test_exactness.py::test_offset_data,
test_kernels.py::test_fused_block_offset_data). Centring every tile on the current
mean mu instead and subtracting ``s s^T / n`` saves that reduction but cancels digits
where a tile holds few rows of a component; with a per-tile measure of the loss and an
exact fallback it was measured 2-5% faster per block (256-row tiles), not worth a weaker
guarantee.

A float32 block is read as float32; the E-step's Mahalanobis distances run in the dtype of
the precisions the caller passes (float32 ones only for well-conditioned full and tied
models, see ``_block.py``), the differences x - mu, the exp and every sum in float64.
"""

from __future__ import annotations

import numpy as np

from .._config import jit
from ._tile import TILE, load_tile, responsibilities


@jit
def _sq_mahalanobis_full(Xt, mean, U, D, Y, sq):
    """sq[t] = ||(x_t - mean) @ U||^2 with U upper triangular, in the dtype of D.

    Columns j and j + 1 of U in one pass over rows 0..j of D, four rows at a time: each
    load of D feeds eight FMAs and Y is loaded and stored once per four (measured 1.3x
    the one-column loop at d = 16, 1.5x at d = 64).
    """
    d = Xt.shape[0]
    for j in range(d):
        mu = mean[j]
        for t in range(TILE):
            D[j, t] = Xt[j, t] - mu  # in float64, then rounded to D's dtype
    sq[:] = 0.0
    zero = sq[0]  # a zero of D's dtype: a float64 literal would promote float32 sums
    Y0, Y1 = Y[:TILE], Y[TILE:]
    for j in range(0, d, 2):
        two = j + 1 < d
        head = (j + 1) % 4
        Y0[:] = 0.0
        Y1[:] = 0.0
        for m in range(head):
            a, b = U[m, j], U[m, j + 1] if two else zero
            for t in range(TILE):
                Y0[t] += D[m, t] * a
                Y1[t] += D[m, t] * b
        for m in range(head, j + 1, 4):
            a0, a1, a2, a3 = U[m, j], U[m + 1, j], U[m + 2, j], U[m + 3, j]
            b0 = b1 = b2 = b3 = zero
            if two:
                b0, b1, b2, b3 = U[m, j + 1], U[m + 1, j + 1], U[m + 2, j + 1], U[m + 3, j + 1]
            for t in range(TILE):
                d0, d1, d2, d3 = D[m, t], D[m + 1, t], D[m + 2, t], D[m + 3, t]
                Y0[t] += d0 * a0 + d1 * a1 + d2 * a2 + d3 * a3
                Y1[t] += d0 * b0 + d1 * b1 + d2 * b2 + d3 * b3
        b = U[j + 1, j + 1] if two else zero
        for t in range(TILE):
            y1 = Y1[t] + (D[j + 1, t] * b if two else zero)
            sq[t] += Y0[t] * Y0[t] + y1 * y1


@jit
def _sq_mahalanobis_diag(Xt, mean, p, sq):
    """sq[t] = sum_j ((x_tj - mean_j) p_j)^2, in the dtype of sq."""
    sq[:] = 0.0
    for j in range(Xt.shape[0]):
        mu, pj = mean[j], p[j]
        for t in range(TILE):
            y = (Xt[j, t] - mu) * pj  # the difference in float64, then sq's dtype
            sq[t] += y * y


@jit
def _log_densities(Xt, means, prec, log_const, diagonal, D, Y, sq, lp, nearest):
    """lp[k, t] = log pi_k + log N(x_t | k) for every component.

    With a ``nearest`` (TILE,) array, returns the largest over the tile's rows of the
    smallest squared distance: how far its worst outlier lies from every component. With
    an empty one, returns 0 and skips that bookkeeping (6-9% of a block at d = 2 and 16).
    """
    track = nearest.shape[0] > 0
    if track:
        nearest[:] = np.inf
    for k in range(means.shape[0]):
        if diagonal:
            _sq_mahalanobis_diag(Xt, means[k], prec[k, 0], sq)
        else:
            _sq_mahalanobis_full(Xt, means[k], prec[k], D, Y, sq)
        for t in range(TILE):
            lp[k, t] = log_const[k] - 0.5 * sq[t]
        if track:
            for t in range(TILE):
                nearest[t] = sq[t] if sq[t] < nearest[t] else nearest[t]
    far = 0.0
    if track:
        for t in range(TILE):
            far = nearest[t] if nearest[t] > far else far
    return far


@jit
def _tile_mean(Xt, r, mu, mean_t):
    """mean_t = weighted mean of the tile's rows minus mu; returns sum_t r."""
    n_t = 0.0
    for t in range(TILE):
        n_t += r[t]
    if n_t == 0.0:
        return n_t
    for j in range(Xt.shape[0]):
        c = mu[j]
        acc = 0.0
        for t in range(TILE):
            acc += r[t] * (Xt[j, t] - c)
        mean_t[j] = acc / n_t
    return n_t


@jit
def _centred_diffs(Xt, r, mu, mean_t, D, W):
    """D = x - (mu + mean_t) in float64, W = r D.

    The centre is rounded once, to the ulp of mu; moments about a centre that far from
    the tile mean differ by a term of second order in it (n ulp^2).
    """
    for j in range(Xt.shape[0]):
        c = mu[j] + mean_t[j]
        for t in range(TILE):
            x = Xt[j, t] - c
            D[j, t] = x
            W[j, t] = r[t] * x


@jit
def _scatter_diag(Xt, r, mu, mean_t, S):
    """S[j, j] = sum_t r_t (x_tj - (mu_j + mean_t_j))^2: _centred_diffs + _scatter in one pass."""
    for j in range(Xt.shape[0]):
        c = mu[j] + mean_t[j]
        acc = 0.0
        for t in range(TILE):
            x = Xt[j, t] - c
            acc += r[t] * x * x
        S[j, j] = acc


@jit
def _scatter(D, W, S):
    """S[a, b] = sum_t W[a, t] D[b, t] for a <= b, four columns b per pass over W[a]."""
    d = D.shape[0]
    for a in range(d):
        b = a
        while b + 3 < d:
            s0 = s1 = s2 = s3 = 0.0
            for t in range(TILE):
                wa = W[a, t]
                s0 += wa * D[b, t]
                s1 += wa * D[b + 1, t]
                s2 += wa * D[b + 2, t]
                s3 += wa * D[b + 3, t]
            S[a, b], S[a, b + 1], S[a, b + 2], S[a, b + 3] = s0, s1, s2, s3
            b += 4
        for c in range(b, d):
            acc = 0.0
            for t in range(TILE):
                acc += W[a, t] * D[c, t]
            S[a, c] = acc


@jit
def _chan_add(n, mean, m2, n_t, mean_t, m2_t, with_m2, diagonal, delta):
    """Merge a tile's (n_t, mean_t, m2_t) into the running (n, mean, m2) in place; returns n.

    ``delta``: (d,) scratch. Full rows of m2 are updated (its lower triangle is rebuilt by
    _finish): a constant trip count vectorises, measured 1.8x the triangular loop.
    """
    d = mean.shape[0]
    total = n + n_t
    for a in range(d):
        delta[a] = mean_t[a] - mean[a]
    if with_m2 and diagonal:
        f = n * n_t / total
        for a in range(d):
            m2[a, a] += m2_t[a, a] + f * delta[a] * delta[a]
    elif with_m2:
        f = n * n_t / total
        for a in range(d):
            fa = f * delta[a]
            for b in range(d):
                m2[a, b] += m2_t[a, b] + fa * delta[b]
    g = n_t / total
    for a in range(d):
        mean[a] += delta[a] * g
    return total


@jit
def _finish(means, nk, mean_out, m2_out):
    """Running means about mu -> absolute (0 where nk is 0); mirror the upper triangles."""
    d = means.shape[1]
    for k in range(means.shape[0]):
        for a in range(d):
            mean_out[k, a] = means[k, a] + mean_out[k, a] if nk[k] > 0.0 else 0.0
            for b in range(a + 1, d):
                m2_out[k, b, a] = m2_out[k, a, b]


@jit
def fused_block(
    X, sample_weight, means, prec, prec64, far_limit, log_const, diagonal, with_m2, nk, mean_out,
    m2_out,
):  # fmt: skip
    """Weighted log-likelihood and statistics of a block under a Gaussian mixture.

    X (n, d) float32/float64; ``prec`` (K, d, d) upper-triangular precision Cholesky factors,
    or (K, 1, d) diagonal ones when ``diagonal``; the E-step runs in prec's dtype, except in
    tiles with a row whose smallest squared distance exceeds ``far_limit``: those are redone
    with ``prec64``, the float64 factors (a float32 distance of 1e6 is off by ~0.1, enough
    to move an outlier's responsibilities by percents).
    ``log_const[k]`` = log pi_k + log det U_k - d/2 log(2 pi). Writes nk (K,), the exact
    weighted means (K, d) (0 where nk is 0) and, when ``with_m2``, the centred second
    moments (K, d, d) (only the diagonal when ``diagonal``). Returns (sum_i w_i log p(x_i),
    first row whose log p is not finite or -1).
    """
    n, d = X.shape
    n_components = means.shape[0]
    Xt = np.empty((d, TILE), X.dtype)
    De, Y = np.empty((d, TILE), prec.dtype), np.empty(2 * TILE, prec.dtype)
    sq, nearest = np.empty(TILE, prec.dtype), np.empty(TILE if far_limit < np.inf else 0)
    De64, Y64, sq64 = np.empty((d, TILE)), np.empty(2 * TILE), np.empty(TILE)
    lp, buf = np.empty((n_components, TILE)), np.empty(n_components * TILE)
    wt, top, total = np.empty(TILE), np.empty(TILE), np.empty(TILE)
    D, W, S = np.empty((d, TILE)), np.empty((d, TILE)), np.zeros((d, d))
    mean_t, delta = np.empty(d), np.empty(d)
    nk[:] = 0.0
    mean_out[:] = 0.0  # the running means are kept about mu until _finish: digits of
    m2_out[:] = 0.0  # a large offset are not rounded away tile after tile
    log_lik = 0.0
    for i0 in range(0, n, TILE):
        tn = load_tile(X, sample_weight, i0, Xt, wt)
        far = _log_densities(Xt, means, prec, log_const, diagonal, De, Y, sq, lp, nearest)
        if far > far_limit:
            _log_densities(Xt, means, prec64, log_const, diagonal, De64, Y64, sq64, lp, nearest)
        ll, bad = responsibilities(lp, wt, tn, top, total, buf)
        if bad >= 0:
            return 0.0, i0 + bad
        log_lik += ll
        for k in range(n_components):
            n_t = _tile_mean(Xt, lp[k], means[k], mean_t)
            if n_t == 0.0:  # every responsibility underflowed: nothing to add
                continue
            if with_m2 and diagonal:
                _scatter_diag(Xt, lp[k], means[k], mean_t, S)
            elif with_m2:
                _centred_diffs(Xt, lp[k], means[k], mean_t, D, W)
                _scatter(D, W, S)
            nk[k] = _chan_add(
                nk[k], mean_out[k], m2_out[k], n_t, mean_t, S, with_m2, diagonal, delta
            )
    _finish(means, nk, mean_out, m2_out)
    return log_lik, -1
