"""Degenerate fits: the outcome of scikit-learn, never a NaN model (RELIABILITY 7.1, 7.3)."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SK

import streamgmm

from conftest import COVARIANCE_TYPES, FITTED, assert_same_model, make_blobs, pinned_start


def outcome(cls, X, **kw):
    """('error', message) or ('ok', fitted estimator, ConvergenceWarning count)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            est = cls(**kw).fit(X)
        except ValueError as exc:
            return ("error", str(exc), None)
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return ("ok", est, n_warn)


def assert_parity(X, rtol=1e-8, atol=0.0, X_ours=None, shift=0.0, **kw):
    """Same outcome as scikit-learn; ``X_ours = X + shift`` where sklearn would cancel digits."""
    sk = outcome(SK, X, **kw)
    if X_ours is not None and kw.get("means_init") is not None:
        kw = dict(kw, means_init=kw["means_init"] + shift)
    ours = outcome(streamgmm.GaussianMixture, X if X_ours is None else X_ours, **kw)
    assert ours[0] == sk[0], (
        f"scikit-learn: {sk[0]} {sk[1] if sk[0] == 'error' else ''}; ours: {ours[1]}"
    )
    if sk[0] == "error":
        assert ours[1].startswith(sk[1])
        return None
    assert ours[2] == sk[2], "ConvergenceWarning count differs"
    assert_finite(ours[1])
    assert_same_model(ours[1], sk[1], rtol=rtol, atol=atol, mean_shift=shift)
    return ours[1]


def assert_finite(est):
    for name in FITTED:
        assert np.all(np.isfinite(getattr(est, name))), name


