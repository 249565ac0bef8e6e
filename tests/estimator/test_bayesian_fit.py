"""BayesianGaussianMixture as an out-of-core estimator: containers and chunkings, float32 and
scikit-learn's dtypes, passes shared by restarts, weights, warm start, callbacks, resume,
inference against scikit-learn on the same posterior, and scikit-learn's estimator checks."""

from __future__ import annotations

import re
import warnings

import dask.array as da
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import BayesianGaussianMixture as SKB
from sklearn.utils.estimator_checks import parametrize_with_checks

import streamgmm
from streamgmm._model import PRIOR_TYPES

from conftest import COVARIANCE_TYPES, CountingReader, make_blobs, rel_err

ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_")


def blobs(seed=1, n_per=150):
    return make_blobs(seed=seed, n_per=n_per, d=3, k=3)


def fit(X, *, fit_kw=None, **kw):
    kw = dict(dict(n_components=5, random_state=0, max_iter=40), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return streamgmm.BayesianGaussianMixture(**kw).fit(X, **(fit_kw or {}))


def assert_close(a, b, rtol):
    for name in ARRAYS:
        assert rel_err(getattr(a, name), getattr(b, name)) <= rtol, name
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)
    assert a.n_iter_ == b.n_iter_


# -- containers and chunkings ------------------------------------------------------------


@pytest.fixture
def containers(tmp_path):
    X = blobs(seed=2)
    np.save(tmp_path / "x.npy", X)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("points", data=X, chunks=(40, 3))
    return X, {
        "memmap": lambda: np.load(tmp_path / "x.npy", mmap_mode="r"),
        "dask": lambda: da.from_array(X, chunks=(33, 3)),
        "dask-columns": lambda: da.from_array(X, chunks=(100, 2)),
        "read_hdf5": lambda: streamgmm.read_hdf5(tmp_path / "x.h5", "/points", chunk_rows=70),
        "h5py-dataset": lambda: h5py.File(tmp_path / "x.h5", "r")["points"],
    }


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_containers_and_chunkings_give_the_same_model(containers, covariance_type):
    X, inputs = containers
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=15)
    ref = fit(X, chunk_size=len(X), **kw)
    for chunk_size in (7, 128):
        assert_close(fit(X, chunk_size=chunk_size, **kw), ref, 1e-10)
    for make in inputs.values():
        assert_close(fit(make(), **kw), ref, 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_row_blocks_give_the_same_model(covariance_type):
    X = blobs(seed=2)
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=15)
    assert_close(fit(X, chunk_size=1, **kw), fit(X, chunk_size=len(X), **kw), 1e-10)


def test_same_seed_is_bitwise_reproducible():
    X = blobs(seed=3)
    a, b = (fit(X, n_init=2, chunk_size=50) for _ in range(2))
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


# -- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_types_shapes_and_dtypes_are_sklearns(covariance_type, prior_type, dtype):
    """float32 data: scikit-learn keeps the posterior in float64, mean_prior_ in float32,
    covariance_prior_ as np.cov (float64) or np.var (float32) leaves it; so do we."""
    X = blobs(seed=4).astype(dtype)
    kw = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=1,
        max_iter=20,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKB(**kw).fit(X)
    ours = fit(X, **kw)
    for name in (
        "weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
        "weight_concentration_", "mean_precision_", "degrees_of_freedom_", "mean_prior_",
        "covariance_prior_", "weight_concentration_prior_", "mean_precision_prior_",
        "degrees_of_freedom_prior_", "n_iter_", "converged_",
    ):  # fmt: skip
        got, want = getattr(ours, name), getattr(sk, name)
        assert type(got) is type(want), name
        if isinstance(want, tuple):
            got, want = got[0], want[0]
        assert np.shape(got) == np.shape(want), name
        assert getattr(got, "dtype", None) == getattr(want, "dtype", None), name
    assert isinstance(ours.lower_bound_, float)  # scikit-learn: (1,) for tied, a quirk
    # scikit-learn computes float32 data's E-step in float64 (its posterior is float64); our
    # kernel's Mahalanobis distances of float32 blocks may run in float32 (docs)
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    for name in ARRAYS:
        assert rel_err(getattr(ours, name), getattr(sk, name)) <= rtol, name


