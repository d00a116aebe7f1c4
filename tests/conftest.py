"""Shared test fixtures: fixture repos copied to a temp folder, the real kustomize, and the real CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_gitops import kustomize

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE_REPOS = PROJECT / "tests" / "fixtures" / "repos"


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


def cli_env(repo: Path, **env: str) -> dict[str, str]:
    """The environment of a CLI run against `repo`: ours without INVOKE_* settings, plus `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    environ.update({"INVOKE_GITOPS_REPO": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}, **env)
    return environ


def run_cli(args: list[str], repo: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `invoke <args>` from the project in a subprocess against `repo`; returns the finished process."""
    return subprocess.run(
        cli_argv(args), capture_output=True, text=True, timeout=timeout, env=cli_env(repo, **env), cwd=repo,
    )


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (lock file excluded) with its bytes: for 'nothing changed' assertions."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def leftovers(root: Path) -> list[str]:
    """Temp or swapped-out folders a render left in `root` (should always be empty)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith((".tmp.", ".old."))) if root.exists() else []
