"""The `phoenix-gitops` program: invoke's Program around this project's tasks, runnable from any folder.

What it adds to plain `invoke`:
- it works on the config repository it runs in, the nearest folder at or above the current one that holds
  `overlays/` or `gitops.yaml` (`INVOKE_GITOPS_REPO` names another); that folder's invoke.yaml, if any, supplies
  the settings, and a relative `gitops.repo` starts there;
- every usage error exits 2 (invoke's parser exits 1) with one line on stderr, never a traceback;
- INVOKE_* variables of the wrong type are usage errors (`executor.Executor`).

Usage:
    $ phoenix-gitops render env=prod
    main(["check", "--format", "json"])      # in process: returns the exit code
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from phoenix_gitops.errors import EXIT_USAGE
from phoenix_gitops.redaction import Redactor
from phoenix_gitops.signals import install_interrupts, interrupts_received
from phoenix_gitops.tempdirs import prune

from .build import check, lint, render
from .develop import crd_schemas
from .display import redacted_output
from .edits import new_app, promote, set_image
from .executor import Executor
from .exits import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED
from .flags import GitopsTask
from .review import diff, history
from .settings import DEFAULTS, SECTION, find_repo_root

__all__ = ["NAME", "TASKS", "GitopsProgram", "main", "namespace", "run"]

NAME = "phoenix-gitops"
TASKS: tuple[GitopsTask, ...] = (render, check, lint, diff, history, set_image, promote, new_app, crd_schemas)
"""The program's tasks: everything but `rules-doc` and `test`, which work on the source checkout only."""


def namespace(*tasks: GitopsTask) -> Collection:
    """The collection of `tasks`, carrying the settings' defaults (so INVOKE_GITOPS_* variables always load)."""
    collection = Collection(*tasks)
    collection.configure({SECTION: DEFAULTS})
    return collection


@contextmanager
def _usage_errors() -> Iterator[None]:
    try:
        yield
    except ParseError as err:
        raise Exit(str(err), code=EXIT_USAGE) from None


class GitopsProgram(Program):
    """invoke's Program with the additions the module docstring lists."""

    def __init__(self, tasks: Sequence[GitopsTask] = TASKS) -> None:
        try:
            version = metadata.version(NAME)
        except metadata.PackageNotFoundError:
            version = "unknown"
        super().__init__(version=version, namespace=namespace(*tasks), name=NAME, binary=NAME,
                         binary_names=[NAME], executor_class=Executor)

    def parse_core(self, argv: list[str] | None) -> None:
        with _usage_errors():
            super().parse_core(argv)

    def parse_collection(self) -> None:
        """The bundled tasks, with the settings of the config repository the program runs in."""
        super().parse_collection()
        root = find_repo_root(Path.cwd().resolve())
        if root is not None:
            self.config.set_project_location(str(root))
            self.config.load_project()

    def parse_tasks(self) -> None:
        with _usage_errors():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with _usage_errors():
            super().parse_cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the program on `argv` (default: the command line); returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    code = 0
    try:
        with redacted_output(Redactor()):  # what invoke prints before a task runs (its parse errors) too
            GitopsProgram().run([NAME, *args])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:  # while invoke printed a task's message
        code = 1
    except BrokenPipeError:  # `phoenix-gitops --list | head`: stop writing, and let nothing flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    if code == 1 and interrupts_received():  # invoke turns Ctrl-C outside a task (while parsing) into exit 1
        print("interrupted: nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def run() -> int:
    """The console script: SIGTERM and SIGHUP interrupt as Ctrl-C does from the first moment on, what killed
    runs left in the temp dir is pruned, then `main`."""
    install_interrupts()
    prune()
    return main()
