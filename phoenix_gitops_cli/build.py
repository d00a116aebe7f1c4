"""The `render` and `check` tasks: build every overlay of the chosen environments, check it, write or report.

Usage:
    invoke render env=prod          # also `render prod`, `render --env prod`; `render all` for every one
    invoke render all --check       # write nothing; exit 3 when rendered/ is stale
    invoke check --format sarif     # every environment unless one is named
    invoke lint k8s/ deploy/overlays/prod --profile staging   # manifests anywhere (see phoenix_gitops/lint.py)
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from rich.table import Table

from phoenix_gitops import cache as caching
from phoenix_gitops import check as checking
from phoenix_gitops import errors, kustomize, layout, report, signals, weakening
from phoenix_gitops import lint as linting
from phoenix_gitops import render as rendering
from phoenix_gitops.findings import sort_findings

from .display import progress_bar, stderr, stdout
from .exits import EXIT_INTERRUPTED, exits
from .flags import ALL_ENVS_HELP, JOBS_HELP, task
from .interrupts import interrupted_saying
from .settings import NOT_GIVEN, Settings

__all__ = ["check", "lint", "render"]

RENDER_INTERRUPTED = "rendered/ and clusters/ are unchanged"
CACHE_HELP = "Reuse results of overlays whose input files did not change (default on; --no-cache)."


@contextmanager
def _cache(repo: layout.Repo, kz: kustomize.Kustomize, use: bool) -> Iterator[caching.RunCache | None]:
    """The repository's result cache (None with --no-cache); what went wrong with it is a warning at the end
    (a cache never fails a run)."""
    cache = caching.RunCache.for_repo(repo.root, kz.version) if use else None
    try:
        yield cache
    finally:
        for line in cache.warnings if cache is not None else ():
            stderr.print(f"warning: {line}", markup=False)


def _summary(summaries: list[checking.EnvSummary], title: str = "check summary") -> Table:
    table = Table("env", "cluster", "Kubernetes", "apps", "resources", "errors", "warnings", title=title)
    for s in summaries:
        table.add_row(s.env, s.cluster, s.kubernetes_version, str(s.apps), str(s.resources),
                      f"[red]{s.errors}[/]" if s.errors else "0", f"[yellow]{s.warnings}[/]" if s.warnings else "0")
    return table


@task(
    optional_positionals=["env"],
    help={
        "env": ALL_ENVS_HELP,
        "check": "Write nothing; exit 3 if rendered/ differs from a fresh render.",
        "jobs": JOBS_HELP,
        "cache": CACHE_HELP,
    },
)
@exits(interrupted=RENDER_INTERRUPTED)
def render(c: Context, env: str = layout.ALL, check: bool = False, jobs: int = NOT_GIVEN, cache: bool = True) -> None:
    """Render overlays/<env>/<app> into rendered/<env>/<app>/{prepare,release}/manifest.yaml, atomically."""
    settings = Settings.of(c)
    repo = settings.repo()
    envs = repo.select_envs(env)
    kz = settings.kustomize()
    swapped = f"rendered/ and clusters/ hold the new render of {', '.join(e.name for e in envs)}"
    steps = signals.steps_done()
    try:
        with _cache(repo, kz, cache) as run_cache, \
                progress_bar(sum(len(e.overlays()) for e in envs), "kustomize build") as on_done:
            result = rendering.render(repo, envs, kz, check=check, jobs=settings.jobs_or(jobs), on_done=on_done,
                                      cache=run_cache)
    except KeyboardInterrupt:
        if check or signals.steps_done() == steps:
            raise  # before the swap (RENDER_INTERRUPTED)
        raise Exit(f"interrupted: {swapped}", code=EXIT_INTERRUPTED) from None
    with interrupted_saying(RENDER_INTERRUPTED if check else swapped):
        _rendered(env, check, result)


def _rendered(env: str, check: bool, result: rendering.RenderResult) -> None:
    for finding in result.findings:
        print(finding)
    if check and result.changed:
        for path in result.changed:
            print(f"stale: {path}")
        wanted = layout.env_name(env)
        hint = wanted if wanted == layout.ALL else f"env={wanted}"
        raise Exit(f"rendered/ is stale ({len(result.changed)} file(s)); run `invoke render {hint}`",
                   code=errors.EXIT_STALE)
    for path in result.changed:
        print(f"wrote: {path}")
    state = "up to date" if not result.changed else f"{len(result.changed)} file(s) changed"
    print(f"{', '.join(result.envs)}: {result.files} file(s) with kustomize {result.kustomize_version}, {state}")


@task(
    optional_positionals=["env"],
    help={
        "env": ALL_ENVS_HELP,
        "format": f"Output format: {', '.join(report.FORMATS)}.",
        "jobs": JOBS_HELP,
        "cache": CACHE_HELP,
    },
)
@exits(interrupted="nothing was written")
def check(c: Context, env: str = layout.ALL, format: str = "text", jobs: int = NOT_GIVEN, cache: bool = True) -> None:
    """Check sources, builds and strict schemas; findings at path:line:col. Exit 1 on errors, 4 on tool failure."""
    _known_format(format)
    settings = Settings.of(c)
    repo = settings.repo()
    envs = repo.select_envs(env)
    kz = settings.kustomize()
    with _cache(repo, kz, cache) as run_cache, progress_bar(sum(len(e.overlays()) for e in envs), "check") as on_done:
        result = checking.run_check(repo, envs, kz, jobs=settings.jobs_or(jobs), on_done=on_done,
                                    cache=run_cache, outputs=False)
    # what the change loosens in the platform-owned files (warnings, or one note outside a git checkout)
    result.findings = sort_findings([*result.findings, *weakening.find_weakenings(repo.root, settings.diff_base)])
    _report(result, format)


@task(
    variadic="paths",
    help={
        "paths": "Files, manifest folders (read recursively) or kustomize roots, relative to the current folder.",
        "format": f"Output format: {', '.join(report.FORMATS)}.",
        "kubernetes_version": "Validate against this Kubernetes version's schemas (default: the newest bundled).",
        "profile": "Severities of this profile: dev, staging or prod (default).",
    },
)
@exits(interrupted="nothing was written")
def lint(c: Context, paths: list[str] | None = None, format: str = "text", kubernetes_version: str = "",
         profile: str = "prod") -> None:
    """Check manifests you already have (files, folders, kustomize roots) like `check` does; exit 1 on errors."""
    _known_format(format)
    settings = Settings.of(c)
    kz = settings.kustomize()
    result = linting.run_lint(paths or [], Path.cwd(), kz, kubernetes_version or None, profile)
    _report(result, format, "lint summary")


def _known_format(format: str) -> None:
    """Refuse a report format that does not exist (before any work is done)."""
    if format not in report.FORMATS:
        raise errors.UsageError(f"unknown format {format!r}; use one of {', '.join(report.FORMATS)}")


def _report(result: checking.CheckReport, format: str, title: str = "check summary") -> None:
    """Print the report in `format` on stdout, the summary, what did not run and the tool failures (stderr for
    a machine format); exit with the report's code when it is not 0."""
    stdout.out(report.format_report(result, format), end="")
    summary = stdout if format == "text" else stderr
    summary.print(_summary(result.summaries, title))
    for line in [*report.summary_lines(result), *result.skipped_lines()]:
        summary.print(line, markup=False)
    for message in result.tool_errors:
        stderr.print(f"tool failure: {message}", markup=False)
    if result.exit_code:
        raise Exit(code=result.exit_code)
