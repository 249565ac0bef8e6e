"""scikit-learn compatibility: method parity on shared parameters, meta-estimators, pickling,
pandas feature names, typing, init-array messages (G6) and scikit-learn's estimator checks."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import typing
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SK
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import streamgmm

from conftest import COVARIANCE_TYPES, make_blobs, pinned_start

pd = pytest.importorskip("pandas", reason="pandas is needed for the DataFrame tests")

SHARED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "precisions_",
    "converged_",
    "n_iter_",
    "lower_bound_",
    "n_features_in_",
)


def fit_ours(covariance_type, dtype=np.float64, random_state=0, **kw):
    X = make_blobs(seed=1).astype(dtype)
    start = {k: v.astype(dtype) for k, v in pinned_start(X, 3, covariance_type).items()}
    gm = streamgmm.GaussianMixture(
        3, covariance_type=covariance_type, random_state=random_state, max_iter=5, **start, **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X)


def sklearn_twin(ours):
    """A scikit-learn GaussianMixture holding our fitted parameters."""
    sk = SK(ours.n_components, covariance_type=ours.covariance_type, random_state=ours.random_state)
    for name in SHARED:
        setattr(sk, name, getattr(ours, name))
    return sk


# -- methods on shared parameters ---------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_methods_match_sklearn_on_the_same_parameters(covariance_type, dtype):
    ours = fit_ours(covariance_type, dtype)
    sk = sklearn_twin(ours)
    Y = make_blobs(seed=9, n_per=50).astype(dtype)
    # float32: scikit-learn computes in float32; we compute in float64 and round.
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_array_equal(ours.predict(Y), sk.predict(Y))
    for method in ("score_samples", "predict_proba"):
        got, want = getattr(ours, method)(Y), getattr(sk, method)(Y)
        assert got.dtype == want.dtype == dtype, method
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3, err_msg=method)
    for method in ("score", "bic", "aic"):
        got, want = getattr(ours, method)(Y), getattr(sk, method)(Y)
        assert isinstance(got, float)
        assert got == pytest.approx(float(want), rel=rtol), method


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("random_state", [3, "instance"])
def test_sample_draws_what_sklearn_draws(covariance_type, dtype, random_state):
    seed = np.random.RandomState(3) if random_state == "instance" else random_state
    ours = fit_ours(covariance_type, dtype, random_state=seed)
    twin_seed = np.random.RandomState(3) if random_state == "instance" else random_state
    sk = sklearn_twin(ours).set_params(random_state=twin_seed)
    for n in (1, 17, 200):
        (Xo, yo), (Xs, ys) = ours.sample(n), sk.sample(n)
        assert Xo.dtype == Xs.dtype and yo.dtype == ys.dtype
        np.testing.assert_array_equal(Xo, Xs)
        np.testing.assert_array_equal(yo, ys)


def test_sample_refuses_zero_like_sklearn():
    gm = fit_ours("diag")
    with pytest.raises(
        ValueError, match="Invalid value for 'n_samples': 0 . The sampling requires"
    ):
        gm.sample(0)


def test_lazy_methods_on_dask_input_equal_numpy_ones():
    gm = fit_ours("full")
    Y = make_blobs(seed=9, n_per=50)
    Yd = da.from_array(Y, chunks=(31, 3))
    for method in ("score_samples", "predict", "predict_proba"):
        lazy = getattr(gm, method)(Yd)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(lazy.compute(), getattr(gm, method)(Y), rtol=1e-13)
    assert gm.score(Yd) == pytest.approx(gm.score(Y), rel=1e-13)


# -- meta-estimators, pickling ------------------------------------------------------------


def test_clone_gives_an_unfitted_copy_with_the_same_parameters():
    gm = fit_ours("tied", chunk_size=64)
    copy = clone(gm)
    ours, theirs = copy.get_params(), gm.get_params()
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert (
            np.array_equal(value, theirs[name])
            if name.endswith("_init")
            else (value == theirs[name])
        ), name
    assert not hasattr(copy, "means_") and hasattr(gm, "means_")


def test_pipeline_like_sklearn():
    X = make_blobs(seed=12) * [1.0, 100.0, 0.01]
    ours = make_pipeline(StandardScaler(), streamgmm.GaussianMixture(3, random_state=0)).fit(X)
    sk = make_pipeline(StandardScaler(), SK(3, random_state=0)).fit(X)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.score(X) == pytest.approx(sk.score(X), rel=1e-8)


def test_grid_search_like_sklearn():
    X = make_blobs(seed=13, n_per=40)
    grid = {"n_components": [2, 4], "covariance_type": ["full", "spherical"]}
    kw = dict(cv=2)
    ours = GridSearchCV(streamgmm.GaussianMixture(random_state=0), grid, **kw).fit(X)
    sk = GridSearchCV(SK(random_state=0), grid, **kw).fit(X)
    assert ours.best_params_ == sk.best_params_
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], sk.cv_results_["mean_test_score"], rtol=1e-8
    )


PLAIN = (bool, int, float, str, type(None), np.ndarray, list, np.random.RandomState)


@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_pickle_round_trip(container):
    X = make_blobs(seed=14)
    w = np.arange(len(X)) % 3 + 1.0
    if container == "dask":
        X, w = da.from_array(X, chunks=(100, 3)), da.from_array(w, chunks=100)
    seen = []
    gm = streamgmm.GaussianMixture(3, random_state=np.random.RandomState(0), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=w, callback=seen.append)
    assert seen, "the callback ran"
    # Nothing the fit saw (data, callback, sources, file handles) is kept.
    for name, value in vars(gm).items():
        assert isinstance(value, PLAIN), f"{name} is a {type(value).__name__}"
    back = pickle.loads(pickle.dumps(gm))
    assert back.get_params().keys() == gm.get_params().keys()
    Y = make_blobs(seed=15, n_per=40)
    np.testing.assert_array_equal(back.predict_proba(Y), gm.predict_proba(Y))
    np.testing.assert_array_equal(back.sample(5)[0], gm.sample(5)[0])  # same RandomState state


def test_unfitted_estimator_pickles():
    gm = streamgmm.GaussianMixture(2, covariance_type="diag", chunk_size=10)
    assert pickle.loads(pickle.dumps(gm)).get_params() == gm.get_params()


# -- pandas ----------------------------------------------------------------------------------------


def _both(fit_or_call):
    """Run a call on ours and on scikit-learn's estimator; (results, warnings) of each."""
    out = []
    for cls in (streamgmm.GaussianMixture, SK):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fit_or_call(cls)
            except Exception as exc:  # compared below, type and text
                result = (type(exc), str(exc))
        out.append((result, [(w.category, str(w.message)) for w in caught]))
    return out


