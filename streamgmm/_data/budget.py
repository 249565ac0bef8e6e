"""The memory budget that bounds block sizes and decides caching.

``memory_limit="auto"`` is half of this machine's physical memory (or of a container's
cgroup limit, or of what an address-space limit leaves), or half of the smallest
worker's limit when a ``dask.distributed`` Client is active. It is read from fixed
quantities (not from currently free memory), so the same settings on the same machine
give the same blocks, hence bitwise-reproducible fits; only under ``RLIMIT_AS`` does it
depend on the process, measured once. On a
cluster, blocks are also capped to what the workers' ``memory_limit`` holds
(:func:`worker_rows_cap`), whatever ``memory_limit`` says (RELIABILITY P6).
"""

from __future__ import annotations

import functools
import os
import sys

from dask.utils import parse_bytes

from .._model import get_covariance

#: share of the memory that ``"auto"`` grants
AUTO_SHARE = 0.5
#: a block's working set is about this many float64 copies of its rows
BLOCK_COPIES = 3
#: blocks in flight per thread (reading ahead, kernel, reduction)
BLOCKS_PER_THREAD = 4
#: a distributed worker's memory once streamgmm is imported and its kernels compiled
#: (numba, scipy, scikit-learn, h5py): 235 MiB after the import, 285 MiB after a fit
WORKER_BASELINE = 320 * 2**20


def _machine_memory() -> int:
    """The memory this process may use: physical memory, or less under a container's
    cgroup limit or an address-space limit (RELIABILITY R1)."""
    limits = [_physical_memory(), _cgroup_limit(), _address_space_left()]
    return min(m for m in limits if m is not None)  # 0 left under RLIMIT_AS is 0, not "none"


@functools.cache  # fixed for the life of the process (psutil reads /proc each time)
def _physical_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@functools.cache
def _cgroup_limit() -> int | None:
    """memory.max of this process's cgroup (v2, or v1's limit_in_bytes), or None."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max", or v1's "unlimited" 2**63 - 4096
            return int(text)
    return None


def _address_space_left() -> int | None:
    """RLIMIT_AS minus the address space already mapped, or None without a limit.

    Imports and compiled kernels map hundreds of MB that physical memory never sees, so
    the limit itself would overstate what a fit may allocate (a 2 GiB file under a 1 GiB
    limit failed with "Unable to allocate 32.0 MiB" before this).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY else _left_under(soft)


@functools.cache
def _left_under(soft: int) -> int:
    """Measured once per limit, so that blocks stay the same from fit to fit."""
    import psutil

    return max(0, soft - int(psutil.Process().memory_info().vms))


def _workers() -> list[dict]:
    """The workers of the active ``dask.distributed`` Client (``scheduler_info``), or []."""
    if "distributed" not in sys.modules:
        return []
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return []
    return list(client.scheduler_info()["workers"].values())


def worker_threads() -> int | None:
    """The threads of every worker of the active ``dask.distributed`` Client, or None
    without a Client (or before any worker has joined)."""
    return sum(max(1, int(w.get("nthreads") or 1)) for w in _workers()) or None


def _worker_memory() -> int | None:
    limits = [w.get("memory_limit") or 0 for w in _workers()]
    limits = [m for m in limits if m > 0]
    return min(limits) if limits else None


def memory_budget(memory_limit="auto") -> int:
    """The budget in bytes for ``memory_limit`` ("auto", an int of bytes, or "4GB")."""
    if memory_limit == "auto" or memory_limit is None:
        worker = _worker_memory()
        return int(AUTO_SHARE * (worker if worker else _machine_memory()))
    if isinstance(memory_limit, str):
        try:
            value = parse_bytes(memory_limit)
        except ValueError:
            raise ValueError(
                f"memory_limit={memory_limit!r} is not a size; use 'auto', bytes or e.g. '4GB'."
            ) from None
    else:
        value = memory_limit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"memory_limit must be 'auto' or a positive size, got {memory_limit!r}.")
    return int(value)


def block_rows_cap(shape, budget: int) -> int:
    """Most rows per block such that every thread's blocks in flight fit the budget."""
    n_threads = os.cpu_count() or 1
    return max(1, int(budget // (BLOCKS_PER_THREAD * n_threads * _row_bytes(shape[1]))))


def _row_bytes(n_features) -> int:
    return BLOCK_COPIES * 8 * max(1, int(n_features))


class WorkerMemoryError(MemoryError):
    """The Dask workers' memory_limit leaves no room for blocks (RELIABILITY P6)."""


def worker_rows_cap(n_features: int) -> int | None:
    """Most rows per block that every distributed worker's memory_limit holds (P6), or None
    without an active Client or without limits.

    A worker stops taking tasks at the ``distributed.worker.memory.pause`` share of its
    limit (a fit would then wait forever) and its nanny kills it at ``terminate``; above
    WORKER_BASELINE, the rest up to that share goes to the blocks in flight on its threads.
    Raises :class:`WorkerMemoryError` when nothing is left, before any task is sent.
    """
    import dask

    share = dask.config.get("distributed.worker.memory.pause", None) or 1.0
    share = min(share, dask.config.get("distributed.worker.memory.terminate", None) or 1.0)
    caps = []
    for worker in _workers():
        limit = worker.get("memory_limit") or 0
        if limit <= 0:
            continue
        room = share * limit - WORKER_BASELINE
        if room <= 0:
            raise WorkerMemoryError(
                f"the Dask workers' memory_limit of {limit / 2**20:.0f} MiB is too small: a "
                f"worker takes about {WORKER_BASELINE / 2**20:.0f} MiB once streamgmm is loaded, "
                f"and distributed stops a worker at {share:.0%} of its limit "
                f"({share * limit / 2**20:.0f} MiB), where the fit would wait forever. Start "
                f"the workers with a memory_limit of at least "
                f"{2 * WORKER_BASELINE / share / 2**20:.0f} MiB."
            )
        per_block = BLOCKS_PER_THREAD * max(1, int(worker.get("nthreads") or 1))
        caps.append(int(room // (per_block * _row_bytes(n_features))))
    return max(1, min(caps)) if caps else None


class ModelTooLargeError(MemoryError):
    """The model's statistics would not fit the memory budget (RELIABILITY R2)."""


def check_model_memory(models, n_features: int, budget: int, split_every: int = 8) -> int:
    """Refuse, before any block is read, models whose statistics cannot fit the budget.

    ``models`` lists (n_components, covariance_type), one per run. A pass holds a
    statistics value per block in flight and per reduction node (about
    BLOCKS_PER_THREAD per thread plus ``split_every``), and the M-step a few
    parameter-sized arrays; numpy's own MemoryError would come too late (and with
    overcommit, not at all). Returns the estimate in bytes.
    """
    n_threads = os.cpu_count() or 1
    in_flight = BLOCKS_PER_THREAD * n_threads + split_every + 4

    def size(model):
        return get_covariance(model[1]).statistics_bytes(model[0], n_features)

    need = sum(size(m) for m in models) * in_flight
    if need > budget:
        k, c = max(models, key=size)
        raise ModelTooLargeError(
            f"the model is too large for the memory budget: {len(models)} run(s) of "
            f"n_components={k} covariance_type={c!r} with {n_features} features need about "
            f"{need / 2**30:.1f} GiB of statistics per pass (budget {budget / 2**30:.1f} GiB). "
            "Use covariance_type='diag' or 'tied', fewer components or n_init, fewer threads, "
            "or a larger memory_limit."
        )
    return need
