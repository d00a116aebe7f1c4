"""Temporary folders named after the process that made them, so that what a killed run left can be pruned.

`temp_folder(kind)` makes `<temp dir>/phoenix-gitops-<kind>-<pid>-<random>` and removes it when the block ends
(also on an error, Ctrl-C or SIGTERM; the removal itself holds signals back, so a second Ctrl-C cannot cut it
short). A run killed outright (SIGKILL, a power cut) cannot remove its folders: `prune` removes the folders of
this pattern whose process is gone (no process has that pid; ones of a live process, or of another user, are
left alone). `temp_folder` prunes once per process, before its first folder.

Usage:
    with temp_folder("edit") as folder:     # Path('/tmp/phoenix-gitops-edit-4242-k2j3h4')
        ...
    prune()                                 # ['/tmp/phoenix-gitops-base-4100-x8s7d6'] (what it removed)
    owner_gone(folder)                      # True when the process that made `folder` has ended
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .signals import signals_held

__all__ = ["PREFIX", "owner_gone", "prune", "remove", "temp_folder"]

PREFIX = "phoenix-gitops-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}[a-z]+-(?P<pid>[0-9]+)-[A-Za-z0-9_]+$")
_pruned: list[str] = []
"""The temp dirs pruned by this process (each once)."""


@contextmanager
def temp_folder(kind: str) -> Iterator[Path]:
    """A new empty folder in the temp dir, `phoenix-gitops-<kind>-<pid>-<random>`, removed after the block."""
    parent = tempfile.gettempdir()
    if parent not in _pruned:
        _pruned.append(parent)
        prune(Path(parent))
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        remove(folder)


def remove(folder: Path) -> None:
    """Remove `folder` and everything in it (best effort), with signals held back until it is gone."""
    with signals_held(step=False):
        shutil.rmtree(folder, ignore_errors=True)


def owner_gone(folder: Path) -> bool:
    """Whether `folder` is named like a `temp_folder` whose process has ended (False for any other name)."""
    found = _NAME.match(folder.name)
    if found is None:
        return False
    try:
        os.kill(int(found.group("pid")), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's process (or no pid at all)
        return False
    return False


def prune(parent: Path | None = None) -> list[Path]:
    """Remove the `temp_folder`s in `parent` (default: the temp dir) whose process has ended and that belong to
    this user; returns what it removed."""
    parent = parent or Path(tempfile.gettempdir())
    try:
        candidates = [entry for entry in os.scandir(parent) if entry.name.startswith(PREFIX)]
    except OSError:
        return []
    removed = []
    for entry in sorted(candidates, key=lambda e: e.name):
        folder = Path(entry.path)
        try:
            mine = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue
        if mine and owner_gone(folder):
            remove(folder)
            removed.append(folder)
    return removed
