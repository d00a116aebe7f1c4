"""Redaction of everything the program prints: secrets masked as `****` by their shape, their name and their value.

`Redactor.redact(text)` masks, wherever they appear in `text`:
- the parts `SecretDetector.secret_spans` finds by their shape (the detector of `check`'s SEC-* rules): known token
  formats, PEM private keys, URL userinfo (`https://user:pw@host`, `https://<token>@host`) and credential query
  parameters (`?private_token=`, `&X-Amz-Signature=`, ...);
- the value after a secret-named key (the policy's `secretNames`): `KEY=value`, `KEY: value`, `"KEY": "value"`,
  and `name: KEY` followed by `value: ...` (a Kubernetes env entry, block or flow style);
- every literal secret value of the repository (`Redactor.for_repo`): Secret `data`/`stringData` values (and what
  `data` decodes to), values of secret-named keys and env entries, ConfigMap and env values the detector finds
  secret, secretGenerator literals and the env and files they read, configMapGenerator literals and env files with
  secret names, the parts found by shape in any value; each also as base64 and as JSON, XML and Python escape it.
  Values shorter than `MIN_VALUE_LENGTH` are left to the rules above (masking `true` or `5432` everywhere would
  garble the output); a value is only masked as a whole word, never inside a longer run of letters and digits.

The repository's sources are `gitops.yaml`, `overlays/` and what their kustomizations refer to inside the
repository (never `rendered/` or `clusters/`). They are read with libyaml's event parser: no documents are built,
aliases are not followed and reading stops at the check's nesting limit (`MAX_DEPTH`), so no file costs more than
its text; a file that is not valid YAML contributes what was read before the error. With `CleanFiles` (the tasks
keep them in the cache), a file known by the SHA-256 of its bytes to hold no secret value is hashed, not parsed.

Usage:
    redactor = Redactor.for_repo(repo.root, policy_detector(repo.root / "schemas/policy.yaml"))
    redactor.redact("SECRET_KEY_BASE=abc123def456")      # 'SECRET_KEY_BASE=****'
    Redactor().redact("https://ci:hunter2@git.example.org")  # 'https://****@git.example.org'
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .layout import KUSTOMIZATION_FILES, SETTINGS_FILE
from .secret_detector import SecretDetector, is_literal, merge_spans
from .yamlio import ScalarPath, scalar_documents

__all__ = ["REDACTED", "MIN_VALUE_LENGTH", "CleanFiles", "Redactor", "policy_detector", "secret_values"]

REDACTED = "****"
"""What is printed in place of a secret (as the SEC-* findings print a matched value)."""
MIN_VALUE_LENGTH = 6
"""Shortest repository value masked wherever it appears."""
_REFERENCE_KEYS = frozenset(
    (key,) for key in ("resources", "components", "bases", "crds", "patches", "patchesStrategicMerge",
                       "patchesJson6902", "configurations", "transformers", "generators", "validators")
)
MAX_FILE_BYTES = 1024 * 1024
"""Files over this size are not scanned (the check refuses them as YAML-SIZE)."""

_QUOTED_OR_PLAIN = r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"',;&}\])]+)"""
_NAMED = re.compile(
    r"""(?<![\w.$/\[\]-])(?P<q>["']?)(?P<key>[A-Za-z_][A-Za-z0-9_-]*)(?P=q)[ \t]*(?:=>|[:=])[ \t]*""" + _QUOTED_OR_PLAIN
)
"""`KEY=value`, `KEY: value`, `"KEY": "value"`, `KEY => value` (not a JSON path's last part: `$.data.KEY: ...`)."""
_ENV_ENTRY = re.compile(
    r"""["']?name["']?[ \t]*:[ \t]*["']?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?:,[ \t]*|\n[ \t+-]*)"""
    r"""["']?value["']?[ \t]*:[ \t]*""" + _QUOTED_OR_PLAIN
)
"""`name: KEY` then `value: ...`, on the next line (a diff's `+`/`-` prefix allowed) or after a comma."""
_NOT_A_VALUE = ("****", "<masked", "$(", "${")
"""Values already masked, or references to other variables."""
_GENERATOR_FILE_KEYS = ("env", "envs", "files")


