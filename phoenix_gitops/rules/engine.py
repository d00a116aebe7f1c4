"""Run the catalogue over rendered environments: per overlay, per source, and across environments.

An overlay whose sources, build or schemas already produced an error is skipped: the rules read shapes the
schema stage guarantees, so they only say what is certain (like `sources.py` does before kustomize). Each hit
becomes a `Finding` at the source line that set the field (`sourcemap.locate`), with the severity the policy
gives the rule in that environment; `-` drops it. A hit on a resource that carries a valid suppression for the
rule is counted on the suppression instead of reported. A check that crashes is a tool error, never a traceback.

Usage:
    result = evaluate(envs, report.rendered, graphs, all_envs=envs, prior=report.findings)
    result.findings, result.suppressions, result.tool_errors
    apply_to(report, repo, envs, graphs)      # the same, appended to a CheckReport
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

from ..errors import GitopsError
from ..findings import Finding, sort_findings
from ..kube_schemas import SchemaIndex
from ..sourcemap import Location, locate
from .model import Res, View
from .policy import SKIP, Policy, load_policy, policy_file
from .registry import CATALOGUE, Hit, Rule
from .suppress import ANNOTATION, Clause, Suppression, annotated, parse

if TYPE_CHECKING:  # pragma: no cover
    from ..check import CheckReport, Rendered
    from ..layout import Environment, Overlay, Repo
    from ..sources import SourceGraph

__all__ = ["Evaluation", "evaluate", "apply_to", "views_of"]


@dataclass
class Evaluation:
    """What the rules found: findings (suppressed ones removed), the suppressions, and crashed checks."""

    findings: list[Finding] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)


def views_of(
    envs: Sequence["Environment"],
    rendered: Mapping[str, Sequence["Rendered"]],
    graphs: Mapping["Overlay", "SourceGraph"],
    policy: Policy,
    prior: Sequence[Finding] = (),
    schemas: Any = None,
) -> list[View]:
    """A view per rendered overlay of `envs`, leaving out overlays (and environments) with error findings."""
    blocked = {(f.env, f.app) for f in prior if f.severity == "error"}
    views = []
    for env in envs:
        if (env.name, None) in blocked:
            continue
        for item in rendered.get(env.name, []):
            if (env.name, item.overlay.app) in blocked:
                continue
            resources = [Res(data, dict(origin)) for data, origin in zip(item.resources, item.origins)
                         if isinstance(data, dict)]
            views.append(View(env, policy.profile(env.name), item.overlay, resources,
                              functools.partial(_graph, graphs, item.overlay), policy, schemas=schemas))
    return views


def evaluate(
    envs: Sequence["Environment"],
    rendered: Mapping[str, Sequence["Rendered"]],
    graphs: Mapping["Overlay", "SourceGraph"],
    *,
    all_envs: Sequence["Environment"] | None = None,
    prior: Sequence[Finding] = (),
    policy: Policy | None = None,
    schemas: "SchemaIndex | None" = None,
    only: Collection[str] | None = None,
) -> Evaluation:
    """Every rule of the catalogue (or only the IDs in `only`) over the rendered overlays of `envs`.

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
    if schemas is None:
        schemas = SchemaIndex()
    context = _Context(policy, schemas, list(all_envs if all_envs is not None else envs))
    views = views_of(envs, rendered, graphs, policy, prior, schemas)
    raw: list[tuple[Rule, View | None, str, Hit]] = []
    selected = [r for r in CATALOGUE.values() if r.check is not None and (only is None or r.id in only)]
    for view in views:
        for rule in selected:
            if rule.scope in ("rendered", "source") and policy.enabled(rule, view.env.name):
                try:
                    raw += [(rule, view, view.env.name, hit) for hit in rule.check(view)]
                except Exception as err:  # a bug in one check must not hide the others' findings
                    result.tool_errors.append(_crash(rule, view.overlay.id, err))
    for rule in selected:
        if rule.scope == "cross-env":
            try:
                for where, hit in rule.check(views, context):
                    view = where if isinstance(where, View) else None
                    raw.append((rule, view, view.env.name if view else str(where), hit))
            except Exception as err:
                result.tool_errors.append(_crash(rule, "every environment", err))
    entries = _suppressions(views)
    counts = [0] * len(entries)
    for rule, view, env_name, hit in raw:
        severity = policy.severity(rule, env_name, hit.condition)
        if severity == SKIP:
            continue
        if view is not None and hit.res is not None and rule.suppressible:
            index = next((i for i, (v, r, clause, _) in enumerate(entries)
                          if v is view and r is hit.res and rule.id in clause.rules), None)
            if index is not None:
                counts[index] += 1
                continue
        result.findings.append(_finding(rule, severity, view, env_name, hit))
    for (view, res, clause, where), count in zip(entries, counts):
        result.suppressions.append(Suppression(
            clause.rules, clause.reason, where.path, where.line, where.col, env=view.env.name, app=view.overlay.app,
            resource=res.label, suppressed=count,
        ))
    result.findings = sort_findings(result.findings)
    result.suppressions.sort(key=Suppression.sort_key)
    return result


