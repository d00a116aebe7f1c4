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

from phoenix_gitops import cache as caching, check as checking, crds, errors, kustomize, layout, own_schemas, render as rendering, report

HERE = Path(__file__).resolve().parent
ENV_HELP = "Environment: dev, staging, prod, ... or `all`. `env=prod`, `prod` and `--env prod` all work."
stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def _repo(c: Context) -> layout.Repo:
    return layout.Repo(HERE / str(c.config.gitops.repo))


def _kustomize(c: Context) -> kustomize.Kustomize:
    return kustomize.find_kustomize(timeout=float(c.config.gitops.kustomize_timeout))


def _cache(repo: layout.Repo, kz: kustomize.Kustomize, use: bool) -> caching.RunCache | None:
    return caching.RunCache.for_repo(repo.root, kz.version) if use else None


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
        "cache": "Reuse results of overlays whose input files did not change (default on; --no-cache).",
    },
)
def render(c, env, check=False, jobs=-1, cache=True):
    """Render overlays/<env>/<app> into rendered/<env>/<app>/manifest.yaml, atomically."""
    try:
        repo = _repo(c)
        envs = repo.select_envs(env)
        kz = _kustomize(c)
        with _progress(sum(len(e.overlays()) for e in envs), "kustomize build") as on_done:
            result = rendering.render(repo, envs, kz, check=check, jobs=_jobs(c, jobs), on_done=on_done,
                                      cache=_cache(repo, kz, cache))
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
        "cache": "Reuse results of overlays whose input files did not change (default on; --no-cache).",
    },
)
def check(c, env=layout.ALL, format="text", jobs=-1, cache=True):
    """Check sources, builds and strict schemas; findings at path:line:col. Exit 1 on errors, 4 on tool failure."""
    if format not in report.FORMATS:
        raise Exit(f"unknown format {format!r}; use one of {', '.join(report.FORMATS)}", code=errors.EXIT_USAGE)
    try:
        repo = _repo(c)
        envs = repo.select_envs(env)
        kz = _kustomize(c)
        with _progress(sum(len(e.overlays()) for e in envs), "check") as on_done:
            result = checking.run_check(repo, envs, kz, jobs=_jobs(c, jobs), on_done=on_done,
                                        cache=_cache(repo, kz, cache), outputs=False)
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


@task(help={"check": "Write nothing; exit 3 if docs/rules.md differs from a fresh generation."})
def rules_doc(c, check=False):
    """Regenerate docs/rules.md (every rule: what, why, how to fix, severity per env, how to suppress)."""
    from phoenix_gitops import rules

    policy, problems = rules.load_policy()
    if policy is None:
        raise Exit("\n".join(str(p) for p in problems), code=errors.EXIT_FINDINGS)
    target, text = HERE / "docs" / "rules.md", rules.rules_markdown(policy)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if check:
        if current != text:
            print("stale: docs/rules.md")
            raise Exit("docs/rules.md is stale; run `invoke rules-doc`", code=errors.EXIT_STALE)
        print("docs/rules.md: up to date")
        return
    if current != text:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print("wrote: docs/rules.md")
    print(f"docs/rules.md: {len(rules.CATALOGUE)} rules")


@task(help={"args": "Extra pytest arguments, e.g. `-k render -x`."})
def test(c, args=""):
    """Run the test suite (pytest), from any folder."""
    import shlex

    import pytest

    raise Exit(code=pytest.main(["-q", "--rootdir", str(HERE), str(HERE / "tests"), *shlex.split(args)]))



# Everyday edits and review: diff, set-image, promote, new-app, history.
from phoenix_gitops import diff as diffing, edit as editing, history as histories  # noqa: E402


def _digest_envs(c: Context) -> tuple[str, ...]:
    value = c.config.gitops.get("digest_envs", list(editing.DEFAULT_DIGEST_ENVS))
    return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(map(str, value))


def _edited(result: editing.EditResult) -> None:
    for note in result.notes:
        print(note)
    if not result.changed:
        print(f"{result.path}: already {result.after}; nothing to do")
        return
    print(f"{result.path}: {result.before} -> {result.after}")
    for path in result.rendered:
        print(f"wrote: {path}")
    print(f"{result.env}: re-rendered, {len(result.rendered)} file(s) changed; review with `invoke diff --env {result.env}`")