@dataclass(frozen=True)
class Redactor:
    """The secret detector in force and the repository's literal secret values; `redact` masks what either finds."""

    detector: SecretDetector = field(default_factory=SecretDetector)
    values: frozenset[str] = frozenset()
    """Literal secret values, each masked wherever it appears as a whole word (with its encodings)."""
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    @classmethod
    def for_repo(cls, root: Path, detector: SecretDetector, clean: CleanFiles | None = None) -> Redactor:
        """The redactor of the repository at `root`: `detector` (the policy's) and the secret values of its sources;
        files `clean` knows are not parsed again (see `CleanFiles`)."""
        return cls(detector, frozenset(secret_values(root, detector, clean)))

    def __post_init__(self) -> None:
        forms = sorted({form for value in self.values for form in _forms(value)}, key=lambda v: (-len(v), v))
        if forms:
            pattern = rf"(?<![A-Za-z0-9])(?:{'|'.join(map(re.escape, forms))})(?![A-Za-z0-9])"
            object.__setattr__(self, "_pattern", re.compile(pattern))

    def redact(self, text: str) -> str:
        """`text` with every secret part replaced by `REDACTED`."""
        spans = self.spans(text)
        if not spans:
            return text
        out, at = [], 0
        for start, end in spans:
            out += [text[at:start], REDACTED]
            at = end
        return "".join(out) + text[at:]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping (start, end) of the secret parts of `text`."""
        spans = self.detector.secret_spans(text)
        if self._pattern is not None:
            spans += [m.span() for m in self._pattern.finditer(text)]
        if ":" in text or "=" in text:
            spans += self._named(_NAMED, text) + self._named(_ENV_ENTRY, text)
        return merge_spans(spans)

    def _named(self, pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
        found = []
        for match in pattern.finditer(text):
            value = match.group("value")
            start, end = match.span("value")
            if value[:1] in ("'", '"'):
                value, start, end = value[1:-1], start + 1, end - 1
            if (value and not value.startswith(_NOT_A_VALUE) and is_literal(value)
                    and self.detector.is_secret_name(match.group("key").replace("-", "_"))):
                found.append((start, end))
        return found


def _forms(value: str) -> set[str]:
    """`value` as it may be printed: itself, base64, and escaped for JSON, XML and a Python repr."""
    forms = {value, base64.b64encode(value.encode("utf-8")).decode("ascii"), json.dumps(value)[1:-1],
             html.escape(value), repr(value)[1:-1]}
    return {form for form in forms if len(form) >= MIN_VALUE_LENGTH}


# Reading the repository ----------------------------------------------------------------------------------------


def policy_detector(policy: Path) -> SecretDetector:
    """The detector of the policy file `policy`: its `settings.secretNames` and `settings.entropy`, read without
    checking the rest of the file (`check` does, and reports what is wrong); the detector's defaults (the shipped
    policy's) when the file is missing or those settings do not fit."""
    text = _text(str(policy), os.path.realpath(policy.parent)) if policy.is_file() else None
    doc = next(scalar_documents(text), {}) if text is not None else {}
    names = [v for p, v in doc.items() if p[:2] == ("settings", "secretNames") and len(p) == 3]
    limits = {str(p[2]): v for p, v in doc.items() if p[:2] == ("settings", "entropy") and len(p) == 3}
    settings = {"secretNames": names or None, "entropy": limits}
    try:
        return SecretDetector.from_settings(settings.get)
    except ValueError:
        return SecretDetector.from_settings({"secretNames": names or None}.get)


@dataclass
class CleanFiles:
    """Source files that hold no secret value and read no other file, by content: `<sha256 of the bytes>` (with a
    `k` in front for a kustomization) -> the references it makes, which is all `secret_values` takes from it. A
    file is only ever skipped for these exact bytes, so what it holds is never missed; the caller keeps them under
    the code and detector that found them."""

    known: dict[str, list[str]] = field(default_factory=dict)
    """From an earlier run."""
    now: dict[str, list[str]] = field(default_factory=dict)
    """The clean files of this run (what to keep for the next one)."""


