"""The editing tasks: `set-image`, `promote` and `new-app` (an overlay edit or a scaffold, checked, written, rendered).

Usage:
    invoke set-image prod api 1a2b3c4@sha256:...     # also `set-image env=prod ...`, `--env prod --app api ...`
    invoke promote api staging prod                  # also `promote --app api --from staging --to prod`
    invoke new-app billing --image 1a2b3c4@sha256:...
"""
from __future__ import annotations

from collections.abc import Callable

from invoke.context import Context

from phoenix_gitops import edit as editing
from phoenix_gitops import layout

from .display import spinner
from .exits import exits
from .flags import APP_HELP, ENV_HELP, JOBS_HELP, task
from .interrupts import interrupted_saying
from .settings import NOT_GIVEN, Settings

__all__ = ["new_app", "promote", "set_image"]

EDIT_INTERRUPTED = "nothing was written"
"""Before the overlay is replaced; after, the library raises `signals.Interrupted` saying what was written."""


def _edited(result: editing.EditResult) -> None:
    for note in result.notes:  # how a tag was resolved; the label, the recorded digest
        print(note)
    if not result.changed:
        print(f"{result.path}: already {result.after}; nothing to do")
        return
    print(f"{result.path}: {result.before} -> {result.after}")
    for path in result.rendered:
        print(f"wrote: {path}")
    print(f"{result.env}: re-rendered, {len(result.rendered)} file(s) changed; "
          f"review with `invoke diff --env {result.env}`")


def _edit(c: Context, what: str, edit: Callable[[Settings], editing.EditResult]) -> None:
    settings = Settings.of(c)
    with interrupted_saying(None), spinner(f"{what}: check, write, render"):
        result = edit(settings)
    done = f"{result.path} was written and {result.env} re-rendered" if result.changed else EDIT_INTERRUPTED
    with interrupted_saying(done):
        _edited(result)


@task(
    positional=["env", "app", "image"],
    help={
        "env": ENV_HELP,
        "app": APP_HELP,
        "image": "A tag, sha256:<digest>, <tag>@sha256:<digest>, or a full reference as `invoke history` lists it.",
        "jobs": JOBS_HELP,
    },
)
@exits(interrupted=EDIT_INTERRUPTED)
def set_image(c: Context, env: str, app: str, image: str, jobs: int = NOT_GIVEN) -> None:
    """Set an app's image (and version label) in one environment, check, write, re-render."""
    name = layout.env_name(env)
    _edit(c, f"setting {app}'s image in {name}", lambda settings: editing.set_image(
        settings.repo(), settings.kustomize(), name, app, image, settings.digest_envs, jobs=settings.jobs_or(jobs)))


@task(
    positional=["app", "from_", "to"],
    help={
        "app": APP_HELP,
        "from_": "The environment whose image is promoted, e.g. staging.",
        "to": "The environment that gets it, e.g. prod.",
        "jobs": JOBS_HELP,
    },
)
@exits(interrupted=EDIT_INTERRUPTED)
def promote(c: Context, app: str, from_: str, to: str, jobs: int = NOT_GIVEN) -> None:
    """Copy an app's image (and version label) from one environment to another; a tag pinned by its recorded digest."""
    source, target = layout.env_name(from_), layout.env_name(to)
    _edit(c, f"promoting {app} from {source} to {target}", lambda settings: editing.promote(
        settings.repo(), settings.kustomize(), app, source, target, settings.digest_envs, jobs=settings.jobs_or(jobs)))


@task(
    positional=["name"],
    help={
        "name": "The new app's name: lowercase letters, digits and dashes.",
        "image": "Its first image: <tag>@sha256:<digest> "
                 "(a digest is required where an environment takes only digests).",
        "jobs": JOBS_HELP,
    },
)
@exits(interrupted="nothing was written (the new folders are removed again)")
def new_app(c: Context, name: str, image: str = "", jobs: int = NOT_GIVEN) -> None:
    """Scaffold a new app: base/<name>/ and an overlay per environment, checked and rendered."""
    settings = Settings.of(c)
    with interrupted_saying(None), spinner(f"scaffolding {name}: check, write, render every environment"):
        result = editing.new_app(settings.repo(), settings.kustomize(), name, image or None, settings.digest_envs,
                                 settings.image_prefix, jobs=settings.jobs_or(jobs))
    with interrupted_saying(f"{name} was created and every environment re-rendered"):
        for path in result.files:
            print(f"created: {path}")
        for path in result.declared:
            print(f"declared {name} (namespace {name}): {path}")
        for path in result.rendered:
            print(f"wrote: {path}")
        print(f"{name}: scaffolded and rendered; adjust sizes, replicas and secrets, then commit")
