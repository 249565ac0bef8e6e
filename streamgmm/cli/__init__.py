"""The ``streamgmm`` command line: the only place that prints to stdout or exits.

``main`` (``app.py``) runs it; ``parser.py`` declares the commands, ``commands.py`` and
``demo.py`` run them, ``run.py`` builds what they run with (the estimator, outputs, the
scheduler), ``output.py`` holds exit codes and text.

Importing this package imports none of them: the installed ``streamgmm`` command calls
:func:`main` here, which takes Ctrl-C over before anything else is loaded.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["build_parser", "main", "parse_components"]


def interrupted_while_loading(signum, frame):
    """Ctrl-C before the command has started: nothing to close, nothing written."""
    try:
        sys.stderr.write("streamgmm: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


def main(argv=None) -> int:
    """Run the command line (see ``app.py``); returns the exit status."""
    if (
        argv is None  # the installed command, not a call from Python
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, interrupted_while_loading)
    from .app import main as run

    return run(argv)


def __getattr__(name: str):
    if name in ("build_parser", "parse_components"):
        from . import output, parser

        return {"build_parser": parser.build_parser, "parse_components": output.parse_components}[
            name
        ]
    raise AttributeError(f"module 'streamgmm.cli' has no attribute {name!r}")
