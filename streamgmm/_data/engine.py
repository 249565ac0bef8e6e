"""Which code runs a pass: the compiled kernels, or NumPy while compiling does not pay yet.

A kernel that is neither compiled in this process nor in Numba's on-disk cache costs
seconds to compile (``COMPILE_SECONDS``, measured with an empty cache on a 2-core machine,
docs/benchmarks.md "First contact"); a small fit's passes cost milliseconds in NumPy
(``_kernels/numpy_engine.py``, the same formulas to rounding). So each pass asks, for each
kernel it needs: is it ready? If so the kernels run. If not, the pass rents NumPy as long
as the NumPy time this process has spent on that kernel, this pass included, stays under
its compile time, and buys (compiles) once it would not: the ski-rental rule, which spends
at most about twice what knowing the future would have (Karlin et al., 1988). A pass
too large to rent compiles at once, so a big fit pays the compile it always paid.

The decision is taken per pass, before any block runs, from estimated (not measured)
costs, so it depends only on the data's shape and what this process ran before: the
same script gives the same engines and the same results, bit for bit, on a given cache.
A distributed cluster always runs the kernels (its workers keep them for good).

``STREAMGMM_ENGINE`` = ``numba`` or ``numpy`` forces one engine (``auto``, the default,
decides as above): ``numba`` for bit-for-bit equal results whatever the cache holds.
"""

from __future__ import annotations

import os
import threading

import numpy as np
from numba.core.compiler_lock import global_compiler_lock

NUMBA, NUMPY = "numba", "numpy"

#: Seconds to compile each kernel family with an empty cache, in this order (diag reuses
#: the E-step compiled for full), measured by ``python benchmarks/bench_first_contact.py
#: --calibrate`` on a 2-core machine (docs/benchmarks.md, "First contact").
COMPILE_SECONDS = {"full": 5.7, "diag": 3.0, "infer": 2.3, "kmeans": 1.2}

#: NumPy nanoseconds per row and component of a pass, a + b d (d features), measured by
#: the same command (least squares over d = 4, 16, 32).
NANOSECONDS = {
    "full": (13.0, 8.4),
    "diag": (40.0, 4.9),
    "infer": (32.0, 2.4),
    "kmeans": (19.0, 2.6),
}
#: NumPy seconds a pass costs whatever its size (Python calls per chunk and component).
PASS_SECONDS = 2e-4

_spent: dict[str, float] = {}
#: (kernel, signature) pairs the disk cache did not have: not asked again in this process
#: (each ask reads the cache's index; a damaged one would warn at every pass)
_misses: set = set()
_lock = threading.Lock()


def numpy_seconds(family: str, n_rows: int, n_components: int, n_features: int) -> float:
    """Estimated NumPy time of one pass of ``family`` over ``n_rows`` rows."""
    a, b = NANOSECONDS[family]
    return PASS_SECONDS + 1e-9 * n_rows * n_components * (a + b * n_features)


def forced() -> str | None:
    """The engine ``STREAMGMM_ENGINE`` forces, or None (``auto``)."""
    value = os.environ.get("STREAMGMM_ENGINE", "auto").strip().lower()
    if value in (NUMBA, NUMPY):
        return value
    if value != "auto":
        raise ValueError(f"STREAMGMM_ENGINE must be 'auto', 'numba' or 'numpy', got {value!r}")
    return None


def default() -> str:
    """The engine of blocks computed outside a planned pass (the forced one, else NUMBA)."""
    return forced() or NUMBA


def choose(family: str, probes, seconds: float, distributed: bool = False) -> str:
    """The engine of one pass: NUMBA when every kernel in ``probes`` (``(dispatcher,
    example_args)`` pairs) is ready, or the pass is distributed, or renting NumPy for
    ``seconds`` more would exceed ``family``'s compile time; NUMPY otherwise."""
    if forced():
        return forced()
    if distributed or all(ready(dispatcher, args) for dispatcher, args in probes):
        return NUMBA
    with _lock:
        spent = _spent.get(family, 0.0) + seconds
        if spent > COMPILE_SECONDS[family]:
            return NUMBA
        _spent[family] = spent
    return NUMPY


def ready(dispatcher, args) -> bool:
    """Whether calling ``dispatcher`` with ``args`` would run without compiling: compiled in
    this process, or loaded now from Numba's on-disk cache (as its own first call would)."""
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        if sig in dispatcher.overloads:
            return True
        key = (id(dispatcher), sig)
        if key in _misses:
            return False
        with global_compiler_lock:  # as Numba loads from its cache: LLVM is not thread-safe
            if dispatcher._cache.load_overload(sig, dispatcher.targetctx) is None:
                _misses.add(key)
                return False
            dispatcher.compile(sig)  # found: load it (a cache hit, no compilation)
        return True
    except Exception:  # noqa: BLE001 - anything unexpected: not known to be ready
        return False


def example(dtype, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """A read-only one-row block and its weights, typed as the passes' blocks are."""
    # as blocks.as_kernel_array types them (a big-endian float32 block runs as float64)
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    X = np.zeros((1, n_features), dtype=dtype)
    w = np.ones(1)
    X.flags.writeable = w.flags.writeable = False
    return X, w
