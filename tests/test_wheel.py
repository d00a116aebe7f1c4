"""The distribution: the wheel ships the package data, and the installed program checks a config repository that
is not this source tree, as the pre-commit hooks run it from another repository.

The slow tests build the wheel from a copy of the sources, install it with its pinned dependencies into a fresh
virtual environment (no system or project site-packages, so a file missing from the wheel fails), copy the
shipped configuration elsewhere and run the installed `phoenix-gitops` from a folder inside that copy.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from phoenix_gitops.yamlio import load_file

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = PROJECT / "phoenix_gitops" / "data"
SHIPPED_CONFIG = ("base", "overlays", "gitops.yaml", "schemas/policy.yaml", "rendered", "clusters")
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                     ".hypothesis")
HOOK_FIELDS = {"id", "name", "entry", "language"}
"""The fields pre-commit requires of every hook in .pre-commit-hooks.yaml."""
HOOK_OPTIONAL = {"alias", "files", "exclude", "types", "types_or", "exclude_types", "additional_dependencies", "args",
                 "always_run", "fail_fast", "pass_filenames", "description", "language_version", "log_file",
                 "minimum_pre_commit_version", "require_serial", "stages", "verbose"}
"""The other keys pre-commit knows; anything else is a typo it would ignore."""
SUMMARY_ROWS = (("dev", "dev-1", "1.36"), ("prod", "prod-1", "1.34"), ("staging", "staging-1", "1.35"))


def scripts() -> dict[str, str]:
    """The console scripts pyproject.toml declares: name -> `module:function`."""
    return dict(tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("scripts", {}))


def hooks() -> list[dict[str, object]]:
    (doc,) = load_file(PROJECT / ".pre-commit-hooks.yaml", name=".pre-commit-hooks.yaml")
    assert isinstance(doc.data, list)
    return doc.data


# --- the pre-commit hooks ---------------------------------------------------------------------------


def test_every_hook_has_the_fields_pre_commit_requires_and_no_unknown_ones():
    found = hooks()
    assert [hook["id"] for hook in found] == ["phoenix-gitops-check", "phoenix-gitops-render-check"]
    for hook in found:
        assert set(hook) >= HOOK_FIELDS and set(hook) <= HOOK_FIELDS | HOOK_OPTIONAL, hook
        assert all(isinstance(hook[field], str) and hook[field] for field in HOOK_FIELDS), hook
        assert hook["language"] == "python", "pre-commit must install the project, not rely on the user's PATH"
        assert hook["pass_filenames"] is False, "the program checks the whole repository, not the staged files"


def test_hook_entries_run_the_console_script_pyproject_declares():
    declared = scripts()
    entries = {hook["id"]: str(hook["entry"]).split() for hook in hooks()}
    assert entries == {"phoenix-gitops-check": ["phoenix-gitops", "check"],
                       "phoenix-gitops-render-check": ["phoenix-gitops", "render", "all", "--check"]}
    assert declared.get("phoenix-gitops") == "phoenix_gitops_cli.__main__:run"
    module, _, function = declared["phoenix-gitops"].partition(":")
    assert function and (PROJECT / Path(*module.split("."))).with_suffix(".py").is_file()


@pytest.mark.parametrize(
    ("hook", "path", "runs"),
    [
        ("phoenix-gitops-check", "overlays/prod/api/kustomization.yaml", True),
        ("phoenix-gitops-check", "base/phoenix/deployment.yaml", True),
        ("phoenix-gitops-check", "gitops.yaml", True),
        ("phoenix-gitops-check", "schemas/policy.yaml", True),
        ("phoenix-gitops-check", "rendered/prod/api/release/manifest.yaml", False),
        ("phoenix-gitops-check", "README.md", False),
        ("phoenix-gitops-check", "docs/gitops.yaml", False),
        ("phoenix-gitops-render-check", "rendered/prod/api/release/manifest.yaml", True),
        ("phoenix-gitops-render-check", "clusters/prod/appproject.yaml", True),
        ("phoenix-gitops-render-check", "overlays/dev/environment.yaml", True),
        ("phoenix-gitops-render-check", "README.md", False),
    ],
)
def test_hooks_run_when_a_file_they_judge_changes(hook, path, runs):
    (found,) = [h for h in hooks() if h["id"] == hook]
    assert bool(re.search(str(found["files"]), path)) is runs  # pre-commit matches `files` with re.search


# --- the wheel, installed on its own ----------------------------------------------------------------


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def outside_environment(**extra: str) -> dict[str, str]:
    """Our environment without anything that points at this project or its virtual environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith("INVOKE_")}
    project_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", os.defpath).split(os.pathsep) if p != project_bin)
    env.update(extra)
    return env


