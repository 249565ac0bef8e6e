"""One configuration of ``bench_cluster.py``, run in a fresh process, with its per-pass figures.

    python benchmarks/cluster_probe.py '{"mode": "cluster", "workers": 2, "path": ...}'

Prints one JSON line. It uses only the public API (``read_hdf5``, ``GaussianMixture`` and
its ``callback``) and dask.distributed's own bookkeeping, so it measures any version of
streamgmm that ``PYTHONPATH`` points at (``bench_cluster.py --before REV``). Per pass, on a
LocalCluster:

- **tasks**: the tasks that ran (the scheduler's task stream), by key prefix;
- **moved**: what workers sent (their ``get_data`` log): bytes of data (the input's keys
  and cached blocks) and of reading plans to other workers; the number of statistics
  values (and payloads) sent to other workers and to the client; and the bytes the client
  sent to the scheduler (the graph);
- **scheduler CPU**: CPU seconds of the scheduler's event-loop thread (a LocalCluster runs
  the scheduler in this process; the same thread also serves the client's messages), less
  what it spends idle (heartbeats: measured for 2 s before the fit, per second of pass);
- **CPU**: seconds of CPU of the worker processes and of this process (client and
  scheduler), all threads: what the pass costs the machine, whatever else runs on it;
- **client CPU**: CPU seconds of this process's main thread (graph, pickling, M-step);
- **time to first task**: from the end of the previous iteration (for the first pass: the
  call to ``fit``) to the first task's start on a worker;
- **worker compute**: seconds of task compute summed over workers.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import warnings

import numpy as np


def _add_task_stream(dask_scheduler):
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    if "task-stream" not in dask_scheduler.plugins:
        dask_scheduler.add_plugin(TaskStreamPlugin(dask_scheduler))
    return threading.get_ident()


def _stream_index(dask_scheduler):
    return dask_scheduler.plugins["task-stream"].index


def _stream_since(index, dask_scheduler=None):
    records = dask_scheduler.plugins["task-stream"].collect(start_index=index)
    out = []
    for r in records:
        key = r["key"]
        name = key[0] if isinstance(key, tuple) else key
        compute = [s for s in r["startstops"] if s["action"] == "compute"]
        out.append((str(name), r["worker"], [(s["start"], s["stop"]) for s in compute]))
    return out


def _pop_log(dask_worker):
    log = [(e["who"], dict(e["keys"])) for e in dask_worker.transfer_outgoing_log]
    dask_worker.transfer_outgoing_log.clear()
    return [(who, [(_kind(k), v) for k, v in keys.items()]) for who, keys in log]


def _kind(key) -> str:
    """What a key holds: rows ("data": the input's keys, cached blocks), a group's reading
    plan ("plans"), or statistics and parameters ("stats")."""
    name = str(key[0] if isinstance(key, tuple) else key)
    if name.startswith("streamgmm-cached-") or not name.startswith("streamgmm-"):
        return "data"
    return "plans" if name.startswith("streamgmm-blocks-") else "stats"


def _prefix(name: str) -> str:
    """A key's kind: the name without its token ("streamgmm-stats", "hdf5", ...)."""
    parts = [p for p in name.split("-") if not (len(p) >= 16 and p.isalnum())]
    return "-".join(parts) or name


class ClusterProbe:
    """Snapshots around every pass of a fit on a distributed Client (see the module doc)."""

    def __init__(self, client):
        self.client = client
        ident = client.run_on_scheduler(_add_task_stream)
        self.loop_clock = time.pthread_getcpuclockid(ident)
        self.workers = set(client.scheduler_info()["workers"])
        self.passes = []
        before = self._cpu()
        time.sleep(2.0)  # what the event loop and the workers spend with nothing to do
        after = self._cpu()
        self.idle_rate = (after[1] - before[1]) / 2.0
        self.idle_workers = (after[3] - before[3]) / 2.0
        self.mark()

    def _cpu(self):
        return (
            time.thread_time(),
            time.clock_gettime(self.loop_clock),
            time.process_time(),
            sum(self.client.run(time.process_time).values()),
        )

    def mark(self):
        self.client.run(_pop_log)
        self.index = self.client.run_on_scheduler(_stream_index)
        self.cpu = self._cpu()
        self.sent = self.client.scheduler_comm.byte_count
        self.t = time.time()

    def callback(self, info):
        t, sent = time.time(), self.client.scheduler_comm.byte_count
        cpu = self._cpu()
        records = self.client.run_on_scheduler(_stream_since, self.index)
        logs = [e for per in self.client.run(_pop_log).values() for e in per]
        starts = [s for _, _, ss in records for s, _ in ss]
        tasks: dict[str, int] = {}
        for name, _, _ in records:
            tasks[_prefix(name)] = tasks.get(_prefix(name), 0) + 1
        # Bytes as distributed sizes them: exact for NumPy blocks, a guess for statistics
        # (Python objects), which are therefore counted, not weighed.
        moved = {"data": 0, "plans": 0, "stats": 0, "client": 0}
        for who, keys in logs:
            for kind, nbytes in keys:
                if who not in self.workers:
                    moved["client"] += 1
                elif kind == "stats":
                    moved["stats"] += 1
                else:
                    moved[kind] += nbytes
        self.passes.append(
            dict(
                seconds=info.seconds,
                wall=t - self.t,
                tasks=len(records),
                task_kinds=tasks,
                moved=moved,
                graph_bytes=sent - self.sent,
                client_cpu=cpu[0] - self.cpu[0],
                scheduler_cpu=cpu[1] - self.cpu[1] - self.idle_rate * (t - self.t),
                scheduler_idle_cpu=self.idle_rate * (t - self.t),
                host_cpu=cpu[2] - self.cpu[2],
                worker_cpu=cpu[3] - self.cpu[3],
                worker_idle_cpu=self.idle_workers * (t - self.t),
                first_task=(min(starts) - self.t) if starts else None,
                compute=sum(b - a for _, _, ss in records for a, b in ss),
            )
        )
        self.mark()


class LocalProbe:
    """The same snapshots on the threaded scheduler: seconds and client CPU only."""

    def __init__(self):
        self.passes = []
        self.mark()

    def mark(self):
        self.cpu, self.t = time.process_time(), time.time()

    def callback(self, info):
        t, cpu = time.time(), time.process_time()
        self.passes.append(dict(seconds=info.seconds, wall=t - self.t, host_cpu=cpu - self.cpu))
        self.mark()


def fixed_start(path, k, cov):
    """Weights, means and precisions from the centres the writer stored, moved a little."""
    import h5py

    with h5py.File(path, "r") as f:
        centres = np.asarray(f["points"].attrs["centres"], dtype=np.float64)
    d = centres.shape[1]
    means = centres[:k] + 0.5
    prec = {"full": np.stack([np.eye(d)] * k), "diag": np.ones((k, d))}[cov]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=prec)


