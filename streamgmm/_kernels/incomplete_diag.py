"""A block's incomplete rows under diag and spherical models: statistics, inference,
imputation.

With a diagonal precision the coordinates are independent given the component: the
conditional mean of a missing entry is the component's mean, its conditional variance
the component's variance, and the observed marginal leaves the missing coordinates out of
the distance and of the normalising constant. So no grouping by pattern is needed: each
entry is tested for NaN where the fused kernel reads it (a select, which vectorises),
the rows in any order. The moments are the exact two passes per (tile, component) of
``tile_moments.py`` on the filled differences (0 where missing), merged with the Chan
update; the conditional variances are added at the end of the block as (sum of w r over
the rows missing coordinate j) / p_j^2. Precisions come as (K, 1, d), as for the fused
kernel.
"""

from __future__ import annotations

import math

import numpy as np

from .densities import LOG_2PI
from .incomplete import load_rows
from .infer import tile_outputs
from .jit import jit
from .tile import TILE, responsibilities
from .tile_moments import scatter_diag, tile_mean


@jit
def _log_densities(Xt, means, prec, log_const, lp, top, sq, adj):
    """lp[k, t] = log pi_k + log N(x_t,o | k) from the observed coordinates; top[t] = max_k."""
    n_components, d = means.shape
    for k in range(n_components):
        sq[:] = 0.0
        adj[:] = 0.0
        for j in range(d):
            mu, p = means[k, j], prec[k, 0, j]
            c = 0.5 * LOG_2PI - math.log(p)  # what a missing coordinate takes off the constant
            for t in range(TILE):
                y = (Xt[j, t] - mu) * p
                miss = y != y
                sq[t] += 0.0 if miss else y * y
                adj[t] += c if miss else 0.0
        for t in range(TILE):
            v = log_const[k] + adj[t] - 0.5 * sq[t]
            lp[k, t] = v
            top[t] = v if k == 0 or v > top[t] else top[t]


@jit
def _filled_diffs(Xt, mean, r, D, missing_mass):
    """D = x - mean with 0 where missing (the conditional mean is the mean); returns
    missing_mass[j] += sum_t r_t over the rows missing coordinate j."""
    for j in range(Xt.shape[0]):
        mu = mean[j]
        acc = 0.0
        for t in range(TILE):
            x = Xt[j, t] - mu
            miss = x != x
            D[j, t] = 0.0 if miss else x
            acc += r[t] if miss else 0.0
        missing_mass[j] += acc


@jit
def _merge(k, n_t, mean_t, S, nk, run_mean, run_m2, with_m2):
    """The Chan update of component k's running (diagonal) moments by a tile's."""
    total = nk[k] + n_t
    f, g = nk[k] * n_t / total, n_t / total
    for j in range(mean_t.shape[0]):
        delta = mean_t[j] - run_mean[k, j]
        if with_m2:
            run_m2[k, j] += S[j, j] + f * delta * delta
        run_mean[k, j] += delta * g
    nk[k] = total


