"""`python -m phoenix_gitops_cli ARGS` runs the phoenix-gitops program, as the console script does.

SIGTERM and SIGHUP interrupt as Ctrl-C does before anything else is imported, so an interrupt at any moment
exits 130 with a message (`program.run`).
"""
from __future__ import annotations

import os
import sys
from contextlib import suppress

from phoenix_gitops.errors import EXIT_INTERRUPTED
from phoenix_gitops.signals import install_interrupts


def run() -> int:
    """The program (see the module docstring): exit 130 when interrupted while it is still being loaded."""
    try:  # from the first handler on: a signal may arrive as soon as it is installed
        install_interrupts()
        from .program import run as program

        code = program()  # tasks say themselves what an interrupt left; before and after them nothing is written
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Flush and end the process with `code` at once. After an interrupt, a normal exit may end in death by
    SIGINT instead: an interrupt that landed inside `eval()` of a string (namedtuple, dataclasses do that while
    modules load) leaves CPython's "unhandled KeyboardInterrupt" flag set even though it was caught, and the
    interpreter then kills itself with SIGINT on the way out."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
