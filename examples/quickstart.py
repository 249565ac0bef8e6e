"""Fit a Gaussian mixture to generated data, block by block, and compare with scikit-learn.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.mixture import GaussianMixture as SKGaussianMixture

import streamgmm


def main(n_per_component: int = 100_000, seed: int = 0) -> None:
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 7.0, 7.0], [8.0, 0.0, 8.0]])
    X = np.vstack([rng.randn(n_per_component, 3) + c for c in centres])
    X = X[rng.permutation(len(X))]
    print(f"data: {X.shape[0]:,} rows x {X.shape[1]} features ({X.nbytes / 1e6:.0f} MB)")

    start = dict(
        weights_init=np.full(4, 0.25),
        means_init=X[:4].copy(),
        precisions_init=np.stack([np.eye(3)] * 4),
    )
    t = time.perf_counter()
    gm = streamgmm.GaussianMixture(4, chunk_size=50_000, **start).fit(X)
    ours = time.perf_counter() - t
    print(
        f"streamgmm: {gm.n_iter_} iterations, converged={gm.converged_}, "
        f"lower bound {gm.lower_bound_:.6f}, {ours:.2f} s (blocks of 50,000 rows)"
    )
    for k in np.argsort(gm.weights_)[::-1]:
        print(f"  weight {gm.weights_[k]:.3f}  mean {np.array2string(gm.means_[k], precision=3)}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        sk = SKGaussianMixture(4, **start).fit(X)
        theirs = time.perf_counter() - t
    err = np.abs(gm.means_ - sk.means_).max() / np.abs(sk.means_).max()
    print(
        f"scikit-learn: {sk.n_iter_} iterations, {theirs:.2f} s; "
        f"max relative difference of the means: {err:.1e}"
    )


if __name__ == "__main__":
    main()
