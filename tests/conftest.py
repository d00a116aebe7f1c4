"""Shared test fixtures: fixture repos copied to a temp folder, the real kustomize, and the real CLI (in this
process through the program, or in a subprocess)."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from phoenix_gitops import kustomize

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE_REPOS = PROJECT / "tests" / "fixtures" / "repos"

SLOW_FIXTURES = frozenset({"kz", "fixture_repo", "shipped_repo", "builds"})
"""A test that asks for one of these runs the real kustomize (or the CLI on a repo): it is marked `slow`."""
SLOW_MODULES = frozenset({"test_reliability", "test_tasks", "test_wheel", "test_kustomize", "test_signals",
                          "test_namespace_boundaries"})
"""Modules whose tests build with kustomize or start processes (the CLI, a wheel build) by themselves: all `slow`."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests (see SLOW_FIXTURES and SLOW_MODULES), so `invoke test --fast` can leave them out."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or item.module is not None and item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tests (and the CLI they start) keep their result caches in a temp folder, never in ~/.cache."""
    os.environ["PHOENIX_GITOPS_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def kz() -> kustomize.Kustomize:
    """The kustomize the project finds (the pinned kubectl after `pip install -e .`)."""
    return kustomize.find_kustomize()


@pytest.fixture
def fixture_repo(tmp_path: Path):
    """Copy tests/fixtures/repos/<name> into a temp folder and return its path."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURE_REPOS / name, target, symlinks=True)
        return target

    return copy


@pytest.fixture
def shipped_repo(tmp_path: Path) -> Path:
    """The shipped config (base/, overlays/, gitops.yaml) in a temp folder, with the api app only."""
    root = tmp_path / "shipped"
    for name in ("base", "overlays"):
        shutil.copytree(PROJECT / name, root / name, ignore=shutil.ignore_patterns("storefront"))
    shutil.copy2(PROJECT / "gitops.yaml", root / "gitops.yaml")
    return root


@pytest.fixture
def builds(monkeypatch) -> list[tuple[str, bool]]:
    """Every kustomize run from now on, as (overlay id, built with origins) for each overlay it built."""
    seen: list[tuple[str, bool]] = []
    batch, single = kustomize.Kustomize.build_batch, kustomize.Kustomize.build

    def build_batch(self, overlays, sort_options=None, origins=True):
        seen.extend((overlay.id, origins) for overlay in overlays)
        return batch(self, overlays, sort_options, origins)

    def build(self, overlay, origins=False, sort_options=None):
        if not origins:  # (with origins, it runs build_batch)
            seen.append((overlay.id, False))
        return single(self, overlay, origins, sort_options)

    monkeypatch.setattr(kustomize.Kustomize, "build_batch", build_batch)
    monkeypatch.setattr(kustomize.Kustomize, "build", build)
    return seen


def cli_argv(args: list[str]) -> list[str]:
    """The command line of `invoke <args>` with this project's tasks, whatever the working directory."""
    return [sys.executable, "-m", "invoke", "--search-root", str(PROJECT), *args]


def program_argv(args: list[str]) -> list[str]:
    """The command line of the `phoenix-gitops` program with `args`, as the console script runs it."""
    return [sys.executable, "-m", "phoenix_gitops_cli", *args]


def cli_env(repo: Path | None, **env: str) -> dict[str, str]:
    """The environment of a CLI run against `repo` (None: none named): ours without INVOKE_* settings, plus `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    if repo is not None:
        environ["INVOKE_GITOPS_REPO"] = str(repo)
    environ.update(env)
    return environ


def run_cli(args: list[str], repo: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `invoke <args>` from the project in a subprocess against `repo`; returns the finished process."""
    return subprocess.run(
        cli_argv(args), capture_output=True, text=True, timeout=timeout, env=cli_env(repo, **env), cwd=repo,
        check=False,
    )


@dataclass(frozen=True)
class Result:
    """What a program run ended with and printed."""

    code: int
    stdout: str
    stderr: str


@contextmanager
def _process_state(environ: dict[str, str], cwd: Path) -> Iterator[None]:
    saved_environ, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)


def run_program(args: list[str], repo: Path | None, cwd: Path | None = None, **env: str) -> Result:
    """Run `phoenix-gitops <args>` in this process against `repo` (INVOKE_GITOPS_REPO; None: let the program find
    the repository from `cwd`), from `cwd` (default: `repo`), with `env` added to the environment."""
    # the whole command line, imported only by the tests that run it
    from phoenix_gitops_cli import program

    environ = cli_env(repo, **env)
    out, err = io.StringIO(), io.StringIO()
    with _process_state(environ, cwd or repo or Path.cwd()), redirect_stdout(out), redirect_stderr(err):
        code = program.main(args)
    return Result(code, out.getvalue(), err.getvalue())


GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Ada Lovelace",
           "GIT_AUTHOR_EMAIL": "ada@example.org", "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.org"}


def git(root: Path, *args: str) -> str:
    """Run git in `root` without the user's or the system's git configuration; returns its output."""
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env={**os.environ, **GIT_ENV},
                          capture_output=True, text=True, check=True).stdout


def commit_all(root: Path, message: str) -> None:
    """Commit every file in `root`, making it a git repository on branch `main` first if it is none."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (lock file excluded) with its bytes: for 'nothing changed' assertions."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def rendered_text(root: Path, env: str, app: str) -> str:
    """The rendered documents of one app, both phases in apply order, without their header lines."""
    texts = [(folder / "manifest.yaml").read_text().split("\n", 1)[1]
             for folder in (root / "rendered" / env / app / "prepare", root / "rendered" / env / app / "release")
             if (folder / "manifest.yaml").exists()]
    if not texts:
        raise FileNotFoundError(f"rendered/{env}/{app}: nothing rendered")
    return "---\n".join(texts)


def manifests(env: str, *apps: str) -> list[str]:
    """The rendered files of `apps` in `env` (both phases), repo-relative, sorted."""
    return sorted(f"rendered/{env}/{app}/{phase}/manifest.yaml" for app in apps for phase in ("prepare", "release"))


def leftovers(root: Path) -> list[str]:
    """Temp or swapped-out folders a render left in `root` (should always be empty)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith((".tmp.", ".old."))) if root.exists() else []
