"""The pieces that commands run with: the estimator from the
arguments, output checks and staging, the scheduler or cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

from .output import UsageError, err


def estimator_from_args(args, n_components):
    from .._estimator import GaussianMixture

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
    return {"checkpoint": args.checkpoint, "resume": args.resume}


def check_output(out, inputs, force: bool) -> None:
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
            err(
                f"streamgmm: {args.workers} local worker processes x {threads} threads; "
                f"dashboard {client.dashboard_link}"
            )
            yield client
