"""Exact moments of one tile for one component, and the pairwise (Chan) merge.

Each (tile, component) is centred on the tile's own weighted mean (one reduction over the
tile, in cache) and merged into the block's running moments with the pairwise (Chan)
update, so neither a data offset nor means far from the data cost digits
(tests/estimator/test_exactness.py::test_offset_data,
tests/kernels/test_kernels.py::test_fused_block_offset_data).
The running means are kept about the current mean mu until ``finish``: the digits of a
large offset are not rounded away tile after tile.
"""

from __future__ import annotations

from .jit import jit
from .tile import TILE


@jit
def tile_mean(Xt, r, mu, mean_t):
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
def centred_diffs(Xt, r, mu, mean_t, D, W):
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
def scatter_diag(Xt, r, mu, mean_t, S):
    """S[j, j] = sum_t r_t (x_tj - (mu_j + mean_t_j))^2: centred_diffs + scatter in one pass."""
    for j in range(Xt.shape[0]):
        c = mu[j] + mean_t[j]
        acc = 0.0
        for t in range(TILE):
            x = Xt[j, t] - c
            acc += r[t] * x * x
        S[j, j] = acc


@jit
def scatter(D, W, S):
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
def chan_add(n, mean, m2, n_t, mean_t, m2_t, with_m2, delta):
    """Merge a tile's (n_t, mean_t, m2_t) into the running (n, mean, m2) in place; returns n.

    ``delta``: (d,) scratch. Full rows of m2 are updated (its lower triangle is rebuilt by
    finish): a constant trip count vectorises, measured 1.8x the triangular loop.
    """
    d = mean.shape[0]
    total = n + n_t
    for a in range(d):
        delta[a] = mean_t[a] - mean[a]
    if with_m2:
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
def finish(means, nk, mean_out, m2_out):
    """Running means about mu -> absolute (0 where nk is 0); mirror the upper triangles."""
    d = means.shape[1]
    for k in range(means.shape[0]):
        for a in range(d):
            mean_out[k, a] = means[k, a] + mean_out[k, a] if nk[k] > 0.0 else 0.0
            for b in range(a + 1, d):
                m2_out[k, b, a] = m2_out[k, a, b]
