"""Typed errors of phoenix_gitops; each carries the process exit code of DESIGN.md §3.

Usage:
    try:
        envs = layout.select_envs(repo, "env=../prod")
    except GitopsError as err:
        sys.exit(err.exit_code)      # UsageError -> 2
"""
from __future__ import annotations

import errno

__all__ = [
    "GitopsError",
    "UsageError",
    "InputError",
    "ToolError",
    "KustomizeError",
    "LockBusyError",
    "WriteError",
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "EXIT_STALE",
    "EXIT_TOOL",
    "EXIT_LOCKED",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_STALE = 3
EXIT_TOOL = 4
EXIT_LOCKED = 5
EXIT_INTERRUPTED = 130
"""Ctrl-C, SIGTERM or SIGHUP: as shells report a process ended by SIGINT."""


class GitopsError(Exception):
    """Base of every error the package raises on purpose."""

    exit_code = EXIT_FINDINGS


class UsageError(GitopsError):
    """The caller asked for something that does not exist or is malformed (unknown env, bad argument)."""

    exit_code = EXIT_USAGE


class InputError(GitopsError):
    """A file in the repository is invalid; the message starts with `path:line:col:` where known."""

    exit_code = EXIT_FINDINGS


class ToolError(GitopsError):
    """An external tool is missing, too old, crashed, hung or printed garbage."""

    exit_code = EXIT_TOOL


class KustomizeError(InputError):
    """kustomize rejected one overlay (bad patch, missing file, ...): the overlay is invalid input.

    `overlay` is the overlay's repo-relative path; the message carries kustomize's trimmed stderr.
    """

    def __init__(self, message: str, overlay: str) -> None:
        super().__init__(message)
        self.overlay = overlay


class LockBusyError(GitopsError):
    """Another render holds the lock on `rendered/`."""

    exit_code = EXIT_LOCKED


class WriteError(GitopsError):
    """A file or folder could not be written: no permission, a read-only or full file system, a file-size limit
    or a quota. The message names the path and the cause; what was being replaced keeps its previous content."""

    exit_code = EXIT_TOOL

    @classmethod
    def of(cls, path: object, doing: str, err: OSError) -> WriteError:
        """`<path>: cannot <doing>: No space left on device (ENOSPC); nothing was changed`."""
        name = errno.errorcode.get(err.errno or 0)
        cause = f"{err.strerror or err} ({name})" if name else str(err.strerror or err)
        return cls(f"{path}: cannot {doing}: {cause}; nothing was changed")
