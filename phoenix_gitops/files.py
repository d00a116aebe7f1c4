"""Replacing files and folders atomically: readers see the old content or the new, never half of it.

A folder is replaced by writing the new one to a temp folder beside it (`.tmp.<name>.<random>`) and swapping it
in with two renames while signals are held back; the old one is moved aside (`.old.<name>.<random>`) and
deleted. A process killed in between leaves those folders behind: `recover_folders` restores or removes them.

Usage:
    replace_file(Path("docs/rules.md"), data, mode=0o644)   # durable: fsync before the rename
    replace_file(cache_index, data, durable=False)          # a cache: a lost write only costs time
    changed_files(Path("rendered/prod"), files)     # ['api/manifest.yaml'], files: {relative path: bytes}
    swap_folder(Path("rendered/prod"), files)       # the folder now holds exactly `files`
    create_folder(Path("base/shop"), files)         # a new folder, all at once; fails if it exists
    recover_folders(Path("rendered"))               # after a kill: put back what a swap moved aside
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .signals import signals_held

__all__ = ["replace_file", "changed_files", "swap_folder", "create_folder", "recover_folders"]

_TMP, _OLD = ".tmp.", ".old."


def replace_file(path: Path, data: bytes, mode: int | None = None, durable: bool = True) -> None:
    """Write `data` to a temp file beside `path`, then `os.replace` it over `path`; the temp file is removed on
    any failure. `mode` sets the permissions (default: owner-only, as the temp file is created); `durable`
    flushes the data to disk before the rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def changed_files(target: Path, files: Mapping[str, bytes]) -> list[str]:
    """Relative paths whose content differs between `files` and the folder `target` (both directions), sorted:
    the files to write and the files to remove."""
    on_disk = {
        p.relative_to(target).as_posix()
        for p in (target.rglob("*") if target.is_dir() else [])
        if p.is_file() or p.is_symlink()
    }
    differ = {rel for rel, data in files.items() if rel not in on_disk or _read(target / rel) != data}
    return sorted(differ | (on_disk - files.keys()))


def swap_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Replace the folder `target` (if any) with one holding exactly `files`, in two renames."""
    tmp = _filled(target, files)
    try:
        old = target.parent / f"{_OLD}{target.name}.{tmp.name.rsplit('.', 1)[-1]}"
        with signals_held():
            if target.exists() or target.is_symlink():
                os.rename(target, old)
            os.rename(tmp, target)
        _remove(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def create_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Create the folder `target` holding exactly `files`, in one rename; raises OSError (and leaves nothing
    behind) if a folder with content is already there."""
    tmp = _filled(target, files)
    try:
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_folders(parent: Path) -> None:
    """Undo what a swap killed mid-way left in `parent`: restore a folder moved aside, drop temp folders."""
    if not parent.is_dir():
        return
    for leftover in sorted(parent.iterdir()):
        if leftover.name.startswith(_OLD):
            name = leftover.name[len(_OLD):].rsplit(".", 1)[0]
            if not (parent / name).exists():
                os.rename(leftover, parent / name)
            else:
                _remove(leftover)
        elif leftover.name.startswith(_TMP):
            _remove(leftover)


def _filled(target: Path, files: Mapping[str, bytes]) -> Path:
    """A temp folder beside `target` holding `files`, each flushed to disk, folders readable by all (0755)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{target.name}.", dir=target.parent))
    try:
        for rel, data in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)  # mkdtemp creates 0700
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def _remove(path: Path) -> None:
    """Delete a swapped-out or temp folder; a symlink (a folder linked elsewhere) is removed, never followed."""
    if not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return
    with contextlib.suppress(OSError):
        path.unlink()
