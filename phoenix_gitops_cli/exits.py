"""The one place where errors become exit codes (DESIGN.md §3), shared by every task.

- a `GitopsError` exits with its `exit_code` and its message (UsageError 2, InputError 1, ToolError 4, ...);
- Ctrl-C exits 130 with the task's own sentence on what was and was not written;
- an OSError (a file that cannot be read or written) exits 4 naming the path; a closed output pipe is left to
  the program (`program.main`).
Never a traceback for any of them.

Usage:
    @task(help={...})
    @exits(interrupted="rendered/ is unchanged")
    def render(c, env=None): ...
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from invoke.exceptions import Exit

from phoenix_gitops.errors import EXIT_TOOL, GitopsError

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "exits"]

EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report a process ended by SIGINT."""
EXIT_BROKEN_PIPE = 141
"""The reader of the output went away, as shells report a process ended by SIGPIPE."""
P = ParamSpec("P")


def exits(interrupted: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Turn the errors of a task body into invoke Exits; `interrupted` says what Ctrl-C left behind."""

    def decorate(body: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(body)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                body(*args, **kwargs)
            except GitopsError as err:
                raise Exit(str(err), code=err.exit_code) from None
            except KeyboardInterrupt:
                raise Exit(f"interrupted: {interrupted}", code=EXIT_INTERRUPTED) from None
            except BrokenPipeError:
                raise  # the reader of our output went away (`| head`): the program's main() ends quietly
            except OSError as err:
                where = f"{err.filename}: " if err.filename else ""
                raise Exit(f"{where}{err.strerror or err}", code=EXIT_TOOL) from None

        return run

    return decorate
