"""``python -m streamgmm``: the command line (see :mod:`streamgmm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":  # LocalCluster's worker processes import this module again
    sys.exit(main())