def secret_values(root: Path, detector: SecretDetector, clean: CleanFiles | None = None) -> set[str]:
    """Every literal secret value in the repository's YAML sources (see the module docstring): `gitops.yaml`,
    everything under `overlays/` and what their kustomizations refer to inside the repository (bases, components,
    patch files), and the env and files their secretGenerators read. With `clean`, files it knows are not parsed
    again, and it learns the clean files of this run. Paths are plain strings here: a repository of a thousand
    apps has tens of thousands of them."""
    top = os.path.realpath(root)
    found: set[str] = set()
    pending = [t for start in (SETTINGS_FILE, "overlays") if (t := _inside(os.path.join(top, start), top))]
    seen: set[str] = set()  # (real paths: of the files read and of the folders walked)
    while pending:
        target = pending.pop()
        if target in seen:
            continue
        seen.add(target)
        for path in _yaml_files(target):
            if path != target and path in seen:
                continue
            seen.add(path)
            raw = _read(path, top, walked=True)
            if raw is None:
                continue
            folder, name = os.path.split(path)
            values, references = _scanned(raw, folder, name, top, detector, clean)
            found |= values
            pending += [t for ref in references if (t := _referenced(folder, ref, top))]
    return {v for v in found if len(v) >= MIN_VALUE_LENGTH}


def _scanned(raw: bytes, folder: str, name: str, root: str, detector: SecretDetector, clean: CleanFiles | None
             ) -> tuple[set[str], list[str]]:
    """(the secret values of the file `name` in `folder`, what it refers to when it is a kustomization). A file
    `clean` knows is not parsed; one that holds no value and reads no other file is learnt."""
    if clean is None:
        values, references, _ = _file_values(raw.decode("utf-8", "replace"), folder, name, root, detector)
        return values, references
    key = ("k" if name in KUSTOMIZATION_FILES else "") + hashlib.sha256(raw).hexdigest()
    known = clean.known.get(key)
    if known is not None:
        clean.now[key] = known
        return set(), known
    values, references, reads = _file_values(raw.decode("utf-8", "replace"), folder, name, root, detector)
    if not values and not reads:
        clean.now[key] = references
    return values, references


def _file_values(text: str, folder: str, name: str, root: str, detector: SecretDetector
                 ) -> tuple[set[str], list[str], bool]:
    """(the secret values of the file `name` in `folder`, the references it makes when it is a kustomization,
    whether it reads other files: a generator's env or files)."""
    found: set[str] = set()
    references: list[str] = []
    reads = False
    for doc in scalar_documents(text):
        found |= _document_values(doc, folder, root, detector)
        if name in KUSTOMIZATION_FILES:
            references += _references(doc)
        reads = reads or any(p[:1] in (("secretGenerator",), ("configMapGenerator",)) and len(p) >= 3
                             and p[2] in _GENERATOR_FILE_KEYS for p in doc)
    return found, references, reads


def _yaml_files(target: str) -> Iterator[str]:
    """`target` when it is a file, else the YAML files under it (hidden folders left out, links to folders not
    followed)."""
    if os.path.isfile(target):
        yield target
        return
    for folder, dirs, files in os.walk(target):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) or name in KUSTOMIZATION_FILES:
                yield os.path.join(folder, name)


def _references(doc: dict[ScalarPath, str]) -> list[str]:
    """What a kustomization refers to by a local path (resources, components, patches...), as written."""
    return [value for path, value in doc.items()
            if path[:1] in _REFERENCE_KEYS and (len(path) == 2 or path[2:] == ("path",)) and "://" not in value]


def _inside(path: str, root: str) -> str | None:
    """`path` resolved, when it exists inside `root` (a real path); a link out of the repository, or a loop, is
    not."""
    target = os.path.realpath(path)
    inside = target == root or target.startswith(root.rstrip(os.sep) + os.sep)
    return target if inside and os.path.exists(target) else None


