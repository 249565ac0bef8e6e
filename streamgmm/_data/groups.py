"""Blocks in groups: a pass runs one task per run of consecutive blocks (issue 20).

A pass used to be two tasks per block (read it, reduce it) plus the merges: on a cluster
each task costs the scheduler 1 to 4 ms, and a block read on one worker could be reduced
on another (200 MB moved per pass on 4 workers, docs/cluster.md). Now a pass has about
GROUPS_PER_THREAD tasks per thread of the scheduler; each reads its blocks one after
the other, in the process that runs it, and reduces them there into the nodes of the
pass's one reduction tree (``tree.py``): only statistics travel.

How a task reads its blocks is planned once per source, on the client, from the input's
Dask graph (:func:`plan`): for each block, the tasks that compute its rows (and its
weights) and that no other block needs are copied into a :class:`BlockGroup`; keys that
several blocks need (the reader behind ``from_array``: a path and a dataset name, say)
stay keys of each pass's graph and reach the group as values. A NumPy array in this
process is cut into views here, so that each group carries its own rows. The groups are
persisted once (``dask.persist``): on a cluster they sit on the workers and each pass's
graph only names them, so what the client sends per pass does not grow with the blocks.
With ``cache``, :func:`load` persists each group's blocks where they were read, and a
pass's task for that group runs there: no block is sent again.
"""

from __future__ import annotations

import contextvars
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dask
import dask.array as da
import dask.core
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from dask.sizeof import sizeof

from .._io.handles import in_distributed_worker
from .budget import worker_threads
from .inputs import ArrayView
from .tree import bounds

try:  # dask >= 2024.12: task objects. A block's few tasks run in a fixed order, without
    # dask.core.get's planning (dask.order: 0.3 ms per block, 70% of a 64-row block's cost)
    from dask._task_spec import Task, TaskRef, convert_legacy_graph
except ImportError:  # pragma: no cover - older dask: dask.core.get plans little
    Task = TaskRef = convert_legacy_graph = None

#: tasks per pass for each thread of the scheduler: enough for a late task to be shared
#: out (a worker that finishes early takes the next group), few enough that the
#: scheduler's cost per task stays far below the pass (docs/cluster.md). Dask's config
#: key "streamgmm.tasks-per-thread" sets it.
GROUPS_PER_THREAD = 4


class BlockGroup:
    """Blocks ``first .. first + len(offsets) - 1`` of a source, as the task that reduces
    them reads them: per block, the graph that computes its rows (and its weights) and
    their keys, or, once loaded, the arrays themselves."""

    def __init__(self, first: int, offsets, graphs, keys, shared=(), arrays=None):
        self.first = int(first)
        self.offsets = [int(o) for o in offsets]  # the global row where each block starts
        self.graphs = graphs  # per block {key: task}; None once loaded
        self.keys = keys  # per block [rows key] or [rows key, weights key]
        self.shared = list(shared)  # keys other groups read too, given to blocks() as values
        self.arrays = arrays  # per block (X, w or None), once loaded

    @property
    def end(self) -> int:
        return self.first + len(self.offsets)

    def blocks(self, values=(), ahead=None):
        """(X, w or None) of each block in turn; ``values`` are those of ``shared``.

        With ``ahead`` (default: in a distributed worker), a helper thread reads the next
        block while the caller reduces this one (two blocks in memory, as the budget
        allows): a block read from a shared file system then waits on the network while
        the kernel runs, not before it. Not in this process's threads: local reads come
        from the page cache or a local disk, where it measured no faster, and each helper
        thread reserves address space (a fit under RLIMIT_AS, RELIABILITY R1).
        """
        if self.arrays is not None:
            yield from self.arrays
            return
        known = dict(zip(self.shared, values, strict=True))

        def read(j):
            out = _compute(self.graphs[j], self.keys[j], known)
            return out[0], (out[1] if len(out) > 1 else None)

        n = len(self.offsets)
        if n == 1 or not (in_distributed_worker() if ahead is None else ahead):
            yield from map(read, range(n))
            return
        # the reads see this task's context: distributed's worker, which keeps HDF5 open
        context = contextvars.copy_context()
        with ThreadPoolExecutor(1, thread_name_prefix="streamgmm-read-ahead") as pool:
            pending = pool.submit(context.run, read, 0)
            for j in range(n):
                block = pending.result()
                if j + 1 < n:
                    pending = pool.submit(context.run, read, j + 1)
                yield block

    def load(self, *values) -> BlockGroup:
        """The same blocks, read now and kept in memory."""
        arrays = list(self.blocks(values))
        return BlockGroup(self.first, self.offsets, None, self.keys, (), arrays)