def apply_to(report: "CheckReport", repo: "Repo", envs: Sequence["Environment"],
             graphs: Mapping["Overlay", "SourceGraph"], schemas: "SchemaIndex | None" = None) -> None:
    """Evaluate the catalogue for a check run and add its findings, suppressions and tool errors to `report`.

    The policy is the repository's `schemas/policy.yaml` (the tool's own when the repository has none); a policy
    file with errors is reported (POLICY-FILE) and no rule runs."""
    policy, problems = load_policy(*policy_file(repo.root))
    if policy is None:
        report.findings += problems
        return
    result = evaluate(envs, report.rendered, graphs, all_envs=_all_envs(repo, envs), prior=report.findings,
                      policy=policy, schemas=schemas)
    report.findings += result.findings
    report.suppressions += result.suppressions
    report.tool_errors += result.tool_errors


@dataclass
class _Context:
    """What cross-environment checks get besides the views."""

    policy: Policy
    schemas: Any
    envs: list["Environment"]


_Entry = tuple[View, Res, Clause, Location]


def _suppressions(views: Sequence[View]) -> list[_Entry]:
    """(view, resource, clause, where the annotation is) for every valid suppression clause."""
    found: list[_Entry] = []
    for view in views:
        for res, value in annotated(view):
            where = _locate(view, res, ("metadata", "annotations", ANNOTATION))
            found += [(view, res, clause, where) for clause in parse(value)[0]]
    return found


def _graph(graphs: Mapping["Overlay", "SourceGraph"], overlay: "Overlay") -> "SourceGraph | None":
    """The overlay's graph; `check` passes a mapping that reads it on first access (cached overlays skip that)."""
    try:
        return graphs[overlay]
    except KeyError:
        return None


def _finding(rule: Rule, severity: str, view: View | None, env_name: str, hit: Hit) -> Finding:
    if view is None:
        where = hit.location or Location(f"overlays/{env_name}", None, None)
        return Finding(rule.id, severity, hit.message, where.path, where.line, where.col, env=env_name)
    if hit.location is not None:
        where = hit.location
    elif hit.at is not None:
        where = _locate(view, *hit.at)
    elif hit.res is not None:
        where = _locate(view, hit.res, hit.path)
    else:
        where = _overlay_location(view)
    resource = hit.res.label if hit.res is not None else None
    return Finding(rule.id, severity, hit.message, where.path, where.line, where.col, env=env_name,
                   app=view.overlay.app, resource=resource)


def _locate(view: View, res: Res, path: tuple[str | int, ...]) -> Location:
    if view.graph is None:
        return _overlay_location(view)
    try:
        return _json_patch_op(view, res, path) or locate(view.graph, res.data, path, res.origin)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):  # a shape the schema stage did not vouch for
        return _overlay_location(view)


def _json_patch_op(view: View, res: Res, path: tuple[str | int, ...]) -> Location | None:
    """The JSON 6902 `add`/`replace` operation (outermost overlay first) that wrote `path` or a parent of it.

    `sourcemap.locate` matches strategic-merge patches and source documents; a field a JSON patch added exists in
    neither, so without this the finding would point at the unrelated base line of its parent."""
    assert view.graph is not None
    for patch in view.graph.patches:
        if not isinstance(patch.doc.data, list) or patch.target_kind != res.kind or (
                patch.target_name and patch.target_name not in res.name):
            continue
        for index, op in enumerate(patch.doc.data):
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace") or not isinstance(op.get("path"), str):
                continue
            parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            if len(parts) <= len(path) and all(a == "-" and isinstance(b, int) or a == str(b)
                                                for a, b in zip(parts, path)):
                return Location(patch.doc.source, *patch.doc.position((index, "value") if "value" in op else (index,)))
    return None


def _overlay_location(view: View) -> Location:
    if view.graph is not None and view.graph.kustomizations:
        return Location(view.graph.kustomizations[0], None, None)
    return Location(view.overlay.rel, None, None)


def _all_envs(repo: "Repo", envs: Sequence["Environment"]) -> list["Environment"]:
    """Every environment of the repo whose file loads (the selected ones already did)."""
    loaded = {env.name: env for env in envs}
    for name in repo.env_names():
        if name not in loaded:
            try:
                loaded[name] = repo.environment(name)
            except GitopsError:
                continue
    return [loaded[name] for name in sorted(loaded)]


def _crash(rule: Rule, where: str, err: Exception) -> str:
    # Only the exception type: a message could quote a value from a resource, and values may be secrets.
    return f"rule {rule.id} failed on {where} ({type(err).__name__}); its findings are missing from this report"
