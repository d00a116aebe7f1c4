"""Build scheduling: which overlays kustomize builds together, how many runs at once, results as they finish.

Process start dominates a small build, so overlays are built in batches (`Kustomize.build_batch`): at most
BATCH_SIZE overlays of one environment and sort order per kustomize run, and at least as many batches as
workers, so every core has work and results stream in while other batches build. A batch that fails is built
again one overlay at a time, so each failure is attributed to its own overlay and the others still build.

Usage:
    with BuildQueue(kz, workers_for(jobs, len(overlays)), sort_options=lambda o: None) as queue:
        queue.build(overlays, origins=False)
        for built in queue.results():          # in the order they finish
            built.overlay, built.origins, built.result    # result: the text, or the overlay's GitopsError
            queue.later(built.overlay)         # build it again with origins (batched, in the same pool)
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from types import TracebackType
from typing import NamedTuple

from .errors import GitopsError, ToolError
from .kustomize import Kustomize, TimedOut
from .layout import Overlay
from .signals import children_may_start, signals_as_interrupts, signals_held, stop_children

__all__ = ["BATCH_SIZE", "Built", "BuildQueue", "SortOptions", "build_unit", "plan", "workers_for"]

BATCH_SIZE = 8
"""Most overlays per kustomize run: big enough to share start-up, small enough to keep results streaming."""

SortOptions = Callable[[Overlay], "Mapping[str, object] | None"]
"""An overlay's own `sortOptions` (kustomize honours them only at the top, so a batch shares one)."""


class Built(NamedTuple):
    """One overlay's build: the text kustomize printed, or the error that overlay's build raised."""

    overlay: Overlay
    origins: bool
    """Whether it was built with origin annotations."""
    result: str | GitopsError


def workers_for(jobs: int | None, tasks: int) -> int:
    """How many builds to run at once: `jobs`, else one per CPU; never more than there are tasks."""
    return max(1, min(jobs or os.cpu_count() or 1, tasks or 1))


def plan(overlays: Sequence[Overlay], workers: int, sort_options: SortOptions) -> list[list[Overlay]]:
    """Split `overlays` into units of work: batches of one environment and sort order, small enough
    (at most BATCH_SIZE) that results stream in while other batches build, and at least `workers` of them."""
    groups: dict[tuple[str, str], list[Overlay]] = {}
    for overlay in overlays:
        groups.setdefault((overlay.env, json.dumps(sort_options(overlay), sort_keys=True)), []).append(overlay)
    units = []
    for group in groups.values():
        pieces = max(-(-len(group) // BATCH_SIZE), -(-workers // len(groups)))
        units += [group[i::pieces] for i in range(min(pieces, len(group)))]
    return units


def build_unit(kustomize: Kustomize, unit: Sequence[Overlay], origins: bool, sort_options: SortOptions) -> list[Built]:
    """Build one unit of `plan`; a batch that fails is built again one overlay at a time, so every failure is
    attributed to its own overlay and the others still build."""
    if len(unit) > 1:
        try:
            texts = kustomize.build_batch(unit, sort_options(unit[0]), origins)
            return [Built(overlay, origins, texts[overlay]) for overlay in unit]
        except TimedOut as err:  # one by one, every overlay would only time out again
            return [Built(overlay, origins, ToolError(f"{overlay.rel}: {err}")) for overlay in unit]
        except GitopsError:
            pass
    results = []
    for overlay in unit:
        try:
            results.append(Built(overlay, origins, kustomize.build(overlay, origins, sort_options(overlay))))
        except GitopsError as err:
            results.append(Built(overlay, origins, err))
    return results


class BuildQueue:
    """Builds on a pool of `workers` threads, in the units `plan` makes, results in the order they finish.

    Overlays passed to `later` are built with origins in batches of their own: a batch goes out when BATCH_SIZE
    of them wait or when nothing else is building. Inside the `with` block SIGTERM and SIGHUP interrupt as Ctrl-C
    does. Leaving it normally waits for running builds; leaving it on an error or an interrupt drops the builds
    not started and stops the running kustomize processes with their process groups (`signals.stop_children`),
    so it returns within about `signals.GRACE` seconds.
    """

    def __init__(self, kustomize: Kustomize, workers: int, sort_options: SortOptions) -> None:
        self.kustomize, self.workers, self.sort_options = kustomize, workers, sort_options
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._running: set[Future[list[Built]]] = set()
        self._waiting: list[Overlay] = []
        self._interrupts = ExitStack()

    def __enter__(self) -> BuildQueue:
        self._interrupts.enter_context(signals_as_interrupts())
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        with self._interrupts:
            if error is None:
                try:
                    self._pool.shutdown(wait=True)
                    return
                except BaseException:
                    self._stop()
                    raise
            self._stop()

    def _stop(self) -> None:
        """Drop the builds not started, stop the running ones, wait for the threads (a second interrupt held back
        meanwhile)."""
        with signals_held(step=False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            stop_children()
            try:
                self._pool.shutdown(wait=True)
            finally:
                children_may_start()

    def build(self, overlays: Sequence[Overlay], origins: bool) -> None:
        """Start building `overlays` (with or without origins) now."""
        for unit in plan(overlays, self.workers, self.sort_options):
            self._running.add(self._pool.submit(build_unit, self.kustomize, unit, origins, self.sort_options))

    def later(self, overlay: Overlay) -> None:
        """Build `overlay` with origins, batched with others asked for the same way."""
        self._waiting.append(overlay)

    def results(self) -> Iterator[Built]:
        """Every build of this queue as it finishes, including the ones asked for while iterating, until none
        is running or waiting."""
        while self._running or self._waiting:
            if len(self._waiting) >= BATCH_SIZE or (self._waiting and not self._running):
                waiting, self._waiting = self._waiting, []
                self.build(waiting, origins=True)
            done, self._running = _first_finished(self._running)
            for future in done:
                yield from future.result()


def _first_finished(running: set[Future[list[Built]]]) -> tuple[set[Future[list[Built]]], set[Future[list[Built]]]]:
    """`wait` for the first build to finish, taking signals only between short waits: an interrupt raised inside
    `concurrent.futures` could leave one of its locks held, and the pool would then never finish stopping."""
    while True:
        with signals_held(step=False):  # a signal meanwhile is raised as the block ends, at a safe point
            done, pending = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
        if done or not pending:
            return done, pending
