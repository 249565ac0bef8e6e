"""Rows with missing values under full and tied models: the exact conditionals, tile by tile.

A block's incomplete rows come grouped by pattern (the set of missing coordinates; the
caller sorts them, ``_data/missing.py``), TILE at a time and transposed as in the fused
kernel, with NaN at the missing entries. Inside a tile, consecutive rows of one pattern
form a *run*. For a row with missing set m, observed set o, and a component with mean mu
and precision Lam = U U^T (U the upper-triangular precision Cholesky factor):

* the conditional mean solves Lam_mm (x_m - mu_m) = -Lam_mo (x_o - mu_o), with L L^T the
  Cholesky factorisation of Lam_mm, made once per (run, component) and applied to the
  run's rows with rows as the SIMD dimension (no per-row d x d work);
* the observed marginal's quadratic form equals the full one on the row with its missing
  entries filled in by that conditional mean, so the fused kernel's vectorised Mahalanobis
  (``densities.sq_mahalanobis_diffs``) runs on the filled differences x_hat - mu;
* log det Sigma_oo = log det Sigma + log det Lam_mm, so a row's log-density is the fused
  kernel's log_const + (|m| log(2 pi) - log det Lam_mm) / 2 - sq / 2;
* the conditional covariance is Lam_mm^-1 on the missing block: the statistics add
  (sum of w r over a run) * Lam_mm^-1 to the second moments, which keeps SuffStats, their
  merge and the M-step as they are.

The filled differences of every component are kept for the tile (``E``), so the moments
and the imputation reuse them. For tied models (``shared``) the factor of a run serves
every component.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .densities import LOG_2PI, sq_mahalanobis_diffs
from .jit import jit
from .tile import TILE

#: Scratch of the incomplete-row kernels, allocated once per block.
IncompleteWorkspace = namedtuple(
    "IncompleteWorkspace",
    [
        "Xt",  # (d, TILE) the tile, transposed, in X's dtype, NaN where missing
        "wt",  # (TILE,) its weights
        "D",  # (d, TILE) filled differences x_hat - mu of one component, float64
        "W",  # (d, TILE) the same times the responsibilities, for the scatter
        "Y",  # (2 TILE,) and (TILE,): scratch of the Mahalanobis distances
        "sq",
        "lp",  # (K, TILE) log-densities, then w * responsibilities
        "buf",  # (K * TILE,) scratch of the vector exp
        "top",  # (TILE,) the largest log-density of each row
        "total",  # (TILE,) scratch of the row sums
        "run_lo",  # (TILE + 1,) first row of each run in the tile, then TILE
        "run_q",  # (TILE,) missing coordinates of each run
        "run_idx",  # (TILE, d) each run's missing coordinates, then its observed ones
        "run_base",  # (TILE + 1,) where each run's fills start in a row of E
        "E",  # (K, d * TILE) each component's conditional x_hat - mu of the missing entries
        "L",  # (d, d) Cholesky factor of Lam_mm
        "Linv",  # (d, d) its inverse
        "C",  # (d, d) Lam_mm^-1
    ],
)


@jit
def incomplete_workspace(X, n_components):
    d = X.shape[1]
    return IncompleteWorkspace(
        np.empty((d, TILE), X.dtype),
        np.empty(TILE),
        np.empty((d, TILE)),
        np.empty((d, TILE)),
        np.empty(2 * TILE),
        np.empty(TILE),
        np.empty((n_components, TILE)),
        np.empty(n_components * TILE),
        np.empty(TILE),
        np.empty(TILE),
        np.empty(TILE + 1, np.int64),
        np.empty(TILE, np.int64),
        np.empty((TILE, d), np.int64),
        np.empty(TILE + 1, np.int64),
        np.empty((n_components, d * TILE)),
        np.zeros((d, d)),
        np.zeros((d, d)),
        np.zeros((d, d)),
    )


@jit
def _same_pattern(Xt, t):
    """Whether rows t - 1 and t of the tile miss the same coordinates."""
    for j in range(Xt.shape[0]):
        if (Xt[j, t] != Xt[j, t]) != (Xt[j, t - 1] != Xt[j, t - 1]):
            return False
    return True


@jit
def find_runs(ws):
    """The runs of the tile in ws.Xt (padding rows included); returns their number."""
    Xt = ws.Xt
    d = Xt.shape[0]
    n_runs = 0
    for t in range(TILE):
        if t > 0 and _same_pattern(Xt, t):
            continue
        ws.run_lo[n_runs] = t
        q = 0
        for j in range(d):  # missing coordinates first, then the observed ones
            if Xt[j, t] != Xt[j, t]:
                ws.run_idx[n_runs, q] = j
                q += 1
        ws.run_q[n_runs] = q
        b = q
        for j in range(d):
            if Xt[j, t] == Xt[j, t]:
                ws.run_idx[n_runs, b] = j
                b += 1
        n_runs += 1
    ws.run_lo[n_runs] = TILE
    base = 0
    for r in range(n_runs):
        ws.run_base[r] = base
        base += ws.run_q[r] * (ws.run_lo[r + 1] - ws.run_lo[r])
    ws.run_base[n_runs] = base
    return n_runs


@jit
def factor(lam, idx, q, L):
    """L[:q, :q] = the lower Cholesky factor of Lam_mm (m = idx[:q]); returns log det Lam_mm,
    or NaN when it is not numerically positive definite."""
    for a in range(q):
        for b in range(a + 1):
            L[a, b] = lam[idx[a], idx[b]]
    log_det = 0.0
    for a in range(q):
        for b in range(a):
            s = L[a, b]
            for c in range(b):
                s -= L[a, c] * L[b, c]
            L[a, b] = s / L[b, b]
        s = L[a, a]
        for c in range(a):
            s -= L[a, c] * L[a, c]
        if not s > 0.0:
            return np.nan
        L[a, a] = math.sqrt(s)
        log_det += math.log(s)
    return log_det


@jit
def _fill_run(Xt, mean, lam, L, idx, q, lo, hi, e, base):
    """e[base + a n + (t - lo)] = x_hat - mu at missing coordinate idx[a] of rows lo..hi - 1
    (n = hi - lo): -Lam_mo (x_o - mu_o), then the two triangular solves with L."""
    d, n = Xt.shape[0], hi - lo
    for a in range(q):
        row, s = lam[idx[a]], base + a * n
        for t in range(n):
            e[s + t] = 0.0
        for b in range(q, d):
            j = idx[b]
            c, mu = row[j], mean[j]
            for t in range(n):
                e[s + t] -= c * (Xt[j, lo + t] - mu)
        for b in range(a):  # forward: L y = -Lam_mo (x_o - mu_o)
            f, sb = L[a, b], base + b * n
            for t in range(n):
                e[s + t] -= f * e[sb + t]
        inv = 1.0 / L[a, a]
        for t in range(n):
            e[s + t] *= inv
    for a in range(q - 1, -1, -1):  # backward: L^T (x_m - mu_m) = y
        s = base + a * n
        for b in range(a + 1, q):
            f, sb = L[b, a], base + b * n
            for t in range(n):
                e[s + t] -= f * e[sb + t]
        inv = 1.0 / L[a, a]
        for t in range(n):
            e[s + t] *= inv


@jit
def filled_diffs(ws, mean, k, n_runs):
    """ws.D = x_hat - mean for component k: the observed differences, then the fills."""
    Xt, D, e = ws.Xt, ws.D, ws.E[k]
    for j in range(Xt.shape[0]):
        mu = mean[j]
        for t in range(TILE):
            D[j, t] = Xt[j, t] - mu
    for r in range(n_runs):
        lo, n = ws.run_lo[r], ws.run_lo[r + 1] - ws.run_lo[r]
        for a in range(ws.run_q[r]):
            j, s = ws.run_idx[r, a], ws.run_base[r] + a * n
            for t in range(n):
                D[j, lo + t] = e[s + t]


@jit
def incomplete_log_densities(ws, n_runs, means, prec, lam, log_const, shared):
    """ws.lp[k, t] = log pi_k + log N(x_t,o | k), ws.top[t] = max_k; the fills in ws.E.
    Returns the first row of the tile whose Lam_mm is not positive definite, or -1."""
    n_components = means.shape[0]
    lp = ws.lp
    log_det = 0.0
    for r in range(n_runs):
        lo, hi, q = ws.run_lo[r], ws.run_lo[r + 1], ws.run_q[r]
        idx = ws.run_idx[r]
        for k in range(n_components):
            if k == 0 or not shared:
                log_det = factor(lam[k], idx, q, ws.L)
                if log_det != log_det:
                    return lo
            _fill_run(ws.Xt, means[k], lam[k], ws.L, idx, q, lo, hi, ws.E[k], ws.run_base[r])
            c = log_const[k] + 0.5 * (q * LOG_2PI - log_det)
            for t in range(lo, hi):
                lp[k, t] = c
    sq, top = ws.sq, ws.top
    for k in range(n_components):
        filled_diffs(ws, means[k], k, n_runs)
        sq_mahalanobis_diffs(ws.D, prec[k], ws.Y, sq)
        for t in range(TILE):
            lp[k, t] -= 0.5 * sq[t]
    for t in range(TILE):  # row 0 first, so a NaN there stays in top (not -inf)
        top[t] = lp[0, t]
    for k in range(1, n_components):
        for t in range(TILE):
            v = lp[k, t]
            top[t] = v if v > top[t] else top[t]
    return -1


@jit
def _inverse(L, q, Linv, C):
    """C[:q, :q] = (L L^T)^-1 = L^-T L^-1 for the lower factor L[:q, :q]."""
    for a in range(q):
        Linv[a, a] = 1.0 / L[a, a]
        for b in range(a):
            s = 0.0
            for c in range(b, a):
                s += L[a, c] * Linv[c, b]
            Linv[a, b] = -s / L[a, a]
    for a in range(q):
        for b in range(a, q):
            s = 0.0
            for c in range(b, q):
                s += Linv[c, a] * Linv[c, b]
            C[a, b] = s
            C[b, a] = s


@jit
def add_conditional_cov(ws, n_runs, lam, shared, cov_sum):
    """cov_sum[k] += (sum over each run of lp[k]) * Lam_mm^-1 on the run's missing block:
    the sum of w r C over the tile's rows (lp holds w * resp)."""
    n_components = lam.shape[0]
    for r in range(n_runs):
        lo, hi, q = ws.run_lo[r], ws.run_lo[r + 1], ws.run_q[r]
        idx = ws.run_idx[r]
        for k in range(n_components):
            mass = 0.0
            for t in range(lo, hi):
                mass += ws.lp[k, t]
            if (k == 0 or not shared) and (mass > 0.0 or shared):
                factor(lam[k], idx, q, ws.L)  # positive definite: the E-step took it
                _inverse(ws.L, q, ws.Linv, ws.C)
            if not mass > 0.0:
                continue
            for a in range(q):
                ja = idx[a]
                for b in range(q):
                    cov_sum[k, ja, idx[b]] += mass * ws.C[a, b]