def test_dataframe_feature_names_like_sklearn():
    X = make_blobs(seed=16)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    (ours, _), (sk, _) = _both(lambda cls: cls(2, random_state=0).fit(df))
    np.testing.assert_array_equal(ours.feature_names_in_, sk.feature_names_in_)
    assert ours.feature_names_in_.dtype == object and ours.n_features_in_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same names: no feature-name warning
        np.testing.assert_array_equal(ours.predict(df), sk.predict(df))


@pytest.mark.parametrize(
    "case",
    ["numpy_after_frame", "frame_after_numpy", "reordered_columns", "renamed_columns"],
)
def test_feature_name_checks_at_predict_like_sklearn(case):
    X = make_blobs(seed=16)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    fit_on, predict_on = {
        "numpy_after_frame": (df, X),
        "frame_after_numpy": (X, df),
        "reordered_columns": (df, df[["c", "a", "b"]]),
        "renamed_columns": (df, df.set_axis(["a", "b", "z"], axis=1)),
    }[case]

    def call(cls):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = cls(2, random_state=0, max_iter=3).fit(fit_on)
        return est.predict(predict_on)

    (ours, ours_w), (sk, sk_w) = _both(call)
    assert ours_w == sk_w
    if isinstance(sk, tuple):  # an error: same type, same message
        assert ours == sk
    else:
        np.testing.assert_array_equal(ours, sk)


