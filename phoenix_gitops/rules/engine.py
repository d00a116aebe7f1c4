"""Run the catalogue over rendered environments: per overlay, per source, and across environments.

The rules run over every resource of a build, those that failed their schema included, so they never trust a
shape (`rules.model.as_dict`/`as_list`); only an overlay whose sources or build failed has nothing to run them
on, and the report lists it as skipped. Before the rules, every workload is classified (`rules.workloads`). Each hit
becomes a `Finding` at the source line that set the field (`sourcemap.locate`), with the severity the policy
gives the rule in that environment; `-` drops it. A hit on a resource that carries a valid suppression for the
rule (one the policy lets an annotation make: `Policy.suppressible`) is kept on the suppression (`hidden`) instead
of reported, so that every report can still show it as suppressed. A check that crashes is a tool error, never a
traceback.

The two halves run apart so that `check` can cache each overlay's own result: `check_view` runs the rules about
one overlay (a function of that overlay's build, sources and the policy alone), `check_across` the rules that
compare environments, keeping their suppressed hits for the overlays' suppressions.

Usage:
    view = view_of(env, rendered, graph, policy, schemas)  # the rules' view of one overlay's build
    own = check_view(view, policy)                         # ViewRules: findings, suppressions, targets
    across = check_across(views, {view.overlay.id: own}, Context(policy, schemas, envs))
    suppressions = with_counts(own_by_id, across.counts)  # each suppression with every finding it hid
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GitopsError
from ..findings import Finding, sort_findings
from ..model import Origin, Output, Rendered
from ..sourcemap import Location, locate
from .model import JsonPath, Res, View
from .policy import SKIP, Policy
from .registry import CATALOGUE, Hit, Rule
from .suppress import ANNOTATION, Suppression, annotated, parse
from .workloads import records

if TYPE_CHECKING:  # pragma: no cover
    from ..layout import Environment, Repo

__all__ = ["ViewRules", "AcrossRules", "Context", "check_view", "check_across", "with_counts", "view_of", "all_envs"]


@dataclass
class ViewRules:
    """What the rules about one overlay found: findings, the overlay's suppressions with the hits they took, the
    resource each suppression is on (its index in `view.resources`), checks that crashed, and the overlay's
    workloads as classified (`rules.workloads.records`)."""

    findings: list[Finding] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AcrossRules:
    """What the cross-environment rules found; `counts` are (overlay id, suppression index, the fields of a finding
    it hid), one per suppressed hit, plain data so that they can be cached as they are."""

    findings: list[Finding] = field(default_factory=list)
    counts: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What cross-environment checks get besides the views: the policy, the schema index, every environment."""

    policy: Policy
    schemas: Any
    envs: list[Environment]
    any_env_name: bool = False
    """A name in a binding's environments annotation need not be one of `envs` (lint: one profile, whose
    environments are unknown)."""


def view_of(env: Environment, output: Output, graph: Any, policy: Policy, schemas: Any = None,
            origins: Callable[[int], Origin] | None = None) -> View:
    """The rules' view of one overlay's build; `graph` is its SourceGraph or a callable that reads it. A
    `Rendered` build brings its resources' origins; for a plain `Output`, `origins(index)` answers for the
    resource at `index` when a rule or a finding's location reads it (see `judge.OriginRequests`).
    """
    if isinstance(output, Rendered):
        resources = [Res(data, dict(origin)) for data, origin in zip(output.resources, output.origins, strict=True)
                     if isinstance(data, dict)]
    elif origins is not None:
        resources = [Res(data, functools.partial(origins, index))
                     for index, data in enumerate(output.resources) if isinstance(data, dict)]
    else:
        raise ValueError(f"{output.overlay.id} was built without origins and there is no way to get them")
    return View(env, policy.profile(env.name), output.overlay, resources, graph, policy, schemas=schemas)


