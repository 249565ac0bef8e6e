"""Tile helpers shared by the fused kernels: load a tile, a vectorisable exp, responsibilities.

A *tile* is ``TILE`` consecutive rows of a block, stored transposed (``Xt[j, t]``) so that
rows are the SIMD dimension: every inner loop runs over ``t in range(TILE)`` with a trip
count known at compile time, which LLVM unrolls and vectorises without any fast-math flag
beyond ``contract`` and ``reassoc`` (see ``jit.py``). The last tile of a block is padded
with copies of its first row at weight 0, so no loop needs a remainder.
"""

from __future__ import annotations

import math

import numpy as np

from .jit import jit

#: Rows per tile. Measured per 131,072-row block (benchmarks/bench_blocks.py): 64 rows
#: cost 1.1-1.3x 256 rows on W1 and W2 and 1.3x on W4 (per-tile reductions and merges
#: amortised over fewer rows), 128 rows sit between; 32 stops LLVM from vectorising the
#: short loops. At d = 64 a tile's float64 work arrays take 512 KB, inside L2.
TILE = 256

_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**11 (Cody and Waite).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Adding 1.5 * 2**52 rounds to an integer that lands in the low bits of the float.
_SHIFTER = 6755399441055744.0
_EXPONENT_ONE = np.int64(1023) << np.int64(52)
# Minimax polynomial of degree 11 for e^r on |r| <= ln(2)/2 (tools/exp_minimax.py): its
# relative error is 3.1e-18, as small as the degree-13 Taylor polynomial's 5e-18, for two
# FMAs fewer (the exp 1.75 -> 1.55 ns per value, measured on W4-sized tiles).
_C = (
    1.0,
    1.0,
    0.5000000000000018,
    0.1666666666666617,
    0.04166666666649263,
    0.008333333333559451,
    0.0013888888951261204,
    0.00019841269432434438,
    2.48014864812835e-05,
    2.7557622652024487e-06,
    2.7632308224452543e-07,
    2.4994293345730463e-08,
)
_DEGREE = len(_C) - 1
#: Below this, exp is flushed to 0 (float64 would give a subnormal < 3.3e-308 there).
EXP_FLOOR = -708.0


@jit
def load_tile(X, sample_weight, i0, Xt, wt):
    """Copy rows i0.. of X transposed into Xt, weights into wt; returns the real row count."""
    n, d = X.shape
    tn = min(TILE, n - i0)
    for t in range(TILE):
        src = i0 + t if t < tn else i0  # padding: a real row, so every density is finite
        for j in range(d):
            Xt[j, t] = X[src, j]
        wt[t] = sample_weight[src] if t < tn else 0.0
    return tn


@jit
def exp_nonpositive(x, buf):
    """x <- exp(x) elementwise for x <= 0, to about 1 ulp; buf: float64 scratch like x.

    A branch-free Cody-Waite reduction and a minimax polynomial by Horner's rule, with
    2**k built from the bits of a float (AVX2 has no vector float -> int64 conversion), so
    all three loops vectorise.
    Arguments below EXP_FLOOR give 0 (libm would give a subnormal): such a term is below
    1e-307 of the row's largest one. NaN stays NaN
    (tests/kernels/test_kernels.py::test_exp_nonpositive).
    """
    n = x.shape[0]
    for t in range(n):
        v = x[t]
        low = v < EXP_FLOOR
        v = EXP_FLOOR if low else v
        kd = v * _LOG2E + _SHIFTER
        buf[t] = kd
        k = kd - _SHIFTER
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = _C[_DEGREE]
        for i in range(_DEGREE - 1, -1, -1):
            p = p * r + _C[i]
        x[t] = 0.0 if low else p
    bits = buf.view(np.int64)
    for t in range(n):
        bits[t] = (bits[t] << 52) + _EXPONENT_ONE
    for t in range(n):
        x[t] *= buf[t]


@jit
def responsibilities(lp, wt, tn, top, total, buf):
    """Turn log-densities lp (K, TILE) with their column maxima ``top`` (TILE,) into
    w_t * resp in place; returns (sum w log p, bad).

    ``bad`` is the first real row (t < tn) whose log-likelihood is not finite, or -1; one
    exp per (component, row) and one log per row. ``total``: (TILE,) scratch, ``buf``:
    (K * TILE,) scratch.
    """
    n_components = lp.shape[0]
    for k in range(n_components):
        for t in range(TILE):
            lp[k, t] -= top[t]
    for k in range(n_components):  # row by row: a reshape compiles its error path (~1 s)
        exp_nonpositive(lp[k], buf[:TILE])
    total[:] = 0.0
    for k in range(n_components):
        for t in range(TILE):
            total[t] += lp[k, t]
    log_lik = 0.0
    for t in range(tn):
        lse = top[t] + math.log(total[t])
        if not np.isfinite(lse):
            return 0.0, t
        log_lik += wt[t] * lse
    for t in range(TILE):
        total[t] = wt[t] / total[t]
    for k in range(n_components):
        for t in range(TILE):
            lp[k, t] *= total[t]
    return log_lik, -1
