"""``python -m streamgmm.cli``: the command line, as ``python -m streamgmm``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
