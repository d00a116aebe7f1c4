"""The `gitops.*` settings (invoke.yaml, `INVOKE_GITOPS_<KEY>`), checked once into typed values.

Every setting is read and validated here and nowhere else: a bad value is a UsageError (exit 2) naming the
setting and its environment variable. `DEFAULTS` are the values when neither invoke.yaml nor a variable sets
one; the task collection carries them, so `INVOKE_GITOPS_*` variables work in any config repository.

Where the config repository is: `gitops.repo` when set (relative to the folder of the invoke.yaml that holds
the tasks' settings, else to the current folder), else the nearest folder at or above the current one that
holds `overlays/` or `gitops.yaml`.

Usage:
    settings = Settings.of(c)                # c: the invoke Context of a task
    repo, kz = settings.repo(), settings.kustomize()
    jobs = settings.jobs_or(jobs)            # a task's --jobs (-1: not given) or gitops.jobs
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context

from phoenix_gitops import diff, edit, kustomize, layout, scaffold
from phoenix_gitops.errors import UsageError

__all__ = ["DEFAULTS", "SECTION", "Settings", "find_repo_root"]

SECTION = "gitops"
"""The invoke configuration section of the settings: `gitops.jobs` is `INVOKE_GITOPS_JOBS`."""
DEFAULTS: dict[str, Any] = {
    "repo": "",
    "kustomize_timeout": kustomize.DEFAULT_TIMEOUT,
    "jobs": 0,
    "digest_envs": list(edit.DEFAULT_DIGEST_ENVS),
    "diff_base": diff.DEFAULT_BASE_BRANCH,
    "image_prefix": scaffold.DEFAULT_IMAGE_PREFIX,
}
NOT_GIVEN = -1
"""A task's `--jobs` default: take `gitops.jobs`."""


def find_repo_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds `overlays/` or `gitops.yaml`, or None."""
    for folder in (start, *start.parents):
        if (folder / "overlays").is_dir() or (folder / layout.SETTINGS_FILE).is_file():
            return folder
    return None


def _problem(key: str, value: object, wanted: str) -> UsageError:
    return UsageError(f"{SECTION}.{key} = {value!r} (invoke.yaml or INVOKE_{SECTION.upper()}_{key.upper()}): "
                      f"{wanted}")


def _seconds(key: str, value: object) -> float:
    try:
        seconds = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise _problem(key, value, "a number of seconds above 0")
    return seconds


def _count(key: str, value: object) -> int:
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise _problem(key, value, "a whole number, 0 or more")
    return int(text)


def _names(key: str, value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise _problem(key, value, "a list of environment names (in a variable: comma-separated)")
    return tuple(item.strip() for item in items if item.strip())


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _problem(key, value, "a non-empty string")
    return value.strip()


@dataclass(frozen=True)
class Settings:
    """The checked `gitops.*` settings; `project` is the folder relative `repo` values start from."""

    repo_setting: str
    project: Path | None
    kustomize_timeout: float
    jobs: int
    digest_envs: tuple[str, ...]
    diff_base: str
    image_prefix: str

    @classmethod
    def load(cls, values: Mapping[str, Any], project: Path | None) -> Settings:
        """Check `values` (the `gitops` section; missing keys take `DEFAULTS`); raises UsageError on a bad one."""
        merged = {**DEFAULTS, **values}
        repo = merged["repo"]
        if not isinstance(repo, str):
            raise _problem("repo", repo, "a folder path")
        return cls(
            repo_setting=repo.strip(),
            project=project,
            kustomize_timeout=_seconds("kustomize_timeout", merged["kustomize_timeout"]),
            jobs=_count("jobs", merged["jobs"]),
            digest_envs=_names("digest_envs", merged["digest_envs"]),
            diff_base=_text("diff_base", merged["diff_base"]),
            image_prefix=_text("image_prefix", merged["image_prefix"]),
        )

    @classmethod
    def of(cls, c: Context) -> Settings:
        """The settings of a task's context: its `gitops` section, relative to the project's invoke.yaml."""
        prefix = getattr(c.config, "_project_prefix", None)  # set by invoke where it found the tasks' invoke.yaml
        section = c.config.get(SECTION) or {}
        return cls.load(dict(section), Path(prefix) if prefix else None)

    def repo_root(self, cwd: Path | None = None) -> Path:
        """The config repository's folder (see the module docstring); raises UsageError when there is none."""
        here = (cwd or Path.cwd()).resolve()
        if self.repo_setting:
            return (self.project or here) / self.repo_setting
        found = find_repo_root(here)
        if found is None:
            raise UsageError(f"no config repository at or above {here} (a folder with overlays/ or "
                             f"{layout.SETTINGS_FILE}); run in one or set INVOKE_{SECTION.upper()}_REPO")
        return found

    def repo(self) -> layout.Repo:
        """The config repository; raises UsageError when there is none or it has no `overlays/`."""
        return layout.Repo(self.repo_root())

    def kustomize(self) -> kustomize.Kustomize:
        """The kustomize to build with, under `kustomize_timeout`; raises ToolError when none fits."""
        return kustomize.find_kustomize(timeout=self.kustomize_timeout)

    def jobs_or(self, given: int) -> int | None:
        """Parallel builds: a task's `--jobs` when given, else `gitops.jobs`; None (one per CPU) for 0."""
        return (self.jobs if given == NOT_GIVEN else given) or None
