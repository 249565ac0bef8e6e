"""Fit on a Dask cluster: a LocalCluster stands in for a real one.

Run: python examples/dask_cluster.py [--rows 1000000] [--workers 2]

On a real cluster, replace the LocalCluster with ``Client("tcp://scheduler:8786")``
and put the HDF5 file where every worker can read it at the same path. The graph
holds the file's path and dataset name, never data or open handles, so workers
read their own blocks; only statistics (K x d x d numbers per block) travel.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile

import h5py
import numpy as np
from distributed import Client, LocalCluster

import streamgmm


def main(n_rows=1_000_000, workers=2, folder=None):
    """Fit the same file with local threads and on a cluster; ``folder`` holds the file
    (default: a temporary folder, removed at the end)."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="streamgmm-example-") as tmp:
            return main(n_rows, workers, tmp)
    path = os.path.join(folder, "data.h5")
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:  # small enough to write at once in this example
        labels = rng.integers(0, 3, n_rows)
        f["points"] = rng.standard_normal((n_rows, 2)) + np.array([[0, 0], [5, 5], [-5, 5]])[labels]

    X = streamgmm.read_hdf5(path, "/points")
    local = streamgmm.GaussianMixture(3, random_state=0).fit(X)  # local threads

    # host="127.0.0.1": the scheduler, workers and dashboard listen on this machine only
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        served = importlib.util.find_spec("bokeh") is not None  # the dashboard needs bokeh
        dashboard = (
            client.dashboard_link if served else 'none (pip install "streamgmm[distributed]")'
        )
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers, "
              f"dashboard {dashboard}")  # fmt: skip
        remote = streamgmm.GaussianMixture(3, random_state=0).fit(X)  # same call, on the cluster
    diff = np.abs(remote.means_ - local.means_).max() / np.abs(local.means_).max()
    print(f"local threads and cluster agree: max relative difference of the means {diff:.1e}")
    return local, remote


if __name__ == "__main__":  # required: worker processes import this file again
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    main(args.rows, args.workers)
