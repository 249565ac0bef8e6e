"""Layer 1: the one JIT policy and the few constants shared by every layer.

Every kernel is compiled through :func:`jit`, so nogil, fastmath and caching are
decided here once (STYLE.md, "One JIT policy in one place").
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numba

logger = logging.getLogger("streamgmm")

#: Guard added to every N_k, as scikit-learn does (``10 * eps``).
NK_GUARD = 10.0 * float.fromhex("0x1.0p-52")


def _cache_is_usable() -> bool:
    """Tell whether Numba can write its on-disk cache for our kernels.

    ``cache=True`` with no writable locator raises ``RuntimeError: cannot cache
    function ... no locator available`` at import (RELIABILITY P11). Numba tries
    ``NUMBA_CACHE_DIR``, then the package's ``__pycache__``, then a user-wide
    folder; we accept the first two, which we can check cheaply, and otherwise
    compile without caching (slower first fit, never a failed import).
    """
    if os.environ.get("STREAMGMM_NO_CACHE"):
        return False
    candidates = []
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    candidates.append(Path(__file__).parent / "_kernels" / "__pycache__")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
            return True
        except OSError:
            continue
    logger.debug("no writable Numba cache folder; compiling kernels without cache")
    return False


CACHE = _cache_is_usable()


def jit(fn):
    """Compile ``fn`` with the project's policy.

    nogil so Dask threads run blocks in parallel; serial (no ``parallel=True``:
    Numba's parallel backend can abort when entered from several threads,
    numba#9288); no fastmath (exactness first; issue "Speed" may relax it behind
    a finiteness check); ``error_model="numpy"`` so a division by zero gives
    inf/nan that we detect, instead of a Python exception inside a kernel.
    """
    return numba.njit(nogil=True, cache=CACHE, fastmath=False, error_model="numpy")(fn)
