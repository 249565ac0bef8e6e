"""Fit a mixture to an HDF5 file block by block, save the model, and write labels to HDF5.

Run: python examples/out_of_core_hdf5.py [--rows 2000000] [--folder DIR]

The files go to --folder, or to a temporary folder that is removed at the end.

Nothing here holds the data whole: the file is written block by block, each EM
iteration reads it once, and the labels are computed and written block by block.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import dask.array as da
import h5py
import numpy as np

import streamgmm


def make_file(path, n_rows, seed=0):
    """n_rows x 3 float64 rows from 4 Gaussians, generated and written one block at a time."""
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 7.0, 7.0], [8.0, 0.0, 8.0]])

    def block(index, block_info=None):
        rows = block_info[None]["chunk-shape"][0]
        rng = np.random.default_rng([seed, int(index[0])])
        return rng.standard_normal((rows, 3)) + centres[rng.integers(0, 4, rows)]

    step = 250_000
    sizes = (step,) * (n_rows // step) + ((n_rows % step,) if n_rows % step else ())
    X = da.arange(len(sizes), chunks=1).map_blocks(
        block, chunks=(sizes, (3,)), new_axis=1, dtype=np.float64, meta=np.empty((0, 3))
    )
    streamgmm.write_hdf5(X, path, "/points", overwrite=True)


def main(n_rows=2_000_000, folder=None):
    """Write, fit, save, predict in ``folder`` (default: a temporary one, removed at the end)."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="streamgmm-example-") as tmp:
            return main(n_rows, tmp)
    data, model, labels = (os.path.join(folder, n) for n in ("data.h5", "model.h5", "labels.h5"))
    make_file(data, n_rows)
    print(f"data: {n_rows:,} rows x 3 in {data} ({os.path.getsize(data) / 1e6:.0f} MB)")

    X = streamgmm.read_hdf5(data, "/points")  # a lazy Dask array that reopens the file by path
    gm = streamgmm.GaussianMixture(4, random_state=0)
    gm.fit(X, callback=lambda info: print(f"  iteration {info.n_iter}: {info.lower_bound:.5f}"))
    print(f"converged={gm.converged_} after {gm.n_iter_} iterations")

    gm.save(model)
    again = streamgmm.load(model)
    assert all(np.array_equal(getattr(gm, a), getattr(again, a)) for a in ("means_", "weights_"))

    streamgmm.write_hdf5(again.predict(X), labels, "/labels", overwrite=True)  # block by block
    with h5py.File(labels, "r") as f:
        counts = np.bincount(f["labels"][()], minlength=4)
    print(f"model in {model}; labels in {labels}; rows per component: {counts.tolist()}")
    return gm


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--folder", help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    main(args.rows, args.folder)
