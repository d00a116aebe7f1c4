"""What the tasks show while they work: rich consoles, a progress bar and a spinner on a terminal's stderr.

Both are silent when stderr is not a terminal (CI logs, pipes, tests), so output stays byte-identical there.

Usage:
    with progress_bar(total=12, what="kustomize build") as on_done:
        render(..., on_done=on_done)          # on_done(overlay, error) advances the bar
    with spinner("rendering the base revision and the working tree"):
        result = diff_revisions(...)
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["progress_bar", "spinner", "stderr", "stdout"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(total: int, what: str) -> Iterator[Callable[..., None]]:
    """A bar of `total` steps; the yielded callback advances it by one, whatever it is called with."""
    with Progress(
        TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True, disable=not stderr.is_terminal,
    ) as bar:
        job = bar.add_task(what, total=total)

        def advance(*_: Any) -> None:
            bar.advance(job)

        yield advance


@contextmanager
def spinner(what: str) -> Iterator[None]:
    """A spinner saying `what` runs, for work that reports no steps."""
    if not stderr.is_terminal:
        yield
        return
    with stderr.status(what):
        yield
