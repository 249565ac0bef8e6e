"""Let the data choose the number of components: a Bayesian mixture of 20 components fitted
to an HDF5 file that holds 5 clusters; the prior switches the 15 extra components off.

Run: python examples/bayesian_hdf5.py [--rows 100000] [--folder DIR]

The file is written block by block and read block by block (one pass per iteration);
``BayesianGaussianMixture`` is scikit-learn's estimator of the same name, out of core.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import dask.array as da
import numpy as np

import streamgmm

TRUE_CLUSTERS = 5


def make_file(path, n_rows, seed=0):
    """n_rows x 3 float64 rows from 5 unit Gaussians, generated and written block by block."""
    centres = np.random.default_rng(seed).uniform(-10, 10, (TRUE_CLUSTERS, 3))

    def block(index, block_info=None):
        rows = block_info[None]["chunk-shape"][0]
        rng = np.random.default_rng([seed, int(index[0])])
        return rng.standard_normal((rows, 3)) + centres[rng.integers(0, TRUE_CLUSTERS, rows)]

    step = 50_000
    sizes = (step,) * (n_rows // step) + ((n_rows % step,) if n_rows % step else ())
    X = da.arange(len(sizes), chunks=1).map_blocks(
        block, chunks=(sizes, (3,)), new_axis=1, dtype=np.float64, meta=np.empty((0, 3))
    )
    streamgmm.write_hdf5(X, path, "/points", overwrite=True)


def main(n_rows=100_000, folder=None):
    folder = folder or tempfile.mkdtemp(prefix="streamgmm-example-")
    data, model = os.path.join(folder, "data.h5"), os.path.join(folder, "bayesian.h5")
    make_file(data, n_rows)
    X = streamgmm.read_hdf5(data, "/points")

    # Many components, a Dirichlet-process prior on the weights (scikit-learn's default).
    # A "random" start gives every component some of every cluster, and the prior then
    # empties those the data do not need; a kmeans start with 20 centres would cut the 5
    # clusters into pieces that variational inference rarely merges again.
    bgm = streamgmm.BayesianGaussianMixture(
        n_components=20, init_params="random", max_iter=1000, random_state=0
    )
    bgm.fit(X)
    print(f"converged={bgm.converged_} after {bgm.n_iter_} iterations")

    weights = np.sort(bgm.weights_)[::-1]
    print("weights, largest first:")
    print("  " + " ".join(f"{w:.3f}" for w in weights))
    used = int(np.sum(bgm.weights_ > 0.01))
    print(
        f"{used} components with weight > 0.01 (the data have {TRUE_CLUSTERS}); the other "
        f"{bgm.n_components - used} hold {weights[used:].sum():.1e} of the weight together"
    )
    bgm.save(model)
    assert type(streamgmm.load(model)) is streamgmm.BayesianGaussianMixture
    return bgm


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--folder")
    args = parser.parse_args()
    main(args.rows, args.folder)
