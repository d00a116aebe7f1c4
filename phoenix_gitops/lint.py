"""Lint manifests that live outside a config repository's layout: files, plain manifest folders and kustomize roots,
through the stages `check` runs (safe YAML loading, the source check, the locked-down kustomize build, strict
schemas of one Kubernetes version, the rule catalogue at one profile's severities).

What is linted, for each PATH:
- a file: its documents (YAML or JSON), read with the safe loader;
- a folder, recursively (hidden folders left out): every folder holding a kustomization is a kustomize root, built
  as `check` builds an overlay (its subfolders are its own business: patches, bases); a root that another root
  found here uses (a base, a component) is checked through that one, not built alone. Every other `*.yaml`/`*.yml`
  file is a plain manifest, unless a kustomize root reads it. The plain manifests of one PATH are one view for the
  rules (a Service and its Deployment in two files meet), as are the file PATHs of one folder. A folder holding a
  `Chart.yaml` is a Helm chart: not read (its templates are not YAML), and `skipped` says so.

The boundary is the git repository around the current folder (the current folder itself outside one): every PATH
must lie inside it (else UsageError), and a kustomization may reach anything inside it and nothing outside
(SRC-PATH, as in `check`). Findings name paths relative to the current folder.

The policies of the boundary's `admission/` folder (`VAP/<policy>`, see `rules.admission`) judge every linted
resource together, as one environment named after the profile; a binding limited to other environments does not
apply. Not checked, and said so in `skipped` (never a silent pass): the other rules that compare environments (lint
has one profile, no environments) and those that read an environment file (`ENVIRONMENT_RULES`: the namespaces an
app may use). Severities are the tool's default policy at `profile`; nothing is cached. A PATH without any Kubernetes
object is an error finding (LINT-NO-OBJECTS), so an empty or mistyped folder never passes.

Usage:
    report = run_lint(["k8s/", "deploy/prod"], Path.cwd(), find_kustomize(), profile="prod")
    report.exit_code      # 0 clean, 1 error findings, 4 a tool failed (as `check`)
    report.findings       # [Finding('K8S-SCHEMA', ..., path='k8s/deployment.yaml', line=12, ...)]
    report.skipped        # {'across environments': ..., 'ISO-NAMESPACE': ...}
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import rules
from .check import ACROSS, CheckReport, EnvSummary, build_failure
from .errors import GitopsError, KustomizeError, UsageError
from .findings import Finding, sort_findings
from .judge import Verdict, judge, parse
from .kube_schemas import SchemaIndex, supported_versions
from .kustomize import Kustomize
from .layout import KUSTOMIZATION_FILES, Environment, Overlay
from .model import Rendered
from .rules.model import View
from .rules.registry import PROFILES
from .sources import Loaded, SourceGraph, is_object, read_plain, read_sources
from .yamlio import YamlError

__all__ = ["ENVIRONMENT_RULES", "ADMISSION_RULES", "LINT_CLUSTER", "run_lint", "boundary"]

ENVIRONMENT_RULES = ("ISO-NAMESPACE",)
ADMISSION_RULES = ("K8S-VAP",)
"""The rules across environments that lint runs: they judge the linted resources as one environment."""
"""Rules that read an environment file (the namespaces it declares for each app): lint has none."""
LINT_CLUSTER = "(lint)"
"""The cluster column of lint's summary: no cluster is known."""
_PLAIN_SUFFIXES = (".yaml", ".yml")
"""Files a folder walk reads as plain manifests (a file named on the command line is read whatever its name)."""
_CHART = "Chart.yaml"

OnDone = Callable[[str], None]
"""Told each linted unit (its label) when it is done, for a progress display."""


