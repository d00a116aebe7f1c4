"""The check pipeline: source checks, kustomize builds, strict schema validation, findings at source lines.

For every overlay of the selected environments: read and check its sources (`sources.py`); build the ones
that are sound, in parallel, with origin annotations; parse what kustomize printed; validate every resource
against the strict schema of the Kubernetes version its environment's cluster runs (or its CRD schema); and
map each problem to the file and line that set the field. Nothing is written: the rendered text (origins
stripped, byte-identical to a plain build) is returned for `render` to write.

Usage:
    report = run_check(repo, repo.select_envs("all"), find_kustomize())
    report.exit_code            # 0 clean, 1 error findings, 4 a tool failed
    for finding in report.findings:
        print(finding)          # overlays/prod/api/deployment-patch.yaml:9:5: error K8S-SCHEMA ...
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import rules
from .cache import Entry, FileHasher, RunCache
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_TOOL, GitopsError, KustomizeError
from .findings import Finding, json_path, sort_findings
from .kube_schemas import SchemaIndex, supported_versions
from .kustomize import ORIGIN, Kustomize, strip_annotations, workers_for
from .layout import Environment, Overlay, Repo
from .sourcemap import locate, origin_of
from .sources import SourceGraph, read_sources
from .yamlio import YamlError, load_rendered

__all__ = ["Rendered", "EnvSummary", "CheckReport", "run_check", "MAX_RENDERED_BYTES"]

MAX_RENDERED_BYTES = 64 * 1024 * 1024
"""Largest kustomize output accepted for one overlay (Argo CD's own cap is 10 MB per directory app)."""


@dataclass(frozen=True)
class Rendered:
    """One overlay's build: the exact text to write and the resources in it."""

    overlay: Overlay
    text: str
    """Byte-for-byte what a plain `kustomize build` prints."""
    resources: tuple[dict[str, Any], ...]
    """The parsed resources, origin annotation removed."""
    origins: tuple[dict[str, str], ...]
    """Each resource's origin (`path:` of its source file, or `configuredIn:` of its generator)."""


@dataclass(frozen=True)
class EnvSummary:
    """Counts for one environment, for the summary table."""

    env: str
    cluster: str
    kubernetes_version: str
    apps: int
    resources: int
    errors: int
    warnings: int


@dataclass
class CheckReport:
    """Everything a check found, per environment."""

    findings: list[Finding] = field(default_factory=list)
    summaries: list[EnvSummary] = field(default_factory=list)
    rendered: dict[str, list[Rendered]] = field(default_factory=dict)
    tool_errors: list[str] = field(default_factory=list)
    suppressions: list[rules.Suppression] = field(default_factory=list)
    """Findings of the rule catalogue that resources suppressed (`phoenix-gitops/suppress`), with their reasons."""

    @property
    def exit_code(self) -> int:
        """4 when a tool failed (the check is incomplete), 1 on error findings, else 0."""
        if self.tool_errors:
            return EXIT_TOOL
        return EXIT_FINDINGS if any(f.severity == "error" for f in self.findings) else EXIT_OK


def run_check(
    repo: Repo,
    envs: list[Environment],
    kustomize: Kustomize,
    schemas: SchemaIndex | None = None,
    jobs: int | None = None,
    on_done: Callable[[Overlay, GitopsError | None], None] | None = None,
    cache: RunCache | None = None,
) -> CheckReport:
    """Check `envs` as the module docstring says; never raises for findings, only returns them.

    With a `cache`, an overlay none of whose input files changed since it was cached is taken from the cache
    (no source reading, no kustomize, no schema validation); the cache is updated and saved at the end.
    """
    schemas = schemas or SchemaIndex()
    hasher = FileHasher(repo.root)
    graphs = _Graphs(repo.root, {})
    cached: dict[Overlay, Entry] = {}
    outcomes: dict[Overlay, tuple[Rendered | None, list[Finding]]] = {}
    report = CheckReport()
    by_overlay = {overlay: env for env in envs for overlay in env.overlays()}

    def finish(overlay: Overlay, build: str | GitopsError | None) -> None:
        """Turn one overlay's build into its rendered output and findings (runs while other builds go on)."""
        env, graph = by_overlay[overlay], graphs[overlay]
        found, rendered = list(graph.findings), None
        if isinstance(build, KustomizeError):
            found.append(Finding("KUSTOMIZE-BUILD", "error", _first_lines(str(build)),
                                 graph.kustomizations[0], env=env.name, app=overlay.app))
        elif isinstance(build, GitopsError):
            report.tool_errors.append(str(build))
        elif isinstance(build, str):
            try:
                rendered = _parse(overlay, build)
            except YamlError as err:
                report.tool_errors.append(f"{overlay.rel}: kustomize printed YAML that cannot be read: {err}")
            else:
                if env.kubernetes_version in supported_versions():
                    found += _validate(graph, rendered, env, schemas)
                if cache is not None:
                    cache.store(overlay.id, Entry(
                        deps={rel: hasher(rel) for rel in sorted(graph.files | {env.file})},
                        text=rendered.text, resources=list(rendered.resources), origins=list(rendered.origins),
                        findings=[asdict(f) for f in found], context=_context(env),
                    ))
        outcomes[overlay] = (rendered, found)
        if on_done:
            on_done(overlay, build if isinstance(build, GitopsError) else None)

    workers = workers_for(jobs, len(by_overlay))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = []
        for env in envs:  # read one environment's sources while the previous one's builds run
            todo = []
            for overlay in env.overlays():
                entry = cache.lookup(overlay.id, hasher, _context(env)) if cache else None
                if entry is not None:
                    cached[overlay] = entry
                    if on_done:
                        on_done(overlay, None)
                elif graphs[overlay].ok:
                    todo.append(overlay)
                else:
                    finish(overlay, None)
            options = {overlay: graphs[overlay].sort_options for overlay in todo}
            running += [pool.submit(kustomize.build_unit, unit, True, options)
                        for unit in kustomize.plan(todo, workers, options)]
        for future in as_completed(running):
            for overlay, build in future.result():
                finish(overlay, build)

    for env in envs:
        if env.kubernetes_version not in supported_versions():
            report.findings.append(Finding(
                "K8S-VERSION", "error",
                f"no Kubernetes {env.kubernetes_version} schemas in this install (it has {', '.join(supported_versions())})",
                env.file, env=env.name,
            ))
        report.rendered[env.name] = []
        for overlay in env.overlays():
            if overlay in cached:
                entry = cached[overlay]
                report.findings += [Finding(**fields) for fields in entry.findings]
                report.rendered[env.name].append(
                    Rendered(overlay, entry.text, tuple(entry.resources), tuple(entry.origins)))
                continue
            rendered, found = outcomes[overlay]
            report.findings += found
            if rendered is not None:
                report.rendered[env.name].append(rendered)
    # Rules over whole environments (and across them) add their findings here, before counting.
    rules.apply_to(report, repo, envs, graphs, schemas)
    for env in envs:
        mine = [f for f in report.findings if f.env == env.name]
        report.summaries.append(EnvSummary(
            env.name, env.cluster, env.kubernetes_version, len(env.overlays()),
            sum(len(r.resources) for r in report.rendered[env.name]),
            sum(f.severity == "error" for f in mine), sum(f.severity == "warning" for f in mine),
        ))
    report.findings = sort_findings(report.findings)
    report.tool_errors.sort()
    if cache is not None:
        cache.save()
    return report


def _context(env: Environment) -> dict[str, Any]:
    """What a cached result depends on besides file contents."""
    return {"kubernetes": env.kubernetes_version}


class _Graphs(dict):  # type: ignore[type-arg]
    """{overlay: SourceGraph}, each read on first use (overlays taken from the cache are never read); one
    parse of each source file per run, shared by every overlay that reads it."""

    def __init__(self, root: Path, parsed: dict[str, Any]) -> None:
        super().__init__()
        self.root, self.parsed = root, parsed

    def __missing__(self, overlay: Overlay) -> SourceGraph:
        graph = self[overlay] = read_sources(self.root, overlay, self.parsed)
        return graph


def _parse(overlay: Overlay, text: str) -> Rendered:
    resources = load_rendered(text, f"rendered/{overlay.id}", max_bytes=MAX_RENDERED_BYTES)
    origins = []
    for resource in resources:
        if not isinstance(resource, dict):
            raise YamlError(f"rendered/{overlay.id}", None, None, "YAML-SYNTAX", "a document is not a mapping")
        origins.append(origin_of(resource))
        metadata = resource.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        annotations.pop(ORIGIN, None)
        if "annotations" in metadata and not annotations:
            del metadata["annotations"]
    return Rendered(overlay, strip_annotations(text), tuple(resources), tuple(origins))


def _validate(graph: SourceGraph, rendered: Rendered, env: Environment, schemas: SchemaIndex) -> list[Finding]:
    findings = []
    for resource, origin in zip(rendered.resources, rendered.origins):
        label = f"{resource.get('kind')}/{(resource.get('metadata') or {}).get('name')}"
        for problem in schemas.validate(_without_sops(resource), env.kubernetes_version):
            where = locate(graph, resource, problem.path, origin)
            findings.append(Finding(
                problem.rule, "error", f"{json_path(problem.path)}: {problem.message}",
                where.path, where.line, where.col, env=env.name, app=rendered.overlay.app, resource=label,
            ))
    return findings


def _without_sops(resource: dict[str, Any]) -> dict[str, Any]:
    """A SOPS-encrypted object as the cluster receives it: Flux (or KSOPS) decrypts it and drops the top-level
    `sops:` metadata before applying, so that block is not part of the Kubernetes schema."""
    if isinstance(resource.get("sops"), dict):
        return {key: value for key, value in resource.items() if key != "sops"}
    return resource


def _first_lines(message: str, limit: int = 6) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " | ".join(lines[:limit])

