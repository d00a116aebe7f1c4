"""The check pipeline: source checks, kustomize builds, strict schema validation, findings at source lines.

For every overlay of the selected environments: read and check its sources (`sources.py`); build the ones
that are sound, in parallel batches; parse what kustomize printed; validate every resource against the strict
schema of the Kubernetes version its environment's cluster runs (or its CRD schema); run the rules; and map each
problem to the file and line that set the field. That needs kustomize's origin annotations (which file each
resource came from), and tracking them costs kustomize twice the build itself, so an overlay is built with them
only when something asks: a finding to locate, a suppression, a rule about generated Secrets. Results are the
same either way. Nothing is written: the rendered text (byte-identical to a plain build) is returned for
`render` to write.

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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import rules
from .cache import Entry, FileHasher, RunCache
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_TOOL, GitopsError, KustomizeError, ToolError
from .findings import Finding, errors_in, json_path, sort_findings
from .kube_schemas import SchemaIndex, supported_versions
from .kustomize import BATCH_SIZE, ORIGIN, Kustomize, strip_annotations, workers_for
from .layout import ENV_FILE, Environment, Overlay, Repo
from .rules.model import View
from .sourcemap import locate, origin_of
from .sources import SourceGraph, read_sources
from .yamlio import Document, YamlError, load_rendered

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
    origins: tuple[dict[str, str], ...] | None
    """Each resource's origin (`path:` of its source file, or `configuredIn:` of its generator); None when it was
    built without them (`run_check` gets them when something needs them)."""


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
    origins: bool = False,
) -> CheckReport:
    """Check `envs` as the module docstring says; never raises for findings, only returns them.

    With a `cache`, an overlay none of whose input files changed since it was cached is taken from the cache
    (no source reading, no kustomize, no schema validation, no rules of its own), and the rules across
    environments are reused when nothing they read changed; the cache is updated and saved at the end. With
    `outputs=False` (findings are all the caller needs) `report.rendered` leaves out overlays taken from the
    cache unless their output had to be read anyway. With `origins`, every rendered overlay comes with the
    origins of its resources (`diff` needs them); otherwise only those where something asked for them.
    """
    run = _Run(repo, envs, kustomize, schemas or SchemaIndex(), cache, on_done, origins)
    record = cache.record(run.across_name) if cache else None
    reuse_across = record is not None and record.get("key") == run.across_key()
    if outputs or not reuse_across:
        reuse_across = run.read_outputs() and reuse_across
    if not reuse_across:  # (a reused result was made under this very policy file, which was valid then)
        run.load_policy()
    run.build(jobs)
    if origins:  # (outputs taken from the cache may have been stored without them)
        run.complete_origins()
    run.collect()
    if reuse_across or run.policy is not None:
        run.across(record if reuse_across else None)
    run.summarise()
    if cache is not None:
        cache.save()
    return run.report


class _Later(GitopsError):
    """An overlay needs its origins while builds run: `build` builds it again with them (never reported)."""


class _Run:
    """One `run_check`: every overlay's state (cached, built, rendered, judged) and what was found."""

    def __init__(self, repo: Repo, envs: list[Environment], kustomize: Kustomize, schemas: SchemaIndex,
                 cache: RunCache | None, on_done: Callable[[Overlay, GitopsError | None], None] | None,
                 origins: bool) -> None:
        self.repo, self.envs, self.kustomize, self.schemas, self.cache = repo, envs, kustomize, schemas, cache
        self.on_done, self.origins = on_done, origins
        self.hasher = FileHasher(repo.root)
        self.graphs = _Graphs(repo.root, {})
        self.report = CheckReport()
        self.apps = {env.name: env.overlays() for env in envs}
        self.by_overlay = {overlay: env for env in envs for overlay in self.apps[env.name]}
        self.policy_path, self.policy_name = rules.policy_file(repo.root)
        self.policy: rules.Policy | None = None
        self.context = {env.name: {"kubernetes": env.kubernetes_version, "policy": _digest_of(self.policy_path)}
                        for env in envs}
        self.entries = {o: e for o in self.by_overlay
                        if cache and (e := cache.lookup(o.id, self.hasher, self.context[o.env]))}
        self.across_name = "across " + ",".join(env.name for env in envs)
        self.rendered: dict[Overlay, Rendered] = {}
        self.own: dict[Overlay, rules.ViewRules] = {}
        self.views: dict[Overlay, View] = {}
        self.found: dict[Overlay, list[Finding]] = {}
        self.building = True
        """True while `build` runs: overlays that need origins then go back to it (see `origins_of`)."""
        self.with_origins: set[Overlay] = set()
        """Overlays `build` built with origins."""
        self.suppressing: dict[str, bool] = {}
        """Source file -> whether it mentions the suppression annotation (see `wants_origins`)."""

    def read_outputs(self) -> bool:
        """Take every cached overlay's output from the cache; False when one was missing or corrupted (that
        overlay is then built again)."""
        complete = True
        for overlay, entry in list(self.entries.items()):
            output = self.cache.output(entry) if self.cache else None
            if output is None:
                del self.entries[overlay]
                complete = False
            else:
                origins = output["origins"]
                self.rendered[overlay] = Rendered(overlay, output["text"], tuple(output["resources"]),
                                                  None if origins is None else tuple(origins))
        return complete

    def load_policy(self) -> None:
        self.policy, problems = rules.load_policy(self.policy_path, self.policy_name)
        self.report.findings += problems

    def build(self, jobs: int | None) -> None:
        """Build every overlay that is neither cached nor unsound, `jobs` at a time, each finished (parsed,
        validated, ruled) as its build comes in while the others run. One where something needs origins is
        built again with them, in batches, and finished from that build."""
        workers = workers_for(jobs, len(self.by_overlay))
        with ThreadPoolExecutor(max_workers=workers) as pool:

            def submit(overlays: list[Overlay], origins: bool) -> set[Future[Any]]:
                options = {overlay: self.graphs[overlay].sort_options for overlay in overlays}
                return {pool.submit(self.kustomize.build_unit, unit, origins, options)
                        for unit in self.kustomize.plan(overlays, workers, options)}

            running: set[Future[Any]] = set()
            for env in self.envs:  # read one environment's sources while the previous one's builds run
                todo: dict[bool, list[Overlay]] = {False: [], True: []}
                for overlay in self.apps[env.name]:
                    if overlay in self.entries:
                        if self.on_done:
                            self.on_done(overlay, None)
                    elif self.graphs[overlay].ok:
                        todo[self.wants_origins(overlay)].append(overlay)
                    else:
                        self.finish(overlay, None)
                running |= submit(todo[False], False) | submit(todo[True], True)
                self.with_origins.update(todo[True])
            again: list[Overlay] = []
            while running or again:
                if len(again) >= BATCH_SIZE or (again and not running):
                    running |= submit(again, True)
                    self.with_origins.update(again)
                    again = []
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    for overlay, build in future.result():
                        if not self.finish(overlay, build):
                            again.append(overlay)
        self.building = False

    def wants_origins(self, overlay: Overlay) -> bool:
        """Whether to build `overlay` with origins at once: the caller wants them, the overlay needed them last
        time (the cache says), or one of its sources mentions a suppression (those are always located). A wrong
        guess only costs time: an overlay built without origins that needs them is built again."""
        last = self.cache.entries.get(overlay.id) if self.cache else None
        return self.origins or (last is not None and last.origins) or any(
            self.suppresses(path, docs) for path, docs in self.graphs[overlay].documents.items())

    def suppresses(self, path: str, docs: list[Document]) -> bool:
        """Whether source file `path` mentions the suppression annotation (walked once per run)."""
        if path not in self.suppressing:
            self.suppressing[path] = _mentions([doc.data for doc in docs], rules.ANNOTATION)
        return self.suppressing[path]

    def finish(self, overlay: Overlay, build: str | GitopsError | None) -> bool:
        """Turn one overlay's build into its rendered output and findings; False when it has to be built again
        with origins first (nothing is kept of this try)."""
        env, graph = self.by_overlay[overlay], self.graphs[overlay]
        mine = list(graph.findings)
        if isinstance(build, KustomizeError):
            mine.append(Finding("KUSTOMIZE-BUILD", "error", _first_lines(str(build)),
                                graph.kustomizations[0], env=env.name, app=overlay.app))
        elif isinstance(build, GitopsError):
            self.report.tool_errors.append(str(build))
        elif isinstance(build, str):
            try:
                self.rendered[overlay] = _parse(overlay, build, overlay in self.with_origins)
                mine += self.judge(overlay, env, graph)
            except _Later:
                for table in (self.rendered, self.views, self.own):
                    table.pop(overlay, None)
                return False
            except YamlError as err:
                self.report.tool_errors.append(f"{overlay.rel}: kustomize printed YAML that cannot be read: {err}")
            except GitopsError as err:  # the build with origins a finding needed failed
                self.report.tool_errors.append(str(err))
            else:
                if self.cache is not None and not (overlay in self.own and self.own[overlay].tool_errors):
                    self.entries[overlay] = _entry(graph, env, self.hasher, self.context[env.name],
                                                   self.rendered[overlay], mine, self.own.get(overlay))
                    self.cache.store(overlay.id, self.entries[overlay], _output(self.rendered[overlay]))
        self.found[overlay] = mine
        if self.on_done:
            self.on_done(overlay, build if isinstance(build, GitopsError) else None)
        return True

    def judge(self, overlay: Overlay, env: Environment, graph: SourceGraph) -> list[Finding]:
        """The schema problems of a rendered overlay and, when there are none, its own rules' findings."""
        if env.kubernetes_version not in supported_versions():
            return []
        done, origins = self.rendered[overlay], functools.partial(self.origins_of, overlay)
        found = _validate(graph, done, env, self.schemas, origins)
        if self.policy is not None and not errors_in(found):
            self.views[overlay] = view = rules.view_of(env, done, graph, self.policy, self.schemas, origins)
            self.own[overlay] = own = rules.check_view(view, self.policy)
            found += own.findings
            self.report.tool_errors += own.tool_errors
        return found

    def origins_of(self, overlay: Overlay) -> tuple[dict[str, str], ...]:
        """The origins of a rendered overlay's resources. One built without them (the default: kustomize's
        origin tracking costs twice the build) needs them built the first time something asks (a finding to put
        at its source line, a suppression, a rule about generated Secrets): while builds run, that is left to
        `build` (raises _Later); after, it is built here and kept so in the cache. Raises ToolError when that
        build fails or differs from the first."""
        done = self.rendered[overlay]
        if done.origins is None and self.building:
            raise _Later(overlay.rel)
        if done.origins is None:
            again = _parse(overlay, self.kustomize.build(overlay, True, self.graphs[overlay].sort_options), True)
            if again.text != done.text:
                raise ToolError(f"{overlay.rel}: the build changed during the check (files edited?); check again")
            self.rendered[overlay] = done = again
            if self.cache is not None and overlay in self.entries:
                self.entries[overlay].origins = True
                self.cache.store(overlay.id, self.entries[overlay], _output(done))
        assert done.origins is not None
        return done.origins

    def complete_origins(self) -> None:
        """Get the origins of every rendered overlay that lacks them."""
        for overlay in [o for o, done in self.rendered.items() if done.origins is None]:
            try:
                self.origins_of(overlay)
            except GitopsError as err:
                self.report.tool_errors.append(str(err))

    def collect(self) -> None:
        """Every overlay's own findings (fresh or cached) and rendered output into the report, by environment."""
        for env in self.envs:
            if env.kubernetes_version not in supported_versions():
                self.report.findings.append(Finding(
                    "K8S-VERSION", "error",
                    f"no Kubernetes {env.kubernetes_version} schemas in this install "
                    f"(it has {', '.join(supported_versions())})",
                    env.file, env=env.name,
                ))
            self.report.rendered[env.name] = [self.rendered[o] for o in self.apps[env.name] if o in self.rendered]
            for overlay in self.apps[env.name]:
                if overlay in self.found:
                    self.report.findings += self.found[overlay]
                else:
                    entry = self.entries[overlay]
                    self.report.findings += [Finding(**fields) for fields in entry.findings]
                    if entry.ruled:
                        self.own[overlay] = _cached_rules(entry)

    def across(self, record: dict[str, Any] | None) -> None:
        """The rules across environments: from `record` (the cache's, when nothing they read changed) or run now."""
        by_id = {overlay.id: result for overlay, result in self.own.items()}
        if record is None:
            assert self.policy is not None
            views = [self.views.get(o) or rules.view_of(
                env, self.rendered[o], functools.partial(self.graphs.get_or_read, o), self.policy, self.schemas,
                functools.partial(self.origins_of, o)) for o, env in self.by_overlay.items() if o in self.own]
            context = rules.Context(self.policy, self.schemas, rules.all_envs(self.repo, self.envs))
            try:
                across = rules.check_across(views, by_id, context)
            except GitopsError as err:  # the build with origins a finding needed failed
                self.report.tool_errors.append(str(err))
                return
            self.report.tool_errors += across.tool_errors
            record = {"key": self.across_key(), "findings": [asdict(f) for f in across.findings],
                      "counts": across.counts}
            if self.cache is not None and record["key"] is not None and not across.tool_errors:
                self.cache.keep(self.across_name, record)
        self.report.findings += [Finding(**fields) for fields in record["findings"]]
        self.report.suppressions = sorted(rules.with_counts(by_id, record["counts"]), key=rules.Suppression.sort_key)

    def across_key(self) -> str | None:
        """What the rules across environments read: every overlay's cache entry, every environment file, the
        policy (None when an overlay has no entry, e.g. after a tool failure)."""
        if any(overlay not in self.entries for overlay in self.by_overlay):
            return None
        data = [self.context, {name: self.hasher(f"overlays/{name}/{ENV_FILE}") for name in self.repo.env_names()},
                [(o.id, self.entries[o].deps, self.entries[o].context, self.entries[o].output)
                 for o in self.by_overlay]]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def summarise(self) -> None:
        for env in self.envs:
            mine = [f for f in self.report.findings if f.env == env.name]
            self.report.summaries.append(EnvSummary(
                env.name, env.cluster, env.kubernetes_version, len(self.apps[env.name]),
                sum(len(self.rendered[o].resources) if o in self.rendered else self.entries[o].resource_count
                    for o in self.apps[env.name] if o in self.rendered or o in self.entries),
                sum(f.severity == "error" for f in mine), sum(f.severity == "warning" for f in mine),
            ))
        self.report.findings = sort_findings(self.report.findings)
        self.report.tool_errors.sort()


