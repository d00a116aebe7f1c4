"""The images an app ran in an environment, from git history: the GitOps form of `kubectl rollout history`.

`git log` of `overlays/<env>/<app>/kustomization.yaml`; each revision's `images:` read through yamlio. Only the
commits that changed the image are listed, newest first, plus the working tree when it differs from the last
commit. Rolling back is `invoke set-image <env> <app> <image>` with a listed image (then review and merge).

Usage:
    for event in image_history(repo, "prod", "api"):
        print(event.commit, event.date, event.author, event.image)
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import GitopsError, UsageError
from .gitrepo import GitRepo
from .images import format_entry, image_entries
from .layout import KUSTOMIZATION_FILES, Repo
from .yamlio import load_text

__all__ = ["ImageEvent", "image_history", "WORKING_TREE"]

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