# -- passes -----------------------------------------------------------------------------


def counted(X, rows=100):
    reader = CountingReader(X)
    return reader, da.from_array(reader, chunks=(rows, X.shape[1]), asarray=True)


@pytest.mark.parametrize(
    "init_params, priors, extra",
    [
        ("kmeans", "default", 0),  # the priors from the initialisation's own statistics
        ("random", "default", 0),
        ("k-means++", "default", 1),  # one pass for X.mean and np.cov
        ("random_from_data", "default", 1),
        ("random_from_data", "given", 0),
    ],
)
def test_passes_restarts_share_and_the_one_for_the_priors(init_params, priors, extra):
    X = blobs(seed=5, n_per=200)
    given = {}
    if priors == "given":
        given = dict(mean_prior=np.zeros(3), covariance_prior=np.eye(3))
    kw = dict(init_params=init_params, random_state=0, cache=False)
    for n_init in (1, 3):
        reader, arr = counted(X)
        fit(arr, n_init=n_init, max_iter=6, tol=0.0, **kw, **given)
        start, arr = counted(X)  # GaussianMixture's start from the same seed: the same draws
        streamgmm.GaussianMixture(5, n_init=n_init, max_iter=0, **kw).fit(arr)
        n_blocks = len(arr.chunks[0])
        # the priors' pass if any (and the read of its centre, the first row), then one
        # pass per iteration for all the restarts
        assert reader.reads == start.reads + extra * (n_blocks + 1) + 6 * n_blocks, n_init


# -- sample weights, warm start, callbacks, resume -------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = blobs(seed=6, n_per=60)
    w = np.random.RandomState(0).randint(0, 4, len(X)).astype(float)
    kw = dict(covariance_type=covariance_type, init_params="k-means++", tol=0.0, max_iter=15)
    weighted = fit(X, fit_kw=dict(sample_weight=w), **kw)
    repeated = fit(np.repeat(X, w.astype(int), axis=0), **kw)
    assert_close(weighted, repeated, 1e-10)
    for name in ("mean_prior_", "covariance_prior_"):
        assert rel_err(getattr(weighted, name), getattr(repeated, name)) < 1e-12


def test_warm_start_like_sklearn():
    X = blobs(seed=7)
    kw = dict(n_components=4, warm_start=True, max_iter=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKB(**kw).fit(X).fit(X)
    ours = _refit(fit(X, **kw), X)
    assert ours.n_iter_ == sk.n_iter_ == 4
    assert rel_err(ours.means_, sk.means_) < 1e-10
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)
    with pytest.raises(ValueError, match="warm_start=True continues from the fitted model"):
        ours.set_params(n_components=3).fit(X)


