"""Log-densities of a tile under every component, and one tile's E-step.

Distances are taken on x - mu, scikit-learn's parametrisation by the upper-triangular
Cholesky factor U of the precision but not its x U - mu U, so that a large data offset
does not cancel digits (tests/estimator/test_exactness.py::test_offset_data). The
Mahalanobis distances run in the dtype of the precisions passed (float32 ones only for
well-conditioned full and tied models, see ``_data/blocks.py``); the differences x - mu,
the exp and every sum run in float64. Fitting (``fused.py``, ``fused_diag.py``) and
inference (``infer.py``) share these functions.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .jit import jit
from .tile import TILE, load_tile, responsibilities

LOG_2PI = math.log(2.0 * math.pi)

#: Scratch space of ``estep_tile``, allocated once per block (Numba compiles a namedtuple
#: to a plain struct: fields by name, no cost over a tuple).
EStepWorkspace = namedtuple(
    "EStepWorkspace",
    [
        "Xt",  # (d, TILE) the tile, transposed, in X's dtype
        "wt",  # (TILE,) its weights
        "D",  # (d, TILE), (2 TILE,), (TILE,): distances in the precisions' dtype
        "Y",
        "sq",
        "nearest",  # (TILE,) smallest distance per row, tracked for far_limit only, else (0,)
        "D64",  # the same three in float64, for a tile redone because of a far row
        "Y64",
        "sq64",
        "lp",  # (K, TILE) log-densities, then w * responsibilities
        "buf",  # (K * TILE,) scratch of the vector exp
        "top",  # (TILE,) the largest log-density of each row
        "total",  # (TILE,) scratch of the row sums
    ],
)


@jit
def _sq_mahalanobis_full(Xt, mean, U, D, Y, sq):
    """sq[t] = ||(x_t - mean) @ U||^2 with U upper triangular, in the dtype of D."""
    d = Xt.shape[0]
    for j in range(d):
        mu = mean[j]
        for t in range(TILE):
            D[j, t] = Xt[j, t] - mu  # in float64, then rounded to D's dtype
    sq_mahalanobis_diffs(D, U, Y, sq)


@jit
def sq_mahalanobis_diffs(D, U, Y, sq):
    """sq[t] = ||D[:, t] @ U||^2 for differences D (d, TILE) from the mean, U upper
    triangular (rows with missing values pass their filled-in differences, ``incomplete.py``).

    Columns j and j + 1 of U in one pass over rows 0..j of D, four rows at a time: each
    load of D feeds eight FMAs and Y is loaded and stored once per four (measured 1.3x
    the one-column loop at d = 16, 1.5x at d = 64).
    """
    d = D.shape[0]
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
    """sq[t] = sum_j ((x_tj - mean_j) p_j)^2, in the dtype of sq.

    Two features per pass over sq: one load and store of sq per two (measured 1.1x the
    one-feature loop at d = 16; four per pass stopped LLVM from vectorising).
    """
    d = Xt.shape[0]
    for t in range(TILE):
        sq[t] = 0.0
    for j in range(d % 2):
        mu, pj = mean[j], p[j]
        for t in range(TILE):
            y = (Xt[j, t] - mu) * pj  # the difference in float64, then sq's dtype
            sq[t] += y * y
    for j in range(d % 2, d, 2):
        m0, m1, p0, p1 = mean[j], mean[j + 1], p[j], p[j + 1]
        for t in range(TILE):
            y0 = (Xt[j, t] - m0) * p0
            y1 = (Xt[j + 1, t] - m1) * p1
            sq[t] += y0 * y0 + y1 * y1


@jit
def log_densities(Xt, means, prec, log_const, diagonal, D, Y, sq, lp, top, nearest):
    """lp[k, t] = log pi_k + log N(x_t | k) for every component; top[t] = max_k lp[k, t].

    The maximum is taken as each row of lp is written, not in a pass of its own over lp
    (32 KB at K = 16: it has left L1 by then).

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
        if k == 0:  # top starts from row 0, so a NaN there stays in top (not -inf)
            for t in range(TILE):
                lp[k, t] = top[t] = log_const[k] - 0.5 * sq[t]
        else:
            for t in range(TILE):
                v = log_const[k] - 0.5 * sq[t]
                lp[k, t] = v
                top[t] = v if v > top[t] else top[t]
        if track:
            for t in range(TILE):
                nearest[t] = sq[t] if sq[t] < nearest[t] else nearest[t]
    far = 0.0
    if track:
        for t in range(TILE):
            far = nearest[t] if nearest[t] > far else far
    return far


@jit
def estep_workspace(X, prec, n_components, far_limit):
    """Scratch arrays of ``estep_tile``, allocated once per block."""
    d = X.shape[1]
    return EStepWorkspace(
        np.empty((d, TILE), X.dtype),
        np.empty(TILE),
        np.empty((d, TILE), prec.dtype),
        np.empty(2 * TILE, prec.dtype),
        np.empty(TILE, prec.dtype),
        np.empty(TILE if far_limit < np.inf else 0),
        np.empty((d, TILE)),
        np.empty(2 * TILE),
        np.empty(TILE),
        np.empty((n_components, TILE)),
        np.empty(n_components * TILE),
        np.empty(TILE),
        np.empty(TILE),
    )


@jit
def estep_tile(X, sample_weight, i0, means, prec, prec64, far_limit, log_const, diagonal, ws):
    """Load the tile at row i0 into ws.Xt and leave w_t * resp_tk in ws.lp.

    Runs in prec's dtype, except a tile with a row whose smallest squared distance
    exceeds ``far_limit``: that tile is redone with ``prec64``, the float64 factors (a
    float32 distance of 1e6 is off by ~0.1, enough to move an outlier's responsibilities
    by percents). Returns (sum_t w_t log p(x_t), first row of the tile whose log p is not
    finite or -1).
    """
    tn = load_tile(X, sample_weight, i0, ws.Xt, ws.wt)
    far = log_densities(
        ws.Xt, means, prec, log_const, diagonal, ws.D, ws.Y, ws.sq, ws.lp, ws.top, ws.nearest
    )
    if far > far_limit:
        log_densities(
            ws.Xt, means, prec64, log_const, diagonal, ws.D64, ws.Y64, ws.sq64, ws.lp, ws.top,
            ws.nearest,
        )  # fmt: skip
    return responsibilities(ws.lp, ws.wt, tn, ws.top, ws.total, ws.buf)
