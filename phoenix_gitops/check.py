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

import functools
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import rules
from .cache import Entry, FileHasher, RunCache
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_TOOL, GitopsError, KustomizeError
from .findings import Finding, errors_in, json_path, sort_findings
from .kube_schemas import SchemaIndex, supported_versions
from .kustomize import ORIGIN, Kustomize, strip_annotations, workers_for
from .layout import ENV_FILE, Environment, Overlay, Repo
from .rules.model import View
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
    outputs: bool = True,
) -> CheckReport:
    """Check `envs` as the module docstring says; never raises for findings, only returns them.

    With a `cache`, an overlay none of whose input files changed since it was cached is taken from the cache
    (no source reading, no kustomize, no schema validation, no rules of its own), and the rules across
    environments are reused when nothing they read changed; the cache is updated and saved at the end. With
    `outputs=False` (findings are all the caller needs) `report.rendered` leaves out overlays taken from the
    cache unless their output had to be read anyway.
    """
    schemas = schemas or SchemaIndex()
    hasher = FileHasher(repo.root)
    graphs = _Graphs(repo.root, {})
    report = CheckReport()
    apps = {env.name: env.overlays() for env in envs}
    by_overlay = {overlay: env for env in envs for overlay in apps[env.name]}
    policy_path, policy_name = rules.policy_file(repo.root)
    context = {env.name: {"kubernetes": env.kubernetes_version, "policy": _digest_of(policy_path)} for env in envs}
    entries = {o: e for o in by_overlay if cache and (e := cache.lookup(o.id, hasher, context[o.env]))}
    across_name = "across " + ",".join(env.name for env in envs)
    record = cache.record(across_name) if cache else None
    across_key = _across_key(repo, hasher, context, by_overlay, entries)
    reuse_across = record is not None and record.get("key") == across_key
    rendered: dict[Overlay, Rendered] = {}
    if outputs or not reuse_across:
        for overlay, entry in list(entries.items()):
            output = cache.output(entry) if cache else None
            if output is None:  # missing or corrupted: rebuild
                del entries[overlay]
                reuse_across = False
            else:
                rendered[overlay] = Rendered(overlay, output["text"], tuple(output["resources"]), tuple(output["origins"]))
    policy = None
    if not reuse_across:  # (a reused result was made under this very policy file, which was valid then)
        policy, problems = rules.load_policy(policy_path, policy_name)
        report.findings += problems
    own: dict[Overlay, rules.ViewRules] = {}
    views: dict[Overlay, View] = {}
    found: dict[Overlay, list[Finding]] = {}

    def finish(overlay: Overlay, build: str | GitopsError | None) -> None:
        """Turn one overlay's build into its rendered output and findings (runs while other builds go on)."""
        env, graph = by_overlay[overlay], graphs[overlay]
        found[overlay] = mine = list(graph.findings)
        if isinstance(build, KustomizeError):
            mine.append(Finding("KUSTOMIZE-BUILD", "error", _first_lines(str(build)),
                                graph.kustomizations[0], env=env.name, app=overlay.app))
        elif isinstance(build, GitopsError):
            report.tool_errors.append(str(build))
        elif isinstance(build, str):
            try:
                rendered[overlay] = done = _parse(overlay, build)
            except YamlError as err:
                report.tool_errors.append(f"{overlay.rel}: kustomize printed YAML that cannot be read: {err}")
            else:
                if env.kubernetes_version in supported_versions():
                    mine += _validate(graph, done, env, schemas)
                    if policy is not None and not errors_in(mine):
                        views[overlay] = rules.view_of(env, done, graph, policy, schemas)
                        own[overlay] = rules.check_view(views[overlay], policy)
                        mine += own[overlay].findings
                        report.tool_errors += own[overlay].tool_errors
                if cache is not None and not (overlay in own and own[overlay].tool_errors):
                    entries[overlay] = _entry(graph, env, hasher, context[env.name], done, mine, own.get(overlay))
                    cache.store(overlay.id, entries[overlay], _output(done))
        if on_done:
            on_done(overlay, build if isinstance(build, GitopsError) else None)

    workers = workers_for(jobs, len(by_overlay))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = []
        for env in envs:  # read one environment's sources while the previous one's builds run
            todo = []
            for overlay in apps[env.name]:
                if overlay in entries:
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
        report.rendered[env.name] = [rendered[o] for o in apps[env.name] if o in rendered]
        for overlay in apps[env.name]:
            if overlay in found:
                report.findings += found[overlay]
            else:
                entry = entries[overlay]
                report.findings += [Finding(**fields) for fields in entry.findings]
                if entry.ruled:
                    own[overlay] = _cached_rules(entry)
    if reuse_across or policy is not None:
        _across(report, repo, envs, by_overlay, cache, across_name, record if reuse_across else None, own, views,
                rendered, graphs, policy, schemas,
                across_key if reuse_across else _across_key(repo, hasher, context, by_overlay, entries))
    for env in envs:
        mine = [f for f in report.findings if f.env == env.name]
        report.summaries.append(EnvSummary(
            env.name, env.cluster, env.kubernetes_version, len(apps[env.name]),
            sum(len(rendered[o].resources) if o in rendered else entries[o].resource_count
                for o in apps[env.name] if o in rendered or o in entries),
            sum(f.severity == "error" for f in mine), sum(f.severity == "warning" for f in mine),
        ))
    report.findings = sort_findings(report.findings)
    report.tool_errors.sort()
    if cache is not None:
        cache.save()
    return report


