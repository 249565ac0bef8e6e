"""Checkpoints: a model file plus the state of the fit, written atomically after every
EM iteration.

A checkpoint *is* a model file (``streamgmm.load`` reads it: the best run so far)
plus a ``/checkpoint`` group with what a resumed fit needs to reach the very model of
an uninterrupted one:

- every run of the fit (each ``n_init`` restart, advanced together): its parameters,
  iterations done, lower bounds, whether it converged;
- the random state after the initialisations;
- the identity of the data and of the settings, so that a checkpoint of other data or
  other settings is refused (the fit layer decides what they are).

The file is built in memory and written by the one atomic writer, so a kill at any
moment leaves the previous checkpoint or the new one, never a torn file (RELIABILITY
P2, tests/fit/test_checkpoint.py). Reading checks every field as a model file's
(``fields.py``) and the state's values (shapes against the model, finite parameters,
a valid random state) before a fit resumes from it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h5py
import numpy as np

from .._model import FieldError, check_fitted_parameters, get_covariance
from .atomic import (
    TMP_SUFFIX,
    current_umask,
    disk_error,
    hdf5_bytes,
    temporary_prefix,
    write_bytes,
)
from .bayesfile import read_variational_run
from .fields import FieldReader
from .modelfile import (
    BAYESIAN_FORMAT,
    FORMAT_NAME,
    ModelRecord,
    check_is_hdf5,
    read_model_from,
    write_model,
)

CHECKPOINT_VERSION = 1
PARAM_NAMES = ("weights", "means", "covariances", "precisions_cholesky")
#: longest JSON text a checkpoint attribute may hold, and deepest nesting
MAX_JSON_CHARS, MAX_JSON_DEPTH = 1 << 20, 16


@dataclass
class RunState:
    """One EM run as saved: parameters (float64) and where it stands."""

    params: dict  # weights, means, covariances, precisions_cholesky (or a posterior's arrays)
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


def write_checkpoint(path, record: ModelRecord, state: CheckpointState) -> None:
    """Atomically replace ``path`` by a checkpoint: the model ``record`` and ``state``."""

    def fill(f):
        write_model(f, record)
        _write_state(f.create_group("checkpoint"), state)

    write_bytes(path, hdf5_bytes(fill))


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
        for key, value in run.params.items():
            r.create_dataset(key, data=np.asarray(value, dtype=np.float64))


def read_checkpoint(
    path, defaults: dict, file_format: str = FORMAT_NAME
) -> tuple[ModelRecord, CheckpointState]:
    """(model record, :class:`CheckpointState`) of a checkpoint; ``ValueError`` naming the
    field if anything in it is missing, malformed or inconsistent. ``defaults`` and
    ``file_format`` are those of the estimator that resumes (see ``modelfile.read_model``)."""
    path = os.fspath(path)
    check_is_hdf5(path, "checkpoint")
    with h5py.File(path, "r") as f:
        record = read_model_from(f, path, defaults, "checkpoint", file_format)
        fields = FieldReader(f, path, "checkpoint")
        g = fields.group(f, "checkpoint")
        state = _read_state(fields, g, record)
    return record, state


def _read_state(fields: FieldReader, g: h5py.Group, record: ModelRecord) -> CheckpointState:
    version = fields.scalar(g.attrs, "checkpoint_version", int, "checkpoint/checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise fields.bad("checkpoint/checkpoint_version", f"is {version}: unknown version")
    n_runs = fields.scalar(g.attrs, "n_runs", int, "checkpoint/n_runs")
    n_init = record.settings.get("n_init", 1)
    if not 1 <= n_runs <= max(1, n_init):
        raise fields.bad("checkpoint/n_runs", f"is {n_runs}; expected 1 to n_init = {n_init}")
    runs_group = fields.group(g, "runs", "checkpoint/runs")
    runs = [_read_run(fields, runs_group, i, record) for i in range(n_runs)]
    return CheckpointState(
        runs=runs,
        rng_state=_read_rng(fields, fields.group(g, "rng", "checkpoint/rng")),
        data_identity=_json(fields, g, "data_identity"),
        settings_digest=fields.scalar(
            g.attrs, "settings_digest", str, "checkpoint/settings_digest"
        ),
        finished=fields.scalar(g.attrs, "finished", bool, "checkpoint/finished"),
        extra=_json(fields, g, "extra"),
    )


def _read_run(fields: FieldReader, runs_group, i: int, record: ModelRecord) -> RunState:
    where = f"checkpoint/runs/{i}"
    r = fields.group(runs_group, str(i), where)
    params = _RUN_READERS[record.file_format](fields, r, where, record)
    return _run_state(fields, r, where, params)


def _gaussian_run(fields: FieldReader, r, where: str, record: ModelRecord) -> dict:
    means = record.fitted["means_"]
    k, d = means.shape
    cov = get_covariance(record.settings.get("covariance_type", "full"))
    shapes = {"weights": (k,), "means": (k, d)}
    shapes.update(dict.fromkeys(("covariances", "precisions_cholesky"), cov.prec_shape(k, d)))
    params = {
        name: fields.array(r, name, f"{where}/{name}", shape=shapes[name]).astype(np.float64)
        for name in PARAM_NAMES
    }
    fitted = {f"{name}_": value for name, value in params.items()}
    fitted["precisions_"] = cov.precisions(params["precisions_cholesky"])
    try:
        check_fitted_parameters(fitted, cov.name)
    except FieldError as exc:
        raise fields.bad(f"{where}/{exc.field}", exc.problem) from None
    return params


#: each format's reader of one run's parameters (checked, float64)
_RUN_READERS = {FORMAT_NAME: _gaussian_run, BAYESIAN_FORMAT: read_variational_run}


def _run_state(fields: FieldReader, r, where: str, params: dict) -> RunState:
    n_iter = fields.scalar(r.attrs, "n_iter", int, f"{where}/n_iter")
    bounds = fields.array(r, "lower_bounds", f"{where}/lower_bounds", shape=(max(n_iter, 0),))
    if n_iter < 0 or not np.all(np.isfinite(bounds)):
        raise fields.bad(f"{where}", f"has n_iter {n_iter} and lower bounds that do not match")
    lower_bound = fields.scalar(r.attrs, "lower_bound", float, f"{where}/lower_bound")
    if np.isnan(lower_bound) or lower_bound == np.inf:
        raise fields.bad(f"{where}/lower_bound", f"is {lower_bound}")
    init = fields.scalar(r.attrs, "init", int, f"{where}/init")
    if init < 0:
        raise fields.bad(f"{where}/init", f"is {init}; expected >= 0")
    return RunState(
        params=params,
        lower_bound=lower_bound,
        lower_bounds=bounds.tolist(),
        n_iter=n_iter,
        converged=fields.scalar(r.attrs, "converged", bool, f"{where}/converged"),
        init=init,
    )


def _read_rng(fields: FieldReader, rng: h5py.Group) -> tuple:
    """A MT19937 state that ``RandomState.set_state`` accepts (624 keys, pos 0..624)."""
    name = fields.scalar(rng.attrs, "name", str, "checkpoint/rng/name")
    if name != "MT19937":
        raise fields.bad("checkpoint/rng/name", f"is {name!r}; expected 'MT19937'")
    keys = fields.array(rng, "keys", "checkpoint/rng/keys", kinds="iu", shape=(624,))
    pos = fields.scalar(rng.attrs, "pos", int, "checkpoint/rng/pos")
    if not 0 <= pos <= 624:
        raise fields.bad("checkpoint/rng/pos", f"is {pos}; expected 0 to 624")
    has_gauss = fields.scalar(rng.attrs, "has_gauss", int, "checkpoint/rng/has_gauss")
    gauss = fields.scalar(rng.attrs, "cached_gaussian", float, "checkpoint/rng/cached_gaussian")
    if has_gauss not in (0, 1) or not np.isfinite(gauss):
        raise fields.bad("checkpoint/rng", "holds an invalid cached gaussian")
    return name, keys.astype(np.uint32), pos, has_gauss, gauss


def _json(fields: FieldReader, g: h5py.Group, name: str) -> dict:
    """A JSON object attribute, refused when too long or nested too deeply to be ours."""
    where = f"checkpoint/{name}"
    text = fields.scalar(g.attrs, name, str, where)
    if len(text) > MAX_JSON_CHARS:
        raise fields.bad(where, f"holds {len(text):,} characters of JSON; refused")
    depth = running = 0
    for ch in text:  # nesting measured before parsing: json.loads recurses
        running += ch in "[{"
        running -= ch in "]}"
        depth = max(depth, running)
    if depth > MAX_JSON_DEPTH:
        raise fields.bad(where, f"is JSON nested {depth} levels deep; refused")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise fields.bad(where, f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise fields.bad(where, "should be a JSON object")
    return value


class CheckpointInUseError(RuntimeError):
    """Another fit holds this checkpoint path."""


@contextmanager
def checkpoint_lock(path) -> Iterator[None]:
    """Hold ``path``'s checkpoint for one fit: an OS lock on ``.NAME.lock`` beside it.

    A second fit (in this process or another) given the same path is refused at once,
    instead of the two writing over each other or one removing the other's temporary
    file. Inside, temporary files that a killed writer left behind are removed (no fit
    holds them). The lock dies with the process, so a killed fit never blocks a resume;
    a fit that ends removes the lock file.
    """
    path = os.path.abspath(os.fspath(path))
    lock_path = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
    except OSError as exc:
        raise disk_error(exc, path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(lock_path).st_ino:
                raise BlockingIOError  # the holder removed this lock file as we opened it
        except (BlockingIOError, FileNotFoundError):
            raise CheckpointInUseError(
                f"checkpoint {path} is in use by another running fit (lock {lock_path}); "
                "give this fit another checkpoint path, or wait for that fit to end"
            ) from None
        _remove_stale_temporaries(path)
        try:
            yield
        finally:
            _remove_quietly(lock_path)  # still locked: nobody else can hold it now
    finally:
        os.close(fd)  # releases the lock


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _remove_stale_temporaries(path: str) -> int:
    """Remove temporary files that a killed writer of this checkpoint left behind."""
    folder, prefix = os.path.dirname(path), temporary_prefix(path)
    removed = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(prefix) and name.endswith(TMP_SUFFIX):
            try:
                os.remove(os.path.join(folder, name))
                removed += 1
            except OSError:
                pass
    return removed
