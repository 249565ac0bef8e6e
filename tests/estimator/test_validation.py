"""Bad input gets a clear error naming the problem, before any kernel sees data."""

from __future__ import annotations

import re

import dask.array as da
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import streamgmm
from streamgmm import InvalidParameterError

from conftest import make_blobs


def assert_no_numba(excinfo):
    exc = excinfo.value
    while exc is not None:
        assert "numba" not in type(exc).__module__ and "TypingError" not in type(exc).__name__
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_nonfinite_is_reported_with_its_global_row(value, kind):
    X = make_blobs(seed=0, n_per=400)  # 1,200 rows
    X[1123, 2] = value
    gm = streamgmm.GaussianMixture(
        2, chunk_size=100, init_params="random_from_data", random_state=0
    )
    with pytest.raises(
        ValueError, match=r"NaN or infinity at row 1,123 .*block 11, rows 1,100..1,199.*column 2"
    ) as e:
        gm.fit(X)
    assert_no_numba(e)
    assert not hasattr(gm, "means_")


def test_nonfinite_in_dask_input_is_reported():
    X = make_blobs(seed=0)
    X[5, 0] = np.nan
    with pytest.raises(ValueError, match="row 5 "):
        streamgmm.GaussianMixture(2, init_params="random_from_data", random_state=1).fit(
            da.from_array(X, chunks=(37, 3))
        )


def test_overflowing_values_are_refused():
    X = make_blobs(seed=0)
    X[10] = 1e200
    gm = streamgmm.GaussianMixture(
        2, means_init=X[:2] * 0, weights_init=[0.5, 0.5], precisions_init=np.stack([np.eye(3)] * 2)
    )
    with pytest.raises(ValueError, match=r"row 10 .*too large"):
        gm.fit(X)
    assert not hasattr(gm, "means_")


@pytest.mark.parametrize("shape", [(10,), (10, 3, 1)])
def test_wrong_ndim(shape):
    with pytest.raises(ValueError, match=r"expected 2-D \(n_samples, n_features\), got shape") as e:
        streamgmm.GaussianMixture(1).fit(np.zeros(shape))
    assert len(str(e.value)) < 300


@pytest.mark.parametrize(
    "shape, what", [((0, 3), r"0 sample\(s\) \(shape=\(0, 3\)\)"), ((5, 0), r"0 feature\(s\)")]
)
def test_empty(shape, what):
    with pytest.raises(ValueError, match=what):
        streamgmm.GaussianMixture(1).fit(np.zeros(shape))


def test_fewer_samples_than_components():
    with pytest.raises(
        ValueError,
        match="Expected n_samples >= n_components but got n_components = 10, n_samples = 5",
    ):
        streamgmm.GaussianMixture(10).fit(np.random.RandomState(0).randn(5, 2))


def test_one_sample():
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        streamgmm.GaussianMixture(1).fit(np.ones((1, 2)))


@pytest.mark.parametrize(
    "X",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[1 + 1j, 2], [3, 4]]),
        np.array([[object(), 1], [2, 3]], dtype=object),
        np.zeros((3, 2), dtype="datetime64[s]"),
    ],
    ids=["str", "complex", "object", "datetime"],
)
def test_non_numeric_dtypes(X):
    with pytest.raises(TypeError, match=re.escape(f"dtype {X.dtype}")) as e:
        streamgmm.GaussianMixture(1).fit(X)
    assert_no_numba(e)


