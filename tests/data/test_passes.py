"""The coordinator: one read of each block per pass, whatever the number of models."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import streamgmm
from streamgmm._data.blocks import ModelAssigner, NearestCentreAssigner
from streamgmm._data.passes import statistics_pass_many
from streamgmm._data.source import as_source
from streamgmm._model.mstep import m_step

from conftest import CountingReader, make_blobs


def test_many_models_share_one_read_of_each_block():
    X = make_blobs(seed=30, n_per=200)
    reader = CountingReader(X)
    source = as_source(da.from_array(reader, chunks=(64, 3), asarray=True))
    n_blocks = len(source.array.chunks[0])
    hard = statistics_pass_many(source, [(NearestCentreAssigner(X[:3]), "full", True)])[0]
    reader.reads = 0
    models = [ModelAssigner(m_step(hard, 1e-6), "full"), NearestCentreAssigner(X[5:9])]
    jobs = [(models[0], "full", True), (models[1], "diag", True), (models[0], "tied", False)]
    many = statistics_pass_many(source, jobs)
    assert reader.reads == n_blocks
    for (assigner, cov, with_m2), got in zip(jobs, many, strict=True):
        want = statistics_pass_many(source, [(assigner, cov, with_m2)])[0]
        assert got.covariance_type == cov
        np.testing.assert_array_equal(got.nk, want.nk)
        np.testing.assert_array_equal(got.means, want.means)
        assert (got.m2 is None) == (not with_m2)
        if with_m2:
            np.testing.assert_array_equal(got.m2, want.m2)
        assert got.log_lik == want.log_lik


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_one_block_in_memory_skips_dask_and_gives_the_graphs_model_bit_for_bit(
    covariance_type, init_params
):
    """Small data (one block of a NumPy array) call the kernels directly; the same block
    through a Dask graph gives the same model, bit for bit."""
    X = make_blobs(seed=5)
    kw = dict(covariance_type=covariance_type, init_params=init_params, random_state=0)
    direct = streamgmm.GaussianMixture(3, **kw)
    assert as_source(X, n_components=3).local_block() is not None
    direct.fit(X)
    graph = streamgmm.GaussianMixture(3, **kw).fit(da.from_array(X, chunks=X.shape))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(direct, name).tobytes() == getattr(graph, name).tobytes(), name
    assert direct.lower_bounds_ == graph.lower_bounds_
    np.testing.assert_array_equal(direct.predict_proba(X), graph.predict_proba(X))
    assert direct.score(X) == graph.score(X)
