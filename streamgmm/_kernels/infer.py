"""Inference on the tiles of the fused E-step: log p(x), (log-)responsibilities, labels.

The same tiles as the fused E-step (``fused.py``): the log-densities of a tile come from
``densities.log_densities``, so inference and fitting share one distance computation, and
the log-sum-exp over components runs with rows as the SIMD dimension and the vector exp.
Measured against the row-by-row kernels this replaces (docs/benchmarks.md): 2.5-4x. Each
method asks for only what it returns: ``predict`` the labels, taken in the kernel instead of
an argmax over an (n, K) array, ``predict_proba`` the responsibilities from the exp already
taken instead of exp(log resp) over another (benchmarks/bench_infer.py).
"""

from __future__ import annotations

import math

import numpy as np

from .densities import log_densities
from .jit import jit
from .tile import EXP_FLOOR, TILE, exp_nonpositive, load_tile


@jit
def _log_sum_exp(lp, top, total, shifted, buf):
    """total[t] = sum_k exp(lp[k, t] - top[t]), top[t] = max_k lp[k, t] (log_densities)."""
    n_components = lp.shape[0]
    for k in range(n_components):
        for t in range(TILE):
            shifted[k * TILE + t] = lp[k, t] - top[t]
    exp_nonpositive(shifted, buf)
    total[:] = 0.0
    for k in range(n_components):
        for t in range(TILE):
            total[t] += shifted[k * TILE + t]


@jit
def _argmax_rows(lp, best, best_value):
    """best[t] = argmax_k lp[k, t] as numpy's argmax: the first maximum, or the first NaN."""
    for t in range(TILE):
        best[t] = 0
        best_value[t] = lp[0, t]
    for k in range(1, lp.shape[0]):
        for t in range(TILE):
            v, b = lp[k, t], best_value[t]
            take = v > b or (v != v and b == b)
            best_value[t] = v if take else b
            best[t] = k if take else best[t]


@jit
def _write_rows(i0, tn, lp, top, total, shifted, log_prob, log_resp, resp):
    """Rows i0.. of the wanted float outputs; returns the first row (in the tile) whose
    log p is not finite, or -1."""
    n_components = lp.shape[0]
    bad = -1
    for t in range(tn):
        # every density 0 (top = -inf): -inf as scikit-learn's logsumexp, not NaN
        lse = top[t] + math.log(total[t]) if top[t] > -np.inf else top[t]
        if bad < 0 and not np.isfinite(lse):
            bad = t
        i = i0 + t
        if log_prob.shape[0]:
            log_prob[i] = lse
        if log_resp.shape[0]:
            for k in range(n_components):
                log_resp[i, k] = lp[k, t] - lse
        if resp.shape[0]:
            inv = 1.0 / total[t]
            for k in range(n_components):
                if lp[k, t] - top[t] < EXP_FLOOR:  # flushed in the tile: libm's subnormal
                    resp[i, k] = math.exp(lp[k, t] - lse)
                else:  # exp(lp - top) / total, NaN where top is -inf or NaN, as sklearn's
                    resp[i, k] = shifted[k * TILE + t] * inv
    return bad


@jit
def fused_infer(X, means, prec, log_const, diagonal, log_prob, log_resp, resp, labels):
    """Per row i of X: log_prob[i] = log p(x_i), log_resp[i, k] = log resp_ik, resp[i, k] =
    resp_ik and labels[i] = argmax_k (log pi_k + log N(x_i | k)), scikit-learn's
    ``score_samples``, ``_estimate_log_prob_resp``, ``predict_proba`` and ``predict``.

    Arguments as for ``fused_block``, with ``prec`` in float64. Only outputs with rows are
    written: pass the others with 0 rows. Returns the first row whose log p is not finite
    (for labels alone: whose largest log-density is not), or -1; such rows are written like
    the others (-inf or NaN, as scikit-learn gives them).
    """
    n, d = X.shape
    n_components = means.shape[0]
    ones = np.ones(n)  # load_tile's weights: n floats next to the outputs' n (K + 1)
    Xt, wt = np.empty((d, TILE), X.dtype), np.empty(TILE)
    De, Y, sq, untracked = np.empty((d, TILE)), np.empty(2 * TILE), np.empty(TILE), np.empty(0)
    lp, top, total = np.empty((n_components, TILE)), np.empty(TILE), np.empty(TILE)
    shifted, buf = np.empty(n_components * TILE), np.empty(n_components * TILE)
    best, best_value = np.empty(TILE, np.int64), np.empty(TILE)
    bad = -1
    for i0 in range(0, n, TILE):
        tn = load_tile(X, ones, i0, Xt, wt)
        log_densities(Xt, means, prec, log_const, diagonal, De, Y, sq, lp, top, untracked)
        t = tile_outputs(
            i0, tn, lp, top, total, shifted, buf, best, best_value, log_prob, log_resp, resp,
            labels,
        )  # fmt: skip
        bad = t if bad < 0 else bad
    return bad


@jit
def tile_outputs(
    i0, tn, lp, top, total, shifted, buf, best, best_value, log_prob, log_resp, resp, labels
):  # fmt: skip
    """Rows i0..i0 + tn of the wanted outputs (those with rows) from a tile's log-densities
    lp (K, TILE) and their column maxima ``top``; returns the first row (of the block) whose
    log p is not finite (for labels alone: whose largest log-density is not), or -1.
    Scratch: ``total`` (TILE,), ``shifted`` and ``buf`` (K * TILE,), ``best`` (TILE,) int64,
    ``best_value`` (TILE,). Shared by ``fused_infer`` and the rows with missing values."""
    bad = -1
    if labels.shape[0]:
        _argmax_rows(lp, best, best_value)
        for t in range(tn):  # a loop, not a slice assignment: that one's shape-checking
            labels[i0 + t] = best[t]  # error path compiled for 1.7 s (str, repr)
            if bad < 0 and not np.isfinite(best_value[t]):  # squares beyond float64
                bad = i0 + t
    if log_prob.shape[0] or log_resp.shape[0] or resp.shape[0]:
        _log_sum_exp(lp, top, total, shifted, buf)
        t = _write_rows(i0, tn, lp, top, total, shifted, log_prob, log_resp, resp)
        bad = i0 + t if bad < 0 and t >= 0 else bad
    return bad
