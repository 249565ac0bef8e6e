"""A dense reference for Gaussian mixtures with missing values (NaN), written for the tests.

Plain NumPy/SciPy, one loop over the patterns of missing coordinates (every row of a
pattern at once), nothing shared with streamgmm: the E-step from each row's marginal
density on its observed coordinates (Ghahramani & Jordan 1994), the conditional means and
covariances of the missing coordinates, and the M-step with scikit-learn's definitions
(``nk + 10 eps``, ``reg_covar``; diag, spherical and tied from the full estimate). Rows
with no observed entry are left out.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

EPS10 = 10 * np.finfo(np.float64).eps


def full_covariances(covariance_type, covariances, k, d):
    """(K, d, d) full matrices of a model's covariances (or precisions), per type."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return c.reshape(k, d, d)
    if covariance_type == "tied":
        return np.broadcast_to(c, (k, d, d)).copy()
    if covariance_type == "diag":
        return c[:, :, None] * np.eye(d)
    return c[:, None, None] * np.eye(d)


def covariances_of_precisions(covariance_type, precisions):
    p = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(p)
    return 1.0 / p


def e_step(X, weights, means, covs):
    """Per row with an observed entry: log p(x_o), responsibilities, conditional means
    x_hat (n, K, d); per pattern and component the conditional covariance (P, K, d, d);
    the row's pattern; the mask of rows used."""
    n, d = X.shape
    k = len(weights)
    missing = np.isnan(X)
    used = ~missing.all(axis=1)
    patterns, which = np.unique(missing, axis=0, return_inverse=True)
    which = which.reshape(-1)
    log_dens = np.zeros((n, k))
    x_hat = np.zeros((n, k, d))
    cond = np.zeros((len(patterns), k, d, d))
    for p, m in enumerate(patterns):
        o = ~m
        rows = np.flatnonzero(which == p)
        if not o.any():
            continue
        for c in range(k):
            S = covs[c]
            factor = scipy.linalg.cho_factor(S[np.ix_(o, o)], lower=True)
            e = X[np.ix_(rows, o)] - means[c, o]
            sol = scipy.linalg.cho_solve(factor, e.T)  # (|o|, rows)
            log_det = 2 * np.log(np.diag(factor[0])).sum()
            quad = (e.T * sol).sum(axis=0)
            log_dens[rows, c] = np.log(weights[c]) - 0.5 * (
                o.sum() * np.log(2 * np.pi) + log_det + quad
            )
            filled = X[rows].copy()
            filled[:, m] = means[c, m] + (S[np.ix_(m, o)] @ sol).T
            x_hat[rows, c] = filled
            S_mo = S[np.ix_(m, o)]
            cond[p, c][np.ix_(m, m)] = S[np.ix_(m, m)] - S_mo @ scipy.linalg.cho_solve(
                factor, S_mo.T
            )
    log_prob = logsumexp(log_dens[used], axis=1)
    resp = np.exp(log_dens[used] - log_prob[:, None])
    return log_prob, resp, x_hat[used], cond, which[used], used


def m_step(w, resp, x_hat, cond, which, covariance_type, reg_covar):
    """scikit-learn's parameters from the filled rows and the conditional covariances."""
    wr = w[:, None] * resp
    nk = wr.sum(axis=0) + EPS10
    means = np.einsum("ik,ikd->kd", wr, x_hat) / nk[:, None]
    k, d = means.shape
    scatter = np.empty((k, d, d))
    for c in range(k):
        diff = x_hat[:, c] - means[c]
        mass = np.bincount(which, weights=wr[:, c], minlength=len(cond))
        scatter[c] = (wr[:, c] * diff.T) @ diff + np.einsum("p,pab->ab", mass, cond[:, c])
    eye = np.eye(d)
    if covariance_type == "full":
        covs = scatter / nk[:, None, None] + reg_covar * eye
    elif covariance_type == "tied":
        covs = scatter.sum(axis=0) / nk.sum() + reg_covar * eye
    elif covariance_type == "diag":
        covs = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
    else:
        covs = np.diagonal(scatter, axis1=1, axis2=2).mean(axis=1) / nk + reg_covar
    return nk / nk.sum(), means, covs


def reference_fit(X, start, covariance_type, n_iter, sample_weight=None, reg_covar=1e-6):
    """``n_iter`` EM iterations from ``start`` (weights_init, means_init, precisions_init);
    returns weights_, means_, covariances_ and lower_bounds_ as the estimator names them."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weights = np.asarray(start["weights_init"], dtype=np.float64)
    means = np.asarray(start["means_init"], dtype=np.float64)
    covs = covariances_of_precisions(covariance_type, start["precisions_init"])
    k = len(weights)
    bounds = []
    for _ in range(n_iter):
        full = full_covariances(covariance_type, covs, k, d)
        log_prob, resp, x_hat, cond, which, used = e_step(X, weights, means, full)
        bounds.append(float((w[used] * log_prob).sum() / w[used].sum()))
        weights, means, covs = m_step(w[used], resp, x_hat, cond, which, covariance_type, reg_covar)
    return dict(weights_=weights, means_=means, covariances_=covs, lower_bounds_=bounds)


def reference_inference(X, weights, means, covs, covariance_type):
    """(log p(x_o) per row, responsibilities, imputed X) under fixed parameters; rows with no
    observed entry: log sum pi = 0, the weights, sum_k pi_k mu_k."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    full = full_covariances(covariance_type, covs, k, d)
    log_prob, resp, x_hat, _, _, used = e_step(X, weights, means, full)
    all_log_prob = np.zeros(n)
    all_resp = np.tile(weights, (n, 1))
    imputed = np.tile(weights @ means, (n, 1))
    all_log_prob[used], all_resp[used] = log_prob, resp
    imputed[used] = np.einsum("ik,ikd->id", resp, x_hat)
    observed = ~np.isnan(X)
    imputed[observed] = X[observed]
    return all_log_prob, all_resp, imputed
