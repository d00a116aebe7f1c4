"""What the tasks show: rich consoles, a progress bar and a spinner on a terminal's stderr, all through redaction.

The bar and the spinner are silent when stderr is not a terminal (CI logs, pipes, tests), so output stays
byte-identical there. `redacted_output` puts a `RedactingStream` in front of `sys.stdout` and `sys.stderr` for as
long as a task runs (`exits.exits` does it for every task): `print`, both consoles, the bar and tracebacks all
write through it, and it writes only what `Redactor.redact` left of each line.

Usage:
    with redacted_output(redactor):
        with progress_bar(total=12, what="kustomize build") as on_done:
            render(..., on_done=on_done)          # on_done(overlay, error) advances the bar
        with spinner("rendering the base revision and the working tree"):
            result = diff_revisions(...)
"""
from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from phoenix_gitops.redaction import Redactor

__all__ = ["RedactingStream", "progress_bar", "redacted_output", "spinner", "stderr", "stdout"]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)
"""Both consoles write to whatever `sys.stdout`/`sys.stderr` is at the time: inside `redacted_output`, its streams."""


class RedactingStream(io.TextIOBase):
    """A text stream that writes `redact(text)` to `target`, line by line.

    Complete lines are passed on at once (all those a write completes, together, so a value split over several
    `write` calls or a multi-line secret is seen whole); the rest of a line waits for its end or for `flush`,
    which is when a terminal's progress line is shown.
    """

    def __init__(self, target: TextIO, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.target, self.redact = target, redact
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = self._pending.rfind("\n") + 1
        if cut:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
            self.target.write(self.redact(ready))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            ready, self._pending = self._pending, ""
            self.target.write(self.redact(ready))
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "errors", None)


@contextmanager
def redacted_output(redactor: Redactor) -> Iterator[None]:
    """Everything written to `sys.stdout` and `sys.stderr` inside goes through `redactor`; flushed at the end."""
    saved = sys.stdout, sys.stderr
    wrapped = RedactingStream(saved[0], redactor.redact), RedactingStream(saved[1], redactor.redact)
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for stream in wrapped:
            stream.flush()


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