def _referenced(folder: str, ref: str, root: str) -> str | None:
    """`_inside` of what a kustomization in the real folder `folder` refers to as `ref`; a plain file name there
    (a patch next to it) needs no walk along the path, only a look at the file itself."""
    if ref and os.sep not in ref and ref not in (".", ".."):
        candidate = os.path.join(folder, ref)
        if not os.path.islink(candidate):
            return candidate if os.path.exists(candidate) else None
    return _inside(os.path.join(folder, ref), root)


def _read(path: str, root: str, walked: bool = False) -> bytes | None:
    """The bytes of a regular file inside `root` of at most MAX_FILE_BYTES, else None. `walked`: `path` was found
    in a folder inside `root` (whose folder links were not followed), so only a link needs resolving. Opened
    without blocking, so a pipe in place of a file reads as nothing instead of waiting for a writer."""
    target = path if walked and not os.path.islink(path) else _inside(path, root)
    if target is None:
        return None
    try:
        handle = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        chunks = []
        while chunk := os.read(handle, MAX_FILE_BYTES + 1):
            chunks.append(chunk)
        raw = b"".join(chunks)
        return raw if len(raw) <= MAX_FILE_BYTES else None
    except OSError:
        return None
    finally:
        os.close(handle)


def _text(path: str, root: str) -> str | None:
    """`_read`, undecodable bytes replaced."""
    raw = _read(path, root)
    return raw.decode("utf-8", "replace") if raw is not None else None


def _document_values(doc: dict[ScalarPath, str], folder: str, root: str, detector: SecretDetector,
                     nested: bool = False) -> set[str]:
    found: set[str] = set()
    secret = doc.get(("kind",)) == "Secret"
    for path, value in doc.items():
        if not is_literal(value):
            continue
        last = path[-1] if path else None
        found.update(detector.secrets_in(value))
        found.update(m.group("password") for m in detector.url_credentials(value) if m.group("password"))
        if secret and path[:1] in (("data",), ("stringData",)):
            found.add(value)
            if path[0] == "data":
                found.update(_decoded(value))
        if isinstance(last, str) and (detector.is_secret_name(last) or (
                path[:1] == ("data",) and doc.get(("kind",)) == "ConfigMap" and detector.is_secret_value(last, value))):
            found.add(value)
        name = doc.get((*path[:-1], "name")) if last == "value" else None
        if name is not None and detector.is_secret_value(name, value):
            found.add(value)
        if not nested and (last == "patch" or (path[:1] == ("patchesStrategicMerge",) and "\n" in value)):
            for inner in scalar_documents(value):
                found |= _document_values(inner, folder, root, detector, nested=True)
        if path[:1] in (("secretGenerator",), ("configMapGenerator",)) and len(path) >= 3:
            found |= _generator_values(path, value, folder, root, detector)
    return found


def _generator_values(path: ScalarPath, value: str, folder: str, root: str, detector: SecretDetector) -> set[str]:
    """The secret values of one entry of a generator: `literals` (`KEY=value`), `env`/`envs` files, `files`."""
    everything = path[0] == "secretGenerator"
    part = path[2]
    if part == "literals":
        key, sep, literal = value.partition("=")
        return {literal if sep else value} if everything or detector.is_secret_name(key) else set()
    if part not in _GENERATOR_FILE_KEYS:
        return set()
    source = value.split("=", 1)[1] if part == "files" and "=" in value else value
    text = _text(os.path.join(folder, source), root)
    if text is None:
        return set()
    if part == "files":
        return ({text.strip(), *_lines(text)} if everything else set())
    found = set()
    for line in text.splitlines():
        key, sep, literal = line.strip().partition("=")
        if sep and not key.startswith("#") and (everything or detector.is_secret_name(key.strip())):
            found.add(literal.strip().strip("'\""))
    return found


def _lines(text: str) -> Iterable[str]:
    return (line.strip() for line in text.splitlines() if line.strip())


def _decoded(value: str) -> set[str]:
    """What a Secret's base64 `data` value decodes to (its lines too), when it is text."""
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return set()
    return {text, text.strip(), *_lines(text)}