@pytest.mark.parametrize(
    "param, value",
    [
        ("n_components", 0),
        ("n_components", 1.5),
        ("tol", -1.0),
        ("reg_covar", -1e-3),
        ("max_iter", -1),
        ("n_init", 0),
        ("covariance_type", "ful"),
        ("init_params", "kmean"),
        ("verbose_interval", 0),
        ("warm_start", "yes"),
        ("chunk_size", 0),
        ("chunk_size", "big"),
    ],
)
def test_bad_hyperparameters(param, value):
    X = make_blobs(seed=0)
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of GaussianMixture"):
        streamgmm.GaussianMixture(**{"n_components": 2, param: value}).fit(X)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weights_init=[0.5, 0.6]), "should be normalized"),
        (dict(weights_init=[1.5, -0.5]), r"should be in the range \[0, 1\]"),
        (dict(weights_init=[1.0]), r"The parameter 'weights' should have the shape of \(2,\)"),
        (
            dict(means_init=np.zeros((3, 3))),
            r"The parameter 'means' should have the shape of \(2, 3\)",
        ),
        (
            dict(precisions_init=np.stack([np.eye(3), -np.eye(3)])),
            "'full precision' should be symmetric, positive-definite",
        ),
        (dict(precisions_init=np.eye(2)), r"'full precision' should have the shape of \(2, 3, 3\)"),
        (
            dict(covariance_type="diag", precisions_init=-np.ones((2, 3))),
            "'diag precision' should be positive",
        ),
        (
            dict(covariance_type="tied", precisions_init=np.ones((3, 3))),
            "'tied precision' should be symmetric, positive-definite",
        ),
    ],
)
def test_bad_init_arrays(kwargs, message):
    with pytest.raises(ValueError, match=message):
        streamgmm.GaussianMixture(2, **kwargs).fit(make_blobs(seed=0))


def test_init_arrays_are_not_mutated():
    means = np.zeros((2, 3))
    weights = [0.5, 0.5]
    gm = streamgmm.GaussianMixture(2, means_init=means, weights_init=weights, max_iter=2)
    with pytest.warns(Warning):
        gm.fit(make_blobs(seed=0))
    assert gm.means_init is means and np.all(means == 0)
    assert gm.weights_init is weights


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "sample"])
def test_not_fitted(method):
    gm = streamgmm.GaussianMixture(2)
    args = () if method == "sample" else (np.zeros((3, 3)),)
    with pytest.raises(NotFittedError):
        getattr(gm, method)(*args)


@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_wrong_number_of_features_at_predict(container, method):
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(make_blobs(seed=0))
    X4 = np.zeros((5, 4))
    if container == "dask":
        X4 = da.from_array(X4, chunks=2)
    with pytest.raises(
        ValueError, match="X has 4 features, but GaussianMixture is expecting 3 features as input."
    ):
        getattr(gm, method)(X4)


def test_nan_at_predict_names_the_row():
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(make_blobs(seed=0))
    X = make_blobs(seed=1)
    X[42, 1] = np.nan
    with pytest.raises(ValueError, match="row 42 of the input array, column 1"):
        gm.predict(X)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_overflowing_rows_at_inference_are_named_as_in_fit(method):
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(make_blobs(seed=0))
    X = make_blobs(seed=1)
    X[57] = 1e200  # finite, but its squares overflow: no density can be computed
    with pytest.raises(ValueError, match=r"row 57 of the input array are too large"):
        getattr(gm, method)(X)


def test_ill_defined_covariance_matches_sklearn_and_names_component():
    from sklearn.mixture import GaussianMixture as SK

    X = np.vstack([np.ones((10, 2)), np.zeros((10, 2))])
    kw = dict(n_components=2, reg_covar=0, init_params="random_from_data", random_state=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance") as sk_err:
        SK(**kw).fit(X)
    with pytest.raises(ValueError, match="ill-defined empirical covariance") as ours:
        streamgmm.GaussianMixture(**kw).fit(X)
    assert str(ours.value).startswith(str(sk_err.value))
    assert "(component " in str(ours.value)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("n_per", [100, 20_000])  # the seeding sample in memory, or k-means||
def test_a_row_whose_squares_overflow_is_named_whatever_the_init(init_params, n_per):
    X = make_blobs(seed=2, n_per=n_per)
    X[len(X) - 7] = 1e200
    row = f"{len(X) - 7:,}"
    with pytest.raises(ValueError, match=rf"values at row {row} of .* are too large"):
        streamgmm.GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
