"""Milliseconds per block of the fused kernel, by workload, parameters and row order.

    python benchmarks/bench_blocks.py              # W1..W5 (about 2 minutes)
    python benchmarks/bench_blocks.py --only W4    # some workloads
    python benchmarks/bench_blocks.py --quick      # smoke run: 1/16 of the rows, 2 calls

One block of 131,072 rows (W3: 32,768) shaped like the bench_em.py workloads, on one
thread: the minimum over ``--reps`` calls of ``ModelAssigner.statistics``, the E-step and
moments each Dask task runs. Parameters: "start" is bench_em.py's fixed start (K data rows
as means, the data's variance for every component), "near" the true centres moved by 0.3
s.d. with unit variances (a fit under way). Rows come in random order, and sorted by
cluster, as in a file written cluster by cluster. For diagonal models the last column
counts the (tile, component) pairs whose one-pass moments the digit guard sent to the
exact two passes (``_kernels/fused_diag.py``). No scikit-learn here: bench_em.py has the
side-by-side figures; this one shows where a block's time goes between kernel changes.
"""

from __future__ import annotations

import argparse
import time

import bench_em  # the script's folder is on sys.path
import numpy as np

from streamgmm._data.blocks import ModelAssigner, readonly
from streamgmm._kernels import TILE
from streamgmm._kernels.fused_diag import diag_block
from streamgmm._model.mstep import Params

#: bench_em.py's workloads, one block of each (W3's rows are 4x wider)
WORKLOADS = {
    name: dict(spec, n=32_768 if spec["d"] == 64 else 131_072)
    for name, spec in bench_em.WORKLOADS.items()
}


def block(spec, order, rng, scale):
    """(X, true centres) of one block: K centres uniform in [-5, 5]^d, unit noise."""
    n, d, k = max(1, int(spec["n"] * scale)), spec["d"], spec["k"]
    centres = rng.uniform(-5, 5, (k, d))
    labels = rng.randint(k, size=n)
    if order == "sorted":
        labels = np.sort(labels)
    X = (centres[labels] + rng.standard_normal((n, d))).astype(spec["dtype"])
    return X, centres


def params(spec, which, X, centres, rng):
    k, d = spec["k"], spec["d"]
    if which == "start":
        means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
        var = np.tile(X.astype(np.float64).var(axis=0), (k, 1))
    else:
        means, var = centres + 0.3 * rng.standard_normal((k, d)), np.ones((k, d))
    if spec["cov"] == "full":
        prec_chol = np.stack([np.diag(1.0 / np.sqrt(v)) for v in var])
        cov = np.stack([np.diag(v) for v in var])
    else:
        prec_chol, cov = 1.0 / np.sqrt(var), var
    return Params(np.full(k, 1.0 / k), means, cov, prec_chol)


def redone(assigner, X, w):
    """(tile, component) pairs of a diagonal block that took the exact two passes."""
    k, d = assigner.means.shape
    out = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
    args = (X, w, assigner.means, assigner.fused_prec, assigner.fused_prec, np.inf)
    return diag_block(*args, assigner.log_const, *out)[2]


def measure(name, spec, reps, scale=1.0):
    rng = np.random.RandomState(0)
    rows = []
    for order in ("random", "sorted"):
        X, centres = block(spec, order, rng, scale)
        w = np.ones(len(X))
        for which in ("start", "near"):
            assigner = ModelAssigner(params(spec, which, X, centres, rng), spec["cov"])
            assigner.statistics(X, w)  # compile, or load from the cache
            times = []
            for _ in range(reps):
                t = time.thread_time()
                assigner.statistics(X, w)
                times.append(time.thread_time() - t)
            ms = 1e3 * min(times)
            ns = 1e9 * min(times) / (len(X) * spec["k"])
            pairs = -(-len(X) // TILE) * spec["k"]
            guard = ""
            if spec["cov"] == "diag":
                guard = f"{redone(assigner, readonly(X), readonly(w)):,} of {pairs:,}"
            rows.append((name, spec["cov"], spec["dtype"], order, which, ms, ns, guard))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W1,W4")
    parser.add_argument("--reps", type=int, default=7, help="calls per case (min is kept)")
    parser.add_argument("--quick", action="store_true", help="1/16 of the rows, 2 calls")
    args = parser.parse_args(argv)
    scale, reps = (1 / 16, 2) if args.quick else (1.0, args.reps)
    head = "      cov    dtype   rows    params |  ms/block  ns/(row, comp) | guard redid"
    print(head + "\n" + "-" * len(head))
    for name in args.only.split(","):
        spec = WORKLOADS[name.strip()]
        for row in measure(name.strip(), spec, reps, scale):
            print("{:4}  {:5}  {:7}  {:6}  {:5} | {:9.2f}  {:14.2f} | {}".format(*row))


if __name__ == "__main__":
    main()
