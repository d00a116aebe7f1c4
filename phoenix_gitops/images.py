"""Container image references: split as the rules read them, parsed strictly as the command line takes them, and
the `images:` entries of a kustomization that set them.

A reference is `[repository][:tag][@digest]`, where a `:` after the last `/` starts the tag (so a registry port,
`localhost:5000/api`, is part of the repository). `split_image` reads any reference a pod spec holds;
`parse_image` validates what a user typed, where a bare word is a tag. A digest known for a tag is written down
on the entry's `newTag:` line as a comment (`newTag: "5d3a6e1"  # digest: sha256:...`), so `promote` can pin it.

Usage:
    split_image("ghcr.io/acme/api:1.2@sha256:...")       # ImageRef('ghcr.io/acme/api', '1.2', 'sha256:...')
    parse_image("5d3a6e1")                               # ImageRef(None, '5d3a6e1', None)
    format_entry({"name": "ghcr.io/acme/api", "newTag": "b82f0c3"})   # 'ghcr.io/acme/api:b82f0c3'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

__all__ = [
    "ImageRef", "split_image", "parse_image", "format_entry", "image_entries", "recorded_digest", "digest_note",
]

_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_RECORDED = re.compile(r"#\s*digest:\s*(sha256:[0-9a-f]{64})(?![0-9a-f])")


@dataclass(frozen=True)
class ImageRef:
    """An image reference: any of repository, tag and digest."""

    name: str | None = None
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.name or ''}{':' + self.tag if self.tag else ''}{'@' + self.digest if self.digest else ''}"


def split_image(reference: str) -> ImageRef:
    """The repository, tag and digest of a full reference, unchecked (as a pod spec holds it).

    >>> split_image("localhost:5000/api:v1@sha256:abc")
    ImageRef(name='localhost:5000/api', tag='v1', digest='sha256:abc')
    """
    name, _, digest = reference.partition("@")
    repository, tag = _split_tag(name)
    return ImageRef(repository, tag or None, digest or None)


def parse_image(text: str) -> ImageRef:
    """A tag (`5d3a6e1`), a digest (`sha256:<64 hex>`), `<tag>@<digest>`, or a full reference
    (`ghcr.io/acme/api:5d3a6e1`, `ghcr.io/acme/api@sha256:...`, as `invoke history` lists them); UsageError
    naming the part that is malformed.

    >>> str(parse_image("ghcr.io/acme/api:1.2@sha256:" + "a" * 64)) == "ghcr.io/acme/api:1.2@sha256:" + "a" * 64
    True
    """
    text = text.strip()
    if not text:
        raise UsageError("no image given: pass a tag, sha256:<digest>, <tag>@sha256:<digest> or a full reference")
    name: str | None
    tag: str | None
    digest: str | None
    if text.startswith(("sha256:", "sha512:")):
        name, tag, digest = None, None, text
    else:
        ref, at, after = text.partition("@")
        digest = after if at else None
        name, tag = _split_tag(ref) if "/" in ref or ":" in ref else (None, ref or None)  # a bare word is a tag
    if digest is not None and not _DIGEST.match(digest):
        raise UsageError(f"bad digest {digest!r}: expected sha256: and 64 lowercase hex digits")
    if name is not None and not _REPOSITORY.match(name):
        raise UsageError(f"bad image name {name!r}")
    if tag is not None and not _TAG.match(tag):
        raise UsageError(f"bad tag {tag!r}: letters, digits, '_', '.' and '-', at most 128, "
                         "not starting with '.' or '-'")
    return ImageRef(name, tag, digest)


def _split_tag(name: str) -> tuple[str, str | None]:
    """(repository, tag) of `repository[:tag]`: the tag is '' after a trailing ':', None without a ':'."""
    slash, colon = name.rfind("/"), name.rfind(":")
    return (name[:colon], name[colon + 1:]) if colon > slash else (name, None)


def format_entry(entry: dict[str, Any]) -> str:
    """The image an `images:` entry gives, e.g. `ghcr.io/acme/api@sha256:...` or `ghcr.io/acme/api:b82f0c3`."""
    name = str(entry.get("newName") or entry.get("name") or "?")
    tag, digest = entry.get("newTag"), entry.get("digest")
    return f"{name}{':' + str(tag) if tag is not None else ''}{'@' + str(digest) if digest else ''}"


def image_entries(data: Any) -> list[dict[str, Any]]:
    """The `images:` entries of a kustomization's plain data ([] when there are none)."""
    images = data.get("images") if isinstance(data, dict) else None
    return [e for e in images if isinstance(e, dict)] if isinstance(images, list) else []


def recorded_digest(line: str) -> str | None:
    """The digest written down on an entry's `newTag:` line (`# digest: sha256:<64 hex>`), or None."""
    found = _RECORDED.search(line)
    return found.group(1) if found else None


def digest_note(digest: str) -> str:
    """The comment that records `digest` after a `newTag:` value: `  # digest: sha256:...`."""
    return f"  # digest: {digest}"
