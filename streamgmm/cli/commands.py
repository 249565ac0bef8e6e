"""The commands ``fit``, ``predict``, ``impute``, ``info`` and ``select`` (``demo`` is
``demo.py``).

Each takes the parsed arguments and returns the exit status; results go to stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

from .output import (
    EXIT_OK,
    InterruptibleStream,
    after_sigint,
    components_table,
    describe_model,
    err,
    fit_line,
    out,
    parse_components,
    plural,
)
from .run import (
    STDOUT,
    check_output,
    checkpoint_kwargs,
    estimator_from_args,
    read_data,
    result_format,
    save_figure,
    scheduler,
    write_results,
)


def cmd_fit(args) -> int:
    check_output(args.out, [args.data], args.force)
    fit_kwargs = checkpoint_kwargs(args)
    X = read_data(args)
    gm = estimator_from_args(args, args.n_components, X.shape[1])
    iterations = []
    with scheduler(args), display(args):
        gm.fit(X, callback=after_sigint(iterations.append), **fit_kwargs)
    gm.save(args.out)
    out(f"{args.out}: {describe_model(gm)}")
    out(fit_line(gm, iterations))
    out(components_table(gm, hint=f"streamgmm info {args.out} --all shows every one"))
    return EXIT_OK


def display(args):
    """The progress display on stderr (unless --no-progress)."""
    from .._data.progress import Progress

    if not getattr(args, "progress", True):
        return contextlib.nullcontext()
    return Progress(InterruptibleStream(sys.stderr))


def cmd_predict(args) -> int:
    from .._io.results import provenance
    from .._load import load
    from .._version import __version__

    kind = result_format(args.out)
    if args.out != STDOUT:
        check_output(args.out, [args.model, args.data], args.force)
    gm = load(args.model)
    meta = provenance(args.model, args.data, args.dataset, __version__)
    X = read_data(args)
    start = time.perf_counter()
    with scheduler(args):
        columns = {"label": gm.predict(X)}
        if args.proba:  # computed with the labels, from the same read of each block
            columns["proba"] = gm.predict_proba(X)
        written = write_results(kind, columns, args.out, meta)
    if args.out != STDOUT:  # stdout holds the CSV and nothing else
        where = {
            "hdf5": "; provenance in its attributes",
            "parquet": "; provenance in its metadata",
        }
        out(
            f"{args.out}: {written} for {plural(X.shape[0], 'row')} of "
            f"{args.data}:{args.dataset} ({time.perf_counter() - start:.1f} s)"
            f"{where.get(kind, '')}"
        )
    return EXIT_OK


def cmd_impute(args) -> int:
    from .._io.results import provenance
    from .._io.writing import write_new_file
    from .._load import load
    from .._version import __version__

    check_output(args.out, [args.model, args.data], args.force)
    gm = load(args.model)
    meta = provenance(args.model, args.data, args.dataset, __version__)
    X = read_data(args)
    start = time.perf_counter()
    with scheduler(args):
        imputed = gm.impute(X)  # lazy: computed and written block by block
        write_new_file({args.dataset: imputed}, args.out, attrs=meta)
    out(
        f"{args.out}: {args.dataset} ({X.shape[0]:,} x {X.shape[1]:,} {imputed.dtype}), "
        f"{args.data}:{args.dataset} with its NaN imputed ({time.perf_counter() - start:.1f} s); "
        "provenance in its attributes"
    )
    return EXIT_OK


def cmd_info(args) -> int:
    from .._io.hdf5 import describe_datasets
    from .._io.modelfile import FORMATS
    from .._load import from_record, read_record

    file_format, datasets = describe_datasets(args.model)
    if file_format not in FORMATS:
        return _data_info(args.model, datasets)
    record = read_record(args.model)
    gm = from_record(record)
    meta = record.meta
    out(
        f"{args.model}: streamgmm model file, format {meta['format_version']}, written "
        f"{meta['created']} by streamgmm {meta['streamgmm_version']} "
        f"(numpy {meta['numpy_version']}, h5py {meta['h5py_version']})"
    )
    out(f"  model     {describe_model(gm)}")
    out(f"  fit       {fit_line(gm)}")
    settings = gm.get_params(deep=False)
    shown = " ".join(
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
        for k, v in settings.items()
        if k != "n_components" and not isinstance(v, np.ndarray)
    )
    if hasattr(gm, "mean_prior_"):
        shown += f" (priors used: {_priors_line(gm)})"
    out(f"  settings  {shown}")
    arrays = [k for k, v in settings.items() if isinstance(v, np.ndarray)]
    if arrays:
        out(f"  saved array settings: {', '.join(arrays)}")
    if meta["settings_omitted"]:
        out(f"  settings not saved: {meta['settings_omitted']}")
    out(components_table(gm, max_features=None if args.all else 6))
    return EXIT_OK


def _priors_line(gm) -> str:
    """A Bayesian model's priors as fitted (scikit-learn's ``*_prior_`` attributes)."""
    from .output import vector

    cov = np.asarray(gm.covariance_prior_, dtype=float)
    diagonal = cov.diagonal() if cov.ndim == 2 else cov
    cov_text = f"{float(cov):.4g}" if cov.ndim == 0 else f"diagonal {vector(diagonal)}"
    return (
        f"weight_concentration={gm.weight_concentration_prior_:.4g} "
        f"mean_precision={gm.mean_precision_prior_:.4g} "
        f"degrees_of_freedom={gm.degrees_of_freedom_prior_:.4g} "
        f"mean={vector(gm.mean_prior_)} covariance {cov_text}"
    )


def _data_info(path, datasets) -> int:
    """A data file: each dataset's shape, dtype, chunks and share of chunks written (F8)."""
    out(f"{path}: HDF5 file, not a streamgmm model file; {plural(len(datasets), 'dataset')}")
    for name, shape, dtype, chunks, written in datasets:
        dims = " x ".join(f"{n:,}" for n in shape) or "scalar"
        layout = "chunks " + " x ".join(f"{c:,}" for c in chunks) if chunks else "contiguous"
        line = f"  {name}  {dims} {dtype}, {layout}, chunks written {100 * written:.1f}%"
        if written < 1:
            line += " (incomplete: unwritten rows read as the fill value)"
        out(line)
    return EXIT_OK


