"""First contact (issue 17): cold compile, import, --help and small fits, beside scikit-learn.

    python benchmarks/bench_first_contact.py              # everything (about 3 minutes)
    python benchmarks/bench_first_contact.py --quick      # fewer repeats
    python benchmarks/bench_first_contact.py --calibrate  # the engine's constants only

1. *Cold first fit*: fresh processes sharing a new ``NUMBA_CACHE_DIR`` fit 20,000 x 16, K=16
   full (5 iterations) and score it: first with the empty cache (the passes run in NumPy,
   ``_data/engine.py``), then with ``STREAMGMM_ENGINE=numba`` (compiling the kernels into
   the cache), then warm. Target: the cold fit <= 3 s.
2. *import streamgmm* and *streamgmm --help*: wall time of a fresh process, minus that of
   ``python -c pass`` (the interpreter's own start-up). Targets: <= 0.5 s each.
3. *Small fits*: ``fit(X).score(X)`` on 200 x 2 (K=3), 2,000 x 8 (K=4) and 20,000 x 16
   (K=16), median of ``--repeats`` in this process under each engine, scikit-learn's
   ``GaussianMixture`` with the same settings beside it. Target: ratio <= 1.
4. *GridSearchCV* over n_components 1..6 and two covariance types on 20,000 x 8, with
   ``n_jobs=1`` and ``n_jobs=2``. Target: n_jobs=2 faster.
5. ``--calibrate``: NumPy nanoseconds per row and component of each pass family, and each
   family's compile seconds with an empty cache (the constants of ``_data/engine.py``).

Every streamgmm figure is taken with scikit-learn's BLAS threads as they are (OpenBLAS
and MKL use every core by default), as a user would run both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

COLD = r"""
import time, warnings
t0 = time.perf_counter()
import numpy as np
import streamgmm
X = np.random.RandomState(0).randn(20000, 16) + np.random.RandomState(1).randint(0, 4, (20000, 1))
warnings.simplefilter("ignore")
t1 = time.perf_counter()
gm = streamgmm.GaussianMixture(16, random_state=0, max_iter=5).fit(X)
t2 = time.perf_counter()
gm.score(X)
t3 = time.perf_counter()
print(f"{t2 - t1:.3f} {t3 - t2:.3f}")
"""


def _wall(cmd, env=None, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        best = min(best, time.perf_counter() - t)
    return best


def cold_and_warm() -> None:
    """A fresh process per row; the first three share one cache folder, in this order."""
    runs = (
        ("cold: empty Numba cache (NumPy engine, compiles nothing)", "auto", "fit <= 3 s"),
        ("cold, STREAMGMM_ENGINE=numba: compiles the kernels", "numba", ""),
        ("warm: the cache that filled", "auto", ""),
    )
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("STREAMGMM_NO_CACHE", None)
        for label, engine, target in runs:
            out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                                 env=dict(env, STREAMGMM_ENGINE=engine), check=True)  # fmt: skip
            fit, score = (float(v) for v in out.stdout.split())
            rows.append((label, fit, score, target))
    print("| first call in a process, 20,000 x 16, K=16 full | fit (5 iterations) | score | "
          "target |")  # fmt: skip
    print("|---|---:|---:|---|")
    for label, fit, score, target in rows:
        print(f"| {label} | {fit:.2f} s | {score:.2f} s | {target} |")


def start_up(repeats: int) -> None:
    base = _wall([sys.executable, "-c", "pass"], repeats=repeats)
    imp = _wall([sys.executable, "-c", "import streamgmm"], repeats=repeats) - base
    est = _wall([sys.executable, "-c", "from streamgmm import GaussianMixture"], repeats=repeats)
    helps = _wall([sys.executable, "-m", "streamgmm", "--help"], repeats=repeats) - base
    print("\n| start-up (minus `python -c pass`) | seconds | target |")
    print("|---|---:|---|")
    print(f"| import streamgmm | {imp:.3f} | <= 0.5 |")
    print(f"| from streamgmm import GaussianMixture (numba, dask, scikit-learn) | "
          f"{est - base:.3f} | |")  # fmt: skip
    print(f"| streamgmm --help | {helps:.3f} | <= 0.5 |")


def _timed(fn, repeats) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def small_fits(repeats: int) -> None:
    """Each engine forced in turn (``STREAMGMM_ENGINE``): the kernels, as a warm cache runs
    them, and NumPy, as a first fit with an empty cache runs."""
    from sklearn.mixture import GaussianMixture as SK

    import streamgmm

    print("\n| fit(X).score(X) | engine | streamgmm ms | scikit-learn ms | ratio (ours / theirs) |")
    print("|---|---|---:|---:|---:|")
    for n, d, k in ((200, 2, 3), (2000, 8, 4), (20000, 16, 16)):
        rng = np.random.RandomState(0)
        X = rng.randn(n, d) + rng.randint(0, 4, (n, 1)) * 3.0
        for engine in ("numba", "numpy"):
            os.environ["STREAMGMM_ENGINE"] = engine
            times = {}
            for name, cls in (("ours", streamgmm.GaussianMixture), ("sk", SK)):

                def run(cls=cls, k=k, X=X):
                    return cls(k, random_state=0).fit(X).score(X)

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run()  # compiled, imported, warmed up
                    times[name] = _timed(run, repeats)
            ratio = times["ours"] / times["sk"]
            print(f"| {n:,} x {d}, K={k} | {engine} | {times['ours'] * 1e3:.1f} | "
                  f"{times['sk'] * 1e3:.1f} | {ratio:.2f} |")  # fmt: skip
    os.environ.pop("STREAMGMM_ENGINE")


COMPILE = r"""
import sys, time, numpy as np
from streamgmm._data.blocks import ModelAssigner, NearestCentreAssigner, block_statistics
from streamgmm._data.blocks import block_statistics_from_resp, block_infer
from streamgmm._model import m_step
X = np.random.RandomState(0).randn(64, 3)
resp = np.full((64, 2), 0.5)
for name, cov in (("full", "full"), ("diag", "diag"), ("infer", "full"), ("kmeans", "full")):
    assigner = ModelAssigner(m_step(block_statistics_from_resp(X, None, 0, resp, cov), 1e-6), cov)
    t = time.perf_counter()
    if name == "infer":
        block_infer(X, assigner, ("log_prob",))
    elif name == "kmeans":
        block_statistics(X, None, 0, cov, NearestCentreAssigner(X[:2].copy()))
    else:
        block_statistics(X, None, 0, cov, assigner)
    print(name, time.perf_counter() - t)
