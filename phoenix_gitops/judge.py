"""Judging one overlay's build: parse what kustomize printed, validate every resource against the strict schema
of its environment's Kubernetes version (or its CRD schema), then run the overlay's own rules.

Every problem is reported at once: a schema error, a removed apiVersion or an unknown kind in one resource does
not stop the validation of the others, nor the rules, which read every resource of the build (they never trust a
shape: `rules.model.as_dict`/`as_list`). A custom resource whose CRD has no schema here is not validated: one
K8S-UNKNOWN-CRD warning per kind says so (with how many resources it covers and how to add the schema).

A finding is put at the source line that set the field, which needs the origin of its resource: a `Rendered`
build has them, a plain `Output` does not. Judging a plain output says so instead of guessing: its verdict
`needs_origins` when a schema problem or a rule's hit has to be located, a suppression has to be placed, or a
rule asked for an origin. The overlay is then built again with origins and judged from that build; the schema
problems found the first time are kept (`verdict.problems`), so only their locations are worked out again.

Usage:
    output = parse(overlay, kustomize_text, with_origins=False)       # Output (Rendered with origins)
    verdict = judge(output, env, graph, schemas, policy)
    if verdict.needs_origins:
        verdict = judge(parse(overlay, text_with_origins, True), env, graph, schemas, policy, verdict.problems)
    verdict.findings, verdict.rules           # the overlay's findings; its rule result (suppressions too)
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from . import rules
from .findings import Finding, json_path
from .kube_schemas import Problem, SchemaIndex, supported_versions
from .kustomize import ORIGIN, strip_annotations
from .layout import Environment, Overlay
from .model import Origin, Output, Rendered
from .rules.model import View
from .sourcemap import locate, origin_of
from .sources import SourceGraph
from .yamlio import YamlError, load_rendered

__all__ = ["MAX_RENDERED_BYTES", "Verdict", "OriginRequests", "parse", "judge"]

MAX_RENDERED_BYTES = 64 * 1024 * 1024
"""Largest kustomize output accepted for one overlay (Argo CD's own cap is 10 MB per directory app)."""

SchemaProblems = list[tuple[int, Problem]]
"""Schema problems of a build: (index of the resource, problem)."""


@dataclass
class Verdict:
    """What judging one build found."""

    findings: list[Finding] = field(default_factory=list)
    """Schema problems at their source lines, then the overlay's own rules' findings."""
    problems: SchemaProblems = field(default_factory=list)
    """The schema problems (also before they are located)."""
    view: View | None = None
    """The rules' view of the build (when they ran), for the rules across environments."""
    rules: rules.ViewRules | None = None
    """The own rules' result (None when they did not run: no policy, no schemas)."""
    skipped: str | None = None
    """Why the own rules did not run (None when they ran, or when the build is to be judged again)."""
    requests: OriginRequests | None = None
    """What `view` reads in place of origins (None for a `Rendered` build)."""
    needs_origins: bool = False
    """The build has no origins and something needs them: judge the build with origins instead."""


class OriginRequests:
    """Stands in for the origins of a build made without them: answers an empty origin and remembers that
    something asked (whatever it computed from that answer is then dropped)."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, index: int) -> Origin:
        self.asked = True
        return {}


@overload
def parse(overlay: Overlay, text: str, with_origins: Literal[True]) -> Rendered: ...
@overload
def parse(overlay: Overlay, text: str, with_origins: bool) -> Output: ...
def parse(overlay: Overlay, text: str, with_origins: bool) -> Output:
    """A build's output parsed; with origins, their annotations are taken out of the text and the resources
    (the text is then byte-identical to a plain build). Raises YamlError when it cannot be read."""
    resources = load_rendered(text, f"rendered/{overlay.id}", max_bytes=MAX_RENDERED_BYTES)
    if not all(isinstance(resource, dict) for resource in resources):
        raise YamlError(f"rendered/{overlay.id}", None, None, "YAML-SYNTAX", "a document is not a mapping")
    if not with_origins:
        return Output(overlay, text, tuple(resources))
    origins = []
    for resource in resources:
        origins.append(origin_of(resource))
        metadata = resource.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        annotations.pop(ORIGIN, None)
        if "annotations" in metadata and not annotations:
            del metadata["annotations"]
    return Rendered(overlay, strip_annotations(text), tuple(resources), tuple(origins))


def judge(output: Output, env: Environment, graph: SourceGraph, schemas: SchemaIndex, policy: rules.Policy | None,
          problems: SchemaProblems | None = None, only: Collection[str] | None = None,
          root: Path | None = None) -> Verdict:
    """The schema problems of `output` and its own rules' findings (`problems` are those of an earlier judgement of
    the same text, which need not be validated again). Nothing is judged for a Kubernetes version without schemas
    (`check` reports that once per environment). `only` limits the rules to those IDs; `root` is the folder the
    build's paths are relative to, when it is not the repository three levels above the overlay (`lint`)."""
    if env.kubernetes_version not in supported_versions():
        return Verdict(skipped=f"no schemas for Kubernetes {env.kubernetes_version}")
    if problems is None:
        problems = [(index, problem) for index, resource in enumerate(output.resources)
                    for problem in schemas.validate(_without_sops(resource), env.kubernetes_version)]
    located: list[Finding] = []
    if problems:
        if not isinstance(output, Rendered):
            return Verdict(problems=problems, needs_origins=True)
        located = _located(problems, output, env, graph)
        if policy is not None:
            located = rules.retune(located, policy)
    if policy is None:
        return Verdict(located, problems, skipped="the policy did not load")
    requests = None if isinstance(output, Rendered) else OriginRequests()
    view = rules.view_of(env, output, graph, policy, schemas, requests)
    if root is not None:
        view.root = root
    own = rules.check_view(view, policy, only)
    if requests is not None and requests.asked:
        return Verdict(problems=problems, needs_origins=True)
    return Verdict(located + own.findings, problems, view=view, rules=own, requests=requests)


