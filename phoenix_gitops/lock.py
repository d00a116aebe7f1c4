"""An exclusive, non-blocking lock on the render output, naming its holder when busy.

The lock is an `flock` on a small file; the kernel releases it when the holder exits, however it exits, so a
killed render never leaves a stale lock behind.

Usage:
    with output_lock(Path("rendered/.lock")):
        ...                                   # raises LockBusyError (exit 5) naming the holder's pid
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockBusyError, WriteError

__all__ = ["output_lock", "shared_lock"]


@contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock at `path` (created if missing) for the duration of the block; WriteError (exit 4)
    naming the path and the cause when it cannot be created or written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise WriteError.of(path, "create the lock file", err) from None
    try:
        _acquire(fd, path, fcntl.LOCK_EX)
        _stamp(fd, path)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextmanager
def shared_lock(path: Path) -> Iterator[None]:
    """Wait for no writer: a shared lock if the lock file exists; nothing is created (for read-only runs)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield
        return
    try:
        _acquire(fd, path, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _stamp(fd: int, path: Path) -> None:
    """Write the holder (pid, start time) into the lock file, for the message a second render shows."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid={os.getpid()} started={stamp}\n".encode())
    except OSError as err:
        raise WriteError.of(path, "write the lock file", err) from None


def _acquire(fd: int, path: Path, mode: int) -> None:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown holder"
        raise LockBusyError(f"{path}: another render is running ({holder}); wait for it to finish") from None
