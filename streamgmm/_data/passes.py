"""One Dask graph per pass: map blocks to statistics, tree-reduce, compute.

The same graph runs on the local threaded scheduler (the default) or on a
``dask.distributed`` cluster when a Client is active: no per-backend code. A task
reads and reduces a whole group of consecutive blocks (``groups.py``), and tasks of
fan-in SPLIT_EVERY combine the groups' results: only statistics (K*d^2 numbers per
tree node) travel between tasks, never rows, and the tree is the same whatever the
groups (``tree.py``), so the result is too, bit for bit. The assigner (the current
parameters) is one key in the graph, shipped once per pass.
"""

from __future__ import annotations

import uuid
from contextlib import closing

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from .._kernels import first_nonfinite
from .._model import merge_all
from .blocks import ModelAssigner, as_kernel_array, block_infer, block_statistics
from .groups import group_task
from .source import DataSource
from .tree import SPLIT_EVERY, evaluate


class BlockFailedError(RuntimeError):
    """A block kept killing the workers that read it (RELIABILITY P5)."""

    @classmethod
    def from_killed_worker(cls, exc, source: DataSource) -> BlockFailedError:
        key = getattr(exc, "task", None)
        blocks = _blocks_of_key(key)
        attempts = getattr(exc, "allowed_failures", 0) + 1
        size = ""
        if blocks is None or blocks[1] > len(source.block_starts) - 1:
            where, them = f"task {key!r}", "it"
        else:
            first, end = blocks
            a, b = source.block_starts[first], source.block_starts[end] - 1
            one = end == first + 1
            which = f"block {first}" if one else f"blocks {first}..{end - 1}"
            where, them = f"{which} (rows {a:,}..{b:,}) of {source.name}", "it" if one else "them"
            nbytes = (source.block_starts[first + 1] - a) * source.n_features
            size = f" ({nbytes * source.dtype.itemsize / 1e6:.0f} MB)"
        return cls(
            f"{where} killed the worker process reading {them} {attempts} times in a row: "
            "its data or its reader crashes the process (a corrupt file?), or a block"
            f"{size} is more than the worker's memory limit holds (then give smaller blocks: "
            "chunk_size, read_hdf5's chunk_rows, --chunk-rows). Dask blames every task a "
            "dying worker held, so blocks read alongside the culprit can be named instead. "
            "The last checkpoint, if any, is intact."
        )


def _blocks_of_key(key):
    """(first, end) of the blocks a dask key reads: (name-blocks, first, end) for a pass's
    group task, (array, i, 0) for a block of an input array."""
    if not isinstance(key, tuple) or len(key) < 2 or not isinstance(key[0], str):
        return None
    if key[0].startswith("streamgmm-"):
        if key[0].endswith("-blocks") and len(key) == 3:
            return int(key[1]), int(key[2])
        return None
    return (int(key[1]), int(key[1]) + 1) if isinstance(key[1], int) else None