@dataclass
class _Unit:
    """One thing to lint: a kustomize root, or plain manifest files seen together."""

    overlay: Overlay
    files: list[Path] = field(default_factory=list)
    """Plain manifest files (empty for a kustomize root)."""
    kustomize: bool = False
    source: Path | None = None
    """The folder PATH it came from (None for file PATHs)."""
    graph: SourceGraph | None = None
    resources: int = 0
    """How many resources it had, once linted."""
    with_objects: set[str] = field(default_factory=set)
    """Its plain files (boundary-relative) that hold a Kubernetes object, once linted."""


def boundary(cwd: Path) -> Path:
    """The folder lint may read in: the git repository around `cwd`, else `cwd` itself."""
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            return folder
    return cwd


def run_lint(paths: Sequence[str], cwd: Path, kustomize: Kustomize, kubernetes_version: str | None = None,
             profile: str = "prod", schemas: SchemaIndex | None = None, on_done: OnDone | None = None) -> CheckReport:
    """Lint `paths` (relative to `cwd`) as the module docstring says. Raises UsageError for a PATH that does not
    exist or lies outside the boundary, an unknown Kubernetes version or profile; never raises for findings."""
    versions = supported_versions()
    version = kubernetes_version or versions[-1]
    if version not in versions:
        raise UsageError(f"no schemas for Kubernetes {version!r}; this install knows {', '.join(versions)}")
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    if not paths:
        raise UsageError("name at least one file or folder to lint")
    cwd = cwd.resolve()
    root = boundary(cwd)
    schemas = schemas or SchemaIndex()
    policy, problems = rules.load_policy()
    report = CheckReport()
    if policy is None:  # the package's own policy: only a broken install gets here
        report.findings += problems
        report.tool_errors.append("the tool's default policy did not load")
        return report
    policy = dataclasses.replace(policy, environments={profile: profile}, default_profile=profile)
    env = Environment(name=profile, cluster=LINT_CLUSTER, server="", kubernetes_version=version, argocd_project="",
                      base_domain="", path=root, repo_root=root)
    units, charts = _units(paths, cwd, root, profile)
    cache: dict[str, Loaded] = {}
    for unit in units:
        if unit.kustomize:
            unit.graph = read_sources(root, unit.overlay, cache, environments=False)
    used = {rel for unit in units if unit.graph is not None for rel in unit.graph.kustomizations[1:]}
    units = [u for u in units if not (u.kustomize and u.graph is not None and u.graph.kustomizations
                                      and u.graph.kustomizations[0] in used)]
    read_by_builds = {rel for u in units if u.graph is not None for rel in u.graph.files}
    judged: dict[str, tuple[View, rules.ViewRules]] = {}
    only = [rule.id for rule in rules.CATALOGUE.values() if rule.id not in ENVIRONMENT_RULES]
    for unit in units:
        if not unit.kustomize:
            unit.files = [f for f in unit.files if _rel(f, root) not in read_by_builds]
            if not unit.files:
                continue  # nothing of its own: every file is read by a build found here (or there is none)
        verdict = _lint_unit(unit, env, root, kustomize, schemas, policy, only, report)
        if verdict is not None and verdict.view is not None and verdict.rules is not None:
            judged[unit.overlay.id] = (verdict.view, verdict.rules)
        if on_done is not None:
            on_done(unit.overlay.app)
    _no_objects(units, paths, cwd, root, report)
    units = [u for u in units if u.kustomize or u.resources]
    for chart in charts:
        report.skipped[_shown(chart, cwd)] = ("a Helm chart (Chart.yaml): its templates are not YAML; render it "
                                              "(`helm template`) and lint the output")
    context = rules.Context(policy, schemas, [env], any_env_name=True)
    own = {overlay_id: result for overlay_id, (_, result) in judged.items()}
    admission = rules.check_across([view for view, _ in judged.values()], own, context, only=ADMISSION_RULES)
    report.findings += admission.findings
    report.tool_errors += admission.tool_errors
    report.suppressions = rules.with_counts(own, admission.counts)
    across = sorted(rule.id for rule in rules.CATALOGUE.values()
                    if rule.scope == "cross-env" and rule.id not in ADMISSION_RULES)
    report.skipped[ACROSS] = f"lint compares no environments ({', '.join(across)} not checked)"
    for rule_id in ENVIRONMENT_RULES:
        report.skipped[rule_id] = "lint has no environment file declaring each app's namespaces"
    report.findings = sort_findings([_relative(f, root, cwd) for f in report.findings])
    report.suppressions = [dataclasses.replace(s, path=_relative_path(s.path, root, cwd)) for s in report.suppressions]
    report.apps = {profile: sorted(unit.overlay.app for unit in units)}
    report.summaries = [EnvSummary(profile, LINT_CLUSTER, version, len(units), sum(u.resources for u in units),
                                   sum(f.severity == "error" for f in report.findings),
                                   sum(f.severity == "warning" for f in report.findings))]
    report.skipped = dict(sorted(report.skipped.items()))
    return report


