"""Admission rules at pull-request time: the CEL rules of CRDs (`K8S-CEL`) and the repository's own
ValidatingAdmissionPolicies in `admission/` (`K8S-VAP`, findings `VAP/<policy name>`).

`K8S-CEL` runs on each overlay's rendered output (cached with it); `K8S-VAP` runs across environments, since a policy
reads a whole environment: the labels of its Namespaces, params rendered in other overlays. The evaluation is
`phoenix_gitops.admission`; this module turns its results into hits at the resource's source line, or at the
field the expression names.

Usage:
    from phoenix_gitops.rules import admission
    list(admission.crd_cel(view))                    # a Hit per CRD rule that fails on the overlay's resources
    list(admission.vap(views, context))              # (view or environment name, Hit) per policy finding
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..admission import crd_rules, policies
from ..findings import json_path
from ..sourcemap import Location
from .model import View
from .registry import Hit, rule

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Context

__all__ = ["crd_cel", "vap", "CONDITIONS", "input_files"]

CONDITIONS = {"Deny": None, "Warn": "warn", "Audit": "audit"}
"""A binding's strongest validation action -> the condition of `K8S-VAP` that gives the finding's severity."""
_CEL = {"default": "error", "transition": "info"}
_VAP = {"default": "error", "warn": "warning", "audit": "info", "unbound": "info"}


@rule(
    "K8S-CEL", family="general", suppressible=False, conditions=("transition",),
    defaults=(_CEL, _CEL, _CEL),
    title="Custom resources pass the CEL validation rules of their CRD",
    why="""The strict schemas check the structure of a custom resource; its CRD also carries CEL rules
    (`x-kubernetes-validations`) that the API server evaluates when the resource is created: an HTTPRoute
    `backendRef` to a Service needs a `port`, a Gateway's listener names must be unique, a SecretStore provider needs
    one of its auth fields. A resource that breaks one passes every other check and is refused at sync time.""",
    fix="""Change the resource as the message says (it is the CRD's own message). The finding points at the field
    the rule is about (or its `fieldPath`). Rules that compare with the previous version (`oldSelf`, update-only)
    cannot be checked before the resource exists: they are counted in an info finding on the resource.""",
    interpretation="""Each rule is evaluated as the API server evaluates it on create: `self` is the field's value
    after the schema's defaults are filled in, with property names escaped as Kubernetes escapes them
    (`__namespace__`); the message is the result of the rule's `messageExpression`, else its `message`, else
    `failed rule: <rule>`. A rule that
    cannot be evaluated (an error, or the cost limit) is reported too. The rules come from the bundled CRD schemas
    (`invoke crd-schemas` keeps them there); the library and its limits are in the README (Admission policies in
    the pull request). The API server refuses the resource whatever an annotation says, so no annotation may
    suppress it.""",
)
def crd_cel(view: View) -> Iterator[Hit]:
    for res in view.resources:
        schema = crd_rules.CrdSchema.find(res.api_version, res.kind)
        if schema is None:
            continue
        outcome = schema.check(res.data)
        for problem in outcome.problems:
            yield Hit(res, problem.path, f"{json_path(problem.path)}: {problem.message}")
        if outcome.transition:
            yield Hit(res, (), f"{outcome.transition} transition rule(s) of the {res.kind} CRD not checked: they "
                      "compare with the previous version (oldSelf) and only apply to updates", condition="transition")


@rule(
    "K8S-VAP", scope="cross-env", family="general", conditions=("warn", "audit", "unbound"),
    defaults=(_VAP, _VAP, _VAP),
    title="Resources pass the clusters' ValidatingAdmissionPolicies (admission/)",
    why="""The clusters enforce ValidatingAdmissionPolicies that a pull request otherwise never sees: a change that
    breaks one is refused when Argo CD or Flux syncs it. The platform team keeps them in `admission/` exactly as
    applied to the clusters, and each environment's rendered resources are judged by them here; a team adds a rule
    of its own by adding a policy, without touching this tool. Each finding's ID is `VAP/<policy name>`; this entry
    (`K8S-VAP`) is what the policy file and suppressions name.""",
    fix="""Change the resource as the policy's message says; the finding points at the resource, or at the field
    its expression names. A finding about `admission/` itself (a file that does not parse, an expression that does
    not compile, a binding to a missing policy or environment) points at its line there: fix the policy.""",
    interpretation="""Severity: a binding's `validationActions` Deny gives an error, Warn a warning (condition
    `warn`), Audit an info (`audit`). An expression that fails at run time follows the policy's `failurePolicy`:
    Fail reports it with the binding's action, Ignore as a warning (the cluster would let the resource through
    unchecked). An expression over the cost limit and any problem of the `admission/` files is an error; a policy
    without a binding is an info (`unbound`). A binding applies to every environment unless its annotation
    `phoenix-gitops/environments` lists some. Suppress with `K8S-VAP: <reason naming the policy>`: the annotation
    names the rule `K8S-VAP`, which covers every policy's findings on that resource; the policy's `unsuppressible`
    list may name `K8S-VAP` to forbid it.""",
)
def vap(views: Sequence[View], context: Context) -> Iterator[tuple[View | str, Hit]]:
    if not context.envs:
        return
    names = tuple(env.name for env in context.envs)
    admission = _load(context.envs[0].repo_root, None if context.any_env_name else names)
    here = sorted({view.env.name for view in views}) or [names[0]]
    for problem in admission.problems:
        yield here[0], Hit(None, (), problem.message, location=Location(problem.path, problem.line, problem.col),
                           rule=f"VAP/{problem.policy}" if problem.policy else None)
    bound = {binding.policy for binding in admission.bindings}
    for policy in admission.policies.values():
        if policy.name not in bound:
            yield here[0], Hit(None, (), f"ValidatingAdmissionPolicy {policy.name} has no binding: it checks nothing",
                               condition="unbound", location=Location(policy.path, policy.line, 1),
                               rule=f"VAP/{policy.name}")
    by_env: dict[str, list[View]] = {}
    for view in views:
        by_env.setdefault(view.env.name, []).append(view)
    for env, env_views in sorted(by_env.items()):
        resources = [(res.data, (view, res)) for view in env_views for res in view.resources]
        for result in admission.evaluate(env, resources, [data for data, _ in resources]):
            view, res = result.resource
            yield view, Hit(res, result.path, result.message, condition=CONDITIONS[result.action],
                            rule=f"VAP/{result.policy}")


def input_files(root: Path) -> list[str]:
    """The files of `admission/` that `vap` reads, relative to the repository root (the cache of the rules across
    environments is keyed by them)."""
    return policies.files(root)


_LOADED: dict[tuple[str, tuple[str, ...] | None], tuple[Any, policies.Admission]] = {}
"""`admission/` as loaded, by (repository, environments), with the files' versions it was loaded from."""


def _load(root: Path, envs: tuple[str, ...] | None) -> policies.Admission:
    """`policies.load`, once per version of the files (the rules across environments may run more than once)."""
    folder = root / policies.FOLDER
    version: list[tuple[str, int, int]] = []
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            try:
                stat = path.stat()
            except OSError:
                continue
            version.append((os.fspath(path), stat.st_size, stat.st_mtime_ns))
    key = (os.fspath(root), envs)
    cached = _LOADED.get(key)
    if cached is None or cached[0] != version:
        if len(_LOADED) > 16:
            _LOADED.clear()
        _LOADED[key] = (version, policies.load(root, envs))
    return _LOADED[key][1]