def fit(spec, probe):
    import streamgmm

    X = streamgmm.read_hdf5(spec["path"], "points", chunk_rows=spec.get("chunk_rows"))
    gm = streamgmm.GaussianMixture(
        spec["k"],
        covariance_type=spec["cov"],
        max_iter=spec["iters"],
        tol=0.0,
        cache=spec["cache"],
        **fixed_start(spec["path"], spec["k"], spec["cov"]),
    )
    probe.mark()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        gm.fit(X, callback=probe.callback)
    seconds = time.perf_counter() - t
    arrays = [gm.weights_, gm.means_, gm.covariances_]
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays))
    return dict(
        fit_seconds=seconds,
        blocks=len(X.chunks[0]),
        nbytes=int(X.nbytes),
        digest=digest.hexdigest(),
        means=gm.means_.tolist(),
        covariances=gm.covariances_.ravel().tolist(),
    )


def run(spec):
    import dask

    result = dict(spec=spec)
    if spec["mode"] == "threads":
        with dask.config.set(scheduler="threads", num_workers=spec["threads"]):
            probe = LocalProbe()
            result.update(fit(spec, probe))
        result["passes"] = probe.passes
        return result
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    with (
        LocalCluster(
            n_workers=spec["workers"],
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # loopback only
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        result["cluster_start"] = time.perf_counter() - t
        probe = ClusterProbe(client)
        result.update(fit(spec, probe))
        if spec.get("noop_tasks"):
            result["noop"] = noop_tasks(client, probe, spec["noop_tasks"])
    result["passes"] = probe.passes
    return result


def _noop(i):
    return i


def noop_tasks(client, probe, n):
    """The scheduler's cost per task, streamgmm aside: ``n`` independent tasks that do
    nothing, on this cluster; wall seconds and event-loop CPU (less idle) per task."""
    import dask

    best = None
    for _ in range(3):
        stamp = time.time_ns()  # fresh keys: nothing is reused from the last round
        tasks = [dask.delayed(_noop)(i, dask_key_name=f"noop-{stamp}-{i}") for i in range(n)]
        t, cpu = time.perf_counter(), time.clock_gettime(probe.loop_clock)
        dask.compute(*tasks)
        wall = time.perf_counter() - t
        sched = time.clock_gettime(probe.loop_clock) - cpu - probe.idle_rate * wall
        if best is None or wall < best[0]:
            best = (wall, sched)
    return dict(tasks=n, wall_per_task=best[0] / n, scheduler_per_task=best[1] / n)


def startup(spec):
    """A fresh process's one-off costs: imports, loading the kernels, opening the file, and
    the kernel's seconds per block and the read rate on one core (for cluster_model.py)."""
    t = time.perf_counter()
    import h5py

    import streamgmm
    import streamgmm._data.passes  # noqa: F401  (what a worker imports to run a pass)

    out = dict(imports=time.perf_counter() - t)
    small = np.random.RandomState(0).randn(2000, 16)  # a first fit loads the kernels
    for label in ("first_tiny_fit", "second_tiny_fit"):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = dict(means_init=small[:8], weights_init=np.full(8, 1 / 8))
            start["precisions_init"] = np.stack([np.eye(16)] * 8)
            streamgmm.GaussianMixture(8, max_iter=1, **start).fit(small)
        out[label] = time.perf_counter() - t
    out["kernel_load"] = out["first_tiny_fit"] - out["second_tiny_fit"]
    t = time.perf_counter()
    with h5py.File(spec["path"], "r") as f:
        ds = f["points"]
        out["open_file"] = time.perf_counter() - t
        rows = min(ds.shape[0], spec["block_rows"])
        t = time.perf_counter()
        block = ds[:rows]
        out["read_gbs"] = block.nbytes / 1e9 / (time.perf_counter() - t)
    for k in (8, 16):  # the benchmark's model, and the projection's (cluster_model.py)
        out[f"kernel{k}_seconds"] = kernel_seconds(block, k, "full")["kernel_seconds"]
    out["kernel_rows"] = len(block)
    out.update(merge_cost(block, 16))
    return out


def merge_cost(block, k, reps=20):
    """Seconds of one merge of two K-component full statistics values, and their size."""
    import pickle

    from streamgmm._data.blocks import ModelAssigner, block_statistics
    from streamgmm._model import Params, merge_all

    d = block.shape[1]
    eye = np.stack([np.eye(d)] * k)
    assigner = ModelAssigner(Params(np.full(k, 1.0 / k), block[:k].copy(), eye, eye), "full")
    half = len(block) // 2
    a = block_statistics(block[:half], None, 0, "full", assigner)
    b = block_statistics(block[half:], None, half, "full", assigner)
    t = time.perf_counter()
    for _ in range(reps):
        merge_all([a, b])
    return dict(merge_seconds=(time.perf_counter() - t) / reps, stat_bytes=len(pickle.dumps(a)))


def kernel_seconds(block, k, cov, reps=3):
    """Seconds of one block's E-step and moments on one thread (the work of a block task)."""
    from streamgmm._data.blocks import ModelAssigner, block_statistics
    from streamgmm._model import Params

    d = block.shape[1]
    prec = {"full": np.stack([np.eye(d)] * k), "diag": np.ones((k, d))}[cov]
    params = Params(np.full(k, 1.0 / k), block[:k].copy(), prec.copy(), prec)  # identity
    assigner = ModelAssigner(params, cov)
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        block_statistics(block, None, 0, cov, assigner)
        best = min(best, time.perf_counter() - t)
    return dict(kernel_rows=len(block), kernel_seconds=best, kernel_k=k, kernel_cov=cov)


if __name__ == "__main__":  # worker processes import this file again
    spec = json.loads(sys.argv[1])
    result = startup(spec) if spec["mode"] == "startup" else run(spec)
    print(json.dumps(result))
