"""Layer 9 (command line): the commands ``fit``, ``predict``, ``info``, ``select``, ``demo``.

Each takes the parsed arguments and returns the exit status; results go to stdout.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from ._cli_common import (
    EXIT_OK,
    _after_sigint,
    _components_table,
    _describe_model,
    _err,
    _fit_line,
    _out,
    _vector,
    parse_components,
)
from ._cli_run import (
    _check_output,
    _checkpoint_kwargs,
    _estimator,
    _read_data,
    _scheduler,
    _staged,
)


def cmd_fit(args) -> int:
    from ._progress import FitProgress

    _check_output(args.out, [args.data], args.force)
    fit_kwargs = _checkpoint_kwargs(args)
    X = _read_data(args)
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
    from ._hdf5 import write_hdf5
    from ._modelfile_read import load

    _check_output(args.out, [args.model, args.data], args.force)
    gm = load(args.model)
    X = _read_data(args)
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
    from ._hdf5 import describe_datasets
    from ._modelfile import FORMAT_NAME
    from ._modelfile_read import build_estimator, read_model

    file_format, datasets = describe_datasets(args.model)
    if file_format != FORMAT_NAME:
        return _data_info(args.model, datasets)
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


def _data_info(path, datasets) -> int:
    """A data file: each dataset's shape, dtype, chunks and share of chunks written (F8)."""
    count = f"{len(datasets)} dataset" + "s" * (len(datasets) != 1)
    _out(f"{path}: HDF5 file, not a streamgmm model file; {count}")
    for name, shape, dtype, chunks, written in datasets:
        dims = " x ".join(f"{n:,}" for n in shape) or "scalar"
        layout = "chunks " + " x ".join(f"{c:,}" for c in chunks) if chunks else "contiguous"
        line = f"  {name}  {dims} {dtype}, {layout}, chunks written {100 * written:.1f}%"
        if written < 1:
            line += " (incomplete: unwritten rows read as the fill value)"
        _out(line)
    return EXIT_OK


def cmd_select(args) -> int:
    from ._selection import select_model

    ks = parse_components(args.n_components)
    for path in (args.out, args.plot):
        if path:
            _check_output(path, [args.data], args.force)
    X = _read_data(args)
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
