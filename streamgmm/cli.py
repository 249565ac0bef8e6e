"""Layer 9: the ``streamgmm`` command line (also ``python -m streamgmm``).

The only module that prints to stdout or chooses the exit status. Results go to
stdout; progress, warnings and errors go to stderr, an error as one line and no
traceback (``--debug`` shows it). Exit status: 0 done, 1 error, 2 wrong usage,
130 interrupted.

Inputs are opened read-only (:func:`streamgmm.read_hdf5`). An output is written
to a temporary file in its folder and renamed into place at the end, never onto
an input, and over an existing file only with ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
DEMO_SIZE = "1GB"
DEMO_FOLDER = "streamgmm-demo"

logger = logging.getLogger("streamgmm")


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, and no exit from inside argparse
        raise UsageError(f"{message} (see: {self.prog} --help)")


# -- the commands ----------------------------------------------------------------------


def cmd_fit(args) -> int:
    from ._hdf5 import read_hdf5
    from ._progress import FitProgress

    _check_output(args.out, [args.data], args.force)
    fit_kwargs = _checkpoint_kwargs(args)
    X = read_hdf5(args.data, args.dataset, chunk_rows=args.chunk_rows)
    gm = _estimator(args, args.n_components)
    progress = FitProgress(sys.stderr, nbytes=X.nbytes, bar=None if args.progress else False)
    with _scheduler(args), progress:
        gm.fit(X, callback=_after_sigint(progress if args.progress else None), **fit_kwargs)
    gm.save(args.out)
    _out(f"{args.out}: {_describe_model(gm)}")
    _out(_fit_line(gm, progress.iterations))
    _out(_components_table(gm))
    return EXIT_OK


def cmd_predict(args) -> int:
    from ._hdf5 import read_hdf5, write_hdf5
    from ._modelfile import load

    _check_output(args.out, [args.model, args.data], args.force)
    gm = load(args.model)
    X = read_hdf5(args.data, args.dataset, chunk_rows=args.chunk_rows)
    start = time.perf_counter()
    with _scheduler(args), _staged(args.out) as tmp:
        outputs = {"/labels": gm.predict(X)}
        if args.proba:  # computed with the labels, from the same read of each block
            outputs["/proba"] = gm.predict_proba(X)
        write_hdf5(outputs, tmp)
    written = "/labels (int64)" + (f" and /proba (float64, {gm.n_components} columns)" * args.proba)
    _out(
        f"{args.out}: {written} for {X.shape[0]:,} rows of {args.data}:{args.dataset} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return EXIT_OK


def cmd_info(args) -> int:
    from ._modelfile import build_estimator, read_model

    record = read_model(args.model)
    gm = build_estimator(record)
    meta = record.meta
    _out(
        f"{args.model}: streamgmm model file, format {meta['format_version']}, written "
        f"{meta['created']} by streamgmm {meta['streamgmm_version']} "
        f"(numpy {meta['numpy_version']}, h5py {meta['h5py_version']})"
    )
    _out(f"  model     {_describe_model(gm)}")
    _out(f"  fit       {_fit_line(gm)}")
    settings = gm.get_params(deep=False)
    shown = " ".join(
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
        for k, v in settings.items()
        if k != "n_components" and not isinstance(v, np.ndarray)
    )
    _out(f"  settings  {shown}")
    arrays = [k for k, v in settings.items() if isinstance(v, np.ndarray)]
    if arrays:
        _out(f"  saved initial arrays: {', '.join(arrays)}")
    if meta["settings_omitted"]:
        _out(f"  settings not saved: {meta['settings_omitted']}")
    _out(_components_table(gm))
    return EXIT_OK


def cmd_select(args) -> int:
    from ._hdf5 import read_hdf5
    from ._selection import select_model

    ks = parse_components(args.n_components)
    for path in (args.out, args.plot):
        if path:
            _check_output(path, [args.data], args.force)
    X = read_hdf5(args.data, args.dataset, chunk_rows=args.chunk_rows)
    params = _estimator(args, ks[0]).get_params()
    del params["n_components"], params["covariance_type"]
    start = time.perf_counter()
    with _scheduler(args):  # every K advances in the same passes over the data
        sel = select_model(X, ks, (args.covariance_type,), criterion=args.criterion, **params)
    seconds = time.perf_counter() - start
    rows = [dict(r, k=r["n_components"]) for r in sel.rows]
    best = rows[sel.best_index]
    _out(f"{'K':>4} {'BIC':>16} {'AIC':>16} {'log-lik/sample':>15} {'iter':>5} conv")
    for r in rows:
        mark = "  <- best" if r is best else ""
        _out(
            f"{r['k']:>4} {r['bic']:>16.2f} {r['aic']:>16.2f} {r['lower_bound']:>15.6f} "
            f"{r['n_iter']:>5} {'yes' if r['converged'] else 'no ':>4}{mark}"
        )
    _out(
        f"best by {args.criterion.upper()}: K={best['k']} ({len(rows)} models in shared passes, "
        f"{seconds:.1f} s)"
    )
    if args.out:
        sel.best_.save(args.out)
        _out(f"{args.out}: {_describe_model(sel.best_)}")
    if args.plot:
        _plot_selection(args, rows, best["k"])
    return EXIT_OK


def cmd_demo(args) -> int:
    from . import _demo
    from ._progress import FitProgress
    from .plotting import INSTALL_HINT

    start = time.perf_counter()
    size = _demo.parse_size(args.size)
    folder = args.out
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"--out {folder} is a file; the demo needs a folder")
    os.makedirs(folder, exist_ok=True)
    _out(f"streamgmm demo: generating {size / 1e6:,.0f} MB of 2-D points in {folder}")
    data = _demo.make_data(folder, size, args.seed)
    k = len(data.truth.weights)
    _out(
        f"  data      {data.n_samples:,} rows x {data.n_features} features, float64, "
        f"{data.nbytes / 1e6:,.0f} MB, from {k} Gaussians (written in {data.seconds:.1f} s)"
    )
    budget = max(_demo.MIN_BUDGET, data.nbytes // 4)
    _out(
        f"  fitting   {k} components, full covariances, k-means init, out of core: "
        f"memory budget {budget / 1e6:,.0f} MB, blocks of {_demo.block_rows(data, budget):,} "
        "rows, one pass over the file per iteration"
    )
    try:
        with FitProgress(sys.stderr, nbytes=data.nbytes) as progress:
            result = _demo.fit(data, args.seed, callback=progress)
        gm = result.model
        _out(_demo_summary(data, result))
        model_path = os.path.join(folder, _demo.MODEL_FILE)
        gm.save(model_path)
        _out(f"  model     {model_path}  (see: streamgmm info {model_path})")
        try:
            figures = _demo.figures(data, gm, folder)
            _out(f"  figures   {', '.join(figures)}")
        except ImportError:
            _out(f"  figures   none: {INSTALL_HINT}")
    finally:
        if not args.keep_data and os.path.exists(data.path):
            os.remove(data.path)
    kept = f"; data kept in {data.path}:{_demo.DATASET}" if args.keep_data else ""
    _out(f"  done in {time.perf_counter() - start:.1f} s{kept}")
    return EXIT_OK


def _demo_summary(data, result) -> str:
    from . import _demo

    gm = result.model
    per_iter = float(np.median(result.iteration_seconds)) if result.iteration_seconds else math.nan
    em_seconds = sum(result.iteration_seconds)
    lines = [
        f"  result    {_fit_line(gm)}",
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
    for j, idx in enumerate(_demo.match(gm, data.truth)):
        lines.append(
            f"  {idx:>9}  {gm.weights_[idx]:.3f} ({data.truth.weights[j]:.3f})   "
            f"{_vector(gm.means_[idx], '7.3f')}  {_vector(data.truth.means[j], '5.1f')}"
        )
    return "\n".join(lines)


# -- shared pieces ---------------------------------------------------------------------


def _estimator(args, n_components):
    from ._estimator import GaussianMixture

    return GaussianMixture(
        n_components,
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


def _checkpoint_kwargs(args) -> dict:
    if not args.checkpoint:
        if args.resume:
            raise UsageError("--resume needs --checkpoint PATH (the checkpoint to continue)")
        return {}
    _check_output(args.checkpoint, [args.data], force=True)
    return {"checkpoint": args.checkpoint, "resume": args.resume}


def _check_output(out, inputs, force: bool) -> None:
    """Refuse an output that is an input, a folder, exists (unless ``force``) or has no folder."""
    target = os.path.realpath(out)
    for path in inputs:
        same = os.path.realpath(path) == target
        if not same and os.path.exists(path) and os.path.exists(out):
            same = os.path.samefile(path, out)
        if same:
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


@contextlib.contextmanager
def _staged(out):
    """A temporary path in ``out``'s folder, renamed onto ``out`` if the block succeeds."""
    folder = tempfile.mkdtemp(prefix=".streamgmm-", dir=os.path.dirname(os.path.abspath(out)))
    try:
        tmp = os.path.join(folder, "out.h5")
        yield tmp
        os.replace(tmp, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _scheduler(args):
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
            _err(f"streamgmm: using the Dask cluster at {args.scheduler}")
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
            _err(
                f"streamgmm: {args.workers} local worker processes x {threads} threads; "
                f"dashboard {client.dashboard_link}"
            )
            yield client


def _plot_selection(args, rows, best_k) -> None:
    from . import plotting

    try:
        ax = plotting.new_axes()
    except ImportError:
        _err(f"streamgmm select: warning: no plot written; {plotting.INSTALL_HINT}")
        return
    plotting.plot_bic(
        [r["k"] for r in rows], [r["bic"] for r in rows], [r["aic"] for r in rows], ax, best=best_k
    )
    ax.set_title(f"model selection on {os.path.basename(args.data)}:{args.dataset}")
    ax.figure.savefig(args.plot, dpi=110)
    _out(f"{args.plot}: BIC and AIC curves")


def parse_components(text: str) -> list[int]:
    """``"1..10"``, ``"2,4,8"``, ``"3"`` or a mix (``"1..4,8"``) to a sorted list of K."""
    ks = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("..")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise UsageError(
                f"-k {text!r}: expected numbers of components like 1..10, 2,4,8 or 3"
            ) from None
        if a < 1 or b < a:
            raise UsageError(f"-k {text!r}: ranges go up from 1, like 1..10")
        ks.update(range(a, b + 1))
    return sorted(ks)


def _describe_model(gm) -> str:
    k, d = gm.means_.shape
    return (
        f"{k} components, {d} features, {gm.covariance_type} covariances, "
        f"{np.asarray(gm.means_).dtype}"
    )


def _fit_line(gm, iterations=None) -> str:
    state = "converged" if gm.converged_ else "did not converge"
    line = (
        f"{state} after {gm.n_iter_} iterations (tol {gm.tol:g}); "
        f"lower bound {gm.lower_bound_:.6f} (mean log-likelihood per sample)"
    )
    if iterations:
        per = float(np.median([i.seconds for i in iterations]))
        line += f"; {per:.2f} s per iteration"
    return line


def _components_table(gm, max_features=6) -> str:
    k, d = gm.means_.shape
    shown = min(d, max_features)
    more = f" ... ({d} features)" if d > shown else ""
    lines = [f"  {'component':>9} {'weight':>7}   mean"]
    for j in np.argsort(-np.asarray(gm.weights_), kind="stable"):
        lines.append(f"  {j:>9} {gm.weights_[j]:>7.4f}   {_vector(gm.means_[j][:shown])}{more}")
    return "\n".join(lines)


def _vector(values, fmt="9.4g") -> str:
    return "[" + " ".join(f"{v:{fmt}}" for v in values) + "]"


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# -- the parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamgmm",
        description="Exact Gaussian mixture models for data that do not fit in memory.",
        epilog="Run 'streamgmm COMMAND --help' for the options of a command.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"streamgmm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _command(
        sub,
        "fit",
        cmd_fit,
        summary="fit a mixture to an HDF5 dataset and save the model",
        description="Fit a Gaussian mixture to a 2-D HDF5 dataset, reading it block by block "
        "(one pass per EM iteration), and save the model to an HDF5 model file.",
    )
    _data_arguments(p)
    p.add_argument("-k", "--n-components", type=_positive_int, required=True, metavar="K")
    _fit_arguments(p)
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="write the state of the fit to PATH after each iteration (atomically); "
        "a killed or interrupted fit continues from it with --resume",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the fit saved in --checkpoint (same data and settings; --max-iter "
        "and --tol may change); the result equals an uninterrupted fit",
    )
    _output_arguments(p, "the model file to write", required=True)

    p = _command(
        sub,
        "predict",
        cmd_predict,
        summary="write the labels (and probabilities) of an HDF5 dataset under a model",
        description="Label each row of a 2-D HDF5 dataset with its most likely component; "
        "the labels (/labels) and, with --proba, the responsibilities (/proba) are "
        "computed and written block by block.",
    )
    p.add_argument("model", help="a model file written by 'streamgmm fit'")
    _data_arguments(p)
    p.add_argument("--proba", action="store_true", help="also write /proba (costs a second pass)")
    _cluster_arguments(p)
    _output_arguments(p, "the HDF5 file to write", required=True)

    p = _command(
        sub,
        "info",
        cmd_info,
        summary="describe a model file",
        description="Check a model file and print its parameters, fit history and settings.",
    )
    p.add_argument("model", help="a model file written by 'streamgmm fit' or GaussianMixture.save")

    p = _command(
        sub,
        "select",
        cmd_select,
        summary="fit several numbers of components and compare BIC/AIC",
        description="Fit one mixture per number of components and print BIC, AIC and the "
        "log-likelihood of each (each fit is followed by one pass to score the data).",
    )
    _data_arguments(p)
    p.add_argument(
        "-k",
        "--n-components",
        required=True,
        metavar="RANGE",
        help="numbers of components: 1..10, 2,4,8 or a mix",
    )
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic", help="(default: bic)")
    _fit_arguments(p)
    _output_arguments(p, "save the best model to this file", required=False)
    p.add_argument("--plot", metavar="PNG", help="draw the BIC and AIC curves (needs matplotlib)")

    p = _command(
        sub,
        "demo",
        cmd_demo,
        summary="generate a mixture on disk, fit it out of core, and draw it",
        description="Generate a synthetic 2-D mixture as an HDF5 file, fit it out of core on "
        "this machine with a progress display, print a summary and save PNG figures "
        "(with matplotlib) and the model in --out. The data file is removed at the end "
        "unless --keep-data.",
    )
    p.add_argument(
        "--size",
        default=DEMO_SIZE,
        help=f"size of the generated data, e.g. 64MB, 1GB (default: {DEMO_SIZE})",
    )
    p.add_argument(
        "--out",
        default=DEMO_FOLDER,
        metavar="DIR",
        help=f"folder for the data, model and figures (default: ./{DEMO_FOLDER})",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--keep-data", action="store_true", help="keep the generated HDF5 file")
    return parser


def _command(sub, name, run, summary, description):
    p = sub.add_parser(name, parents=[_common()], help=summary, description=description)
    p.set_defaults(run=run)
    return p


def _common() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return common


def _data_arguments(p) -> None:
    p.add_argument("data", help="the HDF5 file (opened read-only)")
    p.add_argument(
        "--dataset", required=True, help="the 2-D dataset in it (n_samples, n_features), e.g. /x"
    )
    p.add_argument(
        "--chunk-rows",
        type=_positive_int,
        metavar="N",
        help="rows per block (default: about 32 MB of whole HDF5 chunks)",
    )


def _fit_arguments(p) -> None:
    p.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full")
    p.add_argument("--max-iter", type=int, default=100, help="(default: 100)")
    p.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="convergence threshold on the change of the mean log-likelihood (default: 1e-3)",
    )
    p.add_argument("--reg-covar", type=float, default=1e-6, help="(default: 1e-6)")
    p.add_argument("--init", choices=INIT_METHODS, default="kmeans", help="(default: kmeans)")
    p.add_argument("--n-init", type=_positive_int, default=1, help="(default: 1)")
    p.add_argument("--random-state", type=int, default=None, metavar="SEED")
    p.add_argument(
        "--memory-limit", metavar="SIZE", help="memory budget, e.g. 4GB (default: half the memory)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress")
    _cluster_arguments(p)


def _cluster_arguments(p) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler")
    group.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="start N local worker processes (listening on 127.0.0.1 only), closed at the end",
    )


