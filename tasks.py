"""Tasks of the Phoenix GitOps config repo. `invoke --list` shows them; `invoke --help <task>` explains one.

This file only parses arguments, calls the `phoenix_gitops` package, prints and exits.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from invoke import Collection, Context, Exit, task
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from phoenix_gitops import errors, kustomize, layout, render as rendering

HERE = Path(__file__).resolve().parent
ENV_HELP = "Environment: dev, staging, prod, ... or `all`. `env=prod`, `prod` and `--env prod` all work."
stderr = Console(stderr=True, highlight=False)


def _repo(c: Context) -> layout.Repo:
    return layout.Repo(HERE / str(c.config.gitops.repo))


@contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[..., None]]:
    """A progress bar on a terminal's stderr; silent in CI logs."""
    with Progress(
        TextColumn(f"{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True, disable=not stderr.is_terminal,
    ) as bar:
        job = bar.add_task(what, total=total)
        yield lambda *_: bar.advance(job)


@task(
    positional=["env"],
    help={
        "env": ENV_HELP,
        "check": "Write nothing; exit 3 if rendered/ differs from a fresh render.",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def render(c, env, check=False, jobs=-1):
    """Render overlays/<env>/<app> into rendered/<env>/<app>/manifest.yaml, atomically."""
    try:
        repo = _repo(c)
        envs = repo.select_envs(env)
        kz = kustomize.find_kustomize(timeout=float(c.config.gitops.kustomize_timeout))
        total = sum(len(e.overlays()) for e in envs)
        with _progress(total, "kustomize build") as on_done:
            result = rendering.render(
                repo, envs, kz, check=check, jobs=(c.config.gitops.jobs if jobs < 0 else jobs) or None, on_done=on_done
            )
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted: rendered/ is unchanged", code=130)
    names = ", ".join(result.envs)
    if check and result.changed:
        for path in result.changed:
            print(f"stale: {path}")
        wanted = env.removeprefix("env=")
        hint = wanted if wanted == layout.ALL else f"env={wanted}"
        raise Exit(f"rendered/ is stale ({len(result.changed)} file(s)); run `invoke render {hint}`", code=errors.EXIT_STALE)
    for path in result.changed:
        print(f"wrote: {path}")
    state = "up to date" if not result.changed else f"{len(result.changed)} file(s) changed"
    print(f"{names}: {result.files} manifest(s) with kustomize {result.kustomize_version}, {state}")


@task(help={"args": "Extra pytest arguments, e.g. `-k render -x`."})
def test(c, args=""):
    """Run the test suite (pytest)."""
    import shlex

    import pytest

    raise Exit(code=pytest.main(["-q", *shlex.split(args)], plugins=[]))


ns = Collection(render, test)
