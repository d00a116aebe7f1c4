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
from rich.table import Table

from phoenix_gitops import check as checking, crds, errors, kustomize, layout, own_schemas, render as rendering, report

HERE = Path(__file__).resolve().parent
ENV_HELP = "Environment: dev, staging, prod, ... or `all`. `env=prod`, `prod` and `--env prod` all work."
stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def _repo(c: Context) -> layout.Repo:
    return layout.Repo(HERE / str(c.config.gitops.repo))


def _kustomize(c: Context) -> kustomize.Kustomize:
    return kustomize.find_kustomize(timeout=float(c.config.gitops.kustomize_timeout))


def _jobs(c: Context, jobs: int) -> int | None:
    return (c.config.gitops.jobs if jobs < 0 else jobs) or None


def _summary(summaries: list[checking.EnvSummary]) -> Table:
    table = Table("env", "cluster", "Kubernetes", "apps", "resources", "errors", "warnings", title="check summary")
    for s in summaries:
        table.add_row(s.env, s.cluster, s.kubernetes_version, str(s.apps), str(s.resources),
                      f"[red]{s.errors}[/]" if s.errors else "0", f"[yellow]{s.warnings}[/]" if s.warnings else "0")
    return table


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
        kz = _kustomize(c)
        with _progress(sum(len(e.overlays()) for e in envs), "kustomize build") as on_done:
            result = rendering.render(repo, envs, kz, check=check, jobs=_jobs(c, jobs), on_done=on_done)
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted: rendered/ is unchanged", code=130)
    names = ", ".join(result.envs)
    for finding in result.findings:
        print(finding)
    if check and result.changed:
        for path in result.changed:
            print(f"stale: {path}")
        wanted = env.removeprefix("env=")
        hint = wanted if wanted == layout.ALL else f"env={wanted}"
        raise Exit(f"rendered/ is stale ({len(result.changed)} file(s)); run `invoke render {hint}`", code=errors.EXIT_STALE)
    for path in result.changed:
        print(f"wrote: {path}")
    state = "up to date" if not result.changed else f"{len(result.changed)} file(s) changed"
    print(f"{names}: {result.files} file(s) with kustomize {result.kustomize_version}, {state}")


@task(
    help={
        "env": "Environment to check (default: all).",
        "format": f"Output format: {', '.join(report.FORMATS)}.",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def check(c, env=layout.ALL, format="text", jobs=-1):
    """Check sources, builds and strict schemas; findings at path:line:col. Exit 1 on errors, 4 on tool failure."""
    if format not in report.FORMATS:
        raise Exit(f"unknown format {format!r}; use one of {', '.join(report.FORMATS)}", code=errors.EXIT_USAGE)
    try:
        repo = _repo(c)
        envs = repo.select_envs(env)
        kz = _kustomize(c)
        with _progress(sum(len(e.overlays()) for e in envs), "check") as on_done:
            result = checking.run_check(repo, envs, kz, jobs=_jobs(c, jobs), on_done=on_done)
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    stdout.out(report.format_report(result, format), end="")
    (stdout if format == "text" else stderr).print(_summary(result.summaries))
    for message in result.tool_errors:
        stderr.print(f"tool failure: {message}", markup=False)
    if result.exit_code:
        raise Exit(code=result.exit_code)


@task(
    help={
        "crds_dir": "Folder of upstream CustomResourceDefinition manifests, e.g. ../shared/crds.",
        "check": "Write nothing; exit 3 if schemas/crds/ differs from a fresh generation.",
    },
)
def crd_schemas(c, crds_dir, check=False):
    """Regenerate schemas/crds/ (strict JSON Schemas of CRD kinds) from upstream CRD manifests."""
    source, target = Path(crds_dir).resolve(), own_schemas.SCHEMA_DIR / "crds"
    if not source.is_dir():
        raise Exit(f"{crds_dir}: not a folder of CRD manifests", code=errors.EXIT_USAGE)
    try:
        with stderr.status("converting CRDs (the large ones take a few seconds)"):
            changed = (crds.stale if check else crds.write)(source, target, jobs=None)
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    for name in changed:
        print(f"{'stale' if check else 'wrote'}: schemas/crds/{name}")
    if check and changed:
        raise Exit(f"schemas/crds/ is stale; run `invoke crd-schemas --crds-dir {crds_dir}`", code=errors.EXIT_STALE)
    print(f"schemas/crds/: {'up to date' if not changed else f'{len(changed)} file(s) changed'}")


@task(help={"args": "Extra pytest arguments, e.g. `-k render -x`."})
def test(c, args=""):
    """Run the test suite (pytest), from any folder."""
    import shlex

    import pytest

    raise Exit(code=pytest.main(["-q", "--rootdir", str(HERE), str(HERE / "tests"), *shlex.split(args)]))


ns = Collection(render, check, crd_schemas, test)