def _refit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def test_callback_gets_the_posterior_and_can_stop():
    X = blobs(seed=8)
    seen = []

    def stop_at_3(info):
        seen.append(info)
        return info.n_iter == 3

    ours = fit(X, fit_kw=dict(callback=stop_at_3), max_iter=50)
    assert [i.n_iter for i in seen] == [1, 2, 3]
    assert ours.n_iter_ == 3 and not ours.converged_
    last = seen[-1].params
    assert last._fields[0] == "weight_concentration"
    np.testing.assert_array_equal(last.means, ours.means_)
    assert seen[-1].lower_bound == ours.lower_bound_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_resume_gives_the_uninterrupted_model(tmp_path, covariance_type):
    X = blobs(seed=9)
    kw = dict(covariance_type=covariance_type, n_init=2, init_params="k-means++", tol=0.0)
    whole = fit(X, max_iter=12, **kw)
    ckpt = tmp_path / "fit.ckpt"
    fit(X, max_iter=5, fit_kw=dict(checkpoint=ckpt), **kw)
    assert type(streamgmm.load(ckpt)) is streamgmm.BayesianGaussianMixture
    resumed = fit(X, max_iter=12, fit_kw=dict(checkpoint=ckpt, resume=True), **kw)
    for name in ARRAYS + ("mean_prior_", "covariance_prior_"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name
    assert resumed.lower_bounds_ == whole.lower_bounds_
    with pytest.raises(ValueError, match="holds a BayesianGaussianMixture"):
        streamgmm.GaussianMixture(5, max_iter=12).fit(X, checkpoint=ckpt, resume=True)


# -- inference, and scikit-learn's checks ------------------------------------------------


def sklearn_twin(ours):
    sk = SKB(**{k: v for k, v in ours.get_params().items() if k in SKB().get_params()})
    for name in vars(ours):
        if name.endswith("_") and not name.startswith("_"):
            setattr(sk, name, getattr(ours, name))
    return sk


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_methods_match_sklearn_on_the_same_posterior(covariance_type, prior_type):
    kw = dict(covariance_type=covariance_type, weight_concentration_prior_type=prior_type)
    ours = fit(blobs(seed=10), **kw)
    sk = sklearn_twin(ours)
    Y = blobs(seed=11, n_per=40)
    np.testing.assert_array_equal(ours.predict(Y), sk.predict(Y))
    for method in ("score_samples", "predict_proba"):
        got, want = getattr(ours, method)(Y), getattr(sk, method)(Y)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14, err_msg=method)
    assert ours.score(Y) == pytest.approx(sk.score(Y), rel=1e-12)
    (Xo, yo), (Xs, ys) = ours.sample(30), sk.sample(30)
    np.testing.assert_array_equal(Xo, Xs)
    np.testing.assert_array_equal(yo, ys)
    lazy = ours.predict_proba(da.from_array(Y, chunks=(17, 3)))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), ours.predict_proba(Y), rtol=1e-13)
    assert not hasattr(ours, "bic") and not hasattr(sk, "bic")


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_extra_components_are_switched_off(prior_type):
    """Five clusters, twelve components: the prior leaves five with weight."""
    rng = np.random.RandomState(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 20]], dtype=float)
    X = rng.randn(2000, 2) + centres[rng.randint(0, 5, 2000)]
    kw = dict(weight_concentration_prior_type=prior_type, weight_concentration_prior=1e-2)
    ours = fit(X, n_components=12, max_iter=500, **kw)
    assert ours.converged_
    weights = np.sort(ours.weights_)[::-1]
    np.testing.assert_allclose(weights[:5], 0.2, atol=0.01)
    assert weights[5:].sum() < 0.005


BAD = {
    "weight_concentration_prior": -1.0,
    "mean_precision_prior": 0,
    "degrees_of_freedom_prior": "x",
    "weight_concentration_prior_type": "beta",
    "covariance_prior": -2.0,
    "mean_prior": "abc",
    "tol": -1.0,
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_parameter_messages_are_sklearns(name):
    X = blobs(seed=13, n_per=20)
    with pytest.raises(ValueError) as theirs:
        SKB(**{name: BAD[name]}).fit(X)
    with pytest.raises(streamgmm.InvalidParameterError) as ours:
        streamgmm.BayesianGaussianMixture(**{name: BAD[name]}).fit(X)
    assert _sorted_sets(str(ours.value)) == _sorted_sets(str(theirs.value))


def _sorted_sets(text: str) -> str:
    """scikit-learn prints its options as a set: their order is the hash's."""
    return re.sub(r"\{([^}]*)\}", lambda m: str(sorted(m.group(1).split(", "))), text)


def test_unfitted_and_too_few_samples_like_sklearn():
    with pytest.raises(NotFittedError):
        streamgmm.BayesianGaussianMixture().predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        streamgmm.BayesianGaussianMixture(n_components=5).fit(np.arange(6.0).reshape(3, 2))


@parametrize_with_checks([streamgmm.BayesianGaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