def _entry(graph: SourceGraph, env: Environment, hasher: FileHasher, context: dict[str, Any], done: Rendered,
           findings: list[Finding], own: rules.ViewRules | None) -> Entry:
    suppressions = []
    if own is not None:
        suppressions = [{**asdict(s), "target": target} for s, target in zip(own.suppressions, own.targets)]
    return Entry(deps={rel: hasher(rel) for rel in sorted(graph.files | {env.file})}, context=context,
                 findings=[asdict(f) for f in findings], resource_count=len(done.resources), ruled=own is not None,
                 suppressions=suppressions, origins=done.origins is not None)


def _cached_rules(entry: Entry) -> rules.ViewRules:
    """An overlay's own rule result as the cache kept it (its findings are already in `entry.findings`)."""
    result = rules.ViewRules()
    for fields in entry.suppressions:
        fields = dict(fields)
        result.targets.append(fields.pop("target"))
        result.suppressions.append(rules.Suppression(**{**fields, "rules": tuple(fields["rules"])}))
    return result


def _output(done: Rendered) -> dict[str, Any]:
    origins = None if done.origins is None else list(done.origins)
    return {"text": done.text, "resources": list(done.resources), "origins": origins}


def _mentions(value: Any, word: str) -> bool:
    """Whether `word` is in any key or string of `value` (plain YAML data, depth capped by the loader)."""
    if isinstance(value, dict):
        return any(word in str(key) or _mentions(item, word) for key, item in value.items())
    if isinstance(value, list):
        return any(_mentions(item, word) for item in value)
    return isinstance(value, str) and word in value


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


