"""A standing generator of hostile files: every reader of model files, checkpoints and data
gets the same treatment (issue 16). Each case turns a valid file into a bad one; the
tests in test_hostile_files.py say what each reader must do with it.

A case is ``(name, damage, expected)``: ``damage(path)`` changes the file at ``path`` in
place (or replaces it), ``expected`` is a regex the one-line error must match.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

#: bytes a declared-huge dataset claims (8 GB of float64, not one byte written)
HUGE_VALUES = 10**9


def _replace(path, name, **create):
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_dataset(name, **create)


def _set(path, name, value):
    with h5py.File(path, "a") as f:
        data = f[name][()]
        del f[name]
        f[name] = value(data) if callable(value) else value


def _set_attr(path, where, key, value):
    with h5py.File(path, "a") as f:
        f[where].attrs[key] = value


def _truncate(path, fraction=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


def _declared_huge(path, name="params/means"):
    """A chunked dataset that declares 8 GB and stores nothing (a 14 kB file)."""
    with h5py.File(path, "a") as f:
        k = f["params/weights"].shape[0]
    _replace(path, name, shape=(k, HUGE_VALUES // k), dtype="f8", chunks=(1, 1 << 20))


def _compressed_bomb(path, name="params/means"):
    """All chunks written, gzip-compressed zeros: 400 MB of values in under 1 MB of file."""
    with h5py.File(path, "a") as f:
        k = f["params/weights"].shape[0]
        del f[name]
        ds = f.create_dataset(
            name, shape=(k, 25_000_000), dtype="f8", chunks=(1, 1 << 20), compression="gzip"
        )
        ds.write_direct(np.zeros((1, 1 << 20)), dest_sel=np.s_[0:1, 0 : 1 << 20])


def _external_link(path, name="params/means"):
    other = str(path) + ".other.h5"
    with h5py.File(path, "r") as f:
        data = f[name][()]
    with h5py.File(other, "w") as g:
        g["elsewhere"] = data + 1.0
    with h5py.File(path, "a") as f:
        del f[name]
        f[name] = h5py.ExternalLink(os.path.basename(other), "/elsewhere")


def _soft_link(path, name="params/means"):
    with h5py.File(path, "a") as f:
        f["params/copy"] = f[name][()]
        del f[name]
        f[name] = h5py.SoftLink("/params/copy")


def _external_storage(path, name="params/means", target="/etc/hostname"):
    """A dataset whose bytes are declared to live in another file of the disk."""
    with h5py.File(path, "r") as f:
        shape = f[name].shape
    size = int(np.prod(shape)) * 8
    blob = str(path) + ".raw"
    with open(blob, "wb") as fh:
        fh.write(b"\0" * size)
    _replace(path, name, shape=shape, dtype="f8", external=[(blob, 0, size)])


def _virtual(path, name="params/means"):
    with h5py.File(path, "a") as f:
        data = f[name][()]
        f["params/source"] = data
        del f[name]
        layout = h5py.VirtualLayout(shape=data.shape, dtype="f8")
        layout[...] = h5py.VirtualSource(".", "/params/source", shape=data.shape)
        f.create_virtual_dataset(name, layout)


def _fifo(path):
    os.remove(path)
    os.mkfifo(path)


#: damage to a model file -> the error that every reader (load, info, predict) must give
MODEL_CASES = [
    ("truncated", _truncate, r"truncated|not an HDF5 file"),
    ("fifo", _fifo, r"is a FIFO"),
    ("declared huge", _declared_huge, r"'params/means' declares .* more than the whole file"),
    ("compressed bomb", _compressed_bomb, r"'params/means' (is compressed|has shape)"),
    ("external link", _external_link, r"'params/means' is an external link"),
    ("soft link", _soft_link, r"'params/means' is a soft link"),
    ("external storage", _external_storage, r"'params/means' is external"),
    ("virtual", _virtual, r"'params/means' is a virtual dataset"),
    ("NaN means", lambda p: _set(p, "params/means", lambda m: m * np.nan), r"'params/means' contains NaN"),
    ("negative weights", lambda p: _set(p, "params/weights", lambda w: w * [-1.0, 3.0]), r"'params/weights' is invalid"),
    ("covariances x100", lambda p: _set(p, "params/covariances", lambda c: c * 100.0), r"'params/covariances' does not match the precisions"),
    ("indefinite covariances", lambda p: _set(p, "params/covariances", lambda c: -c), r"'params/covariances' (is not positive definite|has non-positive)"),
    ("precisions tampered", lambda p: _set(p, "params/precisions", lambda q: q * 2.0), r"'params/precisions' does not match"),
    ("zero features", lambda p: [_set(p, f"params/{n}", lambda a: a[..., :0]) for n in ("means",)], r"'params/means' has shape \(2, 0\)"),
    ("wrong shape", lambda p: _set(p, "params/covariances", lambda c: c[:1]), r"'params/covariances' has shape"),
    ("string dtype", lambda p: _set(p, "params/means", np.array([b"a", b"b"])), r"'params/means' has unexpected dtype"),
    ("cache evil", lambda p: _set_attr(p, "settings", "cache", "evil"), r"'settings' is invalid: .*cache"),
    ("NaN means_init", lambda p: _set_attr_dataset(p, "settings/means_init", np.full((2, 3), np.nan)), r"'settings/means_init' is invalid"),
    ("wrong-shape means_init", lambda p: _set_attr_dataset(p, "settings/means_init", np.zeros((5, 3))), r"'settings/means_init' is invalid"),
    ("negative weights_init", lambda p: _set_attr_dataset(p, "settings/weights_init", np.array([-0.5, 1.5])), r"'settings/weights_init' is invalid"),
    ("future format", lambda p: _set_attr(p, "/", "format_version", np.int64(99)), r"'format_version' is 99: newer"),
]  # fmt: skip


def _set_attr_dataset(path, name, value):
    """A setting stored as a dataset (an initial array), replacing its attribute if any."""
    group, _, key = name.rpartition("/")
    with h5py.File(path, "a") as f:
        if key in f[group].attrs:
            del f[group].attrs[key]
        if name in f:
            del f[name]
        f[name] = value


def _runs(f):
    return f["checkpoint/runs"]


def _nested_json(path):
    with h5py.File(path, "a") as f:
        f["checkpoint"].attrs["data_identity"] = "[" * 100_000 + "]" * 100_000


#: damage to a checkpoint -> the error that resume must give
CHECKPOINT_CASES = [
    ("NaN means in a run", lambda p: _set(p, "checkpoint/runs/0/means", lambda m: m * np.nan), r"'checkpoint/runs/0/means' contains NaN"),
    ("negative weights in a run", lambda p: _set(p, "checkpoint/runs/0/weights", lambda w: -w), r"'checkpoint/runs/0/weights' is invalid"),
    ("wrong shape in a run", lambda p: _set(p, "checkpoint/runs/1/covariances", lambda c: c[:1]), r"'checkpoint/runs/1/covariances' has shape"),
    ("no runs", lambda p: _set_attr(p, "checkpoint", "n_runs", np.int64(0)), r"'checkpoint/n_runs' is 0"),
    ("truncated random state", lambda p: _set(p, "checkpoint/rng/keys", lambda k: k[:100]), r"'checkpoint/rng/keys' has shape \(100,\)"),
    ("deeply nested JSON", _nested_json, r"'checkpoint/data_identity' is JSON nested"),
    ("not a checkpoint", lambda p: _delete(p, "checkpoint"), r"field 'checkpoint' is missing"),
    ("declared huge lower bounds", lambda p: _replace(p, "checkpoint/runs/0/lower_bounds", shape=(HUGE_VALUES,), dtype="f8", chunks=(1 << 20,)), r"'checkpoint/runs/0/lower_bounds' has shape"),
]  # fmt: skip


def _delete(path, name):
    with h5py.File(path, "a") as f:
        del f[name]