@task(
    help={
        "base": "Revision to compare the working tree with (default: the merge-base of HEAD and gitops.diff_base).",
        "env": "Environment to diff (default: all).",
        "app": "Only this app.",
        "from_": "Compare two environments instead: the one promoted from, e.g. staging (with --to).",
        "to": "The environment that would change, e.g. prod (with --from).",
        "format": f"Output format: {', '.join(diffing.FORMATS)} (a pull-request comment).",
        "exit_code": "Exit 1 when anything differs (default: exit 0 with or without changes).",
        "raw": "With --from/--to: keep hosts and environment names as they are instead of normalising them.",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def diff(c, base="", env=layout.ALL, app="", from_="", to="", format="text", exit_code=False, raw=False, jobs=-1):
    """Show what the working tree changes in the rendered manifests (or env vs env), per env, app and resource."""
    if format not in diffing.FORMATS:
        raise Exit(f"unknown format {format!r}; use one of {', '.join(diffing.FORMATS)}", code=errors.EXIT_USAGE)
    if bool(from_) != bool(to) or (from_ and (base or env != layout.ALL)):
        raise Exit("use --from and --to together, without --base or --env", code=errors.EXIT_USAGE)
    try:
        repo, kz = _repo(c), _kustomize(c)
        if from_:
            result = diffing.diff_envs(repo, kz, from_, to, app=app or None, normalise=not raw, jobs=_jobs(c, jobs))
        else:
            result = diffing.diff_revisions(repo, kz, base=base or None, env=env, app=app or None,
                                            base_branch=str(c.config.gitops.get("diff_base", "main")),
                                            jobs=_jobs(c, jobs))
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    print(diffing.format_diff(result, format), end="")
    if exit_code and result.changed:
        raise Exit(code=errors.EXIT_FINDINGS)


@task(
    positional=["env", "app", "image"],
    help={
        "env": "The environment, e.g. prod.",
        "app": "The app, e.g. api.",
        "image": "A tag, sha256:<digest>, <tag>@sha256:<digest>, or a full reference as `invoke history` lists it.",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def set_image(c, env, app, image, jobs=-1):
    """Set an app's image in one environment (only its images: entry changes), check, write, re-render."""
    try:
        result = editing.set_image(_repo(c), _kustomize(c), env, app, image, _digest_envs(c), jobs=_jobs(c, jobs))
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    _edited(result)


@task(
    positional=["app", "from_env", "to_env"],
    help={
        "app": "The app, e.g. api.",
        "from_env": "The environment whose image is promoted, e.g. staging.",
        "to_env": "The environment that gets it, e.g. prod.",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def promote(c, app, from_env, to_env, jobs=-1):
    """Copy an app's image from one environment to another (tag resolved to its recorded digest where required)."""
    try:
        result = editing.promote(_repo(c), _kustomize(c), app, from_env, to_env, _digest_envs(c), jobs=_jobs(c, jobs))
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130)
    _edited(result)


@task(
    positional=["name"],
    help={
        "name": "The new app's name: lowercase letters, digits and dashes.",
        "image": "Its first image: <tag>@sha256:<digest> (a digest is required where an environment takes only digests).",
        "jobs": "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU).",
    },
)
def new_app(c, name, image="", jobs=-1):
    """Scaffold a new app: base/<name>/ and an overlay per environment, checked and rendered."""
    try:
        result = editing.new_app(_repo(c), _kustomize(c), name, image or None, _digest_envs(c),
                                 str(c.config.gitops.get("image_prefix", editing.DEFAULT_IMAGE_PREFIX)),
                                 jobs=_jobs(c, jobs))
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    except KeyboardInterrupt:
        raise Exit("interrupted: nothing was written", code=130)
    for path in result.files:
        print(f"created: {path}")
    for path in result.rendered:
        print(f"wrote: {path}")
    print(f"{name}: scaffolded and rendered; adjust sizes, replicas and secrets, then commit")


@task(
    positional=["env", "app"],
    help={"env": "The environment, e.g. prod.", "app": "The app, e.g. api."},
)
def history(c, env, app):
    """List the images an app ran in an environment, newest first, from git history (roll back with set-image)."""
    try:
        events = histories.image_history(_repo(c), env, app)
    except errors.GitopsError as err:
        raise Exit(f"{err}", code=err.exit_code)
    print(f"{'commit':<12} {'date':<25} {'author':<20} image")
    for event in events:
        print(f"{event.commit:<12} {event.date:<25} {event.author[:20]:<20} {event.image}")
    previous = next((e for e in events[1:] if not e.image.startswith("(")), None)
    if previous:
        print(f"roll back: invoke set-image {env.removeprefix('env=')} {app} {previous.image.split(', ')[0]}")


ns = Collection(render, check, crd_schemas, test, diff, set_image, promote, new_app, history, rules_doc)