"""


def _engine_calls(ref, X, mu):
    """One pass of each family of the NumPy engine on X, with unit precisions about mu."""
    (n, d), k = X.shape, mu.shape[0]
    w, labels, lc = np.ones(n), np.zeros(n, np.int64), np.zeros(k)
    U, Ud = np.tile(np.eye(d), (k, 1, 1)), np.ones((k, 1, d))
    return {
        "full": lambda: ref.block_statistics(X, w, mu, U, lc, False, True),
        "diag": lambda: ref.block_statistics(X, w, mu, Ud, lc, True, True),
        "infer": lambda: ref.infer(X, mu, U, lc, False, {"log_prob"}),
        "kmeans": lambda: (ref.nearest_centre(X, w, mu, labels),
                           ref.hard_statistics(X, w, labels, mu, False, True)),
    }  # fmt: skip


def calibrate(repeats: int) -> None:
    """The constants of ``_data/engine.py``: NumPy nanoseconds per row and component of each
    pass family (a + b d, least squares over d = 4, 16, 32), and each family's compile
    seconds in a fresh process with an empty Numba cache."""
    from streamgmm._data import engine
    from streamgmm._kernels import numpy_engine as ref

    rng = np.random.RandomState(0)
    n, k = 50_000, 8
    per = {name: [] for name in engine.NANOSECONDS}
    dims = (4, 16, 32)
    for d in dims:
        calls = _engine_calls(ref, rng.randn(n, d), rng.randn(k, d))
        for name, call in calls.items():
            call()
            per[name].append(_timed(call, repeats) / (n * k) * 1e9)
    print("\n| NumPy engine, ns per row x component | d=4 | d=16 | d=32 | fit a + b d | "
          "in engine.py |")  # fmt: skip
    print("|---|---:|---:|---:|---|---|")
    for name, values in per.items():
        b, a = np.polyfit(dims, values, 1)
        cells = " | ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {cells} | {a:.0f} + {b:.1f} d | {engine.NANOSECONDS[name]} |")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, STREAMGMM_ENGINE="numba")
        env.pop("STREAMGMM_NO_CACHE", None)
        out = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
    print("\n| kernel family | compile seconds, empty cache | in engine.py |")
    print("|---|---:|---:|")
    for line in out.stdout.split("\n"):
        if line:
            name, seconds = line.split()
            print(f"| {name} | {float(seconds):.2f} | {engine.COMPILE_SECONDS[name]} |")


def grid_search(repeats: int) -> None:
    from sklearn.model_selection import GridSearchCV

    import streamgmm

    X = np.random.RandomState(0).randn(20_000, 8)
    grid = {"n_components": list(range(1, 7)), "covariance_type": ["full", "diag"]}
    print("\n| GridSearchCV, 12 settings x 5 folds, 20,000 x 8 | seconds |")
    print("|---|---:|")
    for jobs in (1, 2):
        search = GridSearchCV(streamgmm.GaussianMixture(random_state=0), grid, n_jobs=jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X)  # the workers start and load the kernels once
            seconds = _timed(lambda s=search: s.fit(X), repeats)
        print(f"| n_jobs={jobs} | {seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--calibrate", action="store_true", help="the engine's constants only")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 9)
    print(f"(load average before: {os.getloadavg()[0]:.2f})\n")
    if args.calibrate:
        calibrate(repeats)
        return
    cold_and_warm()
    start_up(3)
    small_fits(repeats)
    grid_search(1 if args.quick else 3)
    print(f"\n(load average after: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
