"""The one place where a task's errors become exit codes and its output goes through redaction (DESIGN.md §3).

Every task is wrapped by `exits`, which
- runs the task inside `display.redacted_output`, with the `Redactor` of the config repository the task works on
  (its policy's secret names and the secret values its sources hold; the detector's defaults when there is no
  repository): everything the task prints, and every message below, is redacted;
- turns a `GitopsError` into its `exit_code` and its message (UsageError 2, InputError 1, ToolError 4, ...);
- turns Ctrl-C, SIGTERM and SIGHUP into exit 130 with the task's own sentence on what was and was not written
  (or the library's, when it raised `signals.Interrupted` after writing);
- turns an OSError (a file that cannot be read or written) into exit 4 naming the path; a closed output pipe is
  left to the program (`program.main`);
- prints an unexpected exception's traceback through the redaction and exits 1, as Python would.

Usage:
    @task(help={...})
    @exits(interrupted="rendered/ is unchanged")
    def render(c, env=None): ...
"""
from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

from invoke.context import Context
from invoke.exceptions import Exit

from phoenix_gitops.cache import RunCache, cache_dir, fingerprint
from phoenix_gitops.errors import EXIT_INTERRUPTED, EXIT_TOOL, GitopsError
from phoenix_gitops.redaction import CleanFiles, Redactor, policy_detector
from phoenix_gitops.rules.policy import REPO_POLICY
from phoenix_gitops.signals import Interrupted, signals_as_interrupts

from .display import redacted_output
from .settings import Settings

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "exits", "redactor_of"]

EXIT_BROKEN_PIPE = 141
"""The reader of the output went away, as shells report a process ended by SIGPIPE."""
P = ParamSpec("P")


def redactor_of(c: object, cached: bool = False) -> Redactor:
    """The redactor of the config repository a task's context `c` names (see `Settings.repo_root`), or the
    detector's defaults when it names none. `cached`: the source files the cache knows to hold no secret (by their
    SHA-256, under this code and the policy's detector) are not parsed again, and this run's are kept."""
    try:
        root = Settings.of(c).repo_root() if isinstance(c, Context) else None
    except GitopsError:
        root = None
    if root is None or not (root / "overlays").is_dir():
        return Redactor()
    root = Path(root)
    detector = policy_detector(root / REPO_POLICY)
    if not cached:
        return Redactor.for_repo(root, detector)
    cache = RunCache.load(root, f"redaction {fingerprint('-')} {detector!r}", cache_dir() / "redaction")
    clean = CleanFiles(known=cache.record("clean") or {})
    redactor = Redactor.for_repo(root, detector, clean)
    if clean.now != clean.known:
        cache.keep("clean", clean.now)
        cache.save()
    return redactor


def exits(interrupted: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Run a task body with its output redacted and its errors turned into invoke Exits (redacted as well);
    `interrupted` says what Ctrl-C left behind."""

    def decorate(body: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(body)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            redactor = redactor_of(args[0] if args else None, cached=kwargs.get("cache") is not False)
            with redacted_output(redactor):
                try:
                    with signals_as_interrupts():  # already so under the program; plain invoke needs it here
                        body(*args, **kwargs)
                except Exit as done:
                    raise Exit(redactor.redact(done.message) if done.message else None, code=done.code) from None
                except GitopsError as err:
                    raise Exit(redactor.redact(str(err)), code=err.exit_code) from None
                except Interrupted as stop:  # the library says what it had written
                    raise Exit(redactor.redact(f"interrupted: {stop.written}"), code=EXIT_INTERRUPTED) from None
                except KeyboardInterrupt:
                    raise Exit(f"interrupted: {interrupted}", code=EXIT_INTERRUPTED) from None
                except BrokenPipeError:
                    raise  # the reader of our output went away (`| head`): the program's main() ends quietly
                except OSError as err:
                    where = f"{err.filename}: " if err.filename else ""
                    raise Exit(redactor.redact(f"{where}{err.strerror or err}"), code=EXIT_TOOL) from None
                except Exception:  # a bug: its traceback may quote a value, so it is printed here, redacted
                    traceback.print_exc()
                    raise Exit(code=1) from None

        vars(run)["redacts_output"] = True  # what tests look for: the task writes through the redaction
        return run

    return decorate
