"""The pieces that commands run with: the estimator from the
arguments, output checks, formats and staging, the scheduler or cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings

import numpy as np

from .output import Stdout, UsageError, err, plural

#: the formats of ``predict --out``, by extension (``-``: CSV text on stdout)
RESULT_FORMATS = {
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".npy": "npy",
    ".csv": "csv",
    ".parquet": "parquet",
}
STDOUT = "-"


def estimator_from_args(args, n_components, n_features=None):
    """The estimator the arguments describe: a BayesianGaussianMixture with --bayesian
    (``n_features`` tells how to read --covariance-prior)."""
    settings = dict(
        covariance_type=args.covariance_type,
        tol=args.tol,
        reg_covar=args.reg_covar,
        max_iter=args.max_iter,
        n_init=args.n_init,
        init_params=args.init,
        random_state=args.random_state,
        chunk_size=args.chunk_rows or "auto",
        memory_limit=args.memory_limit or "auto",
    )
    priors = _prior_settings(args, n_features)
    if getattr(args, "bayesian", False):
        from .._bayesian import BayesianGaussianMixture

        if args.missing != "error":
            raise UsageError(
                "--missing em fits a GaussianMixture; the Bayesian mixture needs complete rows"
            )
        return BayesianGaussianMixture(n_components=n_components, **settings, **priors)
    from .._estimator import GaussianMixture

    return GaussianMixture(n_components, missing=args.missing, **settings)


def _prior_settings(args, n_features) -> dict:
    """The prior options given, as BayesianGaussianMixture settings; refused without
    --bayesian (a GaussianMixture has no prior)."""
    from .parser import PRIOR_OPTIONS

    given = {name: getattr(args, name, None) for name in PRIOR_OPTIONS}
    given = {name: value for name, value in given.items() if value is not None}
    if given and not getattr(args, "bayesian", False):
        option = "--" + next(iter(given)).replace("_", "-")
        raise UsageError(f"{option} is a prior of the Bayesian mixture: add --bayesian")
    if "mean_prior" in given:
        given["mean_prior"] = np.array(given["mean_prior"])
    if "covariance_prior" in given:
        values = given["covariance_prior"]
        given["covariance_prior"] = _covariance_prior(values, args.covariance_type, n_features)
    return given


def _covariance_prior(values: list, covariance_type: str, n_features):
    """One number: a float (spherical); d numbers: a vector (diag) or the diagonal of a
    matrix (full, tied); d*d numbers: a matrix, row by row. The fit checks the shape."""
    arr = np.array(values)
    if covariance_type == "spherical":
        return values[0] if len(values) == 1 else arr
    if covariance_type in ("full", "tied") and n_features is not None:
        if len(values) == n_features:
            return np.diag(arr)
        if len(values) == n_features * n_features:
            return arr.reshape(n_features, n_features)
    return arr


def read_data(args):
    """The input as :func:`read_hdf5` gives it; with --strict, a partly written dataset
    (chunks never written, RELIABILITY F8) is an error instead of a warning."""
    from .._io.hdf5 import PartialFileWarning, read_hdf5

    with warnings.catch_warnings():
        if args.strict:
            warnings.simplefilter("error", PartialFileWarning)
        try:
            return read_hdf5(args.data, args.dataset, chunk_rows=args.chunk_rows)
        except PartialFileWarning as exc:
            raise ValueError(f"{exc} Refused with --strict.") from None


def checkpoint_kwargs(args) -> dict:
    if not args.checkpoint:
        if args.resume:
            raise UsageError("--resume needs --checkpoint PATH (the checkpoint to continue)")
        return {}
    check_output(args.checkpoint, [args.data], force=True)
    if _same_path(args.checkpoint, args.out):
        raise UsageError(
            f"--checkpoint and --out are the same file ({args.out}): the model would replace "
            "the checkpoint and --resume could not continue; give them different paths"
        )
    return {"checkpoint": args.checkpoint, "resume": args.resume}


def _same_path(a, b) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def check_output(out, inputs, force: bool) -> None:
    """Refuse, before any data are read, an output that is an input, a folder, exists
    (unless ``force``), or whose folder is missing or cannot be written."""
    target = os.path.realpath(out)
    for path in inputs:
        if _same_path(path, out):
            raise ValueError(f"output {out} is the input {path}; an input is never overwritten")
    if os.path.isdir(out):
        raise IsADirectoryError(f"output {out} is a folder; give a file name")
    if os.path.lexists(out) and not force:
        raise FileExistsError(f"output {out} already exists; pass --force to replace it")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"output {out}: folder {os.path.dirname(out) or '.'} does not exist"
        )
    _check_writable(folder, out)


def _check_writable(folder: str, out) -> None:
    """Create and remove a file in ``folder``: the one test that a read-only mount, missing
    permissions (root included) or a full quota cannot pass."""
    from .._io.atomic import disk_error

    try:
        fd, probe = tempfile.mkstemp(prefix=".streamgmm-probe-", dir=folder)
    except OSError as exc:
        raise disk_error(exc, os.path.abspath(out)) from None
    os.close(fd)
    os.remove(probe)


def result_format(out: str) -> str:
    """The format of a result file from its extension; an unknown one is a usage error, and
    Parquet without pyarrow an error that says how to install it (both before any read)."""
    if out == STDOUT:
        return "stdout"
    ext = os.path.splitext(out)[1].lower()
    if ext not in RESULT_FORMATS:
        got = f"unknown extension {ext!r}" if ext else "no extension"
        raise UsageError(
            f"--out {out}: {got}; the extension names the format: .h5 or .hdf5 (HDF5), "
            ".npy, .csv, .parquet, or - for CSV on stdout"
        )
    kind = RESULT_FORMATS[ext]
    from .._io.results import PYARROW_HINT, have_pyarrow

    if kind == "parquet" and not have_pyarrow():
        raise ImportError(f"--out {out}: {PYARROW_HINT}")
    return kind


def write_results(kind: str, columns: dict, out: str, meta: dict) -> str:
    """Write ``{"label": labels, "proba": resp}`` to ``out`` in format ``kind``, block by
    block, with the provenance ``meta`` where the format has room for it (HDF5 and Parquet);
    returns what was written, for the summary line."""
    from .._io.results import column_names, write_csv, write_npy, write_parquet
    from .._io.writing import write_new_file

    if kind == "stdout":
        write_csv(columns, Stdout())
        return ""
    if kind == "hdf5":
        write_new_file({HDF5_NAMES[n]: a for n, a in columns.items()}, out, attrs=meta)
        return _described(columns, HDF5_NAMES)
    if kind == "npy":
        write_npy(columns, out)
        fields = _described(columns, {n: n for n in columns})
        return fields if len(columns) == 1 else f"a structured array of fields {fields}"
    if kind == "csv":
        write_csv(columns, out)
    else:
        write_parquet(columns, out, metadata=meta)
    names = column_names(columns)
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]}, {names[1]} .. {names[-1]}"
    return f"columns {shown}"


#: the datasets of an HDF5 result file
HDF5_NAMES = {"label": "/labels", "proba": "/proba"}


def _described(columns: dict, names: dict) -> str:
    parts = []
    for n, a in columns.items():
        width = f", {plural(a.shape[1], 'column')}" if a.ndim == 2 else ""
        parts.append(f"{names[n]} ({a.dtype}{width})")
    return " and ".join(parts)


def save_figure(figure, path, dpi=110) -> None:
    """Save a matplotlib figure as a PNG through the atomic writer."""
    from .._io.atomic import atomic_path

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, format="png")


@contextlib.contextmanager
def scheduler(args):
    """The local threads by default; a cluster at --scheduler, or --workers local processes."""
    if not (getattr(args, "scheduler", None) or getattr(args, "workers", None)):
        yield None
        return
    # On Ctrl-C, distributed's cancelled gather task is reported by asyncio with a
    # traceback; the user has asked to stop, and our one line says so.
    asyncio_logger = logging.getLogger("asyncio")
    level = asyncio_logger.level
    asyncio_logger.setLevel(logging.CRITICAL)
    try:
        with _cluster(args) as client:
            yield client
    finally:
        asyncio_logger.setLevel(level)


@contextlib.contextmanager
def _cluster(args):
    if args.scheduler:
        from distributed import Client

        with Client(args.scheduler, timeout="20s", set_as_default=True) as client:
            err(f"streamgmm: using the Dask cluster at {args.scheduler}")
            yield client
    else:
        from distributed import Client, LocalCluster

        threads = max(1, (os.cpu_count() or 1) // args.workers)
        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=threads,
                processes=True,
                host="127.0.0.1",  # nothing listens beyond this machine
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL,  # errors reach the user once, as our one line
            ) as cluster,
            Client(cluster) as client,
        ):
            dashboard = (
                f"dashboard {client.dashboard_link}"
                if _dashboard_served()
                else 'no dashboard (it needs bokeh: python -m pip install "streamgmm[distributed]")'
            )
            workers = plural(args.workers, "local worker process", "local worker processes")
            err(f"streamgmm: {workers} x {plural(threads, 'thread')}; {dashboard}")
            yield client


def _dashboard_served() -> bool:
    """Whether the scheduler (in this process, for a LocalCluster) serves its dashboard: the
    same import it tries, which needs a bokeh version that distributed accepts."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a bokeh too old: said by the line itself
            import distributed.dashboard.scheduler  # noqa: F401
    except ImportError:
        return False
    return True
