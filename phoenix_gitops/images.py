"""Container image references: split as the rules read them, parsed strictly as the command line takes them, and
the `images:` entries of a kustomization that set them.

A reference is `[repository][:tag][@digest]`, where a `:` after the last `/` starts the tag (so a registry port,
`localhost:5000/api`, is part of the repository). `split_image` reads any reference a pod spec holds;
`parse_image` validates what a user typed, where a bare word is a tag. A digest known for a tag is written down
on the entry's `newTag:` line as a comment (`newTag: "5d3a6e1"  # digest: sha256:...`), so `promote` can pin it;
`with_recorded_digest` rewrites, adds or removes that comment, so that an edit keeps it in step with the tag.

The build an overlay runs is named twice more: by the `app.kubernetes.io/version` label (`version_labels`) and by
the comment above the `images:` entry (`Build 5d3a6e1, pinned by digest.`); `restate_build` rewrites such a
comment for another build.

Usage:
    split_image("ghcr.io/acme/api:1.2@sha256:...")       # ImageRef('ghcr.io/acme/api', '1.2', 'sha256:...')
    parse_image("5d3a6e1")                               # ImageRef(None, '5d3a6e1', None)
    format_entry({"name": "ghcr.io/acme/api", "newTag": "b82f0c3"})   # 'ghcr.io/acme/api:b82f0c3'
    with_recorded_digest('    newTag: "9a9a9a9"  # digest: sha256:...', None)   # '    newTag: "9a9a9a9"'
    restate_build("  # Build 5d3a6e1, pinned by digest.", {"5d3a6e1"}, "9a9a9a9", by_digest=True)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

__all__ = [
    "ImageRef", "split_image", "parse_image", "format_entry", "image_entries", "recorded_digest", "digest_note",
    "with_recorded_digest", "VERSION_LABEL", "version_labels", "build_comment", "restate_build",
]

VERSION_LABEL = "app.kubernetes.io/version"
"""The label that names the build an overlay runs (its tag)."""

_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_RECORDED = re.compile(r"#\s*digest:\s*(sha256:[0-9a-f]{64})(?![0-9a-f])")
_STANDARD_COMMENT = re.compile(
    r"^(?:Build \S+, pinned by digest\.|Pinned by digest\.|Immutable tag \S+; never reused\.|No release yet: .*)$")
"""The comments `new-app` writes above an `images:` entry (`build_comment`, and the one before a first release)."""
_COMMENT_LINE = re.compile(r"^(\s*#[ \t]?)(.*?)(\s*)$")


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


def with_recorded_digest(line: str, digest: str | None) -> str:
    """`line` (an entry's `newTag:` line, without its line end) recording `digest`: a `# digest:` comment it has is
    rewritten to `digest`, or removed (with whatever follows it on the line) when `digest` is None; one is added
    when the line has none.

    >>> with_recorded_digest('  newTag: "2"  # digest: sha256:' + "a" * 64, None)
    '  newTag: "2"'
    """
    found = _RECORDED.search(line)
    if digest is None:
        return line if found is None else line[:found.start()].rstrip()
    if found is None:
        return line.rstrip() + digest_note(digest)
    return line[:found.start(1)] + digest + line[found.end(1):]


def version_labels(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Where a kustomization's plain data sets the `app.kubernetes.io/version` label: (the path of the mapping
    that holds it, its value), for `labels[i].pairs` and `commonLabels`.

    >>> version_labels({"labels": [{"pairs": {VERSION_LABEL: "b82f0c3"}}]})
    [(('labels', 0, 'pairs'), 'b82f0c3')]
    """
    found: list[tuple[tuple[str | int, ...], str]] = []
    labels = data.get("labels") if isinstance(data, dict) else None
    for i, item in enumerate(labels if isinstance(labels, list) else []):
        pairs = item.get("pairs") if isinstance(item, dict) else None
        if isinstance(pairs, dict) and VERSION_LABEL in pairs:
            found.append((("labels", i, "pairs"), str(pairs[VERSION_LABEL])))
    common = data.get("commonLabels") if isinstance(data, dict) else None
    if isinstance(common, dict) and VERSION_LABEL in common:
        found.append((("commonLabels",), str(common[VERSION_LABEL])))
    return found


def build_comment(build: str, by_digest: bool) -> str:
    """The comment above an `images:` entry that runs `build`: `Build <build>, pinned by digest.` or
    `Immutable tag <build>; never reused.`"""
    return f"Build {build}, pinned by digest." if by_digest else f"Immutable tag {build}; never reused."


def restate_build(line: str, olds: set[str], build: str, by_digest: bool) -> str:
    """A comment line above an `images:` entry, rewritten for `build`: one of the comments `new-app` writes is
    written anew (`build_comment`), any other has each whole word in `olds` (the builds it ran before) replaced
    by `build`; a line that is no comment is returned as it is.

    >>> restate_build("  # Immutable git-SHA tag of build b82f0c3; never reused.", {"b82f0c3"}, "c0ffee1", False)
    '  # Immutable git-SHA tag of build c0ffee1; never reused.'
    """
    found = _COMMENT_LINE.match(line)
    if found is None:
        return line
    lead, text, trail = found.groups()
    if _STANDARD_COMMENT.match(text):
        return lead + build_comment(build, by_digest) + trail
    for old in sorted(olds - {build}, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z0-9_.-]){re.escape(old)}(?![A-Za-z0-9_-]|\.[A-Za-z0-9_])", build, text)
    return lead + text + trail
