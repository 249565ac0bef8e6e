"""The block kernels' results in NumPy, for passes that run before the kernels are compiled.

Compiling the fused kernels costs seconds (about 6 s for a full model's, 2.6 s for
inference's, on a 2-core machine with an empty Numba cache) where a small fit's arithmetic
costs milliseconds. Until a kernel is compiled or in the cache, a pass may run these
functions instead (``_data/engine.py`` decides, pass by pass): the same outputs, from the
same formulas, to rounding. The numerics are those of the kernels: distances on x - mu,
moments centred on each chunk's own weighted mean and merged with the pairwise (Chan)
update, float64 throughout. Rows go in chunks, every component at once, so that no
temporary grows with the block beyond a few MB (``_rows``).
"""

from __future__ import annotations

import numpy as np

from .tile import EXP_FLOOR

#: Most rows per chunk, and the float64 values of one (K, rows, d) temporary: 4 MB each,
#: a few of them at a time, however large the block.
CHUNK = 4096
_VALUES = 1 << 19


def _rows(n_components: int, n_features: int) -> int:
    """Rows per chunk: every component at once, as few NumPy calls per chunk as possible
    (a small fit's passes cost their calls, not their arithmetic), within ``_VALUES``."""
    return int(min(CHUNK, max(64, _VALUES // max(1, n_components * n_features))))


def _log_densities(D, prec, log_const, diagonal):
    """lp (n, K): log pi_k + log N(x_i | k) from the differences D (K, n, d) = x_i - mu_k,
    as ``densities.log_densities``."""
    with np.errstate(all="ignore"):  # NaN, inf or overflow: a non-finite row, found after
        Y = D * prec[:, :1, :] if diagonal else np.matmul(D, prec)
        return (log_const[:, None] - 0.5 * np.einsum("knd,knd->kn", Y, Y)).T


def _differences(X, means):
    """(K, n, d): x_i - mu_k for float64 rows X, every component at once."""
    return X[None, :, :] - means[:, None, :]


def _log_sum_exp(lp):
    """(shifted, total, lse): exp(lp - the row maxima), flushed to 0 below ``EXP_FLOOR`` as
    the kernels' exp is; their row sums; and log sum_k exp(lp), -inf where every density
    is 0."""
    top = lp.max(axis=1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        below = lp - top[:, None]
        shifted = np.where(below < EXP_FLOOR, 0.0, np.exp(below))
        total = shifted.sum(axis=1)
        lse = np.where(top > -np.inf, top + np.log(total), top)
    return shifted, total, lse


def _first(mask) -> int:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else -1


def block_statistics(X, sample_weight, means, prec, log_const, diagonal, with_m2):
    """``fused_block``'s results: (log_lik, bad row or -1, nk (K,), means (K, d), m2 (K, d, d)
    or None), m2 the centred second moments (only the diagonal when ``diagonal``)."""
    n_components, d = means.shape
    nk = np.zeros(n_components)
    run_mean = np.zeros((n_components, d))  # about mu until the end, as the kernel keeps them
    m2 = np.zeros((n_components, d, d)) if with_m2 else None
    log_lik = 0.0
    rows = _rows(n_components, d)
    for i0 in range(0, X.shape[0], rows):
        Xc = np.asarray(X[i0 : i0 + rows], dtype=np.float64)
        D = _differences(Xc, means)
        wc = sample_weight[i0 : i0 + rows]
        shifted, total, lse = _log_sum_exp(_log_densities(D, prec, log_const, diagonal))
        bad = _first(~np.isfinite(lse))
        if bad >= 0:
            return 0.0, i0 + bad, None, None, None
        log_lik += float(wc @ lse)
        resp = (shifted * (wc / total)[:, None]).T  # (K, rows)
        n_t = resp.sum(axis=1)
        live = n_t > 0.0  # every responsibility of a dead one underflowed: nothing to add
        mean_t = np.matmul(resp[:, None, :], D)[:, 0, :] / np.where(live, n_t, 1.0)[:, None]
        m2_t = None
        if with_m2:  # about the centre rounded once to mu's ulp, as tile_moments does:
            C = Xc[None] - (means + mean_t)[:, None, :]  # constant data give exact zeros
            W = C * resp[:, :, None]
            if diagonal:
                m2_t = np.zeros((n_components, d, d))
                idx = np.arange(d)
                m2_t[:, idx, idx] = np.einsum("knd,knd->kd", W, C)
            else:
                m2_t = np.matmul(W.transpose(0, 2, 1), C)
        _chan_add(nk, run_mean, m2, n_t, mean_t, m2_t, live, diagonal)
    mean_out = np.where((nk > 0.0)[:, None], means + run_mean, 0.0)
    if with_m2 and not diagonal:
        m2 = (m2 + m2.transpose(0, 2, 1)) / 2.0  # the kernel mirrors one triangle
    return log_lik, -1, nk, mean_out, m2


def _chan_add(nk, mean, m2, n_t, mean_t, m2_t, live, diagonal):
    """Merge each live component's (n_t, mean_t, m2_t) into the running (nk, mean, m2) in
    place (only the diagonal of m2 when ``diagonal``)."""
    total = nk + n_t
    safe = np.where(live, total, 1.0)
    delta = np.where(live[:, None], mean_t - mean, 0.0)
    if m2 is not None:
        outer = delta[:, :, None] * delta[:, None, :]
        if diagonal:
            outer = outer * np.eye(delta.shape[1])
        m2 += np.where(live[:, None, None], m2_t + (nk * n_t / safe)[:, None, None] * outer, 0.0)
    mean += delta * (n_t / safe)[:, None]
    nk[:] = total


def infer(X, means, prec, log_const, diagonal, want):
    """``fused_infer``'s outputs named in ``want`` (of "log_prob", "log_resp", "proba",
    "labels"), as a dict, and the first row whose log p (labels alone: largest
    log-density) is not finite, or -1."""
    n = X.shape[0]
    k = means.shape[0]
    out = {
        "log_prob": np.empty(n),
        "log_resp": np.empty((n, k)),
        "proba": np.empty((n, k)),
        "labels": np.empty(n, np.int64),
    }
    bad = -1
    step = _rows(k, means.shape[1])
    for i0 in range(0, n, step):
        rows = slice(i0, min(i0 + step, n))
        D = _differences(np.asarray(X[rows], dtype=np.float64), means)
        lp = _log_densities(D, prec, log_const, diagonal)
        if "labels" in want:
            out["labels"][rows] = lp.argmax(axis=1)
            best = lp[np.arange(lp.shape[0]), out["labels"][rows]]
            t = _first(~np.isfinite(best))
            bad = i0 + t if bad < 0 and t >= 0 else bad
        if want - {"labels"}:
            shifted, total, lse = _log_sum_exp(lp)
            t = _first(~np.isfinite(lse))
            bad = i0 + t if bad < 0 and t >= 0 else bad
            out["log_prob"][rows] = lse
            with np.errstate(invalid="ignore", divide="ignore"):
                out["log_resp"][rows] = log_resp = lp - lse[:, None]
                # flushed in the sum, not in the output: libm's (subnormal) value, as infer.py
                flushed = lp - lp.max(axis=1)[:, None] < EXP_FLOOR
                out["proba"][rows] = np.where(flushed, np.exp(log_resp), shifted / total[:, None])
    return {name: out[name] for name in want}, bad


def nearest_centre(X, sample_weight, centres, labels):
    """``kmeans.nearest_centre``: labels[i] = nearest centre (the first on ties); returns
    the weighted inertia."""
    inertia = 0.0
    step = _rows(*centres.shape)
    for i0 in range(0, X.shape[0], step):
        D = _differences(np.asarray(X[i0 : i0 + step], dtype=np.float64), centres)
        sq = np.einsum("knd,knd->kn", D, D)
        labels[i0 : i0 + step] = sq.argmin(axis=0)
        inertia += float(sample_weight[i0 : i0 + step] @ sq.min(axis=0))
    return inertia


def hard_statistics(X, sample_weight, labels, centres, diagonal, with_m2):
    """``kmeans.hard_statistics``: (nk, means, m2 or None) of one-hot responsibilities,
    the means summed as offsets from each centre, m2 about the means."""
    n_components, d = centres.shape
    X = np.asarray(X, dtype=np.float64)
    nk = np.bincount(labels, weights=sample_weight, minlength=n_components).astype(np.float64)
    means = np.zeros((n_components, d))
    m2 = np.zeros((n_components, d, d)) if with_m2 else None
    for k in np.flatnonzero(nk > 0.0):
        rows = labels == k
        w = sample_weight[rows]
        means[k] = centres[k] + w @ (X[rows] - centres[k]) / nk[k]
        if with_m2:
            C = X[rows] - means[k]
            W = C * w[:, None]
            m2[k] = np.diag(np.einsum("ij,ij->j", W, C)) if diagonal else W.T @ C
    return nk, means, m2


def first_nonfinite(X):
    """``nonfinite.first_nonfinite``: (row, col) of the first NaN or inf, or (-1, -1)."""
    bad = ~np.isfinite(X)
    row = _first(bad.any(axis=1))
    return (row, int(np.argmax(bad[row]))) if row >= 0 else (-1, -1)