class Installed:
    """A fresh virtual environment holding the built wheel, and a copy of the shipped config repository."""

    def __init__(self, root: Path) -> None:
        sources = root / "sources"
        shutil.copytree(PROJECT, sources, ignore=NOT_SOURCES)  # the build writes build/ beside the sources
        built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", sources, "-w", root / "wheel"],
                    root)
        assert built.returncode == 0, built.stderr
        (self.wheel,) = (root / "wheel").glob("phoenix_gitops-*.whl")
        self.venv = root / "venv"
        made = run([sys.executable, "-m", "venv", "--without-pip", self.venv], root)
        assert made.returncode == 0, made.stderr
        self.python = self.venv / "bin" / "python"
        self.env = outside_environment(PHOENIX_GITOPS_CACHE=str(root / "cache"), PYTHONDONTWRITEBYTECODE="1")
        installed = run([sys.executable, "-m", "pip", "--python", self.python, "install", "--quiet", self.wheel],
                        root, self.env)
        assert installed.returncode == 0, installed.stderr
        self.config = root / "config"
        for name in SHIPPED_CONFIG:
            source, target = PROJECT / name, self.config / name
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)

    def program(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return run([self.venv / "bin" / "phoenix-gitops", *args], cwd, self.env)


def assert_clean_check(proc: subprocess.CompletedProcess[str]) -> None:
    """Exit 0 and a summary row per environment: env, cluster, Kubernetes, 2 apps, resources, 0 errors, 0 warnings."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout + proc.stderr
    assert "check summary" in summary and "Traceback" not in summary
    for env, cluster, version in SUMMARY_ROWS:
        assert re.search(rf"\b{env}\W+{cluster}\W+{re.escape(version)}\W+2\W+\d+\W+0\W+0\b", summary), summary


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    return Installed(tmp_path_factory.mktemp("wheel"))


@pytest.mark.slow
def test_the_wheel_ships_every_package_data_file(installed):
    expected = sorted(f"phoenix_gitops/data/{p.relative_to(PACKAGE_DATA).as_posix()}"
                      for p in PACKAGE_DATA.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = sorted(name for name in wheel.namelist() if name.startswith("phoenix_gitops/data/"))
    assert "phoenix_gitops/data/schemas/crds/index.json" in expected
    assert shipped == expected


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_not_these_sources(installed):
    where = "import phoenix_gitops, phoenix_gitops.own_schemas as s; print(phoenix_gitops.__file__); print(s.SCHEMAS)"
    probe = run([installed.python, "-c", where], installed.config, installed.env)
    assert probe.returncode == 0, probe.stderr
    package, schemas = probe.stdout.splitlines()
    site = installed.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert Path(package) == site / "phoenix_gitops" / "__init__.py"
    assert Path(schemas) == site / "phoenix_gitops" / "data" / "schemas"


@pytest.mark.slow
def test_installed_program_checks_the_shipped_config_from_a_folder_inside_it(installed):
    assert_clean_check(installed.program("check", cwd=installed.config / "overlays" / "prod"))


@pytest.mark.slow
def test_installed_program_applies_its_default_policy_to_a_repository_without_one(installed, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(installed.config, config, ignore=shutil.ignore_patterns("schemas"))
    assert_clean_check(installed.program("check", cwd=config / "base"))


@pytest.mark.slow
def test_installed_program_finds_the_committed_render_up_to_date(installed):
    proc = installed.program("render", "all", "--check", cwd=installed.config / "rendered")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"dev, prod, staging: 67 file\(s\) with kustomize v\S+, up to date", proc.stdout), proc.stdout


@pytest.mark.slow
def test_installed_program_refuses_to_regenerate_crd_schemas_into_the_installed_package(installed):
    proc = installed.program("crd-schemas", "--crds-dir", str(PROJECT / "tests" / "fixtures" / "crds"),
                             cwd=installed.config)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not in a source checkout of phoenix-gitops" in proc.stderr and "Traceback" not in proc.stderr
