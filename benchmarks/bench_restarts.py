"""Restarts and model selection out of core (issue 6): shared passes vs separate fits.

    python benchmarks/bench_restarts.py [--n 400000] [--quick]

Prints the wall time and the passes over an HDF5 file (cache off, every pass reads
the file) of n_init=1 vs n_init=4, and of select_model over K=1..10 vs ten fits.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

import streamgmm


def write(path: Path, n: int, d: int = 4, k: int = 6, seed: int = 0) -> None:
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-6, 6, (k, d))
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=(n, d), dtype="f8", chunks=(16384, d))
        for i in range(0, n, 1 << 18):
            m = min(1 << 18, n - i)
            ds[i : i + m] = centres[rng.randint(0, k, m)] + rng.randn(m, d)


def passes_of(fn):
    """Run fn() counting the passes through the 'streamgmm' logger's pass lines."""
    import logging

    count = [0]

    class Counter(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("pass "):
                count[0] += 1

    logger = logging.getLogger("streamgmm")
    handler, level = Counter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn()
        return out, time.perf_counter() - t, count[0]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=400_000)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    n = 20_000 if args.quick else args.n
    ks = range(1, 4) if args.quick else range(1, 11)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.h5"
        write(path, n)
        X = streamgmm.read_hdf5(path, "x")
        kw = dict(random_state=0, cache=False, max_iter=100)
        print(f"data: {n:,} rows x 4 in HDF5, cache off (EM passes counted; init passes not)")
        for n_init in (1, 4):
            _, secs, em = passes_of(
                lambda n_init=n_init: streamgmm.GaussianMixture(6, n_init=n_init, **kw).fit(X)
            )
            print(f"  n_init={n_init}: {secs:6.1f} s, {em} EM passes")
        _, sep_s, sep_p = passes_of(
            lambda: [streamgmm.GaussianMixture(k, **kw).fit(X).bic(X) for k in ks]
        )
        _, sel_s, sel_p = passes_of(lambda: streamgmm.select_model(X, ks, **kw))
        print(f"  {len(ks)} separate fits + bic: {sep_s:6.1f} s, {sep_p} EM passes")
        print(
            f"  select_model over K={ks.start}..{ks.stop - 1}: {sel_s:6.1f} s, {sel_p} EM passes"
            f"  ({sep_s / sel_s:.1f}x faster)"
        )


if __name__ == "__main__":
    main()
