"""The images an app ran in an environment, from git history: the GitOps form of `kubectl rollout history`.

`git log` of `overlays/<env>/<app>/kustomization.yaml`; each revision's `images:` read through yamlio. Only the
commits that changed the image are listed, newest first, plus the working tree when it differs from the last
commit. Rolling back is `invoke set-image <env> <app> <image>` with a listed image (then review and merge).

`recorded_for_another_tag` reads the same history for `promote`: whether a digest written down on an entry's
`newTag:` line (`# digest: sha256:...`) was there already when the line named another tag, i.e. whether the tag
was changed under a comment recorded for an older build.

Usage:
    for event in image_history(repo, "prod", "api"):
        print(event.commit, event.date, event.author, event.image)
    recorded_for_another_tag(repo, "overlays/dev/api/kustomization.yaml", "ghcr.io/acme/api", "9a9a9a9", digest)
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import GitopsError, ToolError, UsageError
from .gitrepo import Commit, GitRepo
from .images import format_entry, image_entries, recorded_digest
from .layout import KUSTOMIZATION_FILES, Repo
from .yamlio import load_text

__all__ = ["ImageEvent", "image_history", "recorded_for_another_tag", "WORKING_TREE"]

WORKING_TREE = "working tree"


@dataclass(frozen=True)
class ImageEvent:
    """One change of an app's image in one environment."""

    commit: str
    """The commit id (10 characters), or `working tree` for uncommitted edits."""
    date: str
    author: str
    subject: str
    image: str
    """The image(s) the overlay gave from then on, e.g. `ghcr.io/acme/api@sha256:...`; `(no overlay)` when the
    overlay was deleted, `(unreadable: ...)` when that revision could not be read."""


def _images(raw: bytes | None, rel: str) -> str:
    if raw is None:
        return "(no overlay)"
    try:
        docs = load_text(raw, rel)
    except GitopsError as err:
        return f"(unreadable: {err})"
    entries = image_entries(docs[0].data) if len(docs) == 1 else []
    return ", ".join(format_entry(e) for e in entries) or "(no images: entry)"


def image_history(repo: Repo, env: str, app: str) -> list[ImageEvent]:
    """Every image change of `app` in `env`, newest first (see the module docstring).

    Raises UsageError for an unknown environment, an app with no overlay and no history there, or a repository
    that is not in a git work tree.
    """
    environment = repo.select_env(env)
    git = GitRepo.of(repo.root)
    rels = [f"overlays/{environment.name}/{app}/{name}" for name in KUSTOMIZATION_FILES]
    commits = git.log(rels)
    current = next((rel for rel in rels if (repo.root / rel).is_file()), None)
    if not commits and current is None:
        known = ", ".join(o.app for o in environment.overlays()) or "none"
        raise UsageError(f"unknown app {app!r} in {environment.name}: no overlay and no history; known: {known}")
    events: list[ImageEvent] = []
    for commit in reversed(commits):  # oldest first, keeping only the commits that changed the image
        raw = next((data for data in (git.show(commit.commit, rel) for rel in rels) if data is not None), None)
        image = _images(raw, rels[0])
        if not events or events[-1].image != image:
            events.append(ImageEvent(commit.short, commit.date, commit.author, commit.subject, image))
    now = _images((repo.root / current).read_bytes() if current else None, current or rels[0])
    if not events or events[-1].image != now:
        events.append(ImageEvent(WORKING_TREE, "", "", "uncommitted", now))
    return list(reversed(events))


def _pin(raw: bytes, rel: str, image: str) -> tuple[str | None, set[str]] | None:
    """The tag of the `images:` entry named `image` in one revision, and the digests it gives or records (the
    `digest:` field, the `# digest:` comment on its `newTag:` line); None when the revision has no such entry."""
    try:
        docs = load_text(raw, rel)
    except GitopsError:
        return None
    images = docs[0].data.get("images") if len(docs) == 1 and isinstance(docs[0].data, dict) else None
    for index, entry in enumerate(images if isinstance(images, list) else []):
        if isinstance(entry, dict) and entry.get("name") == image:
            tag = entry.get("newTag")
            digests = {str(entry["digest"])} if entry.get("digest") else set()
            if tag is not None:
                line = docs[0].position(("images", index, "newTag"))[0]
                recorded = recorded_digest(raw.decode("utf-8", "replace").split("\n")[line - 1])
                digests |= {recorded} if recorded else set()
            return (None if tag is None else str(tag), digests)
    return None


def recorded_for_another_tag(repo: Repo, rel: str, image: str, tag: str, digest: str) -> tuple[str, Commit] | None:
    """(the other tag, the commit) when `digest`, recorded for `tag` on the newTag line of `image`'s entry in
    `rel`, stood next to another tag in a committed revision of `rel`; None when it did not.

    The revisions are read newest first for as long as the entry gives or records `digest`: the first one where
    it does not is where the digest was written down, and what came before cannot speak for it. Without git
    history (not a git work tree, git missing) there is nothing to read and the answer is None.
    """
    try:
        git = GitRepo.of(repo.root)
        for commit in git.log([rel]):
            raw = git.show(commit.commit, rel)
            pin = None if raw is None else _pin(raw, rel, image)
            if pin is None or digest not in pin[1]:
                return None
            if pin[0] is not None and pin[0] != tag:
                return (pin[0], commit)
    except (UsageError, ToolError):
        pass
    return None
