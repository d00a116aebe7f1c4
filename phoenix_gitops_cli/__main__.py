"""`python -m phoenix_gitops_cli ARGS` runs the phoenix-gitops program, as the console script does.

SIGTERM and SIGHUP interrupt as Ctrl-C does before anything else is imported, so an interrupt at any moment
exits 130 with a message (`program.run`).
"""
from __future__ import annotations

import sys

from phoenix_gitops.signals import install_interrupts


def run() -> int:
    """The program (see the module docstring): exit 130 when interrupted while it is still being loaded."""
    try:  # from the first handler on: a signal may arrive as soon as it is installed
        install_interrupts()
        from .program import run as program

        return program()  # tasks say themselves what an interrupt left; before and after them nothing is written
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
