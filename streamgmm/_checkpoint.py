"""Layer 5: checkpoints, written atomically after every EM iteration (issue 8).

A checkpoint *is* a model file (``streamgmm.load`` reads it: the parameters of the
last finished iteration) plus a ``/checkpoint`` group with what a resumed fit
needs to reach the very model of an uninterrupted one:

- every run of the fit (each ``n_init`` restart, advanced together): its
  parameters, iterations done, lower bounds, whether it converged;
- the random state after the initialisations;
- the identity of the data (name, shape, dtype, block boundaries, file sizes and
  modification times) and of the settings, so a checkpoint of other data or other
  settings is refused.

Writes go to a temporary file in the same folder, are fsynced, renamed over the
checkpoint with ``os.replace`` and the folder is fsynced, so a kill at any moment
leaves the previous checkpoint or the new one, never a torn file (RELIABILITY P2).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import _modelfile, _modelfile_read

CHECKPOINT_VERSION = 1
#: settings that may change on resume (the others must match the checkpoint's)
RESUMABLE = ("max_iter", "tol", "verbose", "verbose_interval", "cache", "memory_limit")
PARAM_NAMES = ("weights", "means", "covariances", "precisions_cholesky")

#: test hook: called between the fsync of the temporary file and the rename (P2)
_before_replace = None


@dataclass
class RunState:
    """One EM run as saved: parameters (float64) and where it stands."""

    params: dict  # weights, means, covariances, precisions_cholesky
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool
    init: int


@dataclass
class CheckpointState:
    """Where a fit stands after a finished iteration."""

    runs: list
    rng_state: tuple
    data_identity: dict
    settings_digest: str
    finished: bool = False
    extra: dict = field(default_factory=dict)


def settings_digest(params: dict) -> str:
    """A digest of the constructor settings that a resume must keep."""
    plain = {}
    for name, value in sorted(params.items()):
        if name in RESUMABLE:
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            plain[name] = value
        elif isinstance(value, np.random.RandomState):
            plain[name] = "RandomState"
        else:
            arr = np.asarray(value, dtype=np.float64)
            plain[name] = hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def write_checkpoint(path, estimator, state: CheckpointState) -> None:
    """Atomically replace ``path`` by a checkpoint of ``estimator`` (fitted attributes set)."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            _modelfile._write(f, estimator)
            _write_state(f.create_group("checkpoint"), state)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if _before_replace is not None:
            _before_replace()
        os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _tmp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}.tmp-"


def remove_stale_temporaries(path) -> int:
    """Remove temporary files that a killed writer of this checkpoint left behind."""
    path = os.path.abspath(os.fspath(path))
    folder, prefix = os.path.dirname(path), _tmp_prefix(path)
    removed = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.remove(os.path.join(folder, name))
                removed += 1
            except OSError:
                pass
    return removed


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_state(g: h5py.Group, s: CheckpointState) -> None:
    g.attrs["checkpoint_version"] = np.int64(CHECKPOINT_VERSION)
    g.attrs["finished"] = np.bool_(s.finished)
    g.attrs["n_runs"] = np.int64(len(s.runs))
    g.attrs["settings_digest"] = s.settings_digest
    g.attrs["data_identity"] = json.dumps(s.data_identity, sort_keys=True)
    g.attrs["extra"] = json.dumps(s.extra, sort_keys=True)
    name, keys, pos, has_gauss, gauss = s.rng_state
    rng = g.create_group("rng")
    rng.attrs["name"] = str(name)
    rng.attrs["pos"] = np.int64(pos)
    rng.attrs["has_gauss"] = np.int64(has_gauss)
    rng.attrs["cached_gaussian"] = np.float64(gauss)
    rng.create_dataset("keys", data=np.asarray(keys, dtype=np.uint32))
    runs = g.create_group("runs")
    for i, run in enumerate(s.runs):
        r = runs.create_group(str(i))
        r.attrs["lower_bound"] = np.float64(run.lower_bound)
        r.attrs["n_iter"] = np.int64(run.n_iter)
        r.attrs["converged"] = np.bool_(run.converged)
        r.attrs["init"] = np.int64(run.init)
        r.create_dataset("lower_bounds", data=np.asarray(run.lower_bounds, dtype=np.float64))
        for key in PARAM_NAMES:
            r.create_dataset(key, data=np.asarray(run.params[key], dtype=np.float64))


