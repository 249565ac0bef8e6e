"""Trust at the edges (issue 16): the figures its closing note and docs/reliability.md quote.

    python benchmarks/bench_edges.py             # both parts (about 30 s)
    python benchmarks/bench_edges.py --tries 20  # the disk-full part 20 times (the default)

1. A model file of a few kB that declares an 8 GB dataset (never written): the time
   ``streamgmm.load`` takes to refuse it and its peak memory above the process's baseline
   (VmHWM after the refusal minus VmRSS before, in a fresh process with streamgmm loaded).
2. Full disks (needs root to mount a small tmpfs; skipped otherwise): ``--tries`` runs
   each of (a) an HDF5 write past the free space, (b) ``streamgmm predict --out`` onto the
   full disk, (c) ``GaussianMixture.save`` onto it; every run's exit status is recorded
   (139 would be HDF5's segmentation fault) with the files left on the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

import streamgmm

REFUSE = r"""
import json, sys, time
import streamgmm
from streamgmm._load import load

def vm(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

streamgmm.GaussianMixture  # load the libraries first: the baseline includes them
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM from here on
before = vm("VmRSS")
t = time.perf_counter()
try:
    load(sys.argv[1])
    outcome = "loaded"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps(dict(seconds=time.perf_counter() - t, peak_above=vm("VmHWM") - before,
                      outcome=outcome)))
"""

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

SAVE = r"""
import sys, numpy as np, streamgmm
gm = streamgmm.GaussianMixture(8, random_state=0).fit(np.random.RandomState(0).randn(4000, 16))
try:
    gm.save(sys.argv[1])
except OSError as exc:
    print(exc)
"""


def declared_huge(folder: Path) -> Path:
    path = folder / "huge.h5"
    X = np.random.RandomState(0).randn(200, 3)
    streamgmm.GaussianMixture(2, random_state=0).fit(X).save(path)
    with h5py.File(path, "a") as f:
        del f["params/means"]
        f.create_dataset("params/means", shape=(2, 500_000_000), dtype="f8", chunks=(1, 1 << 20))
    return path


def part_model_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = declared_huge(Path(tmp))
        out = subprocess.run([sys.executable, "-c", REFUSE, str(path)], capture_output=True,
                             text=True, check=True)  # fmt: skip
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"declared-huge model file ({os.path.getsize(path) / 1e3:.0f} kB, declares 8.0 GB): "
            f"refused in {res['seconds'] * 1e3:.1f} ms, peak {res['peak_above'] / 1e6:.1f} MB "
            f"above the baseline\n  {res['outcome'][:160]}"
        )


def part_disk_full(tries: int) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        print("disk full: skipped (needs root to mount a small tmpfs)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        disk, data, model = Path(tmp) / "disk", Path(tmp) / "data.h5", Path(tmp) / "model.h5"
        disk.mkdir()
        rng = np.random.RandomState(0)
        with h5py.File(data, "w") as f:
            f["points"] = rng.randn(400_000, 2)
        streamgmm.GaussianMixture(2, random_state=0).fit(rng.randn(500, 2)).save(model)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]).returncode:
            print("disk full: skipped (mount failed)")
            return
        try:
            runs = {
                "HDF5 write past the free space": [sys.executable, "-c", WRITE_PAST_THE_END],
                "streamgmm predict --out": [sys.executable, "-m", "streamgmm", "predict",
                    str(model), str(data), "--dataset", "/points", "--proba", "--out"],
                "GaussianMixture.save": [sys.executable, "-c", SAVE],
            }  # fmt: skip
            for name, cmd in runs.items():
                codes, written, temporaries = Counter(), 0, 0
                for i in range(tries):
                    st = os.statvfs(disk)
                    with open(disk / "filler", "wb") as f:  # leave 0-600 kB
                        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 600_000 * (i % 3)))
                    target = disk / "out.h5"
                    done = subprocess.run([*cmd, str(target)], capture_output=True, timeout=300)
                    codes[done.returncode] += 1
                    refused = b"disk is full" in done.stdout + done.stderr
                    written += target.exists() and not refused
                    temporaries += len([p for p in disk.iterdir() if p.name.startswith(".")])
                    for p in disk.iterdir():
                        p.unlink()
                print(f"disk full, {name}: exit statuses {dict(codes)} in {tries} tries "
                      f"({written} written where room was left, the others refused in one "
                      f"line); temporary files left: {temporaries}")  # fmt: skip
        finally:
            subprocess.run(["umount", "-l", str(disk)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    part_model_file()
    part_disk_full(args.tries)


if __name__ == "__main__":
    main()