def check_view(view: View, policy: Policy, only: Collection[str] | None = None) -> ViewRules:
    """The rules about one overlay (scope `rendered` and `source`) over `view`."""
    result = ViewRules()
    try:
        result.workloads = records(view)
    except Exception as err:  # like a crashing rule: said, never a traceback
        result.tool_errors.append(f"classifying the workloads of {view.overlay.id} failed ({type(err).__name__}); "
                                  "its workloads are missing from this report")
    for res, value in annotated(view):
        where = _locate(view, res, ("metadata", "annotations", ANNOTATION))
        target = next(i for i, r in enumerate(view.resources) if r is res)
        for clause in parse(value, policy)[0]:
            result.suppressions.append(Suppression(
                clause.rules, clause.reason, where.path, where.line, where.col, env=view.env.name,
                app=view.overlay.app, resource=res.label))
            result.targets.append(target)
    hidden: list[list[Finding]] = [[] for _ in result.suppressions]
    for rule in _selected(only):
        if rule.scope not in ("rendered", "source") or not policy.enabled(rule, view.env.name):
            continue
        try:
            hits = list(rule.check(view))  # type: ignore[misc]
        except Exception as err:  # a bug in one check must not hide the others' findings
            result.tool_errors.append(_crash(rule, view.overlay.id, err))
            continue
        for hit in hits:
            severity = policy.severity(rule, view.env.name, hit.condition)
            if severity == SKIP:
                continue
            finding = _finding(rule, severity, view, view.env.name, hit)
            index = _suppression_for(rule, view, hit, result)
            if index is None:
                result.findings.append(finding)
            else:
                hidden[index].append(finding)
    result.suppressions = [dataclasses.replace(s, hidden=tuple(sort_findings(found)))
                           for s, found in zip(result.suppressions, hidden, strict=True)]
    return result


def check_across(views: Sequence[View], own: Mapping[str, ViewRules], context: Context,
                 only: Collection[str] | None = None) -> AcrossRules:
    """The rules that compare environments over every view; suppressed hits are kept for `own`'s suppressions
    (keyed by overlay id) in `counts` instead of reported."""
    result = AcrossRules()
    for rule in _selected(only):
        if rule.scope != "cross-env":
            continue
        try:
            hits = list(rule.check(views, context))  # type: ignore[misc]
        except Exception as err:
            result.tool_errors.append(_crash(rule, "every environment", err))
            continue
        for where, hit in hits:
            view = where if isinstance(where, View) else None
            env_name = view.env.name if view else str(where)
            severity = context.policy.severity(rule, env_name, hit.condition)
            if severity == SKIP:
                continue
            finding = _finding(rule, severity, view, env_name, hit)
            index = _suppression_for(rule, view, hit, own.get(view.overlay.id)) if view is not None else None
            if index is None:
                result.findings.append(finding)
            else:
                assert view is not None
                result.counts.append((view.overlay.id, index, dataclasses.asdict(finding)))
    return result


def with_counts(own: Mapping[str, ViewRules], counts: Iterable[tuple[str, int, Mapping[str, Any]]]
                ) -> list[Suppression]:
    """Every suppression of `own` with the cross-environment findings in `counts` added to those it hid."""
    extra: dict[tuple[str, int], list[Finding]] = {}
    for overlay_id, index, fields in counts:
        extra.setdefault((overlay_id, index), []).append(Finding(**fields))
    return [dataclasses.replace(s, hidden=tuple(sort_findings([*s.hidden, *extra.get((overlay_id, index), ())])))
            for overlay_id, result in own.items() for index, s in enumerate(result.suppressions)]


def all_envs(repo: Repo, envs: Sequence[Environment]) -> list[Environment]:
    """Every environment of the repo whose file loads (the selected ones already did)."""
    loaded = {env.name: env for env in envs}
    for name in repo.env_names():
        if name not in loaded:
            try:
                loaded[name] = repo.environment(name)
            except GitopsError:
                continue
    return [loaded[name] for name in sorted(loaded)]


def _selected(only: Collection[str] | None) -> list[Rule]:
    return [r for r in CATALOGUE.values() if r.check is not None and (only is None or r.id in only)]


