"""The one JIT policy: every kernel is compiled through :func:`jit`.

nogil, fast-math flags and on-disk caching are decided here once, for every kernel
(docs/design.md, "Kernels").
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numba
from numba.core.caching import FunctionCache

logger = logging.getLogger("streamgmm")

#: LLVM fast-math flags of every kernel. ``contract`` fuses a*b+c into one FMA (one
#: rounding instead of two) and ``reassoc`` lets sums over the rows of a tile run in SIMD
#: lanes: both only change rounding, never NaN/inf semantics, so the finiteness checks in
#: the kernels stay valid. Full fast-math (``nnan``, ``ninf``, ...) lets LLVM delete those
#: checks, so it would need a second, guarded build of the fused kernel per dtype (bounds
#: on |x|, |mu| and U proving that nothing overflows). Measured per block it once gained 0%
#: on W1 and W3, 5% on W2 and 10% on W4; with today's kernels it is 0-2% faster on W1 and
#: 5-11% slower on W4 (docs/benchmarks.md): not worth a second build.
FASTMATH = frozenset({"contract", "reassoc"})
_OPTIONS = dict(nogil=True, fastmath=set(FASTMATH), error_model="numpy")


def _fingerprint() -> str:
    """Hash of the policy and of every kernel source file.

    Numba keys a cached kernel by its own file's timestamp and bytecode only, so an edit
    to this policy or to a helper in another kernel module would load stale machine code.
    """
    h = hashlib.sha256(
        repr(
            sorted((k, sorted(v) if isinstance(v, set) else v) for k, v in _OPTIONS.items())
        ).encode()
    )
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name == "numpy_engine.py":  # no jitted code calls it
            continue
        try:
            h.update(path.read_bytes())
        except OSError:  # a zipped or stripped install: fall back to Numba's own key
            pass
    return h.hexdigest()


_FINGERPRINT = _fingerprint()


class _TolerantCache(FunctionCache):
    """Numba's on-disk cache, but a cache file that cannot be read or written is a miss.

    A corrupt, truncated or foreign index or data file (Numba unpickles both) otherwise
    raises from the first call of a kernel; a cache folder that turns read-only would
    fail the save. Either way the kernel is compiled in memory and the fit goes on
    (tests/kernels/test_kernels.py::test_import_and_fit_with_a_broken_cache).
    """

    def _index_key(self, sig, codegen):
        return (*super()._index_key(sig, codegen), _FINGERPRINT)

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a cache miss
            logger.warning("ignoring unreadable Numba cache in %s (%s)", self.cache_path, exc)
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as exc:  # noqa: BLE001
            logger.debug("could not write Numba cache in %s (%s)", self.cache_path, exc)


def _enable_cache(dispatcher) -> None:
    """Cache compiled code on disk where Numba finds a writable folder, else compile.

    Numba looks in ``NUMBA_CACHE_DIR``, the package's ``__pycache__`` and a user-wide
    folder, skipping read-only ones, and raises only when none is writable; then (or with
    ``STREAMGMM_NO_CACHE`` set) kernels compile in memory: a slower first fit, never a
    failed import. Measured (docs/benchmarks.md): the first fit of a process spends about
    10 s compiling with an empty cache and under 1 s loading from a filled one.
    """
    if os.environ.get("STREAMGMM_NO_CACHE"):
        return
    try:
        dispatcher._cache = _TolerantCache(dispatcher.py_func)
    except Exception as exc:  # noqa: BLE001 - "no locator available" or an OSError
        logger.debug("no usable Numba cache for %s (%s)", dispatcher.py_func.__name__, exc)


def jit(fn):
    """Compile ``fn`` with the project's policy.

    nogil so Dask threads run blocks in parallel; serial (no ``parallel=True``: Numba's
    parallel backend can abort when entered from several threads, numba#9288);
    ``FASTMATH`` flags only; ``error_model="numpy"`` so a division by zero gives inf/nan
    that we detect, instead of a Python exception inside a kernel.
    """
    dispatcher = numba.njit(**_OPTIONS)(fn)
    _enable_cache(dispatcher)
    return dispatcher
