"""Git plumbing for `diff` and `history`: revisions, a throw-away worktree, file contents at a revision.

Git always runs as an argv list (never a shell string) with `LC_ALL=C`, no terminal prompt and hooks switched
off (`core.hooksPath=/dev/null`), so nothing from the repository is executed. A bad revision, or a folder that
is not inside a git work tree, is a UsageError (exit 2); git missing or failing otherwise is a ToolError (4).

Usage:
    git = GitRepo.of(repo.root)                  # UsageError if repo.root is not in a git work tree
    commit = git.merge_base("main")              # the commit `invoke diff` compares against
    with git.worktree(commit) as tree:           # a detached checkout in a temp folder, always removed
    git.prune_worktrees()                        # what killed runs left (`worktree` does it first)
        base = Repo(tree / git.prefix)
    for entry in git.log("overlays/prod/api/kustomization.yaml"):
        text = git.show(entry.commit, "overlays/prod/api/kustomization.yaml")
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolError, UsageError
from .signals import run_child, signals_as_interrupts, signals_held
from .tempdirs import owner_gone, remove, temp_folder

__all__ = ["GitRepo", "Commit", "GIT_TIMEOUT"]

GIT_TIMEOUT = 120.0
"""Seconds one git command may take."""
_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "advice.detachedHead=false")


@dataclass(frozen=True)
class Commit:
    """One commit of `git log`."""

    commit: str
    date: str
    """Author date, strict ISO 8601."""
    author: str
    subject: str

    @property
    def short(self) -> str:
        return self.commit[:10]


def _git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in ("GIT_CONFIG_NOSYSTEM",)}
    environ.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    try:
        proc = run_child(["git", *_SAFE, *args], GIT_TIMEOUT, environ, cwd=cwd)
    except FileNotFoundError:
        raise ToolError("git not found: install git to compare revisions or read history") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"git {args[0]} timed out after {GIT_TIMEOUT:g}s") from None
    except OSError as err:
        raise ToolError(f"cannot run git: {err.strerror}") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolError(f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc


class GitRepo:
    """The git work tree that holds a config repository (which may be a sub-folder of it)."""

    def __init__(self, top: Path, prefix: str) -> None:
        self.top = top
        self.prefix = prefix
        """The config repository's folder relative to the work tree's top ('' when they are the same)."""

    @classmethod
    def of(cls, folder: Path) -> GitRepo:
        """The work tree around `folder`; UsageError if there is none."""
        proc = _git(["rev-parse", "--show-toplevel"], folder, check=False)
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = f" (git: {said[0].removeprefix('fatal: ')})" if said else ""
            raise UsageError(f"{folder}: not a git repository{reason}; `invoke diff` and `invoke history` need "
                             "the config repository's git history")
        top = Path(proc.stdout.decode().strip()).resolve()
        prefix = folder.resolve().relative_to(top).as_posix()
        return cls(top, "" if prefix == "." else prefix)

    def path(self, rel: str) -> str:
        """`rel` (relative to the config repository) relative to the work tree's top, as git wants it."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def resolve(self, revision: str) -> str:
        """The full commit id `revision` names; UsageError if it names no commit."""
        if not revision or revision.startswith("-") or any(c.isspace() or c == "\0" for c in revision):
            raise UsageError(f"bad revision {revision!r}")
        proc = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], self.top,
                    check=False)
        if proc.returncode != 0:
            raise UsageError(f"bad revision {revision!r}: no such commit, branch or tag in {self.top}")
        return proc.stdout.decode().strip()

    def merge_base(self, branch: str) -> str:
        """The merge-base of HEAD with `branch` (or `origin/<branch>` when there is no local one)."""
        head = self.resolve("HEAD")
        for candidate in (branch, f"origin/{branch}"):
            try:
                other = self.resolve(candidate)
            except UsageError:
                continue
            proc = _git(["merge-base", head, other], self.top, check=False)
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
            raise UsageError(f"HEAD and {candidate!r} have no common ancestor; give --base <revision>")
        raise UsageError(f"bad revision {branch!r}: no branch {branch!r} or 'origin/{branch}' to take the "
                         "merge-base with; give --base <revision>")

    def describe(self, commit: str) -> str:
        """`<short id> <subject>` of a commit, for headers."""
        proc = _git(["log", "-1", "--format=%h %s", commit], self.top)
        return proc.stdout.decode("utf-8", "replace").strip()

    @contextmanager
    def worktree(self, commit: str) -> Iterator[Path]:
        """A detached checkout of `commit` in a new temp folder outside the user's work tree.

        The user's work tree, index and HEAD are never touched. The checkout is removed (and git's record of it
        pruned) when the block ends, also on an error, Ctrl-C or SIGTERM; the checkouts a killed run left are
        removed first (`prune_worktrees`).
        """
        self.prune_worktrees()
        with signals_as_interrupts(), temp_folder("base") as parent:
            tree = parent / "tree"
            try:
                _git(["worktree", "add", "--detach", "--quiet", str(tree), commit], self.top)
                yield tree
            finally:
                with signals_held(step=False):
                    _git(["worktree", "remove", "--force", str(tree)], self.top, check=False)
                    remove(parent)
                    _git(["worktree", "prune"], self.top, check=False)

    def prune_worktrees(self) -> list[Path]:
        """Remove the checkouts `worktree` made for runs that have ended (killed before they could remove them),
        and git's records of checkouts whose folder is gone; returns the folders removed."""
        proc = _git(["worktree", "list", "--porcelain"], self.top, check=False)
        listed = [Path(line[len("worktree "):]) for line in proc.stdout.decode("utf-8", "replace").splitlines()
                  if line.startswith("worktree ")]
        stale = [tree.parent for tree in listed if tree.name == "tree" and owner_gone(tree.parent)]
        for parent in stale:
            remove(parent)
        _git(["worktree", "prune"], self.top, check=False)
        return stale

    def log(self, rels: list[str]) -> list[Commit]:
        """Commits that touched any of `rels` (config-repo relative paths), newest first."""
        proc = _git(["log", "--format=%H%x00%aI%x00%an%x00%s%x00", "--", *(self.path(r) for r in rels)], self.top)
        fields = proc.stdout.decode("utf-8", "replace").split("\0")
        return [Commit(*(f.strip() for f in fields[i:i + 4])) for i in range(0, len(fields) - 4, 4)]

    def show(self, commit: str, rel: str) -> bytes | None:
        """The bytes of `rel` at `commit`, or None when the file does not exist there."""
        proc = _git(["cat-file", "blob", f"{commit}:{self.path(rel)}"], self.top, check=False)
        return proc.stdout if proc.returncode == 0 else None
