"""Helpers only the tests need, built on the package's real API.

Usage:
    from support import evaluate, fake_kustomize, fake_overlay, shipped_bootstrap
    result = evaluate(envs, rendered, graphs, all_envs=envs, only={"PHX-V04"}, policy=policy)
    result.findings, result.suppressions, result.tool_errors
    kz = find_kustomize({"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin"))})
    kz.build(fake_overlay(tmp_path, "fail"))      # the fake plays the failure the overlay's name says
    shipped_bootstrap("prod")                      # {path under clusters/prod: bytes}, from the committed rendered/
"""
from __future__ import annotations

import functools
import stat
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phoenix_gitops import bootstrap
from phoenix_gitops.findings import Finding, sort_findings
from phoenix_gitops.kube_schemas import SchemaIndex
from phoenix_gitops.layout import Environment, Overlay, Repo
from phoenix_gitops.model import Rendered
from phoenix_gitops.rules import (
    Context,
    Policy,
    Suppression,
    check_across,
    check_view,
    load_policy,
    view_of,
    with_counts,
)
from phoenix_gitops.rules.model import View
from phoenix_gitops.sources import SourceGraph
from phoenix_gitops.yamlio import load_rendered

__all__ = ["Evaluation", "evaluate", "views_of", "FAKE", "fake_kustomize", "fake_overlay", "shipped_bootstrap"]

PROJECT = Path(__file__).resolve().parent.parent

FAKE = """#!/bin/sh
if [ "$1" = "version" ]; then echo "{version}"; exit 0; fi
for last; do :; done
mode=$(/bin/cat "$last/mode" 2>/dev/null)
case "$mode" in
  hang) exec /bin/sleep 30 ;;
  panic) echo "panic: assignment to entry in nil map" >&2; echo "goroutine 1 [running]:" >&2; exit 2 ;;
  garbage) printf '\\377\\376bad' ;;
  empty) exit 0 ;;
  fail) echo "Error: accumulating resources: $last/missing.yaml: no such file" >&2; exit 1 ;;
  argv) echo "# $*" ;;
  env) /usr/bin/env | /usr/bin/sort ;;
  *) printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: x\\n' ;;
esac
"""
"""A fake kustomize: builds what the `mode` file of the folder it is given says (a batch's folder has none: a
ConfigMap without the overlay marker, which the batch cannot split)."""


def fake_kustomize(folder: Path, name: str = "kustomize", version: str = "v5.9.0") -> Path:
    """The FAKE executable as `folder/name`, answering `version` with `version`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(FAKE.format(version=version))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_overlay(tmp_path: Path, mode: str) -> Overlay:
    """An overlay `prod/<mode>` the FAKE kustomize builds as `mode` says (hang, panic, fail, ...)."""
    path = tmp_path / "repo" / "overlays" / "prod" / mode
    path.mkdir(parents=True)
    (path / "mode").write_text(mode)
    return Overlay("prod", mode, path, f"overlays/prod/{mode}")


def shipped_bootstrap(env_name: str) -> dict[str, bytes]:
    """The bootstrap files of a shipped environment, generated afresh from the committed rendered/ output."""
    repo = Repo(PROJECT)
    apps: dict[str, list[Any]] = {}
    for path in sorted((repo.rendered / env_name).glob("*/*/manifest.yaml")):  # <app>/<phase>/manifest.yaml
        apps.setdefault(path.parent.parent.name, []).extend(load_rendered(path.read_text(encoding="utf-8"), path.name))
    return bootstrap.env_files(repo, repo.environment(env_name), apps)


@dataclass
class Evaluation:
    """What the rules found: findings (suppressed ones removed), the suppressions, and crashed checks."""

    findings: list[Finding] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)


def views_of(envs: Sequence[Environment], rendered: Mapping[str, Sequence[Rendered]],
             graphs: Mapping[Overlay, SourceGraph], policy: Policy, prior: Sequence[Finding] = (),
             schemas: SchemaIndex | None = None) -> list[View]:
    """A view per rendered overlay of `envs`, leaving out overlays (and environments) with error findings."""
    blocked = {(f.env, f.app) for f in prior if f.severity == "error"}
    return [view_of(env, item, functools.partial(graphs.get, item.overlay), policy, schemas)
            for env in envs if (env.name, None) not in blocked
            for item in rendered.get(env.name, []) if (env.name, item.overlay.app) not in blocked]


def evaluate(
    envs: Sequence[Environment],
    rendered: Mapping[str, Sequence[Rendered]],
    graphs: Mapping[Overlay, SourceGraph],
    *,
    all_envs: Sequence[Environment] | None = None,
    prior: Sequence[Finding] = (),
    policy: Policy | None = None,
    schemas: SchemaIndex | None = None,
    only: Collection[str] | None = None,
) -> Evaluation:
    """Every rule of the catalogue (or only the IDs in `only`) over the rendered overlays of `envs`, as
    `check.run_check` runs them: each overlay's own rules, then the rules across environments.

    `all_envs` are every environment of the repository (for V36, which compares environment files; default
    `envs`); `prior` the findings of the earlier stages (overlays with errors there are skipped); `schemas`
    the schema index (for the scope of CRD kinds; a fresh one by default).
    """
    result = Evaluation()
    if policy is None:
        policy, problems = load_policy()
        if policy is None:
            result.findings = problems
            return result
    schemas = schemas or SchemaIndex()
    views = views_of(envs, rendered, graphs, policy, prior, schemas)
    own = {view.overlay.id: check_view(view, policy, only) for view in views}
    across = check_across(views, own, Context(policy, schemas, list(all_envs if all_envs is not None else envs)), only)
    result.findings = sort_findings([f for r in own.values() for f in r.findings] + across.findings)
    result.suppressions = sorted(with_counts(own, across.counts), key=Suppression.sort_key)
    result.tool_errors = [e for r in own.values() for e in r.tool_errors] + across.tool_errors
    return result