def _located(problems: SchemaProblems, rendered: Rendered, env: Environment, graph: SourceGraph) -> list[Finding]:
    """Every schema problem as a finding at the source line that set the field; the warnings about one kind
    without a schema as one finding, at its first resource, counting the resources it covers."""
    findings = []
    grouped: dict[tuple[str, str], list[tuple[int, Problem]]] = {}
    for index, problem in problems:
        if problem.severity != "error":
            grouped.setdefault((problem.rule, problem.message), []).append((index, problem))
            continue
        findings.append(_finding(problem, problem.message, index, rendered, env, graph))
    for same in grouped.values():
        index, problem = same[0]
        count = f" ({len(same)} resources)" if len(same) > 1 else ""
        findings.append(_finding(problem, f"{problem.message}{count}", index, rendered, env, graph))
    return findings


def _finding(problem: Problem, message: str, index: int, rendered: Rendered, env: Environment,
             graph: SourceGraph) -> Finding:
    resource = rendered.resources[index]
    metadata = resource.get("metadata")
    label = f"{resource.get('kind')}/{metadata.get('name') if isinstance(metadata, dict) else None}"
    where = locate(graph, resource, problem.path, rendered.origins[index])
    text = message if problem.rule == "K8S-UNKNOWN-CRD" else f"{json_path(problem.path)}: {message}"
    return Finding(problem.rule, problem.severity, text, where.path, where.line, where.col, env=env.name,
                   app=rendered.overlay.app, resource=label)


def _without_sops(resource: dict[str, Any]) -> dict[str, Any]:
    """A SOPS-encrypted object as the cluster receives it: Flux (or KSOPS) decrypts it and drops the top-level
    `sops:` metadata before applying, so that block is not part of the Kubernetes schema."""
    if isinstance(resource.get("sops"), dict):
        return {key: value for key, value in resource.items() if key != "sops"}
    return resource
