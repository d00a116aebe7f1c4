"""Replacing files and folders atomically: readers see the old content or the new, never half of it.

Folders are replaced all together or not at all: every new folder is first written to a temp folder beside its
target (`.tmp.<name>.<random>`, with the permissions of the folder it replaces); only when every one is ready are
they swapped in, two renames each, while signals are held back. The old ones are moved aside
(`.old.<name>.<random>`) and deleted; if a swap fails, the swaps already made are undone. A write that fails
(no permission, read-only or full disk, file-size limit, quota) raises WriteError naming the path and the cause,
and leaves every target as it was and no temp folder behind. A process killed outright between two renames
leaves those folders behind: `recover_folders` restores or removes them.

Usage:
    replace_file(Path("docs/rules.md"), data, mode=0o644)   # durable: fsync before the rename
    replace_file(cache_index, data, durable=False)          # a cache: a lost write only costs time
    changed_files(Path("rendered/prod"), files)     # ['api/release/manifest.yaml'], files: {relative path: bytes}
    swap_folders({Path("rendered/prod"): files, Path("clusters/prod"): more})   # each holds exactly its files
    create_folder(Path("base/shop"), files)         # a new folder, all at once; fails if it exists
    recover_folders(Path("rendered"), Path("clusters"))   # after a kill: put back what a swap moved aside
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import WriteError
from .signals import signals_held

__all__ = ["replace_file", "changed_files", "swap_folders", "create_folder", "recover_folders"]

_TMP, _OLD = ".tmp.", ".old."
_FOLDER_MODE = 0o755
"""Permissions of a new folder (one that replaces nothing): readable by all."""


def replace_file(path: Path, data: bytes, mode: int | None = None, durable: bool = True) -> None:
    """Write `data` to a temp file beside `path`, then `os.replace` it over `path`; the temp file is removed on
    any failure, and the OSError raised names `path` (not the temp file). `mode` sets the permissions (default:
    owner-only, as the temp file is created); `durable` flushes the data to disk before the rename."""
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        _discard_file(tmp)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    except BaseException:
        _discard_file(tmp)
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


def swap_folders(trees: Mapping[Path, Mapping[str, bytes]]) -> None:
    """Replace each folder of `trees` (if any) with one holding exactly its files: all of them, or none.

    Raises WriteError naming the path and the cause when a folder cannot be written or swapped in; then every
    target keeps its previous content and no temp or old folder is left."""
    ready: dict[Path, Path] = {}
    old: list[Path] = []
    try:
        for target, files in trees.items():
            ready[target] = _filled(target, files)
        with signals_held():
            old = _swap_all(ready)
    finally:  # also when an interrupt held back during the swaps arrives as the block ends
        for tmp in ready.values():  # the new folders not swapped in (or swapped back out)
            _remove(tmp)
        for folder in old:  # the previous folders, moved aside
            _remove(folder)


def create_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Create the folder `target` holding exactly `files`, in one rename; raises OSError (and leaves nothing
    behind) if a folder with content is already there, WriteError if it cannot be written."""
    tmp = _filled(target, files)
    try:
        os.rename(tmp, target)
    finally:
        _remove(tmp)


def recover_folders(*parents: Path) -> None:
    """Undo what a swap killed mid-way left in `parents`: restore a folder moved aside, drop temp folders.
    Raises WriteError when a leftover cannot be put back (the next render would otherwise lose it)."""
    for parent in parents:
        if not parent.is_dir():
            continue
        for leftover in sorted(parent.iterdir()):
            if leftover.name.startswith(_OLD):
                name = leftover.name[len(_OLD):].rsplit(".", 1)[0]
                if not os.path.lexists(parent / name):
                    try:
                        os.rename(leftover, parent / name)
                    except OSError as err:
                        raise WriteError.of(parent / name, f"restore it from {leftover.name}", err) from None
                else:
                    _remove(leftover)
            elif leftover.name.startswith(_TMP):
                _remove(leftover)