def _units(paths: Sequence[str], cwd: Path, root: Path, profile: str) -> tuple[list[_Unit], list[Path]]:
    """The kustomize roots and plain manifest groups the PATHs name, and the Helm charts found (not read)."""
    units: list[_Unit] = []
    charts: list[Path] = []
    loose: dict[Path, list[Path]] = {}
    for given in paths:
        if not given:
            raise UsageError("an empty PATH names nothing to lint")
        path = Path(os.path.normpath(cwd / given))
        if not path.exists():
            raise UsageError(f"{given}: no such file or folder")
        real = path.resolve()
        if not real.is_relative_to(root) or not path.is_relative_to(root):
            raise UsageError(f"{given}: outside {root} (the git repository around the current folder, or the "
                             "current folder itself); run lint from a folder that contains it")
        if path.is_file():
            loose.setdefault(path.parent, []).append(path)
            continue
        plain: list[Path] = []
        for folder, kind in _walk(path):
            if kind == "kustomize":
                units.append(_Unit(_overlay(folder, cwd, root, profile), kustomize=True, source=path))
            elif kind == "chart":
                charts.append(folder)
            else:
                plain += sorted(p for p in folder.iterdir() if p.suffix in _PLAIN_SUFFIXES and p.is_file())
        if plain or not any(u.source == path for u in units):
            units.append(_Unit(_overlay(path, cwd, root, profile), plain, source=path))
    for folder, files in loose.items():
        units.append(_Unit(_overlay(folder, cwd, root, profile), sorted(set(files))))
    seen: set[tuple[str, bool]] = set()
    unique = []
    for unit in units:  # the same root named twice (`lint k8s k8s/overlays/prod`) is linted once
        key = (unit.overlay.rel, unit.kustomize)
        if key not in seen or not unit.kustomize:
            seen.add(key)
            unique.append(unit)
    return unique, charts


def _walk(top: Path) -> list[tuple[Path, str]]:
    """(folder, kind) below `top` and itself, sorted: `kustomize` for a kustomize root (not descended), `chart`
    for a Helm chart (not descended), `plain` for any other folder; hidden folders are left out."""
    found: list[tuple[Path, str]] = []
    for folder, subfolders, _ in os.walk(top):
        here = Path(folder)
        if any((here / name).is_file() for name in KUSTOMIZATION_FILES):
            found.append((here, "kustomize"))
            subfolders.clear()
        elif (here / _CHART).is_file():
            found.append((here, "chart"))
            subfolders.clear()
        else:
            found.append((here, "plain"))
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
    return sorted(found)


def _overlay(folder: Path, cwd: Path, root: Path, profile: str) -> Overlay:
    """An Overlay for a linted folder: its app is the folder as the current folder names it (unique per run)."""
    return Overlay(profile, _shown(folder, cwd), folder, _rel(folder, root))