def _parse(overlay: Overlay, text: str, with_origins: bool) -> Rendered:
    """A build's output parsed; with origins, their annotations are taken out of the text and the resources."""
    resources = load_rendered(text, f"rendered/{overlay.id}", max_bytes=MAX_RENDERED_BYTES)
    if not all(isinstance(resource, dict) for resource in resources):
        raise YamlError(f"rendered/{overlay.id}", None, None, "YAML-SYNTAX", "a document is not a mapping")
    if not with_origins:
        return Rendered(overlay, text, tuple(resources), None)
    origins = []
    for resource in resources:
        origins.append(origin_of(resource))
        metadata = resource.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        annotations.pop(ORIGIN, None)
        if "annotations" in metadata and not annotations:
            del metadata["annotations"]
    return Rendered(overlay, strip_annotations(text), tuple(resources), tuple(origins))


def _validate(graph: SourceGraph, rendered: Rendered, env: Environment, schemas: SchemaIndex,
              origins: Callable[[], tuple[dict[str, str], ...]]) -> list[Finding]:
    """Every schema problem of `rendered`, at its source line (`origins` are asked for only if there is one)."""
    findings = []
    for index, resource in enumerate(rendered.resources):
        label = f"{resource.get('kind')}/{(resource.get('metadata') or {}).get('name')}"
        for problem in schemas.validate(_without_sops(resource), env.kubernetes_version):
            where = locate(graph, resource, problem.path, origins()[index])
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