@sizeof.register(BlockGroup)
def _group_nbytes(group: BlockGroup) -> int:
    """What distributed weighs a group by when it chooses a worker for its task, steals
    that task or spills: the rows it holds (cached, or cut from an array of this process),
    not a Python object's 56 bytes, which made a cached group look free to move."""
    return 256 + sizeof(group.arrays if group.arrays is not None else group.graphs)


def _compute(graph, keys: list, known: dict) -> list:
    """The values of ``keys``: ``graph`` is a list of (key, task) in an order that runs
    (:func:`_steps`), or a dict for dask.core.get."""
    values = dict(known)
    if isinstance(graph, list):
        for key, node in graph:
            values[key] = node(values)
        return [values[k] for k in keys]
    todo = [k for k in keys if k not in values]
    if todo:  # execute_graph consumes its cache: a copy per block
        values.update(zip(todo, dask.core.get(graph, todo, cache=dict(known)), strict=True))
    return [values[k] for k in keys]


def _steps(sub: dict, keys: list, needs: set, deps):
    """``sub`` as a list of (key, task) that runs in order, dependencies first."""
    if convert_legacy_graph is None:
        return sub
    nodes = convert_legacy_graph(sub, all_keys=set(sub) | set(needs))
    order, seen = [], set()

    def visit(key):
        if key in seen or key not in nodes:
            return
        seen.add(key)
        for d in sorted(deps(key), key=str):
            visit(d)
        order.append((key, nodes[key]))

    for key in keys:
        visit(key)
    return order


@dataclass
class Groups:
    """A source's blocks cut into persisted groups, as a pass's graph names them."""

    name: str  # graph layer of the persisted groups, keys (name, g)
    bounds: list  # the first block of each group, then the number of blocks
    layer: dict  # (name, g) -> the persisted BlockGroup (a Future on a cluster)
    needs: list  # per group, the shared keys its task reads
    shared: dict  # the input's tasks behind every shared key, computed once per pass
    rows: bool = False  # the groups hold their rows (cached, or a NumPy array of this process)

    def keys(self) -> list:
        return [(self.name, g) for g in range(len(self.bounds) - 1)]

    def graph(self, name: str, layer: dict) -> HighLevelGraph:
        """A pass's graph: its own ``layer`` over the groups and the shared keys."""
        layers = {name: layer, self.name: self.layer}
        deps = {name: {self.name}, self.name: set()}
        if self.shared:
            layers[self.name + "-shared"] = self.shared
            deps[name].add(self.name + "-shared")
            deps[self.name + "-shared"] = set()
        return HighLevelGraph(layers, deps)


def group_task(groups: Groups, g: int, key, fn, payload_key, *args):
    """The pass's task ``key``: ``fn(group g, payload, *args, *its shared keys' values)``.

    A group that reads its blocks is marked as producing data, as dask marks the reads of
    ``from_array``: the scheduler queues these tasks and hands each to a worker with a free
    thread (a slow worker takes fewer; a worker that dies held only what it ran). A group
    that holds its rows is not: its task goes where the rows are.
    """
    group, needs = groups.keys()[g], groups.needs[g]
    if groups.rows or Task is None:
        return (fn, group, payload_key, *args, *needs)
    refs = [TaskRef(k) for k in needs]
    return Task(key, fn, TaskRef(group), TaskRef(payload_key), *args, *refs, _data_producer=True)


def scheduler_threads() -> int:
    """Threads that run a pass: every distributed worker's, or this process's pool."""
    return worker_threads() or int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def plan(x: da.Array, w: da.Array | None, offsets, n_groups: int | None = None) -> Groups:
    """Cut the blocks of ``x`` (and of the weights ``w``) into ``n_groups`` runs (default:
    GROUPS_PER_THREAD per scheduler thread), plan how each reads its blocks, persist them."""
    graph = dict(x.__dask_graph__())
    if w is not None:
        graph.update(w.__dask_graph__())
    n = len(x.chunks[0])
    outputs = [[(x.name, i, 0)] + ([(w.name, i)] if w is not None else []) for i in range(n)]
    deps = _Dependencies(graph)
    external = deps.closure(_shared(outputs, deps))
    blocks = [_block(graph, keys, deps, external) for keys in outputs]
    rows = all(held for *_, held in blocks)
    per_thread = dask.config.get("streamgmm.tasks-per-thread", None) or GROUPS_PER_THREAD
    cuts = bounds(n, n_groups or max(1, round(per_thread * scheduler_threads())))
    name = f"streamgmm-blocks-{uuid.uuid4().hex}"
    groups = {}
    for g, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        needs = sorted(set().union(*(blocks[i][2] for i in range(a, b))), key=str)
        graphs, keys = [blocks[i][0] for i in range(a, b)], outputs[a:b]
        groups[(name, g)] = BlockGroup(a, offsets[a:b], graphs, keys, needs)
    needed = set().union(*(group.shared for group in groups.values()))
    shared = {k: graph[k] for k in deps.closure(needed)}
    needs = [group.shared for group in groups.values()]
    return Groups(name, cuts, _persist(name, groups), needs, shared, rows)