def read_checkpoint(path):
    """(model record, :class:`CheckpointState`) of a checkpoint; ``ValueError`` if not one."""
    path = os.fspath(path)
    record = _modelfile_read.read_model(path)  # every check of a model file, links included
    with h5py.File(path, "r") as f:
        g = f.get("checkpoint", getlink=True)
        if not isinstance(g, h5py.HardLink) or not isinstance(f["checkpoint"], h5py.Group):
            raise ValueError(f"{path} is a model file but not a streamgmm checkpoint")
        state = _read_state(f["checkpoint"], path)
    return record, state


def _attr(g, name, kind, path):
    if name not in g.attrs:
        raise ValueError(f"checkpoint {path}: field 'checkpoint/{name}' is missing")
    value = g.attrs[name]
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"checkpoint {path}: field 'checkpoint/{name}' is not text")
        return value
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "biuf":
        raise ValueError(f"checkpoint {path}: field 'checkpoint/{name}' is not a number")
    return kind(arr)


def _array(g, name, path, dtype=np.float64):
    link = g.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"checkpoint {path}: field '{g.name}/{name}' is missing or a link")
    ds = g[name]
    if not isinstance(ds, h5py.Dataset) or ds.is_virtual or ds.external:
        raise ValueError(f"checkpoint {path}: field '{g.name}/{name}' is not stored in the file")
    if ds.dtype.kind not in "biuf":
        raise ValueError(f"checkpoint {path}: field '{g.name}/{name}' is not numeric")
    return np.asarray(ds[()], dtype=dtype)


def _hard_group(g, name, path) -> h5py.Group:
    if not isinstance(g.get(name, getlink=True), h5py.HardLink) or not isinstance(
        g[name], h5py.Group
    ):
        raise ValueError(f"checkpoint {path}: field '{g.name}/{name}' is missing or a link")
    return g[name]


def _read_state(g: h5py.Group, path: str) -> CheckpointState:
    version = _attr(g, "checkpoint_version", int, path)
    if version != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path}: unknown checkpoint version {version}")
    rng = _hard_group(g, "rng", path)
    rng_state = (
        _attr(rng, "name", str, path),
        _array(rng, "keys", path, np.uint32),
        _attr(rng, "pos", int, path),
        _attr(rng, "has_gauss", int, path),
        _attr(rng, "cached_gaussian", float, path),
    )
    runs_group = _hard_group(g, "runs", path)
    runs = []
    for i in range(_attr(g, "n_runs", int, path)):
        r = _hard_group(runs_group, str(i), path)
        runs.append(
            RunState(
                params={k: _array(r, k, path) for k in PARAM_NAMES},
                lower_bound=_attr(r, "lower_bound", float, path),
                lower_bounds=_array(r, "lower_bounds", path).tolist(),
                n_iter=_attr(r, "n_iter", int, path),
                converged=_attr(r, "converged", bool, path),
                init=_attr(r, "init", int, path),
            )
        )
    return CheckpointState(
        runs=runs,
        rng_state=rng_state,
        data_identity=json.loads(_attr(g, "data_identity", str, path)),
        settings_digest=_attr(g, "settings_digest", str, path),
        finished=_attr(g, "finished", bool, path),
        extra=json.loads(_attr(g, "extra", str, path)),
    )


def data_identity(source) -> dict:
    """What must be the same for a resume: the data's shape, dtype, blocks and files."""
    starts = source.block_starts
    return {
        "name": source.name,
        "shape": [int(source.n_samples), int(source.n_features)],
        "dtype": str(np.dtype(source.dtype)),
        "blocks": hashlib.sha256(np.asarray(starts, dtype=np.int64).tobytes()).hexdigest(),
        "weighted": source.sample_weight is not None,
        "files": {p: list(v) if v else None for p, v in sorted(source.watched.items())},
        "probe": _probe(source),
    }


def _probe(source) -> str | None:
    """For in-memory arrays (no file to stat): a digest of the first row of every block."""
    if not source.in_memory:
        return None
    rows = source.take_rows(source.block_starts[:-1])
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest()


def compare_identity(saved: dict, now: dict, path) -> None:
    """Refuse a resume on other data, naming the first difference."""
    for key in ("shape", "dtype", "weighted", "blocks", "files", "probe"):
        if saved.get(key) != now.get(key):
            what = {
                "blocks": "block boundaries (chunk_size or chunking)",
                "files": "input files (paths, sizes or modification times)",
                "probe": "content (sampled rows)",
            }.get(key, key)
            raise ValueError(
                f"checkpoint {path} was written for other data: its {what} "
                f"{_short(saved.get(key))} differs from {_short(now.get(key))}."
            )


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."
