"""A block's incomplete rows under full and tied models: statistics, inference, imputation.

Each runs the tiles of ``incomplete.py`` (rows grouped by pattern, exact conditionals per
run and component) and then does what the fused kernels do with a tile's log-densities:
the moments of ``fused.tile_block`` on the filled rows plus the conditional covariances,
the outputs of ``infer.fused_infer``, or the imputed values. Everything is accumulated in
float64, the moments tile by tile with the Chan update, about the current means.
"""

from __future__ import annotations

import numpy as np

from .incomplete import (
    add_conditional_cov,
    filled_diffs,
    find_runs,
    incomplete_log_densities,
    incomplete_workspace,
    load_rows,
)
from .infer import tile_outputs
from .jit import jit
from .tile import TILE, responsibilities
from .tile_moments import centred_diffs, chan_add, finish, scatter, tile_mean


@jit
def _tile_moments(ws, n_runs, means, with_m2, nk, mean_out, m2_out, zero, mean_t, S, delta):
    """Merge each component's moments of the filled rows of this tile (w r in ws.lp)."""
    for k in range(means.shape[0]):
        filled_diffs(ws, means[k], k, n_runs)
        n_t = tile_mean(ws.D, ws.lp[k], zero, mean_t)  # about mu: D is x_hat - mu
        if n_t == 0.0:  # every responsibility underflowed: nothing to add
            continue
        if with_m2:
            centred_diffs(ws.D, ws.lp[k], zero, mean_t, ws.D, ws.W)  # D in place, W = r D
            scatter(ws.D, ws.W, S)
        nk[k] = chan_add(nk[k], mean_out[k], m2_out[k], n_t, mean_t, S, with_m2, delta)


@jit
def incomplete_block(
    X, rows, sample_weight, means, prec, lam, log_const, shared, with_m2, nk, mean_out, m2_out
):  # fmt: skip
    """``fused.fused_block`` for the rows X[rows] with missing values (NaN), ``rows`` grouped
    by pattern; ``sample_weight`` is X's.

    ``prec`` (K, d, d) float64 precision Cholesky factors U, ``lam`` (K, d, d) the
    precisions U U^T, ``shared``: one precision for all (tied). Writes nk (K,), the
    weighted means of the filled rows (K, d) and, with ``with_m2``, their centred second
    moments plus the summed conditional covariances (K, d, d). Returns (sum_i w_i log
    p(x_i,o), first position in ``rows`` whose log p is not finite, or -1).
    """
    n, d = rows.shape[0], X.shape[1]
    n_components = means.shape[0]
    ws = incomplete_workspace(X, n_components)
    zero, mean_t, delta = np.zeros(d), np.empty(d), np.empty(d)
    S, cov_sum = np.zeros((d, d)), np.zeros((n_components, d, d))
    nk[:] = 0.0
    mean_out[:] = 0.0
    m2_out[:] = 0.0
    log_lik = 0.0
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, sample_weight, i0, ws.Xt, ws.wt)
        n_runs = find_runs(ws)
        bad = incomplete_log_densities(ws, n_runs, means, prec, lam, log_const)
        if bad >= 0:
            return 0.0, i0 + min(bad, tn - 1)
        ll, bad = responsibilities(ws.lp, ws.wt, tn, ws.top, ws.total, ws.buf)
        if bad >= 0:
            return 0.0, i0 + bad
        log_lik += ll
        _tile_moments(ws, n_runs, means, with_m2, nk, mean_out, m2_out, zero, mean_t, S, delta)
        if with_m2:
            add_conditional_cov(ws, n_runs, lam, shared, cov_sum)
    finish(means, nk, mean_out, m2_out)
    if with_m2:
        m2_out += cov_sum
    return log_lik, -1


@jit
def incomplete_infer(X, rows, means, prec, lam, log_const, log_prob, log_resp, resp, labels):
    """``infer.fused_infer`` for the rows X[rows] with missing values, grouped by pattern:
    each output (one row per position in ``rows``) from the observed coordinates of its
    row. Returns the first position whose log p is not finite (or whose Lam_mm is not
    positive definite), or -1."""
    n = rows.shape[0]
    n_components = means.shape[0]
    ws = incomplete_workspace(X, n_components)
    ones = np.ones(X.shape[0])
    shifted, buf = np.empty(n_components * TILE), np.empty(n_components * TILE)
    best, best_value = np.empty(TILE, np.int64), np.empty(TILE)
    bad = -1
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, ones, i0, ws.Xt, ws.wt)
        n_runs = find_runs(ws)
        t = incomplete_log_densities(ws, n_runs, means, prec, lam, log_const)
        if t >= 0:
            return i0 + min(t, tn - 1)
        t = tile_outputs(
            i0, tn, ws.lp, ws.top, ws.total, shifted, buf, best, best_value, log_prob,
            log_resp, resp, labels,
        )  # fmt: skip
        bad = t if bad < 0 else bad
    return bad


@jit
def incomplete_impute(X, rows, means, prec, lam, log_const, out):
    """Each missing entry of the rows out[rows] (out: a copy of X; ``rows`` grouped by
    pattern) set to its conditional expectation under the mixture, sum_k p(k | x_o)
    x_hat_k,m, accumulated in float64. Returns the first position in ``rows`` whose log p
    is not finite, or -1 (nothing written from there)."""
    n = rows.shape[0]
    n_components = means.shape[0]
    ws = incomplete_workspace(X, n_components)
    ones, acc = np.ones(X.shape[0]), np.empty(TILE)
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, ones, i0, ws.Xt, ws.wt)
        n_runs = find_runs(ws)
        t = incomplete_log_densities(ws, n_runs, means, prec, lam, log_const)
        if t >= 0:
            return i0 + min(t, tn - 1)
        _, t = responsibilities(ws.lp, ws.wt, tn, ws.top, ws.total, ws.buf)
        if t >= 0:
            return i0 + t
        for r in range(n_runs):
            lo, hi = ws.run_lo[r], ws.run_lo[r + 1]
            real = min(hi, tn) - lo
            for a in range(ws.run_q[r] if real > 0 else 0):
                j, s = ws.run_idx[r, a], ws.run_base[r] + a * (hi - lo)
                acc[:real] = 0.0
                for k in range(n_components):
                    mu, e, resp = means[k, j], ws.E[k], ws.lp[k]
                    for t in range(real):
                        acc[t] += resp[lo + t] * (mu + e[s + t])
                for t in range(real):
                    out[rows[i0 + lo + t], j] = acc[t]
    return -1