class _Dependencies:
    """Each key's dependencies in ``graph``, looked up once."""

    def __init__(self, graph: dict):
        self.graph, self.known = graph, {}

    def __call__(self, key) -> set:
        if key not in self.known:
            found = dask.core.get_dependencies(self.graph, key) if key in self.graph else set()
            self.known[key] = found
        return self.known[key]

    def closure(self, keys) -> set:
        seen, todo = set(), list(keys)
        while todo:
            key = todo.pop()
            if key not in seen:
                seen.add(key)
                todo.extend(self(key))
        return seen


def _shared(outputs, deps: _Dependencies) -> set:
    """Keys that more than one block needs, and keys already held by a cluster (a Future
    stands for itself: it depends on its own key)."""
    owner, shared = {}, set()
    for i, keys in enumerate(outputs):
        for key in deps.closure(keys):
            if owner.setdefault(key, i) != i or key in deps(key):
                shared.add(key)
    return shared


def _block(graph: dict, keys: list, deps: _Dependencies, external: set):
    """(its own tasks, its keys, the shared keys it reads, whether it holds its rows) of one
    block. Its rows are cut here when they come from a NumPy array of this process (views:
    nothing is copied)."""
    own = deps.closure(keys) - external
    needs = {d for k in own for d in deps(k) if d in external} | (set(keys) & external)
    sub = {k: graph[k] for k in own}
    steps = _steps(sub, keys, needs, deps)
    if needs and all(isinstance(_literal(graph[k]), ArrayView) for k in needs):
        values = _compute(steps, keys, {k: _literal(graph[k]) for k in needs})
        return [(k, _Value(v)) for k, v in zip(keys, values, strict=True)], keys, set(), True
    return steps, keys, needs, False


class _Value:
    """A block's rows already cut (a view of an array in this process)."""

    def __init__(self, value):
        self.value = value

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + sizeof(self.value)

    def __call__(self, values):
        return self.value


def _literal(node):
    """The object a graph holds under a key when it is a plain value, else None."""
    if type(node).__name__ == "DataNode":  # dask >= 2024.12 may wrap plain values
        return node.value
    return None if dask.core.istask(node) else node


def _persist(name: str, values: dict) -> dict:
    """``values`` ({key: value or task}) persisted; the graph layer that names them."""
    graph = HighLevelGraph.from_collections(name, values, dependencies=())
    return _persisted(graph, name, list(values))


def _persisted(graph: HighLevelGraph, name: str, keys: list) -> dict:
    layer = {}
    for d in dask.persist(*[Delayed(k, graph, layer=name) for k in keys]):
        layer.update(d.__dask_graph__())
    return layer


def load(x: da.Array, w: da.Array | None, offsets) -> Groups:
    """The blocks read once and persisted where they were read (``cache``), one group per
    scheduler thread: each pass then gives every thread its one group at once, so that no
    task waits in a worker's queue, where work stealing would move it, and its rows, to a
    worker that is idle at the end of a pass (seen with 4 groups per thread: one group of
    200 MB in some passes)."""
    groups = plan(x, w, offsets, n_groups=scheduler_threads())
    name = f"streamgmm-cached-{uuid.uuid4().hex}"
    layer = {
        (name, g): (_load, key, *needs)
        for g, (key, needs) in enumerate(zip(groups.keys(), groups.needs, strict=True))
    }
    keys = list(layer)
    layer = _persisted(groups.graph(name, layer), name, keys)
    return Groups(name, groups.bounds, layer, [[] for _ in keys], {}, rows=True)


def _load(group: BlockGroup, *values) -> BlockGroup:
    return group.load(*values)


def cached_arrays(groups: Groups, x: da.Array, w: da.Array | None):
    """``x`` and ``w`` over the blocks :func:`load` keeps, under their own names (messages
    look a source's file up by its array's name)."""
    return _over(groups, x, 0), None if w is None else _over(groups, w, 1)


def _over(groups: Groups, arr: da.Array, which: int) -> da.Array:
    layer = {}
    for g, key in enumerate(groups.keys()):
        for i in range(groups.bounds[g], groups.bounds[g + 1]):
            block = (arr.name, i, 0) if arr.ndim == 2 else (arr.name, i)
            layer[block] = (_cached_block, key, i - groups.bounds[g], which)
    layers = {arr.name: layer, groups.name: groups.layer}
    graph = HighLevelGraph(layers, {arr.name: {groups.name}, groups.name: set()})
    return da.Array(graph, arr.name, arr.chunks, dtype=arr.dtype)


def _cached_block(group: BlockGroup, j: int, which: int):
    return group.arrays[j][which]
