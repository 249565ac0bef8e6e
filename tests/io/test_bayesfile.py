"""BayesianGaussianMixture model files: exact round trip, load by format, and the fields
beyond a GaussianMixture's refused when they are not what a fit leaves."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm import _bayesian
from streamgmm._model import PRIOR_TYPES

from conftest import COVARIANCE_TYPES, make_blobs, replace_dataset, tamper


def _fit(covariance_type="full", prior_type="dirichlet_process", dtype=np.float64, **kw):
    X = make_blobs(seed=1, n_per=60, d=3, k=3).astype(dtype)
    est = streamgmm.BayesianGaussianMixture(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
        max_iter=5,
        **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X), X


def _same(got, want, name):
    if isinstance(want, float) and not isinstance(want, np.generic):
        assert float(got) == want, name  # a float as given comes back as np.float64
        return
    assert type(got) is type(want), name
    if isinstance(want, tuple):
        for g, w in zip(got, want, strict=True):
            _same(g, w, name)
    elif isinstance(want, (np.ndarray, np.generic)):
        assert got.dtype == want.dtype and np.shape(got) == np.shape(want), name
        assert got.tobytes() == want.tobytes(), name
    else:
        assert got == want, name


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_exact(tmp_path, covariance_type, prior_type, dtype):
    est, X = _fit(covariance_type, prior_type, dtype)
    est.save(tmp_path / "m.h5")
    loaded = streamgmm.load(tmp_path / "m.h5")
    assert type(loaded) is streamgmm.BayesianGaussianMixture
    for name in _bayesian.FITTED_ATTRIBUTES:
        _same(getattr(loaded, name), getattr(est, name), name)
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert f.attrs["format"] == "streamgmm.BayesianGaussianMixture"


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_priors_round_trip(tmp_path, covariance_type):
    prior = {
        "full": np.eye(3) * 2.0,
        "tied": np.eye(3) * 2.0,
        "diag": np.array([1.0, 2.0, 3.0], dtype=np.float32),
        "spherical": 3,
    }[covariance_type]
    est, _ = _fit(
        covariance_type,
        mean_prior=[1.0, 2.0, 3.0],
        covariance_prior=prior,
        degrees_of_freedom_prior=4,
        weight_concentration_prior=0.5,
    )
    est.save(tmp_path / "m.h5")
    loaded = streamgmm.load(tmp_path / "m.h5")
    for name in _bayesian.FITTED_ATTRIBUTES:
        _same(getattr(loaded, name), getattr(est, name), name)
    got, want = loaded.get_params(), est.get_params()
    np.testing.assert_array_equal(got["mean_prior"], want["mean_prior"])
    np.testing.assert_array_equal(got["covariance_prior"], want["covariance_prior"])


def test_loaders_of_one_class_refuse_the_other(tmp_path):
    est, _ = _fit()
    est.save(tmp_path / "b.h5")
    from streamgmm._io import modelfile

    defaults = streamgmm.GaussianMixture().get_params()
    with pytest.raises(
        ValueError, match="holds a BayesianGaussianMixture .* not a GaussianMixture"
    ):
        modelfile.read_model(tmp_path / "b.h5", defaults)


TAMPERED = {
    "weights": (
        lambda f: replace_dataset(f, "params/weights", np.full(4, 0.25)),
        "params/weights' does not match the mean weights",
    ),
    "concentration shape": (
        lambda f: replace_dataset(f, "params/weight_concentration", np.ones(4)),
        r"params/weight_concentration' has shape \(4,\), expected \(2, 4\)",
    ),
    "concentration sign": (
        lambda f: replace_dataset(f, "params/weight_concentration", -np.ones((2, 4))),
        "params/weight_concentration' should hold finite values above 0",
    ),
    "mean precision": (
        lambda f: replace_dataset(f, "params/mean_precision", np.zeros(4)),
        "params/mean_precision' should hold finite values above 0",
    ),
    "degrees of freedom": (
        lambda f: replace_dataset(f, "params/degrees_of_freedom", np.ones(4)),
        "degrees_of_freedom' should hold finite values above n_features - 1 = 2",
    ),
    "missing priors": (lambda f: f.__delitem__("priors"), "field 'priors' is missing"),
    "mean prior": (
        lambda f: replace_dataset(f, "priors/mean_prior", np.zeros(2)),
        r"priors/mean_prior' has shape \(2,\), expected \(3,\)",
    ),
    "covariance prior": (
        lambda f: replace_dataset(f, "priors/covariance_prior", -np.eye(3)),
        "covariance_prior is not symmetric positive semi-definite",
    ),
    "dof prior": (
        lambda f: f["priors"].attrs.__setitem__("degrees_of_freedom_prior", 1.0),
        "degrees_of_freedom_prior is 1.0; expected above 2",
    ),
    "prior type": (
        lambda f: f["settings"].attrs.__setitem__("weight_concentration_prior_type", "beta"),
        "'weight_concentration_prior_type' parameter of BayesianGaussianMixture",
    ),
    "external": (
        lambda f: (
            f["params"].__delitem__("mean_precision"),
            f["params"].create_dataset(
                "mean_precision", shape=(4,), dtype="f8", external=[("/etc/passwd", 0, 32)]
            ),
        ),
        "is external",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_refuses_tampered_bayesian_fields(tmp_path, case):
    est, _ = _fit()
    est.save(tmp_path / "m.h5")
    change, match = TAMPERED[case]
    tamper(tmp_path / "m.h5", change)
    with pytest.raises(ValueError, match=match):
        streamgmm.load(tmp_path / "m.h5")


def test_checkpoint_runs_are_checked(tmp_path):
    ckpt = tmp_path / "c.h5"
    est, X = _fit(n_init=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, checkpoint=ckpt)
    tamper(ckpt, lambda f: replace_dataset(f, "checkpoint/runs/1/mean_precision", -np.ones(4)))
    with pytest.raises(ValueError, match="checkpoint/runs/1/mean_precision' should hold finite"):
        est.fit(X, checkpoint=ckpt, resume=True)
