"""What an interrupted task says it wrote, once it has written something (before that, `exits` says it).

`exits(interrupted=...)` gives the sentence of a task interrupted before it wrote anything. A task that has
written (or whose library call raised `signals.Interrupted`, which says what was written) says so instead:

Usage:
    with interrupted_saying(None):             # an Interrupted from the library exits 130 with its own words
        result = edit.set_image(...)
    with interrupted_saying(f"{result.path} was written"):   # any Ctrl-C or SIGTERM here says this
        print(...)
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.exceptions import Exit

from phoenix_gitops.signals import Interrupted

from .exits import EXIT_INTERRUPTED

__all__ = ["interrupted_saying"]


@contextmanager
def interrupted_saying(written: str | None) -> Iterator[None]:
    """In the block, `signals.Interrupted` exits 130 with its words, and any other interrupt with `written`
    (None: left to `exits`, for a block that has written nothing)."""
    try:
        yield
    except Interrupted as stop:
        raise Exit(f"interrupted: {stop.written}", code=EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        if written is None:
            raise
        raise Exit(f"interrupted: {written}", code=EXIT_INTERRUPTED) from None