def reduction_graph(source: DataSource, block_fn, payload, merge_fn, prefix="pass") -> Delayed:
    """One pass as a Dask graph: ``block_fn(X, w, row_offset, payload)`` per block and
    ``merge_fn(list)`` over the tree of ``tree.py``; one task per group of blocks, then
    tasks of fan-in SPLIT_EVERY over the groups. ``payload`` is one key."""
    groups = source.groups()
    n = len(source.array.chunks[0])
    token = uuid.uuid4().hex  # a fresh name per pass: parameters change every pass
    name = f"streamgmm-{prefix}-{token}"
    payload_key = f"streamgmm-{prefix}-payload-{token}"
    layer = {payload_key: payload}
    top = len(groups.needs) == 1
    spans = list(zip(groups.bounds[:-1], groups.bounds[1:], strict=True))
    keys = [(f"{name}-blocks", a, b) for a, b in spans]
    for g, key in enumerate(keys):
        layer[key] = group_task(groups, g, key, _run_group, payload_key, block_fn, merge_fn, n, top)
    level = 0
    while len(keys) > 1:
        level += 1
        top = len(keys) <= SPLIT_EVERY
        parts = range(0, len(keys), SPLIT_EVERY)
        spans = [(spans[j][0], spans[min(j + SPLIT_EVERY, len(spans)) - 1][1]) for j in parts]
        keys_below, keys = keys, []
        for j, span in zip(parts, spans, strict=True):
            key = (name, level, j // SPLIT_EVERY)
            below = keys_below[j : j + SPLIT_EVERY]
            layer[key] = (_combine, merge_fn, *span, n, below, top)
            keys.append(key)
    return Delayed(keys[0], groups.graph(name, layer), layer=name)


def _run_group(group, payload, block_fn, merge_fn, n, top, *values):
    """One group's blocks, read in turn and reduced: the largest tree nodes inside the
    group, or, when the group is every block, the root value."""
    # closed here, not by the garbage collector in whichever thread (its read-ahead
    # thread is joined on closing)
    with closing(group.blocks(values)) as blocks:

        def leaf(i):
            X, w = next(blocks)
            return block_fn(X, w, group.offsets[i - group.first], payload)

        nodes = evaluate(group.first, group.end, n, merge_fn, leaf)
    return nodes[0][2] if top else nodes


def _combine(merge_fn, a, b, n, parts, top):
    """The tree nodes over blocks a..b-1 from those of consecutive groups (or the root)."""
    known = {(level, index): value for part in parts for level, index, value in part}
    nodes = evaluate(a, b, n, merge_fn, known=known)
    return nodes[0][2] if top else nodes


def reduce_pass(source: DataSource, block_fn, payload, merge_fn, prefix="pass"):
    """Compute one map-reduce pass over the blocks (on the active scheduler)."""
    source.check_unchanged()
    try:
        (value,) = dask.compute(reduction_graph(source, block_fn, payload, merge_fn, prefix))
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":  # distributed's, without importing it
            raise BlockFailedError.from_killed_worker(exc, source) from exc
        raise
    return value


def _block_jobs(X, sample_weight, row_offset, jobs):
    X = as_kernel_array(X)
    return [
        block_statistics(X, sample_weight, row_offset, cov, assigner, with_m2)
        for assigner, cov, with_m2 in jobs
    ]


def _merge_jobs(parts):
    return [merge_all(column) for column in zip(*parts, strict=True)]


def statistics_pass_many(source: DataSource, jobs) -> list:
    """One read of every block, statistics for each ``(assigner, covariance_type, with_m2)``."""
    return reduce_pass(source, _block_jobs, list(jobs), _merge_jobs, "stats")


def _infer_block(X, assigner, what, name, block_info=None):
    """One block of an inference output; a NaN or inf in X, or values whose squares
    overflow, raise as in ``fit``, naming the input and the row."""
    X = as_kernel_array(X)
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    row, col = first_nonfinite(X)
    if row >= 0:
        raise ValueError(
            f"Input contains NaN or infinity at row {offset + row:,} of {name}, column {col}."
        )
    (out,), bad = block_infer(X, assigner, (what,))
    if bad >= 0:
        raise ValueError(
            f"The values at row {offset + bad:,} of {name} are too large for float64 "
            "arithmetic (their squares overflow): their log-likelihood is not finite. "
            "Rescale the data as the model's training data were."
        )
    return out


def inference_array(source: DataSource, assigner: ModelAssigner, what: str) -> da.Array:
    """Lazy per-row ``what``: "log_prob" (n,), "log_resp" or "proba" (n, K), "labels"
    (n,) int64; one kernel pass per block, nothing else of size n x K."""
    rows = source.array.chunks[0]
    if what in ("log_resp", "proba"):
        k = assigner.n_components
        return source.array.map_blocks(
            _infer_block, assigner, what, source.name, chunks=(rows, (k,)), dtype=np.float64,
            meta=np.empty((0, 0)),
        )  # fmt: skip
    dtype = np.dtype(np.int64 if what == "labels" else np.float64)
    return source.array.map_blocks(
        _infer_block, assigner, what, source.name, chunks=(rows,), drop_axis=1, dtype=dtype,
        meta=np.empty((0,), dtype),
    )  # fmt: skip