@pytest.mark.parametrize("columns", [[0, 1, 2], ["a", 1, "c"]], ids=["ints", "mixed"])
def test_non_string_column_names_like_sklearn(columns):
    df = pd.DataFrame(make_blobs(seed=16), columns=columns)
    (ours, _), (sk, _) = _both(lambda cls: cls(2, random_state=0).fit(df))
    if isinstance(sk, tuple):
        assert ours == sk  # mixed names: scikit-learn's TypeError
    else:
        assert not hasattr(ours, "feature_names_in_") and not hasattr(sk, "feature_names_in_")


def test_refit_on_numpy_forgets_feature_names():
    X = make_blobs(seed=16)
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=list("abc")))
    assert hasattr(gm, "feature_names_in_")
    assert not hasattr(gm.fit(X), "feature_names_in_")


def test_sample_weight_as_a_series():
    X = make_blobs(seed=16)
    w = np.arange(len(X)) % 4 + 0.5
    a = streamgmm.GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    b = streamgmm.GaussianMixture(2, random_state=0).fit(
        pd.DataFrame(X), sample_weight=pd.Series(w)
    )
    np.testing.assert_array_equal(a.means_, b.means_)


# -- typing ------------------------------------------------------------------------------


def test_py_typed_marker_ships():
    assert (Path(streamgmm.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(
    "method",
    [
        "__init__",
        "fit",
        "fit_predict",
        "predict",
        "predict_proba",
        "score_samples",
        "score",
        "bic",
        "aic",
        "sample",
    ],
)
def test_public_methods_are_annotated(method):
    func = getattr(streamgmm.GaussianMixture, method)
    hints = typing.get_type_hints(func)  # also checks that every annotation resolves
    params = [p for p in func.__code__.co_varnames[1 : func.__code__.co_argcount]]
    params += list(
        func.__code__.co_varnames[func.__code__.co_argcount :][: func.__code__.co_kwonlyargcount]
    )
    assert "return" in hints
    assert set(params) <= set(hints), set(params) - set(hints)


# -- init arrays (RELIABILITY G6) ------------------------------------------------------------------

BAD_INITS = {
    "weights shape": dict(weights_init=np.full((2, 1), 0.5)),
    "weights range": dict(weights_init=np.array([1.2, 1.7])),
    "weights sum": dict(weights_init=np.array([0.3, 0.3])),
    "weights nan": dict(weights_init=[0.5, np.nan]),
    "weights str": dict(weights_init=["a", "b"]),
    "means shape": dict(means_init=np.zeros((3, 3))),
    "means ndim": dict(means_init=np.zeros((2, 3, 1))),
    "means inf": dict(means_init=[[0, 0, np.inf], [0, 0, 0]]),
    "full shape": dict(precisions_init=np.ones((3, 3, 3))),
    "full not pd": dict(precisions_init=-np.ones((2, 3, 3))),
    "full not symmetric": dict(
        precisions_init=np.stack([np.eye(3), np.eye(3) + np.triu(np.ones((3, 3)), 1)])
    ),
    "tied not pd": dict(covariance_type="tied", precisions_init=-np.eye(3)),
    "tied shape": dict(covariance_type="tied", precisions_init=np.eye(2)),
    "diag negative": dict(covariance_type="diag", precisions_init=-np.ones((2, 3))),
    "diag shape": dict(covariance_type="diag", precisions_init=np.ones((2, 2))),
    "spherical zero": dict(covariance_type="spherical", precisions_init=np.zeros(2)),
    "spherical shape": dict(covariance_type="spherical", precisions_init=np.ones(3)),
}


@pytest.mark.parametrize("case", list(BAD_INITS))
def test_init_array_messages(case):
    """scikit-learn's message, word for word; check_array's messages name the parameter too.

    One deliberate difference: scikit-learn prints min and max swapped in the range
    message ("max value <min>, min value <max>"); we print them the right way round.
    """
    X = make_blobs(seed=0, n_per=20)
    kw = BAD_INITS[case]
    with pytest.raises(ValueError) as sk_err:
        SK(2, **kw).fit(X)
    with pytest.raises(ValueError) as ours:
        streamgmm.GaussianMixture(2, **kw).fit(X)
    sk_msg, our_msg = str(sk_err.value), str(ours.value)
    if case == "weights range":
        w = kw["weights_init"]
        assert sk_msg.endswith(f"max value {w.min():.5f}, min value {w.max():.5f}")
        sk_msg = sk_msg.replace(f"{w.min():.5f}", "MIN").replace(f"{w.max():.5f}", "MAX")
        sk_msg = sk_msg.replace("max value MIN, min value MAX", f"max value {w.max():.5f}, ")
        sk_msg += f"min value {w.min():.5f}"
    assert our_msg == sk_msg or our_msg.startswith(sk_msg + " (in the parameter '"), (
        our_msg,
        sk_msg,
    )


def test_init_arrays_in_float32_are_kept_like_sklearn():
    X = make_blobs(seed=0, n_per=20)
    w = np.array([0.5, 0.5 + 5e-7], dtype=np.float32)  # normalised within float32's atol
    assert SK(2, weights_init=w, max_iter=0).fit(X).weights_.dtype == np.float32
    assert streamgmm.GaussianMixture(2, weights_init=w, max_iter=0).fit(X).weights_init is w


# -- scikit-learn's estimator checks -------------------------------------------------------------

#: Each expected failure, with its reason. All are wording or input kinds decided in
#: _data.source.as_source (owned by the data-source layer); the changes are requested there.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

ESTIMATORS = [streamgmm.GaussianMixture()]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [streamgmm.GaussianMixture(chunk_size=3)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks_on_tiny_blocks(estimator, check):
    """The same checks with 3-row blocks: every method is blockwise, results must not move."""
    check(estimator)


def test_estimator_check_counts(capsys):
    """Record how many of scikit-learn's checks run, and how many are expected to fail."""
    mark = parametrize_with_checks(
        ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
    )
    params, name_of = mark.args[1], mark.kwargs["ids"]
    xfail = [p for p in params if any(m.name == "xfail" for m in getattr(p, "marks", ()))]
    # Every expected failure names a check that runs (no stale entries).
    assert {name_of(p.values[1]) for p in xfail} == set(EXPECTED_FAILED_CHECKS)
    with capsys.disabled():
        print(
            f"\nscikit-learn estimator checks per estimator: {len(params)} run, "
            f"{len(params) - len(xfail)} expected to pass (or skip), {len(xfail)} expected to fail"
        )
    assert len(params) > 40


def test_array_api_input_is_converted_as_scikit_learn_converts_it():
    xp = pytest.importorskip("array_api_strict")
    X = make_blobs(seed=3)
    ours = streamgmm.GaussianMixture(3, random_state=0).fit(xp.asarray(X))
    ref = streamgmm.GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.means_, ref.means_)
    np.testing.assert_array_equal(ours.predict(xp.asarray(X)), ref.predict(X))


DISPATCH = r"""
import sys, warnings
import numpy as np, sklearn, array_api_strict as xp
from sklearn.mixture import GaussianMixture as SK
import streamgmm
warnings.simplefilter("ignore")
X = xp.asarray(np.random.RandomState(0).randn(60, 2))
with sklearn.config_context(array_api_dispatch=True):
    for init in ("kmeans", "k-means++", "random", "random_from_data"):
        for cls in (SK, streamgmm.GaussianMixture):
            try:
                cls(2, random_state=0, init_params=init).fit(X)
                print(init, "ok")
            except NotImplementedError as exc:
                print(init, "refused", exc)
"""


@pytest.mark.subprocess
def test_array_api_dispatch_refuses_what_scikit_learn_refuses():
    pytest.importorskip("array_api_strict")
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    done = subprocess.run(
        [sys.executable, "-c", DISPATCH], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 8
    for sk, ours in zip(lines[::2], lines[1::2], strict=True):
        assert sk == ours  # the same outcome, refusals word for word
    assert sum("refused" in line for line in lines) == 4  # kmeans and k-means++, both
