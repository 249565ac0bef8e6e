"""What a fit saves after each iteration and how it resumes (issue 8).

The checkpoint file itself (format, atomic write, checked reading) is
``_io/checkpoint.py``. Here: the state of a fit's runs as saved, the identity of the
data and of the settings that a resume must match, and the runs a resume continues.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .._data.source import DataSource
from .._io.checkpoint import CheckpointState, RunState, read_checkpoint, write_checkpoint
from .._io.modelfile import FORMAT_NAME
from .._model import Params
from .em import EMRun, best_run

#: settings that may change on resume (the others must match the checkpoint's)
RESUMABLE = (
    "max_iter", "tol", "verbose", "verbose_interval", "cache", "memory_limit", "progress"
)  # fmt: skip
#: settings added since checkpoints were first written, left out of the digest at their
#: default so that a checkpoint of an older version still resumes
#: (tests/io/test_modelfile.py::test_a_checkpoint_of_format_1_resumes)
LATER_SETTINGS = {"missing": "error"}


def settings_digest(settings: dict) -> str:
    """A digest of the constructor settings that a resume must keep."""
    plain = {}
    for name, value in sorted(settings.items()):
        if name in RESUMABLE or (name in LATER_SETTINGS and value == LATER_SETTINGS[name]):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            plain[name] = value
        elif isinstance(value, np.random.RandomState):
            plain[name] = "RandomState"
        else:
            arr = np.asarray(value, dtype=np.float64)
            plain[name] = hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def data_identity(source: DataSource) -> dict:
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


def _probe(source: DataSource) -> str | None:
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


class Checkpointer:
    """Writes the checkpoint after each iteration (the EM loop's ``after_iteration`` hook)
    and remembers what it last wrote. ``snapshot(result)`` gives the model record."""

    def __init__(self, path, snapshot, max_iter, rng_state, identity, digest):
        self.path, self.snapshot, self.max_iter = path, snapshot, max_iter
        self.rng_state, self.identity, self.digest = rng_state, identity, digest
        self.saved = None  # n_iter of each run at the last write

    def __call__(self, runs, finished=False):
        state = CheckpointState(
            [_run_state(r) for r in runs], self.rng_state, self.identity, self.digest, finished
        )
        write_checkpoint(self.path, self.snapshot(best_run(runs, self.max_iter)), state)
        self.saved = [r.n_iter for r in runs]

    def is_behind(self, runs) -> bool:
        return self.saved != [r.n_iter for r in runs]


def _run_state(r: EMRun) -> RunState:
    return RunState(
        params=r.params._asdict(),
        lower_bound=r.lower_bound,
        lower_bounds=list(r.lower_bounds),
        n_iter=r.n_iter,
        converged=r.converged,
        init=r.init,
    )


def resumed_runs(settings, defaults, source, checkpoint, random_state, model=None) -> list[EMRun]:
    """The runs saved in ``checkpoint``, after checking that its settings and data are
    this fit's; ``random_state`` is set to the saved state. ``model`` (``runs.GaussianModel``
    by default) gives the checkpoint's format and the type of its parameters, and restores
    what else the fit needs from the checkpoint's model record."""
    if checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH: the checkpoint to continue from.")
    path = os.fspath(checkpoint)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    file_format = getattr(model, "file_format", FORMAT_NAME)
    record, state = read_checkpoint(path, defaults, file_format)
    if state.settings_digest != settings_digest(settings):
        raise ValueError(
            f"checkpoint {path} was written with other settings; only "
            f"{', '.join(RESUMABLE)} may change on resume."
        )
    compare_identity(state.data_identity, data_identity(source), path)
    random_state.set_state(state.rng_state)
    if model is not None:
        model.restore(record)
    params_type = getattr(model, "params_type", Params)
    cov = settings["covariance_type"]
    return [
        EMRun(
            params_type(**s.params),
            cov,
            s.lower_bound,
            list(s.lower_bounds),
            s.n_iter,
            s.converged,
            s.converged,
            s.init,
        )
        for s in state.runs
    ]
