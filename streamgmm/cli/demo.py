"""``streamgmm demo``: generate a mixture on disk, fit it out of core, draw it.

Each step is a function that returns what :func:`cmd_demo` prints. The data are 2-D
(so the figure shows them as they are), drawn block by block with one seed per block
(the file is the same whatever the thread count) and written with
:func:`streamgmm.write_hdf5`; the fit reads them back through :func:`streamgmm.read_hdf5`
with ``cache=False`` and a memory budget of a quarter of the data, so every EM iteration
is one pass over the file.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

from .._data.budget import block_rows_cap
from .._data.progress import Progress
from .._estimator import GaussianMixture
from .._io.atomic import disk_error
from .._io.hdf5 import read_hdf5
from .._io.writing import write_hdf5
from ..plotting import INSTALL_HINT
from .output import EXIT_OK, InterruptibleStream, fit_line, out, vector
from .parser import DEMO_FOLDER
from .run import check_output, save_figure

DATASET = "/points"
DATA_FILE = "demo-data.h5"
MODEL_FILE = "demo-model.h5"
FIGURES = ("demo-mixture.png", "demo-loglik.png")
#: rows generated per task (4 MiB of 2-D float64)
GENERATE_ROWS = 1 << 18
#: rows per HDF5 chunk that write_hdf5 gives the demo file
CHUNK_ROWS = 1 << 16
#: rows read back for the density figure
SAMPLE_ROWS = 400_000
#: the smallest memory budget the demo gives the fit
MIN_BUDGET = 64 * 2**20


@dataclass
class Truth:
    """The mixture the demo data are drawn from."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


@dataclass
class DemoData:
    path: str
    n_samples: int
    n_features: int
    nbytes: int
    seconds: float
    truth: Truth


@dataclass
class DemoFit:
    model: GaussianMixture
    seconds: float
    iteration_seconds: list = field(default_factory=list)
    memory_limit: int = 0
    rss_before: int | None = None
    peak_rss: int | None = None
    em_peak_rss: int | None = None

    @property
    def init_seconds(self) -> float:
        return self.seconds - sum(self.iteration_seconds)


def truth() -> Truth:
    """Five 2-D Gaussians of different weights, sizes and orientations, a little overlapping."""
    weights = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
    means = np.array([[0.0, 0.0], [7.0, 2.0], [2.0, 7.5], [-6.0, 5.0], [-4.0, -5.5]])
    sds = np.array([[2.0, 0.7], [1.5, 1.0], [2.2, 0.5], [1.0, 1.0], [1.8, 0.6]])
    angles = np.radians([30.0, -20.0, 80.0, 0.0, 135.0])
    covs = []
    for (a, b), t in zip(sds, angles, strict=True):
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        covs.append(rot @ np.diag([a * a, b * b]) @ rot.T)
    return Truth(weights, means, np.stack(covs))


def _generate(index, sizes, t: Truth, seed):
    i = int(index[0])
    rng = np.random.default_rng([seed, i])
    labels = rng.choice(len(t.weights), size=sizes[i], p=t.weights)
    chol = np.linalg.cholesky(t.covariances)
    z = rng.standard_normal((sizes[i], t.means.shape[1]))
    return t.means[labels] + np.einsum("nij,nj->ni", chol[labels], z)