def _swap_all(ready: Mapping[Path, Path]) -> list[Path]:
    """Swap every temp folder of `ready` ({target: temp folder}) in; returns the old folders moved aside. If one
    swap fails, the ones made are undone (each new folder goes back to its temp name) and WriteError is raised."""
    done: list[tuple[Path, Path | None, Path]] = []
    try:
        for target, tmp in ready.items():
            old = target.parent / f"{_OLD}{target.name}.{tmp.name.rsplit('.', 1)[-1]}"
            moved = os.path.lexists(target)
            try:
                if moved:
                    os.rename(target, old)
                os.rename(tmp, target)
            except OSError as err:
                if moved and not os.path.lexists(target):
                    with contextlib.suppress(OSError):
                        os.rename(old, target)
                raise WriteError.of(target, "replace it", err) from None
            done.append((target, old if moved else None, tmp))
    except BaseException:
        for target, aside, tmp in reversed(done):
            with contextlib.suppress(OSError):
                os.rename(target, tmp)
                if aside is not None:
                    os.rename(aside, target)
        raise
    return [aside for _, aside, _ in done if aside is not None]


def _filled(target: Path, files: Mapping[str, bytes]) -> Path:
    """A temp folder beside `target` holding `files`, each flushed to disk, with the permissions of the folders
    and files they replace (new folders 0755); WriteError naming the path (as under `target`) if it fails."""
    tmp: Path | None = None
    writing = target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{target.name}.", dir=target.parent))
        for rel, data in sorted(files.items()):
            writing = target / rel
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            mode = _mode_of(target / rel, stat.S_ISREG)
            if mode is not None:
                os.chmod(path, mode)
        writing = target
        folders = {tmp / folder for rel in files for folder in _parents(rel)}
        for folder in sorted(folders, reverse=True):
            os.chmod(folder, _folder_mode(target / folder.relative_to(tmp)))
        os.chmod(tmp, _folder_mode(target))  # mkdtemp creates 0700
    except OSError as err:
        if tmp is not None:
            _remove(tmp)
        where = _shown(err.filename, tmp, target) or writing
        raise WriteError.of(where, "write", err) from None
    except BaseException:
        if tmp is not None:
            _remove(tmp)
        raise
    return tmp


def _parents(rel: str) -> list[str]:
    """The folders of a relative file path: 'a/b/c.yaml' -> ['a', 'a/b']."""
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _mode_of(path: Path, kind: Callable[[int], bool]) -> int | None:
    """The permissions of `path` if it is a real (not symlinked) file or folder of `kind` (stat.S_ISREG or
    stat.S_ISDIR), else None."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return stat.S_IMODE(mode) if kind(mode) else None


def _folder_mode(path: Path) -> int:
    """The permissions of the folder `path` replaces, or those of a new folder."""
    mode = _mode_of(path, stat.S_ISDIR)
    return _FOLDER_MODE if mode is None else mode


def _shown(filename: object, tmp: Path | None, target: Path) -> str:
    """The path an OSError names, as it would be under `target` when it lies in the temp folder `tmp` (or is the
    temp folder that could not be created)."""
    if not isinstance(filename, str):
        return ""
    if tmp is None and filename.startswith(str(target.parent / f"{_TMP}{target.name}.")):
        return str(target)  # the temp folder itself could not be created
    if tmp is not None and (filename == str(tmp) or filename.startswith(f"{tmp}{os.sep}")):
        return str(target) + filename[len(str(tmp)):]
    return filename


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def _discard_file(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _remove(path: Path) -> None:
    """Delete a swapped-out or temp folder, including read-only folders inside it (their permissions are given
    back to the owner first); a symlink (a folder linked elsewhere) is removed, never followed."""
    if os.path.islink(path):
        with contextlib.suppress(OSError):
            path.unlink()
        return
    if not os.path.lexists(path):
        return
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for folder, subfolders, _ in os.walk(path):  # top-down: each folder is opened before it is listed
        for name in subfolders:
            inner = os.path.join(folder, name)
            if not os.path.islink(inner):  # a link is removed, never followed
                with contextlib.suppress(OSError):
                    os.chmod(inner, 0o700)
    shutil.rmtree(path, ignore_errors=True)
