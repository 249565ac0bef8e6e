"""Full and read-only disks (issue 16): one-line errors, no segmentation fault, no
temporary file left, the previous file intact.

The disks are small tmpfs mounts, so these tests run where they may mount (as root) and
are skipped elsewhere. HDF5 crashes the process at exit once a write failed for lack of
space; the runs that can reach that point happen in subprocesses, whose exit status tells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm import cli

from conftest import make_blobs

X = make_blobs(seed=21, n_per=100, d=3, k=2)


def _mount(folder, options) -> bool:
    if os.geteuid() != 0:
        return False
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


class SmallDisk(type(Path())):
    """A folder on a 4 MiB tmpfs; ``fill(free_bytes)`` leaves only that much room on it."""

    def fill(self, free: int) -> None:
        st = os.statvfs(self)
        with open(self / "filler", "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - free))


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    if not _mount(folder, "size=4m"):
        pytest.skip("needs root and tmpfs to mount a small disk")
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only_disk(tmp_path):
    folder = tmp_path / "ro"
    if not _mount(folder, "size=1m"):
        pytest.skip("needs root and tmpfs to mount a read-only disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fitted():
    return streamgmm.GaussianMixture(2, random_state=0).fit(X)


def test_save_on_a_full_disk_keeps_the_previous_model(small_disk):
    path = small_disk / "model.h5"
    gm = fitted()
    gm.save(path)
    before = path.read_bytes()
    small_disk.fill(free=2048)  # less than a model file
    with pytest.raises(OSError, match=r"cannot write .*model.h5: the disk is full"):
        gm.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "model.h5"]


def test_a_checkpoint_on_a_full_disk_stops_the_fit_and_keeps_the_last_one(small_disk):
    path = small_disk / "ckpt.h5"
    gm = streamgmm.GaussianMixture(2, random_state=0, max_iter=50, tol=0.0)

    def fill_at_two(info):  # before iteration 2 is saved
        if info.n_iter == 2:
            small_disk.fill(free=1024)

    with pytest.raises(OSError, match=r"cannot write .*ckpt.h5: the disk is full"):
        gm.fit(X, checkpoint=path, callback=fill_at_two)
    assert streamgmm.load(path).n_iter_ == 1  # the checkpoint of iteration 1 is intact
    assert sorted(p.name for p in small_disk.iterdir()) == ["ckpt.h5", "filler"]


def test_write_hdf5_refuses_before_computing_when_the_disk_is_too_small(small_disk):
    import dask.array as da

    computed = []

    def block(b):
        computed.append(1)
        return b

    big = da.ones((600_000, 2), chunks=(100_000, 2)).map_blocks(block, meta=np.empty((0, 2)))
    with pytest.raises(OSError, match=r"the disk is full for it .* nothing was written"):
        streamgmm.write_hdf5(big, small_disk / "out.h5", "x")
    assert not computed and not (small_disk / "out.h5").exists()


WRITE_PAST_THE_END = r"""
import sys, numpy as np
from streamgmm._io.atomic import atomic_path
from streamgmm._io.writing import hdf5_file
try:
    with atomic_path(sys.argv[1]) as tmp, hdf5_file(tmp, "w") as f:
        ds = f.create_dataset("x", shape=(2_000_000, 2), dtype="f8", chunks=(65536, 2))
        for i in range(0, 2_000_000, 65536):
            ds[i : i + 65536] = np.random.rand(min(65536, 2_000_000 - i), 2)
except OSError as exc:
    print(exc)
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("attempt", range(3))
def test_a_full_disk_during_an_hdf5_write_is_an_error_not_a_crash(small_disk, attempt):
    """32 MB written past the free space (the preflight bypassed): HDF5's write fails, the
    process exits normally (no exit 139) with one line, and nothing is left behind."""
    small_disk.fill(free=(1 + attempt) * 600_000)
    done = subprocess.run(
        [sys.executable, "-c", WRITE_PAST_THE_END, str(small_disk / "out.h5")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-1500:])
    assert "the disk is full; nothing was changed there" in done.stdout
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


@pytest.mark.subprocess
def test_cli_predict_and_demo_on_a_full_disk(small_disk, tmp_path):
    data, model = tmp_path / "data.h5", tmp_path / "model.h5"
    rng = np.random.RandomState(0)
    with h5py.File(data, "w") as f:
        f["points"] = rng.randn(400_000, 2)
    streamgmm.GaussianMixture(2, random_state=0).fit(rng.randn(500, 2)).save(model)
    small_disk.fill(free=500_000)
    exe = [sys.executable, "-m", "streamgmm"]
    predict = ["predict", str(model), str(data), "--dataset", "/points", "--proba", "--out"]
    for argv in (
        [*predict, str(small_disk / "labels.h5")],
        [*predict, str(small_disk / "labels.npy")],  # refused before computing
        [*predict, str(small_disk / "labels.csv")],  # refused from a lower bound of its size
        ["demo", "--size", "8MB", "--out", str(small_disk / "demo")],
    ):  # fmt: skip
        done = subprocess.run([*exe, *argv], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, (argv[0], done.returncode, done.stderr[-1500:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "disk is full" in lines[0], lines
    left = sorted(p.name for p in small_disk.rglob("*") if p.is_file())
    assert left == ["filler"], left


def test_save_into_a_read_only_folder(read_only_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_disk)], check=True)
    with pytest.raises(OSError, match="the file system is read-only"):
        fitted().save(read_only_disk / "model.h5")


def test_cli_fit_into_a_read_only_folder_fails_before_reading(
    read_only_disk, tmp_path, capsys, monkeypatch
):
    from streamgmm.cli import commands

    subprocess.run(["mount", "-o", "remount,ro", str(read_only_disk)], check=True)
    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as f:
        f["points"] = X
    reads = []
    monkeypatch.setattr(commands, "read_data", lambda args: reads.append(args))
    argv = ["fit", str(data), "--dataset", "/points", "-k", "2", "--no-progress",
            "--out", str(read_only_disk / "model.h5")]  # fmt: skip
    assert cli.main(argv) == 1
    assert not reads, "the data were opened before the output was found unwritable"
    assert "the file system is read-only" in capsys.readouterr().err