def _suppression_for(rule: Rule, view: View, hit: Hit, own: ViewRules | None) -> int | None:
    """The index of the first suppression of `own` that is on the hit's resource and names the rule, if any."""
    if own is None or hit.res is None or not rule.suppressible:
        return None
    return next((i for i, (s, target) in enumerate(zip(own.suppressions, own.targets, strict=True))
                 if view.resources[target] is hit.res and rule.id in s.rules), None)


def _finding(rule: Rule, severity: str, view: View | None, env_name: str, hit: Hit) -> Finding:
    """The finding of `hit`, under the hit's own ID when it names one (`VAP/<policy>`), else the rule's."""
    rule_id = hit.rule or rule.id
    if view is None:
        where = hit.location or Location(f"overlays/{env_name}", None, None)
        return Finding(rule_id, severity, hit.message, where.path, where.line, where.col, env=env_name)
    if hit.location is not None:
        where = hit.location
    elif hit.at is not None:
        where = _locate(view, *hit.at)
    elif hit.res is not None:
        where = _locate(view, hit.res, hit.path)
    else:
        where = _overlay_location(view)
    resource = hit.res.label if hit.res is not None else None
    return Finding(rule_id, severity, hit.message, where.path, where.line, where.col, env=env_name,
                   app=view.overlay.app, resource=resource)


def _locate(view: View, res: Res, path: JsonPath) -> Location:
    if view.graph is None:
        return _overlay_location(view)
    try:
        return _json_patch_op(view, res, path) or locate(view.graph, res.data, path, res.origin)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):  # a shape the schema stage did not vouch for
        return _overlay_location(view)


def _json_patch_op(view: View, res: Res, path: JsonPath) -> Location | None:
    """The JSON 6902 operation (outermost overlay first) that made `path` what it is: an `add`/`replace` of `path`
    or of a parent of it (at the field inside the operation's value when it is there), an append to the list
    `path` names (`/volumes/-`), or a `remove` below `path` (a finding about what is missing there).

    `sourcemap.locate` matches strategic-merge patches and source documents; what a JSON patch wrote or removed is
    in neither, so without this the finding would point at the unrelated base line of its parent."""
    assert view.graph is not None
    for patch in view.graph.patches:
        if not isinstance(patch.doc.data, list) or patch.target_kind != res.kind or (
                patch.target_name and patch.target_name not in res.name):
            continue
        for index, op in enumerate(patch.doc.data):
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                continue
            parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            if op.get("op") == "remove":
                if len(parts) > len(path) and _names(parts, path):
                    return Location(patch.doc.source, *patch.doc.position((index,)))
                continue
            if op.get("op") not in ("add", "replace"):
                continue
            if parts and parts[-1] == "-" and len(parts) == len(path) + 1:
                parts = parts[:-1]  # an append to the list the finding names
            if len(parts) <= len(path) and _names(parts, path):
                if "value" not in op:
                    return Location(patch.doc.source, *patch.doc.position((index,)))
                inside = tuple(path[len(parts):])
                at = (index, "value", *inside) if _holds(op["value"], inside) else (index, "value")
                return Location(patch.doc.source, *patch.doc.position(at))
    return None


def _names(parts: Sequence[str], path: JsonPath) -> bool:
    """Whether the JSON pointer `parts` and `path` agree where both go (`-` stands for any list index)."""
    return all(a == "-" and isinstance(b, int) or a == str(b) for a, b in zip(parts, path, strict=False))


def _holds(value: Any, path: JsonPath) -> bool:
    """Whether `path` leads somewhere inside `value`."""
    for key in path:
        in_dict = isinstance(value, dict) and key in value
        if not (in_dict or isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)):
            return False
        value = value[key]
    return True


def _overlay_location(view: View) -> Location:
    if view.graph is not None and view.graph.kustomizations:
        return Location(view.graph.kustomizations[0], None, None)
    return Location(view.overlay.rel, None, None)


def _crash(rule: Rule, where: str, err: Exception) -> str:
    # Only the exception type: a message could quote a value from a resource, and values may be secrets.
    return f"rule {rule.id} failed on {where} ({type(err).__name__}); its findings are missing from this report"