def _output_arguments(p, what: str, required: bool) -> None:
    p.add_argument("--out", required=required, metavar="PATH", help=what)
    p.add_argument("--force", action="store_true", help="replace an existing output file")


# -- entry point -----------------------------------------------------------------------


_sigint = threading.Event()


def _on_sigint(signum, frame):
    _sigint.set()  # kept: a KeyboardInterrupt raised inside a finaliser is swallowed by Python
    raise KeyboardInterrupt


def _after_sigint(callback):
    """The fit's callback, which re-raises a Ctrl-C that Python swallowed (at most a pass late)."""

    def checked(info):
        if _sigint.is_set():
            raise KeyboardInterrupt
        return callback(info) if callback is not None else None

    return checked


def _interrupted(exc, args) -> str:
    outcome = getattr(exc, "outcome", None)
    n_iter = outcome.best.n_iter if outcome is not None else None
    ckpt = getattr(exc, "checkpoint", None) or getattr(args, "checkpoint", None)
    if ckpt and os.path.exists(ckpt):
        if n_iter is None:  # the interrupt surfaced as another error: ask the checkpoint
            try:
                from ._modelfile import load

                n_iter = load(ckpt).n_iter_
            except Exception:
                n_iter = None
        where = f" at iteration {n_iter}" if n_iter is not None else ""
        return f"interrupted{where}; resume with the same command and --resume ({ckpt} kept)"
    return f"interrupted at iteration {n_iter}" if n_iter is not None else "interrupted"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _err(f"streamgmm: warning: {' '.join(str(message).split())}")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        _err(f"streamgmm: error: {exc}")
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("streamgmm: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    _sigint.clear()
    own = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own:  # a run under nohup keeps SIGINT ignored
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.run(args)
    except KeyboardInterrupt as exc:
        _err(f"streamgmm {args.command}: {_interrupted(exc, args)}")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        _err(f"streamgmm {args.command}: error: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        if _sigint.is_set():  # Ctrl-C landed in library code that turned it into an error
            _err(f"streamgmm {args.command}: {_interrupted(exc, args)}")
            return EXIT_INTERRUPTED
        _err(f"streamgmm {args.command}: error: {_one_line(exc)}")
        return EXIT_ERROR
    finally:
        logger.removeHandler(handler)
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)