def _across(report: CheckReport, repo: Repo, envs: list[Environment], by_overlay: dict[Overlay, Environment],
            cache: RunCache | None, name: str, record: dict[str, Any] | None, own: dict[Overlay, rules.ViewRules],
            views: dict[Overlay, View], rendered: dict[Overlay, Rendered], graphs: "_Graphs",
            policy: rules.Policy | None, schemas: SchemaIndex, key: str | None) -> None:
    """The rules across environments: from `record` (the cache's, when nothing they read changed) or run now."""
    by_id = {overlay.id: result for overlay, result in own.items()}
    if record is None:
        assert policy is not None
        ruled = [(env, o) for o, env in by_overlay.items() if o in own]
        all_views = [views.get(o) or rules.view_of(env, rendered[o], functools.partial(graphs.get_or_read, o),
                                                    policy, schemas) for env, o in ruled]
        across = rules.check_across(all_views, by_id, rules.Context(policy, schemas, rules.all_envs(repo, envs)))
        report.tool_errors += across.tool_errors
        record = {"key": key, "findings": [asdict(f) for f in across.findings], "counts": across.counts}
        if cache is not None and key is not None and not across.tool_errors:
            cache.keep(name, record)
    report.findings += [Finding(**fields) for fields in record["findings"]]
    report.suppressions = sorted(rules.with_counts(by_id, record["counts"]), key=rules.Suppression.sort_key)


def _across_key(repo: Repo, hasher: FileHasher, context: dict[str, Any], overlays: dict[Overlay, Environment],
                entries: dict[Overlay, Entry]) -> str | None:
    """What the rules across environments read: every overlay's cache entry, every environment file, the policy
    (None when an overlay has no entry, e.g. after a tool failure)."""
    if any(overlay not in entries for overlay in overlays):
        return None
    data = [context, {name: hasher(f"overlays/{name}/{ENV_FILE}") for name in repo.env_names()},
            [(overlay.id, entries[overlay].deps, entries[overlay].context, entries[overlay].output)
             for overlay in overlays]]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _entry(graph: SourceGraph, env: Environment, hasher: FileHasher, context: dict[str, Any], done: Rendered,
           findings: list[Finding], own: rules.ViewRules | None) -> Entry:
    suppressions = []
    if own is not None:
        suppressions = [{**asdict(s), "target": target} for s, target in zip(own.suppressions, own.targets)]
    return Entry(deps={rel: hasher(rel) for rel in sorted(graph.files | {env.file})}, context=context,
                 findings=[asdict(f) for f in findings], resource_count=len(done.resources), ruled=own is not None,
                 suppressions=suppressions)


def _cached_rules(entry: Entry) -> rules.ViewRules:
    """An overlay's own rule result as the cache kept it (its findings are already in `entry.findings`)."""
    result = rules.ViewRules()
    for fields in entry.suppressions:
        fields = dict(fields)
        result.targets.append(fields.pop("target"))
        result.suppressions.append(rules.Suppression(**{**fields, "rules": tuple(fields["rules"])}))
    return result


def _output(done: Rendered) -> dict[str, Any]:
    return {"text": done.text, "resources": list(done.resources), "origins": list(done.origins)}


def _digest_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "-"


class _Graphs(dict):  # type: ignore[type-arg]
    """{overlay: SourceGraph}, each read on first use (overlays taken from the cache are never read); one
    parse of each source file per run, shared by every overlay that reads it."""

    def __init__(self, root: Path, parsed: dict[str, Any]) -> None:
        super().__init__()
        self.root, self.parsed = root, parsed

    def __missing__(self, overlay: Overlay) -> SourceGraph:
        graph = self[overlay] = read_sources(self.root, overlay, self.parsed)
        return graph

    def get_or_read(self, overlay: Overlay) -> SourceGraph:
        """The overlay's graph, read now if it was not (a rule view asks for it only when it needs a line)."""
        return self[overlay]


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

