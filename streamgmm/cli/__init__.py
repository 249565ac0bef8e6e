"""The ``streamgmm`` command line: the only place that prints to stdout or exits.

``main`` (``main.py``) runs it; ``parser.py`` declares the commands, ``commands.py`` and
``demo.py`` run them, ``run.py`` builds what they run with (the estimator, outputs, the
scheduler), ``output.py`` holds exit codes and text.
"""

from .main import main
from .output import parse_components
from .parser import build_parser

__all__ = ["build_parser", "main", "parse_components"]