def cmd_select(args) -> int:
    from .._selection import select_model

    ks = parse_components(args.n_components)
    for path in (args.out, args.plot):
        if path:
            check_output(path, [args.data], args.force)
    X = read_data(args)
    params = estimator_from_args(args, ks[0]).get_params()
    del params["n_components"], params["covariance_type"]
    start = time.perf_counter()
    with scheduler(args), display(args):  # every K advances in the same passes
        sel = select_model(X, ks, (args.covariance_type,), criterion=args.criterion, **params)
    seconds = time.perf_counter() - start
    rows = [dict(r, k=r["n_components"]) for r in sel.rows]
    best = rows[sel.best_index]
    out(f"{'K':>4} {'BIC':>16} {'AIC':>16} {'log-lik/sample':>15} {'iter':>5} conv")
    for r in rows:
        mark = "  <- best" if r is best else ""
        out(
            f"{r['k']:>4} {r['bic']:>16.2f} {r['aic']:>16.2f} {r['lower_bound']:>15.6f} "
            f"{r['n_iter']:>5} {'yes' if r['converged'] else 'no ':>4}{mark}"
        )
    out(
        f"best by {args.criterion.upper()}: K={best['k']} ({plural(len(rows), 'model')} in "
        f"shared passes, {seconds:.1f} s)"
    )
    if args.out:
        sel.best_.save(args.out)
        out(f"{args.out}: {describe_model(sel.best_)}")
    if args.plot:
        _plot_selection(args, rows, best["k"])
    return EXIT_OK


def _plot_selection(args, rows, best_k) -> None:
    from .. import plotting

    try:
        left, right = plotting.new_axes(figsize=(10.0, 4.2), ncols=2)
    except ImportError:
        err(f"streamgmm select: warning: no plot written; {plotting.INSTALL_HINT}")
        return
    ks = [r["k"] for r in rows]
    bic, aic = [r["bic"] for r in rows], [r["aic"] for r in rows]
    # each criterion on its own axes: they differ by far less than they vary with K, so on
    # one scale one curve hides the other (tests/test_plotting.py::test_bic_and_aic_that_...)
    plotting.plot_bic(ks, bic, aic, left, best=best_k, aic_ax=right)
    left.figure.suptitle(f"model selection on {os.path.basename(args.data)}:{args.dataset}")
    save_figure(left.figure, args.plot)
    out(f"{args.plot}: BIC and AIC curves")
