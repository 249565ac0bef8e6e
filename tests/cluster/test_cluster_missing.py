"""Missing values (issue 18) on a real dask.distributed LocalCluster with worker processes:
the fit, its start and the imputation equal the local ones."""

from __future__ import annotations

import warnings

import dask
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import assert_same_model, make_blobs

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.distributed


def test_missing_values_on_a_cluster_equal_the_local_fit(client, tmp_path):
    X = make_blobs(seed=22, n_per=400, d=4)
    X[np.random.RandomState(0).random_sample(X.shape) < 0.2] = np.nan
    path = tmp_path / "holes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=X, chunks=(100, 4))
    kw = dict(missing="em", random_state=0, max_iter=8, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        with dask.config.set(scheduler="threads"):
            local = streamgmm.GaussianMixture(3, **kw).fit(X)
            imputed = local.impute(X)
        remote = streamgmm.GaussianMixture(3, **kw).fit(streamgmm.read_hdf5(path, "x"))
    assert_same_model(remote, local, rtol=1e-10)
    lazy = remote.impute(streamgmm.read_hdf5(path, "x"))
    np.testing.assert_allclose(lazy.compute(), imputed, rtol=1e-10)
