"""Regenerate the ``--help`` blocks of docs/user-guide.md from the parser itself.

    python tools/regen_cli_help.py        # rewrites docs/user-guide.md in place

Each section headed ``### `streamgmm COMMAND``` has its first code block replaced by
``streamgmm COMMAND --help`` as printed at 80 columns, so the guide never drifts from the
command line (tests/cli/test_cli.py::test_the_user_guide_shows_the_current_help checks it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
SECTION = re.compile(r"(### `streamgmm (\w+)`\n\n```\n)(.*?)(\n```)", re.S)


def help_text(command: str) -> str:
    env = dict(os.environ, COLUMNS="80")
    done = subprocess.run([sys.executable, "-m", "streamgmm", command, "--help"],
                          capture_output=True, text=True, env=env, check=True)  # fmt: skip
    return done.stdout.rstrip("\n")


def regenerate(text: str) -> str:
    return SECTION.sub(lambda m: m.group(1) + help_text(m.group(2)) + m.group(4), text)


if __name__ == "__main__":
    GUIDE.write_text(regenerate(GUIDE.read_text()))
    print(f"{GUIDE}: help blocks regenerated")
