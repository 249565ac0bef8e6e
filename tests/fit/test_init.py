"""Initialisation: the same starting parameters as scikit-learn from the same seed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SK
from sklearn.preprocessing import StandardScaler

import streamgmm
from streamgmm._fit.init import KMEANS_MAX_PASSES

from conftest import COVARIANCE_TYPES, assert_same_model, make_blobs

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def start_of(cls, X, **kw):
    """The initial parameters: a fit with max_iter=0."""
    return cls(max_iter=0, **kw).fit(X)


def datasets():
    return {
        "blobs": make_blobs(seed=1),
        # scikit-learn's KMeans stops on tol here, not on unchanged labels, so its
        # closing assignment to the final centres matters.
        "scaled": StandardScaler().fit_transform(make_blobs(seed=12) * [1.0, 100.0, 0.01]),
        "overlapping": make_blobs(seed=2, spread=1.5),
    }


@pytest.mark.parametrize(
    "init_params, data",
    [
        ("k-means++", "blobs"),
        ("k-means++", "scaled"),
        ("k-means++", "overlapping"),
        ("kmeans", "blobs"),
        ("kmeans", "scaled"),
        # Not ("kmeans", "overlapping"): scikit-learn's k-means takes 15 and 25 Lloyd
        # iterations there, we stop at KMEANS_MAX_PASSES = 10 (docs/user-guide.md, out of core).
    ],
)
def test_kmeans_inits_like_sklearn(init_params, data):
    X = datasets()[data]
    for seed in (0, 1):
        kw = dict(n_components=3, init_params=init_params, random_state=seed)
        if init_params == "kmeans":
            lloyd = KMeans(3, n_init=1, random_state=seed).fit(X).n_iter_
            assert lloyd <= KMEANS_MAX_PASSES, "a case our pass cap does not cover"
        sk, ours = start_of(SK, X, **kw), start_of(streamgmm.GaussianMixture, X, **kw)
        assert_same_model(ours, sk, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_weighted_kmeans_plus_plus_picks_sklearns_rows(seed):
    """scikit-learn's kmeans_plusplus takes weights; GaussianMixture's does not (yet)."""
    X = make_blobs(seed=3)
    w = np.random.RandomState(seed).randint(0, 5, len(X)).astype(float)
    _, rows = kmeans_plusplus(X, 4, sample_weight=w, random_state=seed)
    gm = streamgmm.GaussianMixture(4, init_params="k-means++", random_state=seed, max_iter=0)
    gm.fit(X, sample_weight=w)
    np.testing.assert_allclose(gm.means_, X[rows], rtol=1e-14)  # means are x / (1 + 10 eps)


@pytest.mark.parametrize(
    "given",
    ["weights_init", "means_init", "precisions_init", "weights_init+means_init"],
)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_partial_init_arrays_like_sklearn(given, covariance_type):
    """Missing init arrays come from the init method, the given ones replace them.

    Compared after 1 and 5 iterations: scikit-learn 1.9 cannot fit max_iter=0 with
    precisions_init alone (AttributeError: no covariances_), and its raw-moment
    covariances of the one-row starts carry eps * x^2 of noise next to reg_covar.
    """
    X = make_blobs(seed=4)
    d = X.shape[1]
    arrays = {
        "weights_init": np.array([0.2, 0.3, 0.5]),
        "means_init": X[[5, 50, 500]] + 0.1,
        "precisions_init": {
            "full": np.stack([np.eye(d) * 0.5] * 3),
            "diag": np.full((3, d), 0.5),
            "spherical": np.full(3, 0.5),
        }[covariance_type],
    }
    kw = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        tol=0.0,
    )
    kw.update({name: arrays[name] for name in given.split("+")})
    for max_iter in (1, 5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = SK(max_iter=max_iter, **kw).fit(X)
            ours = streamgmm.GaussianMixture(max_iter=max_iter, **kw).fit(X)
        assert_same_model(ours, sk, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_nonfinite_data_is_named_by_every_init(init_params):
    """Not a ZeroDivisionError or an 'ill-defined covariance' from the initialisation."""
    X = make_blobs(seed=5)
    X[37, 1] = np.nan
    gm = streamgmm.GaussianMixture(3, init_params=init_params, random_state=0, chunk_size=50)
    with pytest.raises(ValueError, match=r"NaN or infinity at row 37 .*column 1"):
        gm.fit(X)
    assert not hasattr(gm, "means_")


@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_starts_do_not_depend_on_chunking(init_params):
    X = make_blobs(seed=6)
    starts = [
        start_of(
            streamgmm.GaussianMixture,
            X,
            n_components=3,
            init_params=init_params,
            random_state=0,
            chunk_size=chunk_size,
        )
        for chunk_size in (7, 64, len(X))
    ]
    for other in starts[1:]:
        assert_same_model(other, starts[0], rtol=1e-12)


@pytest.mark.parametrize("chunk_size", [97, 1000, 6000])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_random_init_draws_sklearns_stream(chunk_size, covariance_type):
    """'random' draws scikit-learn's uniform(size=(n, K)) row by row, whatever the blocks."""
    X = make_blobs(seed=7, n_per=2000)
    kw = dict(n_components=3, init_params="random", random_state=0, n_init=2)
    ours = start_of(
        streamgmm.GaussianMixture, X, covariance_type=covariance_type, chunk_size=chunk_size, **kw
    )
    sk = start_of(SK, X, covariance_type=covariance_type, **kw)
    assert_same_model(ours, sk, rtol=1e-10)