def start_for(X, k, covariance_type, seed=0):
    if covariance_type == "tied":  # scikit-learn's tied start from a subset differs (README)
        return pinned_start(X, k, covariance_type, seed)
    return dict(init_params="random_from_data", random_state=seed)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_duplicated_points(covariance_type, reg_covar):
    """D9: 10 rows of ones and 10 of zeros, K=10."""
    X = np.vstack([np.ones((10, 2)), np.zeros((10, 2))])
    assert_parity(
        X,
        atol=1e-12,
        n_components=10,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        **start_for(X, 10, covariance_type),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_constant_column(covariance_type, reg_covar):
    """D10: X[:, 2] = 7.

    scikit-learn's diag/spherical/tied form E[x^2] - mean^2 = 49 - 49, whose rounding
    noise (1e-14) is 1e-8 of reg_covar; its oracle therefore runs with the column at 0.
    """
    X = make_blobs(seed=8)
    X[:, 2] = 0.0
    shift = np.array([0.0, 0.0, 7.0])
    # A pinned start: random_from_data with reg_covar=0 starts from zero covariances,
    # where both fits follow their rounding noise rather than the data.
    start = pinned_start(X, 3, covariance_type)  # unit precision for the constant column
    assert_parity(
        X,
        atol=1e-12,
        X_ours=X + shift,
        shift=shift,
        n_components=3,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=20,
        **start,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_collapsed_and_empty_components(covariance_type, reg_covar):
    """G1: two tight clusters, K=5, three means far away."""
    rng = np.random.RandomState(9)
    X = np.vstack([rng.randn(50, 2) * 0.01, rng.randn(50, 2) * 0.01 + 5])
    start = pinned_start(X, 5, covariance_type)
    start["means_init"] = np.array([[0, 0], [5, 5], [100, 100], [-100, 50], [80, -90.0]])
    kw = dict(n_components=5, covariance_type=covariance_type, reg_covar=reg_covar, max_iter=30)
    # The three far components keep a mass near the 10*eps guard (~1e-13), where
    # scikit-learn's diag/spherical/tied estimators (sum r x^2 / (N + 10 eps) - mean^2)
    # differ from its full one; streamgmm evaluates each type's own definition.
    assert_parity(X, atol=1e-12, **kw, **start)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_singular_covariance(covariance_type, reg_covar):
    """G2: a column that is the sum of two others."""
    X = make_blobs(seed=10)
    X[:, 2] = X[:, 0] + X[:, 1]
    kw = dict(n_components=3, covariance_type=covariance_type, reg_covar=reg_covar, max_iter=20)
    kw.update(pinned_start(X, 3, covariance_type))
    if covariance_type == "tied" and reg_covar == 0:
        assert_lucky_tied(X, kw)
        return
    est = assert_parity(X, rtol=1e-7, **kw)
    if est is not None:
        assert_finite(est)


def assert_lucky_tied(X, kw):
    """scikit-learn's tied fit of singular data succeeds only through rounding noise.

    Its raw second moments (X^T X - sum N mu mu^T) leave a smallest eigenvalue made
    of cancellation error; streamgmm's centred moments see the singular matrix and
    raise scikit-learn's own error, naming the problem instead of fitting noise.
    """
    sk = outcome(SK, X, **kw)
    if sk[0] == "ok":
        eig = np.linalg.eigvalsh(sk[1].covariances_)
        assert eig[0] < 1e-10 * X.var(axis=0).max(), "scikit-learn found a real covariance"
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        streamgmm.GaussianMixture(**kw).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_tiny_data(covariance_type):
    """G5: K=1, n=3 (scikit-learn #23032), and K=n."""
    X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 3.0]])
    gm = assert_parity(
        X,
        n_components=1,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
    )
    Xs, ys = gm.sample(5)
    assert Xs.shape == (5, 2) and ys.shape == (5,)
    kw = dict(n_components=3, covariance_type=covariance_type, reg_covar=0.0)
    kw.update(start_for(X, 3, covariance_type))
    # K = n, reg_covar = 0: every covariance is 0 but for the 10 eps guard's term and
    # rounding: the outcome, weights and means agree.
    sk, ours = outcome(SK, X, **kw), outcome(streamgmm.GaussianMixture, X, **kw)
    assert ours[0] == sk[0]
    if sk[0] == "ok":
        assert_same_model(ours[1], sk[1], attrs=("weights_", "means_"))
        assert_same_model(ours[1], sk[1], attrs=("covariances_",), atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_monotone_lower_bound_out_of_core(covariance_type, tmp_path):
    """G4: scikit-learn's test_monotonic_likelihood on an HDF5 input with 64-row blocks."""
    rng = np.random.RandomState(0)
    X = make_blobs(seed=12, n_per=100, d=2)
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=(64, 2))
    data = streamgmm.read_hdf5(path, "x", chunk_rows=64)
    gm = streamgmm.GaussianMixture(
        3,
        covariance_type=covariance_type,
        reg_covar=0,
        warm_start=True,
        max_iter=1,
        random_state=rng,
        tol=1e-7,
    )
    bounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(600):
            gm.fit(data)
            bounds.append(gm.lower_bound_)
            if gm.converged_:
                break
    steps = np.diff(bounds)
    print(f"min step of the lower bound ({covariance_type}): {steps.min():.3g}")
    assert steps.min() >= -1e-12 * abs(bounds[-1])
    assert gm.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_one_and_zero(covariance_type):
    """G3: max_iter=1 warns like scikit-learn; max_iter=0 does not."""
    X = make_blobs(seed=13)
    start = pinned_start(X, 3, covariance_type)
    with pytest.warns(ConvergenceWarning, match="Best performing initialization did not converge"):
        gm = streamgmm.GaussianMixture(3, covariance_type=covariance_type, max_iter=1, **start).fit(
            X
        )
    assert (gm.converged_, gm.n_iter_) == (False, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm0 = streamgmm.GaussianMixture(
            3, covariance_type=covariance_type, max_iter=0, **start
        ).fit(X)
    assert gm0.n_iter_ == 0 and gm0.converged_ is False
    np.testing.assert_allclose(gm0.means_, start["means_init"])
