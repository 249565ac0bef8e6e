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
from contextlib import closing, nullcontext

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from .._kernels import first_infinite, first_nonfinite, numpy_engine
from .._model import merge_all
from . import engine, progress
from .blocks import ModelAssigner, as_kernel_array, block_impute, block_infer, block_statistics
from .groups import group_task
from .source import DataSource, active_client
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


def reduction_graph(
    source: DataSource, block_fn, payload, merge_fn, prefix="pass", per_block=None
) -> Delayed:
    """One pass as a Dask graph: ``block_fn(X, w, row_offset, payload)`` per block and
    ``merge_fn(list)`` over the tree of ``tree.py``; one task per group of blocks, then
    tasks of fan-in SPLIT_EVERY over the groups. ``payload`` is one key.

    ``per_block``, a dict {block index: payload}, instead maps only those blocks, each
    with its own payload (data drawn for those rows, say): see :func:`_selected_blocks`.
    """
    if per_block is not None:
        return _selected_blocks(source, block_fn, merge_fn, prefix, per_block)
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
        args = (name, block_fn, merge_fn, n, top)
        layer[key] = group_task(groups, g, key, _run_group, payload_key, *args)
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


def _selected_blocks(source: DataSource, block_fn, merge_fn, prefix, per_block) -> Delayed:
    """A pass over only the blocks of ``per_block``, each with its own payload (a random
    start's draws, a few blocks at a time): one task per block, read from the input's (or
    the cache's) graph, and merge tasks of fan-in SPLIT_EVERY over them."""
    arr, w = source.array, source.sample_weight
    name = f"streamgmm-{prefix}-{uuid.uuid4().hex}"
    layer, keys = {}, []
    for i in sorted(per_block):
        payload_key = (f"{name}-payload", i)
        layer[payload_key] = per_block[i]
        key = (f"{name}-blocks", i, i + 1)
        w_key = None if w is None else (w.name, i)
        offset = int(source.block_starts[i])
        layer[key] = (_one_block, name, block_fn, (arr.name, i, 0), w_key, offset, payload_key)
        keys.append(key)
    level = 0
    while len(keys) > 1:
        level += 1
        parts = [keys[j : j + SPLIT_EVERY] for j in range(0, len(keys), SPLIT_EVERY)]
        keys = [(name, level, j) for j in range(len(parts))]
        layer.update((key, (merge_fn, part)) for key, part in zip(keys, parts, strict=True))
    deps = [arr] if w is None else [arr, w]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    return Delayed(keys[0], graph, layer=name)


def _one_block(name, block_fn, X, w, offset, payload):
    value = block_fn(X, w, offset, payload)
    progress.block_done(name)
    return value


def _run_group(group, payload, name, block_fn, merge_fn, n, top, *values):
    """One group's blocks, read in turn and reduced: the largest tree nodes inside the
    group, or, when the group is every block, the root value."""
    # closed here, not by the garbage collector in whichever thread (its read-ahead
    # thread is joined on closing)
    with closing(group.blocks(values)) as blocks:

        def leaf(i):
            X, w = next(blocks)
            value = block_fn(X, w, group.offsets[i - group.first], payload)
            progress.block_done(name)
            return value

        nodes = evaluate(group.first, group.end, n, merge_fn, leaf)
    return nodes[0][2] if top else nodes


def _combine(merge_fn, a, b, n, parts, top):
    """The tree nodes over blocks a..b-1 from those of consecutive groups (or the root)."""
    known = {(level, index): value for part in parts for level, index, value in part}
    nodes = evaluate(a, b, n, merge_fn, known=known)
    return nodes[0][2] if top else nodes


def reduce_pass(source: DataSource, block_fn, payload, merge_fn, prefix="pass", per_block=None):
    """Compute one map-reduce pass over the blocks (on the active scheduler); data that
    are one block of an array in memory go straight to ``block_fn`` (no graph)."""
    source.check_unchanged()
    display = progress.current()
    n_blocks = len(source.array.chunks[0]) if per_block is None else len(per_block)
    nbytes = source.nbytes * n_blocks // max(1, len(source.array.chunks[0]))
    with display.reading(n_blocks, nbytes) if display else nullcontext():
        local = source.local_block()
        if local is not None:
            X, w = local
            part = block_fn(X, w, 0, payload if per_block is None else per_block[0])
            return merge_fn([part])
        graph = reduction_graph(source, block_fn, payload, merge_fn, prefix, per_block)
        try:
            with progress.counting(graph.key[0].removesuffix("-blocks"), display):
                (value,) = dask.compute(graph)
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


