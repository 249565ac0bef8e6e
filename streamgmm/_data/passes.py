"""One Dask graph per pass: map blocks to statistics, tree-reduce, compute.

The same graph runs on the local threaded scheduler (the default) or on a
``dask.distributed`` cluster when a Client is active: no per-backend code. Only
statistics (K*d^2 numbers per block) travel between tasks, never rows. The
assigner (the current parameters) is one key in the graph, shipped once.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from .._kernels import first_infinite, first_nonfinite
from .._model import merge_all
from . import progress
from .blocks import ModelAssigner, as_kernel_array, block_impute, block_infer, block_statistics
from .source import DataSource

#: fan-in of the reduction tree (dask's ``split_every``)
SPLIT_EVERY = 8


class BlockFailedError(RuntimeError):
    """A block kept killing the workers that read it (RELIABILITY P5)."""

    @classmethod
    def from_killed_worker(cls, exc, source: DataSource) -> BlockFailedError:
        key = getattr(exc, "task", None)
        block = _block_of_key(key)
        attempts = getattr(exc, "allowed_failures", 0) + 1
        size = ""
        if block is None or block >= len(source.block_starts) - 1:
            where = f"task {key!r}"
        else:
            a, b = source.block_starts[block], source.block_starts[block + 1] - 1
            where = f"block {block} (rows {a:,}..{b:,}) of {source.name}"
            size = f" ({(b + 1 - a) * source.n_features * source.dtype.itemsize / 1e6:.0f} MB)"
        return cls(
            f"{where} killed the worker process reading it {attempts} times in a row: its "
            "data or its reader crashes the process (a corrupt file?), or the block"
            f"{size} is more than the worker's memory limit holds (then give smaller blocks: "
            "chunk_size, read_hdf5's chunk_rows, --chunk-rows). Dask blames every block a "
            "dying worker held, so a block read alongside the culprit can be named instead. "
            "The last checkpoint, if any, is intact."
        )


def _block_of_key(key):
    """The row-block index in a dask key: (array, i, 0) for reads, (stats, 0, i) for ours."""
    if not isinstance(key, tuple) or len(key) < 2:
        return None
    if isinstance(key[0], str) and key[0].startswith("streamgmm-") and len(key) == 3:
        return int(key[2]) if key[1] == 0 else None
    return int(key[1]) if isinstance(key[1], int) else None


def reduction_graph(
    source: DataSource, block_fn, payload, merge_fn, prefix="pass", per_block=None
) -> Delayed:
    """One pass as a Dask graph: ``block_fn(X, w, row_offset, payload)`` per block, then
    ``merge_fn(list)`` over a tree with fan-in SPLIT_EVERY. ``payload`` is one key.

    ``per_block``, a dict {block index: payload}, instead maps only those blocks, each
    with its own payload (data drawn for those rows, say).
    """
    arr = source.array
    token = uuid.uuid4().hex  # a fresh name per pass: parameters change every pass
    name = f"streamgmm-{prefix}-{token}"
    payload_key = f"streamgmm-{prefix}-payload-{token}"
    layer = {payload_key: payload}
    starts = source.block_starts
    keys = []
    blocks = range(len(arr.chunks[0])) if per_block is None else sorted(per_block)
    for i in blocks:
        w_key = None
        if source.sample_weight is not None:
            w_key = (source.sample_weight.name, i)
        key = (name, 0, i)
        this = payload_key
        if per_block is not None:
            this = (f"streamgmm-{prefix}-payload-{token}", i)
            layer[this] = per_block[i]
        layer[key] = (block_fn, (arr.name, i, 0), w_key, int(starts[i]), this)
        keys.append(key)
    level = 0
    while len(keys) > 1:
        level += 1
        groups = [keys[j : j + SPLIT_EVERY] for j in range(0, len(keys), SPLIT_EVERY)]
        keys = []
        for j, group in enumerate(groups):
            key = (name, level, j)
            layer[key] = (merge_fn, list(group))
            keys.append(key)
    deps = [arr] if source.sample_weight is None else [arr, source.sample_weight]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    return Delayed(keys[0], graph, layer=name)


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
        counter = progress.BlockCounter(display, graph.key[0]).callback if display else None
        try:
            with counter or nullcontext():
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
    return reduce_pass(source, _block_jobs, list(jobs), merge_columns, "stats")


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
    row, col = first_nonfinite(X)
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
