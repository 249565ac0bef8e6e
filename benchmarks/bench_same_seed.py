"""Same seed, same model: streamgmm against scikit-learn from the same ``random_state``.

    python benchmarks/bench_same_seed.py          # 64 fits: 4 datasets x 4 types x 4 inits

For iris, wine, breast_cancer and digits (scikit-learn's bundled datasets), K=3, every
covariance type and every ``init_params``, both estimators are fitted from
``random_state=0`` with their defaults (``reg_covar=1e-2`` for digits, whose constant
pixels make 1e-6 ill-defined for both). A fit matches when its lower bound and its means
agree to 1e-8 relative and ``n_iter_`` is equal; the table prints the largest relative
differences.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SKGaussianMixture

import streamgmm

DATASETS = ("iris", "wine", "breast_cancer", "digits")
INITS = ("kmeans", "k-means++", "random_from_data", "random")
TYPES = ("full", "tied", "diag", "spherical")


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def compare(X, **kw) -> tuple[float, float, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKGaussianMixture(**kw).fit(X)
        ours = streamgmm.GaussianMixture(**kw).fit(X)
    lb = rel(ours.lower_bound_, sk.lower_bound_)
    worst = max(
        rel(getattr(ours, a), getattr(sk, a)) for a in ("weights_", "means_", "covariances_")
    )
    return lb, worst, ours.n_iter_ == sk.n_iter_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tol", type=float, default=1e-8)
    args = parser.parse_args()
    print("| data | covariance | init | lower bound rel. | parameters rel. | n_iter | match |")
    print("|---|---|---|---:|---:|---|---|")
    matched = total = 0
    for name in DATASETS:
        X = getattr(datasets, f"load_{name}")().data
        reg = 1e-2 if name == "digits" else 1e-6
        for cov in TYPES:
            for init in INITS:
                lb, worst, same_iter = compare(
                    X, n_components=3, covariance_type=cov, init_params=init, random_state=0,
                    reg_covar=reg,
                )  # fmt: skip
                ok = lb <= args.tol and worst <= args.tol and same_iter
                matched += ok
                total += 1
                iters, mark = ("same" if same_iter else "differs"), ("yes" if ok else "**no**")
                print(f"| {name} | {cov} | {init} | {lb:.1e} | {worst:.1e} | {iters} | {mark} |")
    print(f"\n{matched} of {total} fits equal scikit-learn's to {args.tol:g}")


if __name__ == "__main__":
    main()
