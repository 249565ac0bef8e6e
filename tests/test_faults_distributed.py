"""Worker loss on a real LocalCluster (RELIABILITY P4, P5)."""

from __future__ import annotations

import os
import signal
import warnings

import dask
import dask.array as da
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import assert_same_model, make_blobs, pinned_start

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.distributed


class PoisonReader:
    """An array-like whose block starting at row ``poison`` kills the process reading it."""

    def __init__(self, data, poison):
        self.data, self.poison = data, poison
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def __getitem__(self, index):
        rows = index[0] if isinstance(index, tuple) else index
        if isinstance(rows, slice) and rows.start == self.poison and rows.stop != rows.start:
            os._exit(1)
        return self.data[index]


def cluster(**config):
    with dask.config.set(config):
        return distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )


def test_worker_killed_mid_fit_the_fit_completes_unchanged():
    """P4: SIGKILL one worker after iteration 2; Dask recomputes its blocks."""
    data = make_blobs(seed=70, n_per=400)
    X = da.from_array(data, chunks=(100, 3))
    start = pinned_start(data, 3, "full")
    kw = dict(max_iter=8, tol=0.0, cache=False, **start)
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = streamgmm.GaussianMixture(3, **kw).fit(X)
    with cluster() as lc, distributed.Client(lc) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_one(info):
            if info.n_iter == 2 and not killed:
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = streamgmm.GaussianMixture(3, **kw).fit(X, callback=kill_one)
    assert killed
    assert gm.n_iter_ == 8
    assert_same_model(gm, ref, rtol=1e-10)


def test_a_block_that_kills_every_worker_is_named():
    """P5: the block at rows 300..399 calls os._exit(1) in whichever worker reads it."""
    data = make_blobs(seed=71, n_per=200)
    X = da.from_array(PoisonReader(data, 300), chunks=(100, 3), asarray=True)
    with cluster(**{"distributed.scheduler.allowed-failures": 1}) as lc, distributed.Client(lc):
        gm = streamgmm.GaussianMixture(3, cache=False, **pinned_start(data, 3, "full"))
        with pytest.raises(RuntimeError, match=r"block 3 \(rows 300\.\.399\) .* 2 times") as e:
            gm.fit(X)
    assert type(e.value.__cause__).__name__ == "KilledWorker"
    assert not hasattr(gm, "means_")
