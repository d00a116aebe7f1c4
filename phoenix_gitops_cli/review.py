"""The review tasks: `diff` (what a change or a promotion does to the rendered output) and `history` (the images
an app ran).

Usage:
    invoke diff                                   # every environment, working tree against the merge-base
    invoke diff prod --format markdown            # one environment, as a pull-request comment
    invoke diff --from staging --to prod          # a promotion preview
    invoke history prod api                       # also `history env=prod api`, `--env prod --app api`
"""
from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit

from phoenix_gitops import diff as diffing
from phoenix_gitops import errors, layout
from phoenix_gitops import history as histories

from .display import spinner
from .exits import exits
from .flags import ALL_ENVS_HELP, APP_HELP, ENV_HELP, JOBS_HELP, task
from .settings import NOT_GIVEN, Settings

__all__ = ["diff", "history"]


@task(
    optional_positionals=["env"],
    help={
        "env": ALL_ENVS_HELP,
        "base": "Revision to compare the working tree with (default: the merge-base of HEAD and gitops.diff_base).",
        "app": "Only this app.",
        "from_": "Compare two environments instead: the one promoted from, e.g. staging (with --to).",
        "to": "The environment that would change, e.g. prod (with --from).",
        "format": f"Output format: {', '.join(diffing.FORMATS)} (a pull-request comment).",
        "exit_code": "Exit 1 when anything differs (default: exit 0 with or without changes).",
        "raw": "With --from/--to: keep hosts and environment names as they are instead of normalising them.",
        "jobs": JOBS_HELP,
    },
)
@exits(interrupted="nothing was written (the temporary worktree is removed)")
def diff(c: Context, env: str = layout.ALL, base: str = "", app: str = "", from_: str = "", to: str = "",
         format: str = "text", exit_code: bool = False, raw: bool = False, jobs: int = NOT_GIVEN) -> None:
    """Show what the working tree changes in the rendered manifests (or env vs env), per env, app and resource."""
    if format not in diffing.FORMATS:
        raise errors.UsageError(f"unknown format {format!r}; use one of {', '.join(diffing.FORMATS)}")
    wanted = layout.env_name(env)
    if bool(from_) != bool(to) or (from_ and (base or wanted != layout.ALL)):
        raise errors.UsageError("use --from and --to together, without --base or --env")
    settings = Settings.of(c)
    repo, kz = settings.repo(), settings.kustomize()
    if from_:
        source, target = layout.env_name(from_), layout.env_name(to)
        with spinner(f"rendering {source} and {target}"):
            result = diffing.diff_envs(repo, kz, source, target, app=app or None, normalise=not raw,
                                       jobs=settings.jobs_or(jobs))
    else:
        with spinner(f"rendering {wanted} at the base revision and in the working tree"):
            result = diffing.diff_revisions(repo, kz, base=base or None, env=wanted, app=app or None,
                                            base_branch=settings.diff_base, jobs=settings.jobs_or(jobs))
    print(diffing.format_diff(result, format), end="")
    if exit_code and result.changed:
        raise Exit(code=errors.EXIT_FINDINGS)


@task(
    positional=["env", "app"],
    help={"env": ENV_HELP, "app": APP_HELP},
)
@exits(interrupted="nothing was written")
def history(c: Context, env: str, app: str) -> None:
    """List the images an app ran in an environment, newest first, from git history (roll back with set-image)."""
    name = layout.env_name(env)
    with spinner(f"reading the git history of {app} in {name}"):
        events = histories.image_history(Settings.of(c).repo(), name, app)
    print(f"{'commit':<12} {'date':<25} {'author':<20} image")
    for event in events:
        print(f"{event.commit:<12} {event.date:<25} {event.author[:20]:<20} {event.image}")
    previous = next((e for e in events[1:] if not e.image.startswith("(")), None)
    if previous:
        print(f"roll back: invoke set-image {name} {app} {previous.image.split(', ')[0]}")
