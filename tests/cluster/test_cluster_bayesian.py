"""BayesianGaussianMixture on a real dask.distributed LocalCluster: the model of the local
threads, from an HDF5 file the workers open by path."""

from __future__ import annotations

import warnings

import dask
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import make_blobs

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.distributed

ATTRS = ("weights_", "means_", "covariances_", "weight_concentration_", "mean_prior_")


def fit(X, **kw):
    est = streamgmm.BayesianGaussianMixture(
        n_components=4, n_init=2, max_iter=8, tol=0.0, random_state=0, **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


@pytest.mark.parametrize("init_params", ["kmeans", "random_from_data"])
def test_cluster_fit_equals_local_fit(tmp_path, init_params):
    data = make_blobs(seed=22, n_per=400, d=3)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=data, chunks=(150, 3))
    with dask.config.set(scheduler="threads"):
        ref = fit(data, chunk_size=150, init_params=init_params)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):  # fmt: skip
        got = fit(streamgmm.read_hdf5(path, "/points"), init_params=init_params)
    for name in ATTRS:
        a, b = getattr(got, name), getattr(ref, name)
        a, b = (np.vstack(a), np.vstack(b)) if isinstance(a, tuple) else (a, b)
        np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=name)
    assert got.lower_bounds_ == pytest.approx(ref.lower_bounds_, rel=1e-12)