def merge_columns(parts):
    """Merge lists of statistics column by column (one column per job)."""
    return [merge_all(column) for column in zip(*parts, strict=True)]


def statistics_pass_many(source: DataSource, jobs) -> list:
    """One read of every block, statistics for each ``(assigner, covariance_type, with_m2)``."""
    jobs = list(jobs)
    for assigner, _, with_m2 in jobs:
        plan_engine(assigner, source, assigner.engine_pass(source.dtype, source.n_samples, with_m2))
    return reduce_pass(source, _block_jobs, jobs, merge_columns, "stats")


def plan_engine(assigner, source: DataSource, plan) -> None:
    """Set ``assigner.engine`` for one pass over ``source`` (``engine.choose``), before any
    block runs: the compiled kernels, or NumPy while compiling them does not pay yet."""
    family, probes, seconds = plan
    distributed = active_client() is not None
    assigner.engine = engine.choose(family, probes, seconds, distributed)


def _check_finite(X, assigner, name, offset) -> None:
    """A NaN or inf in X raises as in ``fit``, naming the input and the row; with
    ``missing="em"`` a NaN is a missing value and only an infinity raises."""
    if assigner.missing:
        row, col = first_infinite(X)
        if row >= 0:
            raise ValueError(
                f"Input contains infinity at row {offset + row:,} of {name}, column {col} "
                "(with missing='em' a NaN marks a missing value; infinity is an error)."
            )
        return
    find = numpy_engine.first_nonfinite if assigner.engine == engine.NUMPY else first_nonfinite
    row, col = find(X)
    if row >= 0:
        raise ValueError(
            f"Input contains NaN or infinity at row {offset + row:,} of {name}, column {col}."
        )


def _infer_block(X, assigner, what, name, block_info=None):
    """One block of an inference output; a non-finite input (see ``_check_finite``) or
    values whose squares overflow raise as in ``fit``, naming the input and the row."""
    X = as_kernel_array(X)
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    _check_finite(X, assigner, name, offset)
    if what == "imputed":
        out, bad = block_impute(X, assigner)
    else:
        (out,), bad = block_infer(X, assigner, (what,))
    if bad >= 0:
        raise ValueError(
            f"The values at row {offset + bad:,} of {name} are too large for float64 "
            "arithmetic (their squares overflow): their log-likelihood is not finite. "
            "Rescale the data as the model's training data were."
        )
    return out


def inference(source: DataSource, assigner: ModelAssigner, what: str, lazy: bool):
    """Per-row ``what`` (see :func:`inference_array`): a lazy Dask array when ``lazy``,
    else NumPy; one block of an array in memory is computed directly, with no graph."""
    if what != "imputed":
        plan_engine(assigner, source, assigner.engine_infer(source.dtype, source.n_samples))
    local = None if lazy else source.local_block()
    if local is not None:
        return _infer_block(local[0], assigner, what, source.name)
    arr = inference_array(source, assigner, what)
    return arr if lazy else arr.compute()


def inference_array(source: DataSource, assigner: ModelAssigner, what: str) -> da.Array:
    """Lazy per-row ``what``: "log_prob" (n,), "log_resp" or "proba" (n, K), "labels"
    (n,) int64, "imputed" (n, d) in X's float dtype (each NaN replaced by its conditional
    expectation); one kernel pass per block, nothing else of size n x K."""
    rows = source.array.chunks[0]
    if what == "imputed":
        dtype = np.dtype(np.float32 if source.dtype == np.float32 else np.float64)
        return source.array.map_blocks(
            _infer_block, assigner, what, source.name, dtype=dtype, meta=np.empty((0, 0), dtype)
        )
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