def make_data(folder, size_bytes: int, seed: int = 0) -> DemoData:
    """Write about ``size_bytes`` of float64 rows drawn from :func:`truth` to ``folder``."""
    t = truth()
    d = t.means.shape[1]
    n = max(1000, int(size_bytes) // (8 * d))
    sizes = [GENERATE_ROWS] * (n // GENERATE_ROWS)
    if n % GENERATE_ROWS:
        sizes.append(n % GENERATE_ROWS)
    index = da.arange(len(sizes), chunks=1)
    X = index.map_blocks(
        _generate,
        sizes,
        t,
        seed,
        chunks=(tuple(sizes), (d,)),
        new_axis=1,
        dtype=np.float64,
        meta=np.empty((0, d)),
    )
    path = os.path.join(os.path.abspath(folder), DATA_FILE)
    if os.path.exists(path):
        os.remove(path)  # the demo's own file from an earlier run
    start = time.perf_counter()
    write_hdf5(X, path, DATASET)
    return DemoData(path, n, d, n * d * 8, time.perf_counter() - start, t)


def fit(data: DemoData, seed: int = 0, callback=None) -> DemoFit:
    """Fit a mixture with as many components as the truth, one pass over the file per iteration."""
    budget = max(MIN_BUDGET, data.nbytes // 4)
    X = read_hdf5(data.path, DATASET, chunk_rows=block_rows(data, budget))
    gm = GaussianMixture(
        len(data.truth.weights),
        covariance_type="full",
        random_state=seed,
        memory_limit=budget,
        cache=False,
    )
    result = DemoFit(gm, 0.0, memory_limit=budget, rss_before=current_rss())
    sampler = RssSampler()

    def record(info):
        sampler.phase = "em"
        result.iteration_seconds.append(info.seconds)
        return bool(callback(info)) if callback is not None else False

    start = time.perf_counter()
    with sampler:
        gm.fit(X, callback=record)
    result.seconds = time.perf_counter() - start
    result.peak_rss = peak_rss()
    result.em_peak_rss = sampler.peaks.get("em")
    return result


class RssSampler:
    """The highest resident memory seen per phase, sampled every ``interval`` seconds.

    ``ru_maxrss`` gives one peak for the whole process; this tells the
    initialisation's from the EM passes' (the phase is set by the fit callback).
    """

    def __init__(self, interval=0.02):
        self.interval, self.phase, self.peaks = interval, "init", {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            rss = current_rss()
            if rss is None:
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def block_rows(data: DemoData, budget: int) -> int:
    """Rows per block within the budget, in whole HDF5 chunks of the demo file.

    ``read_hdf5`` would pick 32 MB blocks, and the responsibilities of a block
    take K/d times more than its rows; the budget's cap keeps the peak memory
    well under the data size.
    """
    cap = block_rows_cap((data.n_samples, data.n_features + len(data.truth.weights)), budget)
    return int(max(CHUNK_ROWS, cap // CHUNK_ROWS * CHUNK_ROWS))


def current_rss() -> int | None:
    try:
        import psutil  # comes with dask.distributed
    except ImportError:  # pragma: no cover
        return None
    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int | None:
    """This process's peak resident memory in bytes (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def match(model: GaussianMixture, t: Truth) -> np.ndarray:
    """For each true component, the index of the fitted one that stands for it."""
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(t.means[:, None, :] - np.asarray(model.means_)[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def figures(data: DemoData, model: GaussianMixture, folder) -> list[str]:
    """Save the two PNGs; ``ImportError`` (with the install hint) without matplotlib."""
    from .. import plotting

    plotting._matplotlib()
    sample = read_hdf5(data.path, DATASET)[: min(SAMPLE_ROWS, data.n_samples)].compute()
    paths = [os.path.join(folder, name) for name in FIGURES]

    ax = plotting.new_axes(figsize=(7.5, 6.0))
    plotting.plot_ellipses(model, sample, ax=ax)
    ax.set_title(
        f"streamgmm demo: {data.n_samples:,} points ({data.nbytes / 1e6:,.0f} MB), "
        f"density of {len(sample):,}\nfitted components (weights) at 1 and 2 s.d."
    )
    save_figure(ax.figure, paths[0])

    left, right = plotting.new_axes(figsize=(10.0, 4.0), ncols=2)
    plotting.plot_lower_bounds(model, ax=left, change_ax=right)
    save_figure(left.figure, paths[1])
    return paths


def parse_size(text: str) -> int:
    """Bytes from ``"64MB"``, ``"1GB"``, ``"512MiB"`` or a plain number of bytes."""
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        raise ValueError(f"size {text!r} is not a size; use e.g. 64MB, 1GB or 512MiB") from None
    if not math.isfinite(value) or value < 16_000:
        raise ValueError(f"size {text!r} is too small; use at least 16kB")
    return int(value)


def demo_folder(folder: str | None, force: bool) -> tuple[str, bool]:
    """The folder the demo writes in, and whether the demo created it.

    Without ``folder``, a new one in the current folder: ``streamgmm-demo``, or
    ``streamgmm-demo-2``, ... if that exists. A given folder is created if missing; an
    existing one must be empty unless ``force``. Every output's place is checked writable
    before any data are generated.
    """
    created = True
    if folder is None:
        for i in itertools.count(1):
            folder = DEMO_FOLDER if i == 1 else f"{DEMO_FOLDER}-{i}"
            try:
                os.mkdir(folder)  # claims the name: a demo started beside this one gets -2
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise disk_error(exc, os.path.abspath(folder)) from None
    elif os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"--out {folder} is a file; the demo needs a folder")
    elif os.path.isdir(folder):
        created = False
        if os.listdir(folder) and not force:
            raise FileExistsError(
                f"--out {folder} is a folder that holds files; give a new or empty folder, "
                "or pass --force to write the demo's files into it"
            )
    else:
        try:
            os.makedirs(folder)
        except OSError as exc:
            raise disk_error(exc, os.path.abspath(folder)) from None
    for name in (DATA_FILE, MODEL_FILE, *FIGURES):
        check_output(os.path.join(folder, name), [], force=True)
    return folder, created


def cmd_demo(args) -> int:
    start = time.perf_counter()
    size = parse_size(args.size)
    folder, created = demo_folder(args.out, args.force)
    try:
        return _demo(args, folder, created, size, start)
    except BaseException:
        if created and not os.listdir(folder):  # nothing to show: leave no empty folder
            os.rmdir(folder)
        raise


def _demo(args, folder: str, created: bool, size: int, start: float) -> int:
    new = " (a new folder)" if created else ""
    out(f"streamgmm demo: generating {size / 1e6:,.0f} MB of 2-D points in {folder}{new}")
    data = make_data(folder, size, args.seed)
    k = len(data.truth.weights)
    out(
        f"  data      {data.n_samples:,} rows x {data.n_features} features, float64, "
        f"{data.nbytes / 1e6:,.0f} MB, from {k} Gaussians (written in {data.seconds:.1f} s)"
    )
    budget = max(MIN_BUDGET, data.nbytes // 4)
    out(
        f"  fitting   {k} components, full covariances, k-means init, out of core: "
        f"memory budget {budget / 1e6:,.0f} MB, blocks of {block_rows(data, budget):,} "
        "rows, one pass over the file per iteration"
    )
    try:
        with Progress(InterruptibleStream(sys.stderr)):
            result = fit(data, args.seed)
        gm = result.model
        out(_demo_summary(data, result))
        model_path = os.path.join(folder, MODEL_FILE)
        gm.save(model_path)
        out(f"  model     {model_path}  (see: streamgmm info {model_path})")
        try:
            paths = figures(data, gm, folder)
            out(f"  figures   {', '.join(paths)}")
        except ImportError:
            out(f"  figures   none: {INSTALL_HINT}")
    finally:
        if not args.keep_data and os.path.exists(data.path):
            os.remove(data.path)
    kept = f"; data kept in {data.path}:{DATASET}" if args.keep_data else ""
    out(f"  done in {time.perf_counter() - start:.1f} s; everything is in {folder}{kept}")
    return EXIT_OK


def _demo_summary(data, result) -> str:
    gm = result.model
    per_iter = float(np.median(result.iteration_seconds)) if result.iteration_seconds else math.nan
    em_seconds = sum(result.iteration_seconds)
    lines = [
        f"  result    {fit_line(gm)}",
        f"  time      {result.seconds:.1f} s: initialisation {result.init_seconds:.1f} s, "
        f"EM {em_seconds:.1f} s ({per_iter:.2f} s per iteration, median; "
        f"{data.nbytes / per_iter / 1e9:.2f} GB/s)",
    ]
    if result.peak_rss:
        parts = [f"peak RSS {result.peak_rss / 1e6:,.0f} MB"]
        if result.em_peak_rss:
            parts.append(f"{result.em_peak_rss / 1e6:,.0f} MB during EM")
        if result.rss_before:
            parts.append(f"{result.rss_before / 1e6:,.0f} MB before the fit")
        lines.append(f"  memory    {', '.join(parts)}; {data.nbytes / 1e6:,.0f} MB of data")
    lines.append(f"  {'component':>9}  weight (true)   mean             (true)")
    for j, idx in enumerate(match(gm, data.truth)):
        lines.append(
            f"  {idx:>9}  {gm.weights_[idx]:.3f} ({data.truth.weights[j]:.3f})   "
            f"{vector(gm.means_[idx], '7.3f')}  {vector(data.truth.means[j], '5.1f')}"
        )
    return "\n".join(lines)