@jit
def incomplete_diag_block(
    X, rows, sample_weight, means, prec, log_const, with_m2, nk, mean_out, m2_out
):  # fmt: skip
    """``fused.fused_block`` for diagonal precisions (K, 1, d) and the rows X[rows] with
    missing values (NaN), in any order: nk, the means of the filled rows and the diagonal
    of their second moments plus the conditional variances (zeros elsewhere in m2_out).
    Returns (log_lik, first position in ``rows`` whose log p is not finite, or -1)."""
    n, d = rows.shape[0], X.shape[1]
    n_components = means.shape[0]
    Xt, wt = np.empty((d, TILE), X.dtype), np.empty(TILE)
    lp, buf = np.empty((n_components, TILE)), np.empty(n_components * TILE)
    top, total, sq, adj = np.empty(TILE), np.empty(TILE), np.empty(TILE), np.empty(TILE)
    D, S, zero, mean_t = np.empty((d, TILE)), np.zeros((d, d)), np.zeros(d), np.empty(d)
    run_mean, run_m2 = np.zeros((n_components, d)), np.zeros((n_components, d))
    missing_mass = np.zeros((n_components, d))
    nk[:] = 0.0
    log_lik = 0.0
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, sample_weight, i0, Xt, wt)
        _log_densities(Xt, means, prec, log_const, lp, top, sq, adj)
        ll, bad = responsibilities(lp, wt, tn, top, total, buf)
        if bad >= 0:
            return 0.0, i0 + bad
        log_lik += ll
        for k in range(n_components):
            _filled_diffs(Xt, means[k], lp[k], D, missing_mass[k])
            n_t = tile_mean(D, lp[k], zero, mean_t)
            if n_t == 0.0:  # every responsibility underflowed: nothing to add
                continue
            if with_m2:
                scatter_diag(D, lp[k], zero, mean_t, S)
            _merge(k, n_t, mean_t, S, nk, run_mean, run_m2, with_m2)
    m2_out[:] = 0.0
    for k in range(n_components):
        for j in range(d):
            mean_out[k, j] = means[k, j] + run_mean[k, j] if nk[k] > 0.0 else 0.0
            p = prec[k, 0, j]
            m2_out[k, j, j] = run_m2[k, j] + missing_mass[k, j] / (p * p)
    return log_lik, -1


@jit
def incomplete_diag_infer(X, rows, means, prec, log_const, log_prob, log_resp, resp, labels):
    """``infer.fused_infer`` for diagonal precisions (K, 1, d) and the rows X[rows] with
    missing values, from the observed coordinates of each row (outputs: one row per
    position in ``rows``)."""
    n, d = rows.shape[0], X.shape[1]
    n_components = means.shape[0]
    ones = np.ones(X.shape[0])
    Xt, wt = np.empty((d, TILE), X.dtype), np.empty(TILE)
    lp, top, total = np.empty((n_components, TILE)), np.empty(TILE), np.empty(TILE)
    sq, adj = np.empty(TILE), np.empty(TILE)
    shifted, buf = np.empty(n_components * TILE), np.empty(n_components * TILE)
    best, best_value = np.empty(TILE, np.int64), np.empty(TILE)
    bad = -1
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, ones, i0, Xt, wt)
        _log_densities(Xt, means, prec, log_const, lp, top, sq, adj)
        t = tile_outputs(
            i0, tn, lp, top, total, shifted, buf, best, best_value, log_prob, log_resp, resp,
            labels,
        )  # fmt: skip
        bad = t if bad < 0 else bad
    return bad


@jit
def incomplete_diag_impute(X, rows, means, prec, log_const, out):
    """Each missing entry of the rows out[rows] (out: a copy of X) set to sum_k p(k | x_o)
    mu_k,j. Returns the first position in ``rows`` whose log p is not finite, or -1
    (nothing written from there)."""
    n, d = rows.shape[0], X.shape[1]
    n_components = means.shape[0]
    ones = np.ones(X.shape[0])
    Xt, wt = np.empty((d, TILE), X.dtype), np.empty(TILE)
    lp, buf = np.empty((n_components, TILE)), np.empty(n_components * TILE)
    top, total, sq, adj = np.empty(TILE), np.empty(TILE), np.empty(TILE), np.empty(TILE)
    for i0 in range(0, n, TILE):
        tn = load_rows(X, rows, ones, i0, Xt, wt)
        _log_densities(Xt, means, prec, log_const, lp, top, sq, adj)
        _, bad = responsibilities(lp, wt, tn, top, total, buf)
        if bad >= 0:
            return i0 + bad
        for t in range(tn):
            for j in range(d):
                if Xt[j, t] != Xt[j, t]:
                    acc = 0.0
                    for k in range(n_components):
                        acc += lp[k, t] * means[k, j]
                    out[rows[i0 + t], j] = acc
    return -1
