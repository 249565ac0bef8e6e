"""The variational posterior, E-step terms and lower bound against scikit-learn's, from the
same responsibilities; the entropy identity against explicit responsibilities; the priors.

scikit-learn's BayesianGaussianMixture has no initial arrays, so its oracle here is driven
through its own steps (``_check_parameters``, ``_initialize``, ``_estimate_log_prob``...)
from responsibilities we give both sides.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SKB

from streamgmm._data.blocks import block_log_resp, block_statistics, statistics_from_resp
from streamgmm._fit.variational import variational_assigner
from streamgmm._model import (
    PRIOR_TYPES,
    check_given_priors,
    estep_log_weights,
    log_resp_sum,
    lower_bound,
    pooled_moments,
    prior_attributes,
    priors_from_attributes,
    variational_m_step,
)

from conftest import COVARIANCE_TYPES, make_blobs, rel_err

REG = 1e-6


def settings_of(covariance_type, prior_type, k, **priors):
    s = dict(
        n_components=k,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
    )
    s.update(priors)
    return s


def nondefault_priors(covariance_type, d):
    return dict(
        weight_concentration_prior=0.3,
        mean_precision_prior=2.5,
        mean_prior=np.linspace(-1.0, 1.0, d),
        degrees_of_freedom_prior=d + 1.5,
        covariance_prior={
            "full": np.eye(d) * 2.0 + 0.3,
            "tied": np.eye(d) * 2.0 + 0.3,
            "diag": np.linspace(0.5, 2.0, d),
            "spherical": 0.7,
        }[covariance_type],
    )


def ours_from_resp(X, resp, s):
    """Our priors and variational start from the responsibilities ``resp``."""
    stats = statistics_from_resp(X, np.ones(len(X)), resp, s["covariance_type"])
    given = check_given_priors(s, X.shape[1])
    attrs = prior_attributes(given, s["covariance_type"], X.dtype, pooled_moments(stats))
    priors = priors_from_attributes(s["weight_concentration_prior_type"], attrs)
    return priors, attrs, variational_m_step(stats, priors, REG)


def sklearn_from_resp(X, resp, s):
    sk = SKB(**s, reg_covar=REG)
    sk._check_parameters(X)
    sk._initialize(X, resp)
    return sk


def concentration(sk):
    conc = sk.weight_concentration_
    return np.vstack(conc) if isinstance(conc, tuple) else conc


def random_resp(n, k, seed=0):
    resp = np.random.RandomState(seed).rand(n, k)
    return resp / resp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("priors", ["default", "given"])
def test_m_step_matches_sklearn(covariance_type, prior_type, priors):
    X = make_blobs(seed=1)
    k, d = 4, X.shape[1]
    given = nondefault_priors(covariance_type, d) if priors == "given" else {}
    s = settings_of(covariance_type, prior_type, k, **given)
    resp = random_resp(len(X), k)
    _, attrs, p = ours_from_resp(X, resp, s)
    sk = sklearn_from_resp(X, resp, s)
    assert rel_err(p.weight_concentration, concentration(sk)) < 1e-12
    assert rel_err(p.mean_precision, sk.mean_precision_) < 1e-12
    assert rel_err(p.means, sk.means_) < 1e-12
    assert rel_err(p.degrees_of_freedom, sk.degrees_of_freedom_) < 1e-12
    assert rel_err(p.covariances, sk.covariances_) < 1e-10  # its raw moments: ~1e-14 off
    assert rel_err(p.precisions_cholesky, sk.precisions_cholesky_) < 1e-10
    assert rel_err(attrs["mean_prior_"], sk.mean_prior_) < 1e-14
    assert rel_err(attrs["covariance_prior_"], sk.covariance_prior_) < 1e-13


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_estep_and_lower_bound_match_sklearn(covariance_type, prior_type):
    """One iteration: the weighted log-densities and the lower bound of scikit-learn."""
    X = make_blobs(seed=2)
    k = 4
    s = settings_of(covariance_type, prior_type, k)
    priors, _, p = ours_from_resp(X, random_resp(len(X), k, seed=1), s)
    sk = sklearn_from_resp(X, random_resp(len(X), k, seed=1), s)
    np.testing.assert_allclose(
        estep_log_weights(p, prior_type),
        sk._estimate_log_weights() + (sk._estimate_log_prob(X) - _gauss(sk, X))[0],
        rtol=1e-12,
    )
    assigner = variational_assigner(p, prior_type, covariance_type)
    stats = block_statistics(X, None, 0, covariance_type, assigner)
    resp_sum = log_resp_sum(stats, assigner.means, assigner.prec_chol, assigner.log_const)
    new = variational_m_step(stats, priors, REG)
    ours = lower_bound(resp_sum, new, prior_type, covariance_type)
    log_prob_norm, log_resp = sk._e_step(X)
    sk._m_step(X, log_resp)
    want = float(np.ravel(sk._compute_lower_bound(log_resp, log_prob_norm))[0])
    assert ours == pytest.approx(want, rel=1e-12)


def _gauss(sk, X):
    """scikit-learn's Gaussian log-density alone (its E-step without the variational terms)."""
    from sklearn.mixture._gaussian_mixture import _estimate_log_gaussian_prob

    return _estimate_log_gaussian_prob(X, sk.means_, sk.precisions_cholesky_, sk.covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", ["overlapping", "separated", "offset", "far-start", "weighted"])
def test_log_resp_sum_against_explicit_responsibilities(covariance_type, case):
    """sum_i w_i sum_k r log r from the statistics equals the sum over the (n, K) array.

    "separated": nearly one-hot responsibilities, where the identity subtracts two sums of
    the size of the log-likelihood to get a number near 0; "offset": X + 1e6; "far-start":
    a posterior whose means lie far from the data. The error allowed is absolute, 1e-12 of
    the log-likelihood's size: what the lower bound (of that size) can notice.
    """
    spread = {"separated": 30.0, "overlapping": 1.5}.get(case, 5.0)
    X = make_blobs(seed=3, spread=spread)
    w = np.random.RandomState(4).uniform(0, 3, len(X)) if case == "weighted" else np.ones(len(X))
    if case == "offset":
        X = X + 1e6
    prior_type = "dirichlet_process"
    s = settings_of(covariance_type, prior_type, 3)
    _, _, p = ours_from_resp(X, random_resp(len(X), 3, seed=2), s)
    if case == "far-start":
        p = p._replace(means=p.means + 40.0)
    assigner = variational_assigner(p, prior_type, covariance_type)
    stats = block_statistics(X, w, 0, covariance_type, assigner)
    got = log_resp_sum(stats, assigner.means, assigner.prec_chol, assigner.log_const)
    table, bad = block_log_resp(X, assigner)
    assert bad < 0
    log_resp = table[:, 1:]
    want = float(np.sum(w[:, None] * np.exp(log_resp) * log_resp))
    scale = abs(stats.log_lik)
    assert abs(got - want) <= 1e-12 * scale, (got, want, scale)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooled_moments_give_numpys_mean_and_covariance(covariance_type, dtype):
    X = (make_blobs(seed=5) + 1e3).astype(dtype)
    stats = statistics_from_resp(
        X.astype(np.float64), np.ones(len(X)), random_resp(len(X), 3), covariance_type
    )
    s = settings_of(covariance_type, "dirichlet_process", 3)
    given = check_given_priors(s, X.shape[1])
    attrs = prior_attributes(given, covariance_type, dtype, pooled_moments(stats))
    sk = SKB(**s)
    sk._check_parameters(X)
    assert attrs["mean_prior_"].dtype == sk.mean_prior_.dtype
    assert np.asarray(attrs["covariance_prior_"]).dtype == np.asarray(sk.covariance_prior_).dtype
    rtol = 1e-13 if dtype == np.float64 else 1e-6  # numpy sums float32 in float32
    assert rel_err(attrs["mean_prior_"], sk.mean_prior_) < rtol
    assert rel_err(attrs["covariance_prior_"], sk.covariance_prior_) < rtol


BAD_PRIORS = {
    "dof": dict(degrees_of_freedom_prior=1.5),
    "mean shape": dict(mean_prior=[1.0, 2.0]),
    "mean nan": dict(mean_prior=[np.nan, 1.0, 1.0]),
    "full shape": dict(covariance_prior=np.eye(2)),
    "full not pd": dict(covariance_prior=-np.eye(3)),
    "diag negative": dict(covariance_type="diag", covariance_prior=-np.ones(3)),
    "diag shape": dict(covariance_type="diag", covariance_prior=np.ones(2)),
}


@pytest.mark.parametrize("case", sorted(BAD_PRIORS))
def test_prior_messages_are_sklearns(case):
    X = make_blobs(seed=6, n_per=20)
    kw = dict(BAD_PRIORS[case])
    s = settings_of(kw.pop("covariance_type", "full"), "dirichlet_process", 2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as theirs:
            SKB(**s).fit(X)
    with pytest.raises(ValueError) as ours:
        check_given_priors(s, X.shape[1])
    assert str(ours.value).startswith(str(theirs.value))


def test_spherical_covariance_prior_must_be_a_float():
    """scikit-learn fails later with a broadcasting error; ours names the parameter."""
    s = settings_of("spherical", "dirichlet_process", 2, covariance_prior=np.ones(3))
    with pytest.raises(ValueError, match="'spherical covariance_prior' should be a positive float"):
        check_given_priors(s, 3)