def _lint_unit(unit: _Unit, env: Environment, root: Path, kustomize: Kustomize, schemas: SchemaIndex,
               policy: rules.Policy, only: list[str], report: CheckReport) -> Verdict | None:
    """Lint one unit into `report`; `unit.resources` and `unit.with_objects` say what it held. Returns its verdict
    (None when it was not judged)."""
    overlay = unit.overlay
    if unit.kustomize:
        assert unit.graph is not None
        graph = unit.graph
        graph.findings = rules.retune(graph.findings, policy)
        report.findings += graph.findings
        if not graph.ok:
            report.skipped[overlay.app] = "its sources have errors"
            return None
        try:
            text = kustomize.build(overlay, origins=True, sort_options=graph.sort_options)
        except KustomizeError as err:
            report.findings.append(build_failure(err, graph, env.name))
            report.skipped[overlay.app] = "kustomize could not build it"
            return None
        except GitopsError as err:
            report.tool_errors.append(str(err))
            report.skipped[overlay.app] = "its build failed (a tool failure)"
            return None
        try:
            output = parse(overlay, text, True)
        except YamlError as err:
            report.tool_errors.append(f"{overlay.app}: kustomize printed YAML that cannot be read: {err}")
            report.skipped[overlay.app] = "its build could not be read (a tool failure)"
            return None
    else:
        graph = read_plain(root, overlay, unit.files)
        graph.findings = rules.retune(graph.findings, policy)
        report.findings += graph.findings
        resources, origins = [], []
        for rel, docs in graph.documents.items():
            for doc in docs:
                if is_object(doc.data):
                    resources.append(doc.data)
                    origins.append({"path": rel})
                    unit.with_objects.add(rel)
        if not resources:
            return None
        output = Rendered(overlay, "", tuple(resources), tuple(origins))
    verdict = judge(output, env, graph, schemas, policy, only=only, root=root)
    report.findings += verdict.findings
    if verdict.rules is not None:
        report.tool_errors += verdict.rules.tool_errors
        report.workloads += verdict.rules.workloads
    if verdict.skipped is not None:
        report.skipped[overlay.app] = verdict.skipped
    report.rendered.setdefault(env.name, []).append(output)
    unit.resources = len(output.resources)
    return verdict


def _no_objects(units: list[_Unit], paths: Sequence[str], cwd: Path, root: Path, report: CheckReport) -> None:
    """LINT-NO-OBJECTS for every PATH under which nothing was checked: no Kubernetes object and no kustomize root
    (one that did not build has its own finding), nor a file that did not load (its YAML finding says so)."""
    with_objects = {rel for unit in units for rel in unit.with_objects}
    built = {rel for unit in units if unit.kustomize and unit.graph is not None for rel in unit.graph.files}
    failed = {f.path for f in report.findings if f.severity == "error"}

    def covers(found: set[str], rel: str) -> bool:
        return rel == "." and bool(found) or any(f == rel or f.startswith(f"{rel}/") for f in found)

    for given in paths:
        path = Path(os.path.normpath(cwd / given))
        rel = _rel(path, root)
        if covers(with_objects | built | failed, rel):  # checked (also through a build that reads it), or broken
            continue
        what = "file" if path.is_file() else "folder (and its subfolders)"
        report.findings.append(Finding(
            "LINT-NO-OBJECTS", "error", f"this {what} holds no Kubernetes object (a YAML document with apiVersion "
            "or kind) and no kustomization: nothing was checked", rel))


def _rel(path: Path, root: Path) -> str:
    """`path` relative to the boundary, as the sources and findings name it (`.` for the boundary itself)."""
    return Path(os.path.normpath(path)).relative_to(root).as_posix() or "."


def _shown(path: Path, cwd: Path) -> str:
    return Path(os.path.relpath(path, cwd)).as_posix()


def _relative_path(rel: str, root: Path, cwd: Path) -> str:
    return Path(os.path.relpath(root / rel, cwd)).as_posix()


def _relative(finding: Finding, root: Path, cwd: Path) -> Finding:
    """`finding` with its path relative to the current folder instead of the boundary."""
    return dataclasses.replace(finding, path=_relative_path(finding.path, root, cwd))

