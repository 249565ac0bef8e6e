"""The ``streamgmm`` command line (also ``python -m streamgmm``): ``main``.

With the other modules of ``cli`` (parser, commands, the pieces they run with), the only
place that prints to stdout or chooses the exit status. Results go to
stdout; progress, warnings and errors go to stderr, an error as one line and no
traceback (``--debug`` shows it). Exit status: 0 done, 1 error, 2 wrong usage,
130 interrupted. When the reader of stdout goes away (``streamgmm info m.h5 | head -1``),
the command ends quietly by SIGPIPE, as ``cat`` and ``grep`` do (status 141 in the shell).

Inputs are opened read-only (:func:`streamgmm.read_hdf5`). An output is written
to a temporary file in its folder and renamed into place at the end, never onto
an input, and over an existing file only with ``--force``.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import warnings

from .output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_USAGE,
    StdoutClosed,
    UsageError,
    err,
    interrupt_requested,
    on_sigint,
    one_line,
)
from .parser import build_parser

logger = logging.getLogger("streamgmm")


def _interrupted(exc, args) -> str:
    outcome = getattr(exc, "outcome", None)
    n_iter = outcome.best.n_iter if outcome is not None else None
    ckpt = getattr(exc, "checkpoint", None) or getattr(args, "checkpoint", None)
    if ckpt and os.path.exists(ckpt):
        if n_iter is None:  # the interrupt surfaced as another error: ask the checkpoint
            try:
                from .._load import load

                n_iter = load(ckpt).n_iter_
            except Exception:
                n_iter = None
        where = f" at iteration {n_iter}" if n_iter is not None else ""
        return f"interrupted{where}; resume with the same command and --resume ({ckpt} kept)"
    return f"interrupted at iteration {n_iter}" if n_iter is not None else "interrupted"


def _command_function(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(f".{module}", __package__), name)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    err(f"streamgmm: warning: {' '.join(str(message).split())}")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (the console script exits with it).

    Ctrl-C at any moment, from parsing the arguments and loading the libraries to the last
    line of output, ends with one line on stderr and exit status 130.
    """
    console = argv is None  # the installed command: this process ends with main
    interrupt_requested.clear()
    own = (  # a run under nohup keeps SIGINT ignored; only the main thread has signals
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _early_handler())
    )
    if own:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        status = _run(argv)
    except KeyboardInterrupt:  # before a command started: parsing, imports
        err("streamgmm: interrupted")
        status = EXIT_INTERRUPTED
    except StdoutClosed:
        status = _reader_gone(console)
    finally:
        if own:  # a late Ctrl-C of the command's own process changes nothing now
            signal.signal(signal.SIGINT, signal.SIG_IGN if console else signal.default_int_handler)
    if console and status == EXIT_INTERRUPTED:
        _exit_interrupted()
    return status


def _early_handler():
    """The handler ``streamgmm.cli.main`` sets while this module loads."""
    from . import interrupted_while_loading

    return interrupted_while_loading


def _exit_interrupted() -> None:
    """End the process with status 130 now, its outputs flushed and closed.

    A KeyboardInterrupt that reached code Python ran through PyRun_* (some libraries'
    import) leaves CPython's flag for an unhandled interrupt set even though this command
    handled it; the interpreter would then end itself by SIGINT at exit (status -2, seen
    when Ctrl-C lands while the libraries load). Every file and cluster of the command is
    closed by now, so nothing is lost by skipping the exit handlers.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)


def _reader_gone(console: bool) -> int:
    """End as a Unix filter does when its reader has gone: silently, by SIGPIPE (the shell
    sees 141; ``set -o pipefail`` can tell a cut-short output from a finished one). Only the
    installed command ends its process so; ``main([...])`` returns :data:`EXIT_PIPE`."""
    if not console or not hasattr(signal, "SIGPIPE"):
        return EXIT_PIPE
    try:  # Python's flush of stdout at exit would report the broken pipe
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    # Python ignores SIGPIPE (a write raises BrokenPipeError instead); only now, with every
    # file and cluster closed, does the default action end the process
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    return EXIT_PIPE  # pragma: no cover - not reached where the signal ends the process


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None


def _run(argv) -> int:
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
    except UsageError as exc:
        err(f"streamgmm: error: {exc}")
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        _flush_stdout()  # argparse ignores a failed write; what it buffered fails here
        return int(exc.code or 0)
    except BrokenPipeError:
        raise StdoutClosed from None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("streamgmm: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _command_function(args.run)(args)
    except KeyboardInterrupt as exc:
        err(f"streamgmm {args.command}: {_interrupted(exc, args)}")
        return EXIT_INTERRUPTED
    except StdoutClosed:
        raise
    except UsageError as exc:
        err(f"streamgmm {args.command}: error: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        if interrupt_requested.is_set():  # Ctrl-C landed in library code, turned into an error
            err(f"streamgmm {args.command}: {_interrupted(exc, args)}")
            return EXIT_INTERRUPTED
        err(f"streamgmm {args.command}: error: {one_line(exc)}")
        return EXIT_ERROR
    finally:
        logger.removeHandler(handler)
