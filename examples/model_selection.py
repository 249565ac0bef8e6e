"""Choose the number of components by BIC, and draw the curve if matplotlib is installed.

Run: python examples/model_selection.py [--rows 200000] [--max-k 8]

The command line does the same on an HDF5 file:
``streamgmm select data.h5 --dataset /points -k 1..8 --plot bic.png``.
"""

from __future__ import annotations

import argparse

import numpy as np

import streamgmm


def main(n_rows=200_000, max_k=8, plot="bic.png"):
    rng = np.random.default_rng(0)
    centres = rng.uniform(-8, 8, size=(5, 2))
    X = rng.standard_normal((n_rows, 2)) + centres[rng.integers(0, 5, n_rows)]

    ks, bics = list(range(1, max_k + 1)), []
    for k in ks:
        gm = streamgmm.GaussianMixture(k, random_state=0).fit(X)
        bics.append(gm.bic(X))
        print(f"K={k}: BIC {bics[-1]:,.0f}  ({gm.n_iter_} iterations)")
    best = ks[int(np.argmin(bics))]
    print(f"best K by BIC: {best} (the data have 5 components)")

    try:
        from streamgmm import plotting

        ax = plotting.new_axes()
    except ImportError as exc:
        print(f"no plot: {exc}")
        return best
    plotting.plot_bic(ks, bics, ax=ax, best=best)
    ax.figure.savefig(plot, dpi=100)
    print(f"BIC curve: {plot}")
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--max-k", type=int, default=8)
    parser.add_argument("--plot", default="bic.png")
    args = parser.parse_args()
    main(args.rows, args.max_k, args.plot)
