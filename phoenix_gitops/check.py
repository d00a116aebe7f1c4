"""The check pipeline: source checks, kustomize builds, strict schema validation, rules, findings at source lines.

`run_check` takes every overlay of the selected environments through these stages, over one `_State`:

    read       what the result cache already knows: an overlay none of whose input files changed is taken
               from it (not read, built nor judged again); the policy.
    build      the other overlays whose sources are sound (`sources.py`), in parallel batches (`scheduler.py`);
    judge      each build as it comes in, while the others run (`judge.py`): parse, validate every resource
               against the strict schema of the environment's Kubernetes version, run the overlay's own rules
               (also when a resource failed its schema: every problem is reported at once);
    locate     the builds whose findings need their resources' origins (a finding or suppression to put at its
               source line, a rule that asked) are built again with kustomize's origin annotations, in batches
               in the same pool, and judged from that build;
    across     the rules that compare environments (their findings are located the same way);
    compare    every input file was hashed before anything read it (its sources when they are read, the
               environment files, `gitops.yaml` and the policy at the start); each is hashed again, and one
               that changed makes the run a tool error ("<file>: changed during the check; run it again")
               of which nothing is cached;
    summarise  the report, one summary per environment, and `skipped`: every overlay whose own rules did not
               run (its sources had errors, kustomize could not build it, a tool failed) and why, so that "no rule
               finding" never hides "not checked". What the schemas could not check (a custom resource without a
               CRD schema) is a K8S-UNKNOWN-CRD warning instead.

Tracking origins costs kustomize about twice the build, so a first build is made without them unless the
overlay will need them (a suppression in its sources, or it needed them last time); the findings and their
locations are the same either way. Nothing is written: the rendered text (byte-identical to a plain build) is
returned for `render` to write.

Usage:
    report = run_check(repo, repo.select_envs("all"), find_kustomize())
    report.exit_code            # 0 clean, 1 error findings, 4 a tool failed or a file changed meanwhile
    report.skipped              # {"prod/api": "kustomize could not build it"}: whose rules did not run (never on
                                # exit 0)
    for finding in report.findings:
        print(finding)          # overlays/prod/api/deployment-patch.yaml:9:5: error K8S-SCHEMA ...
    run_check(repo, envs, kz, origins=True).rendered_with_origins()   # every build with its origins (diff)
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from . import rules
from .cache import Entry, FileHasher, RunCache
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_TOOL, GitopsError, KustomizeError
from .findings import Finding, sort_findings
from .judge import OriginRequests, SchemaProblems, Verdict, judge, parse
from .kube_schemas import SchemaIndex, supported_versions
from .kustomize import Kustomize
from .layout import ENV_FILE, SETTINGS_FILE, Environment, Overlay, Repo
from .model import Output, Rendered
from .rules.model import View
from .scheduler import BuildQueue, Built, workers_for
from .sources import Loaded, SourceGraph, read_sources
from .yamlio import YamlError

__all__ = ["ACROSS", "EnvSummary", "CheckReport", "run_check", "build_failure"]

ACROSS = "across environments"
"""The key of `CheckReport.skipped` when the rules across environments did not run."""

OnDone = Callable[[Overlay, GitopsError | None], None]
"""Called once per overlay when it is done (built and judged, taken from the cache, or failed)."""


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
    rendered: dict[str, list[Output]] = field(default_factory=dict)
    """Environment -> the build of every overlay that built and was judged, in app order (a `Rendered` where
    it was built with origins)."""
    tool_errors: list[str] = field(default_factory=list)
    suppressions: list[rules.Suppression] = field(default_factory=list)
    """Findings of the rule catalogue that resources suppressed (`phoenix-gitops/suppress`), with their reasons."""
    apps: dict[str, list[str]] = field(default_factory=dict)
    """Environment -> the name of every app overlay that was checked (with or without findings), sorted."""
    skipped: dict[str, str] = field(default_factory=dict)
    """What the rules did not check, and why: an overlay id (`prod/api`) whose own rules did not run, or
    ACROSS when the rules across environments did not; `lint` also names a folder it did not read (a Helm chart)
    or a rule it cannot run (`ISO-NAMESPACE`). Sorted. Never empty when a rule was left out."""
    workloads: list[dict[str, Any]] = field(default_factory=list)
    """Every workload of every overlay whose rules ran: Phoenix or not, its role and the rule families that
    applied (`rules.workloads.Workload.record`)."""

    @property
    def exit_code(self) -> int:
        """4 when a tool failed (the check is incomplete), 1 on error findings, else 0."""
        if self.tool_errors:
            return EXIT_TOOL
        return EXIT_FINDINGS if any(f.severity == "error" for f in self.findings) else EXIT_OK

    def skipped_lines(self) -> list[str]:
        """`skipped` as sentences: `rules did not run for prod/api: its sources have errors`; for a rule ID (what
        `lint` cannot check): `ISO-NAMESPACE did not run: ...`."""
        return [f"{what} did not run: {reason}" if what in rules.CATALOGUE
                else f"rules did not run {what if what == ACROSS else 'for ' + what}: {reason}"
                for what, reason in self.skipped.items()]

    def rendered_with_origins(self) -> dict[str, list[Rendered]]:
        """`rendered` of a check run with `origins=True`, where every build has them; raises ValueError for a
        build without (a check run without `origins`)."""
        plain = [o.overlay.id for outputs in self.rendered.values() for o in outputs if not isinstance(o, Rendered)]
        if plain:
            raise ValueError(f"built without origins: {', '.join(plain)} (run the check with origins=True)")
        return {env: [o for o in outputs if isinstance(o, Rendered)] for env, outputs in self.rendered.items()}


def run_check(
    repo: Repo,
    envs: list[Environment],
    kustomize: Kustomize,
    schemas: SchemaIndex | None = None,
    jobs: int | None = None,
    on_done: OnDone | None = None,
    cache: RunCache | None = None,
    outputs: bool = True,
    origins: bool = False,
) -> CheckReport:
    """Check `envs` as the module docstring says; never raises for findings, only returns them.

    With a `cache`, an overlay none of whose input files changed since it was cached is taken from the cache,
    and the rules across environments are reused when nothing they read changed; the cache is updated and saved
    at the end, unless an input file changed during the run (then nothing of the run is kept). With
    `outputs=False` (findings are all the caller needs) `report.rendered` leaves out overlays
    taken from the cache unless their output had to be read anyway. Findings are located whether or not
    `origins` is set; with it, every build in `report.rendered` also carries its origins (`diff` compares
    resources by them).
    """
    state = _read(_Inputs.of(repo, envs, kustomize, schemas or SchemaIndex(), cache, on_done, origins), outputs)
    inputs = state.inputs
    workers = workers_for(jobs, len(state.overlays))
    with BuildQueue(kustomize, workers, lambda overlay: inputs.graphs[overlay].sort_options) as queue:
        _build_and_judge(state, queue)
        if origins:  # (outputs taken from the cache may have been stored without them)
            _locate(state, queue, [o for o, item in state.overlays.items()
                                   if item.output is not None and not isinstance(item.output, Rendered)])
        _across(state, queue)
    changed = sorted({*inputs.stale, *inputs.hasher.changed()})  # (every build has finished)
    state.report.tool_errors += [f"{rel}: changed during the check; run it again" for rel in changed]
    _summarise(state)
    if cache is not None and changed:
        cache.discard()
    elif cache is not None:
        cache.save()
    return state.report


class _Graphs(dict[Overlay, SourceGraph]):
    """{overlay: SourceGraph}, each read on first use (overlays taken from the cache are never read); one
    parse of each source file per run, shared by every overlay that reads it, each file hashed by `hasher`
    before it is parsed."""

    def __init__(self, root: Path, hasher: FileHasher) -> None:
        super().__init__()
        self.root = root
        self.hasher = hasher
        self.parsed: dict[str, Loaded] = {}
        self.suppressing: dict[str, bool] = {}
        """Source file -> whether it mentions the suppression annotation (see `suppresses`)."""

    def __missing__(self, overlay: Overlay) -> SourceGraph:
        graph = self[overlay] = read_sources(self.root, overlay, self.parsed, self.hasher)
        return graph

    def get_or_read(self, overlay: Overlay) -> SourceGraph:
        """The overlay's graph, read now if it was not (a rule view asks for it only when it needs a line)."""
        return self[overlay]

    def suppresses(self, overlay: Overlay) -> bool:
        """Whether a source file of `overlay` mentions the suppression annotation (each file walked once)."""
        for path, docs in self[overlay].documents.items():
            if path not in self.suppressing:
                self.suppressing[path] = _mentions([doc.data for doc in docs], rules.ANNOTATION)
            if self.suppressing[path]:
                return True
        return False


@dataclass(frozen=True)
class _Inputs:
    """What one check works from: its arguments, and what is worked out from them once."""

    repo: Repo
    envs: list[Environment]
    kustomize: Kustomize
    schemas: SchemaIndex
    cache: RunCache | None
    on_done: OnDone | None
    origins: bool
    """Every build with origins (the caller asked)."""
    hasher: FileHasher
    """The hash of every input file, taken before anything in the run read it."""
    graphs: _Graphs
    policy: tuple[Traversable, str]
    """The policy file and its display name."""
    context: dict[str, dict[str, Any]]
    """Environment -> what every cached result of it depends on besides its files (the environment as loaded,
    from its file and `gitops.yaml`; Kubernetes version; policy)."""
    env_names: tuple[str, ...]
    """Every environment of the repository when the run started."""
    stale: tuple[str, ...]
    """Environment files that changed between the caller's loading them and the start of the run."""

    @classmethod
    def of(cls, repo: Repo, envs: list[Environment], kustomize: Kustomize, schemas: SchemaIndex,
           cache: RunCache | None, on_done: OnDone | None, origins: bool) -> _Inputs:
        hasher = FileHasher(repo.root)
        names = tuple(repo.env_names())
        for rel in (*(f"overlays/{name}/{ENV_FILE}" for name in names), SETTINGS_FILE, rules.REPO_POLICY):
            hasher(rel)  # before anything below reads them
        envs, stale = _reloaded(repo, envs)
        policy = rules.policy_file(repo.root)
        digest = _digest_of(policy[0])
        context = {env.name: {"environment": hashlib.sha256(repr(env).encode()).hexdigest(),
                              "kubernetes": env.kubernetes_version, "policy": digest} for env in envs}
        return cls(repo, envs, kustomize, schemas, cache, on_done, origins, hasher, _Graphs(repo.root, hasher),
                   policy, context, names, stale)

    @property
    def across_name(self) -> str:
        """The cache record of the rules across the selected environments."""
        return "across " + ",".join(env.name for env in self.envs)


@dataclass
class _Overlay:
    """One overlay on its way through the stages."""

    env: Environment
    entry: Entry | None = None
    """Its cache entry: found unchanged in `read`, or stored once judged."""
    output: Output | None = None
    """Its build (a `Rendered` once built with origins)."""
    findings: list[Finding] | None = None
    """Its own findings (sources, build, schemas, own rules), once it is done."""
    verdict: Verdict | None = None
    """What judging its build found (its rule result and view, for the rules across environments)."""
    problems: SchemaProblems | None = None
    """The schema problems of a build judged without origins, kept to be located from the build with them."""
    skipped: str | None = None
    """Why its own rules did not run, once it is done (None when they ran)."""


@dataclass
class _State:
    """What the stages of one check pass along."""

    inputs: _Inputs
    overlays: dict[Overlay, _Overlay]
    """Every overlay of the selected environments, environment by environment, in app order."""
    policy: rules.Policy | None = None
    across: dict[str, Any] | None = None
    """The cached result of the rules across environments, when nothing they read changed."""
    report: CheckReport = field(default_factory=CheckReport)


def _read(inputs: _Inputs, outputs: bool) -> _State:
    """Stage read: take every overlay none of whose input files changed from the cache (its findings, its own
    rule result and, when needed, its output), see whether the rules across environments can be reused, and
    load the policy unless they can (nothing else would read it)."""
    state = _State(inputs, {overlay: _Overlay(env) for env in inputs.envs for overlay in env.overlays()})
    cache = inputs.cache
    if cache is not None:
        for overlay, item in state.overlays.items():
            item.entry = cache.lookup(overlay.id, inputs.hasher, inputs.context[overlay.env])
            if item.entry is not None:
                item.findings = [Finding(**fields) for fields in item.entry.findings]
                item.skipped = item.entry.skipped
                rules_run = None if item.skipped else _cached_rules(item.entry)
                item.verdict = Verdict(rules=rules_run, skipped=item.skipped)
    record = cache.record(inputs.across_name) if cache else None
    reuse = record is not None and record.get("key") == _across_key(state)
    if outputs or not reuse:
        reuse = _read_outputs(state) and reuse
    state.across = record if reuse else None
    if not reuse:  # (a reused result was made under this very policy file, which was valid then)
        state.policy, problems = rules.load_policy(*inputs.policy)
        state.report.findings += problems
    return state


def _read_outputs(state: _State) -> bool:
    """Take every cached overlay's output from the cache; False when one was missing or corrupted (that
    overlay is then built again)."""
    complete = True
    for overlay, item in state.overlays.items():
        if item.entry is None or state.inputs.cache is None:
            continue
        stored = state.inputs.cache.output(item.entry)
        if stored is None:
            item.entry, item.findings, item.verdict, item.skipped = None, None, None, None
            complete = False
            continue
        resources = tuple(stored["resources"])
        if stored["origins"] is None:
            item.output = Output(overlay, stored["text"], resources)
        else:
            item.output = Rendered(overlay, stored["text"], resources, tuple(stored["origins"]))
    return complete


def _sources_ok(state: _State, overlay: Overlay) -> bool:
    """Whether `overlay`'s sources let it build, their findings at the severities the policy gives them."""
    graph = state.inputs.graphs[overlay]
    if state.policy is not None:
        graph.findings = rules.retune(graph.findings, state.policy)
    return graph.ok


def _build_and_judge(state: _State, queue: BuildQueue) -> None:
    """Stages build and judge: build every overlay that is neither cached nor unsound and judge each build as
    it comes in, while the others run. A build judged without origins that needs them goes back to the queue
    to be built with them (stage locate, batched) and is judged from that build."""
    inputs = state.inputs
    for env in inputs.envs:  # read one environment's sources while the previous one's builds run
        todo: dict[bool, list[Overlay]] = {False: [], True: []}
        for overlay, item in state.overlays.items():
            if overlay.env != env.name:
                continue
            if item.entry is not None:
                _done(state, overlay, item.findings or [], None, item.skipped)
            elif _sources_ok(state, overlay):
                todo[_wants_origins(state, overlay)].append(overlay)
            else:
                _done(state, overlay, list(inputs.graphs[overlay].findings), None, "its sources have errors")
        queue.build(todo[False], origins=False)
        queue.build(todo[True], origins=True)
    for built in queue.results():
        if not _judged(state, built):
            queue.later(built.overlay)


def _wants_origins(state: _State, overlay: Overlay) -> bool:
    """Whether to build `overlay` with origins at once: the caller wants them, the overlay needed them last time
    (the cache says), or one of its sources mentions a suppression (those are always located). A wrong guess
    only costs time: an overlay built without origins that needs them is built again."""
    inputs = state.inputs
    last = inputs.cache.entries.get(overlay.id) if inputs.cache else None
    return inputs.origins or (last is not None and last.origins) or inputs.graphs.suppresses(overlay)


def _judged(state: _State, built: Built) -> bool:
    """Turn one build into the overlay's output and findings; False when it was judged without origins and
    needs them (the caller builds it again with them; its schema problems are kept)."""
    inputs, overlay = state.inputs, built.overlay
    item, graph = state.overlays[overlay], inputs.graphs[overlay]
    found = list(graph.findings)
    if isinstance(built.result, KustomizeError):
        found.append(build_failure(built.result, graph, item.env.name))
        item.output = None
        _done(state, overlay, found, built.result, "kustomize could not build it")
        return True
    if isinstance(built.result, GitopsError):
        state.report.tool_errors.append(str(built.result))
        item.output = None
        _done(state, overlay, found, built.result, "its build failed (a tool failure)")
        return True
    output = _output_of(state, item, built)
    if output is None:
        item.output = None
        _done(state, overlay, found, None, "its build could not be read (a tool failure)")
        return True
    verdict = judge(output, item.env, graph, inputs.schemas, state.policy, item.problems)
    item.output = output
    if verdict.needs_origins:
        item.problems = verdict.problems
        return False
    item.verdict = verdict
    found += verdict.findings
    tool_errors = verdict.rules.tool_errors if verdict.rules else []
    state.report.tool_errors += tool_errors
    if inputs.cache is not None and not tool_errors:
        item.entry = _entry(graph, item.env, inputs, output, found, verdict)
        inputs.cache.store(overlay.id, item.entry, _stored(output))
    _done(state, overlay, found, None, verdict.skipped)
    return True


def _output_of(state: _State, item: _Overlay, built: Built) -> Output | None:
    """The parsed build; None (and a tool error) when kustomize printed something unreadable or, for a build
    with origins of an overlay already built without, something else than the first time."""
    assert isinstance(built.result, str)
    overlay = built.overlay
    try:
        output = parse(overlay, built.result, built.origins)
    except YamlError as err:
        state.report.tool_errors.append(f"{overlay.rel}: kustomize printed YAML that cannot be read: {err}")
        return None
    if item.output is not None and output.text != item.output.text:
        state.report.tool_errors.append(
            f"{overlay.rel}: the build changed during the check (files edited?); check again")
        return None
    return output


def _done(state: _State, overlay: Overlay, findings: list[Finding], error: GitopsError | None,
          skipped: str | None = None) -> None:
    """Record that `overlay` is done: its findings and, when its own rules did not run, why."""
    item = state.overlays[overlay]
    item.findings, item.skipped = findings, skipped
    if state.inputs.on_done:
        state.inputs.on_done(overlay, error)


def _locate(state: _State, queue: BuildQueue, overlays: list[Overlay]) -> bool:
    """Stage locate, for builds that were judged (or cached) without origins and need them now: build them
    again with origins, in batches in the pool, and keep those builds (in the cache too). False when one of
    them failed or differs from the first build (a tool error each; that overlay's output is dropped)."""
    cache = state.inputs.cache
    queue.build(overlays, origins=True)
    complete = True
    for built in queue.results():
        item = state.overlays[built.overlay]
        if isinstance(built.result, GitopsError):
            state.report.tool_errors.append(str(built.result))
            output = None
        else:
            output = _output_of(state, item, built)
        if not isinstance(output, Rendered):
            item.output, complete = None, False
            continue
        item.output = output
        if item.verdict is not None:
            item.verdict.view = None  # made from the build without origins
        if cache is not None and item.entry is not None:
            item.entry.origins = True
            cache.store(built.overlay.id, item.entry, _stored(output))
    return complete


def _across(state: _State, queue: BuildQueue) -> None:
    """Stage across: the rules across environments, from the cache when nothing they read changed, else run now.
    Their views of builds without origins stand in for the origins; the builds whose origins a rule asked for
    are located (built with them) and the rules run again, until none asks."""
    inputs = state.inputs
    by_id = {o.id: item.verdict.rules for o, item in state.overlays.items()
             if item.verdict is not None and item.verdict.rules is not None}
    ruled = [o for o in state.overlays if o.id in by_id]
    if state.across is None and state.policy is None:
        state.report.skipped[ACROSS] = "the policy did not load"
        return
    if state.across is None and any(state.overlays[o].output is None for o in ruled):
        state.report.skipped[ACROSS] = "a build they needed failed (a tool failure)"
        return
    record = state.across
    if record is None:
        assert state.policy is not None
        context = rules.Context(state.policy, inputs.schemas, rules.all_envs(inputs.repo, inputs.envs))
        while True:
            views = {o: _view(state, o) for o in ruled}
            across = rules.check_across([view for view, _ in views.values()], by_id, context)
            asked = [o for o, (_, requests) in views.items() if requests is not None and requests.asked]
            if not asked:
                break
            if not _locate(state, queue, asked):
                state.report.skipped[ACROSS] = "a build they needed failed (a tool failure)"
                return
        state.report.tool_errors += across.tool_errors
        record = {"key": _across_key(state), "findings": [asdict(f) for f in across.findings],
                  "counts": across.counts}
        if inputs.cache is not None and record["key"] is not None and not across.tool_errors:
            inputs.cache.keep(inputs.across_name, record)
    state.report.findings += [Finding(**fields) for fields in record["findings"]]
    state.report.suppressions = sorted(rules.with_counts(by_id, record["counts"]), key=rules.Suppression.sort_key)


def _view(state: _State, overlay: Overlay) -> tuple[View, OriginRequests | None]:
    """The rules' view of a judged overlay (made once, or again after its build got origins) and, for a build
    without origins, what stands in for them."""
    inputs, item = state.inputs, state.overlays[overlay]
    assert item.verdict is not None and item.output is not None and state.policy is not None
    verdict = item.verdict
    if verdict.view is None:
        verdict.requests = None if isinstance(item.output, Rendered) else OriginRequests()
        verdict.view = rules.view_of(item.env, item.output, functools.partial(inputs.graphs.get_or_read, overlay),
                                     state.policy, inputs.schemas, verdict.requests)
    return verdict.view, verdict.requests


def _across_key(state: _State) -> str | None:
    """What the rules across environments read: every overlay's cache entry, every environment file, the
    policy, the admission policies' files (None when an overlay has no entry, e.g. after a tool failure)."""
    if any(item.entry is None for item in state.overlays.values()):
        return None
    inputs = state.inputs
    data = [inputs.context,
            {name: inputs.hasher(f"overlays/{name}/{ENV_FILE}") for name in inputs.env_names},
            {rel: inputs.hasher(rel) for rel in rules.admission.input_files(inputs.repo.root)},
            [(o.id, item.entry.deps, item.entry.context, item.entry.output)
             for o, item in state.overlays.items() if item.entry is not None]]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _reloaded(repo: Repo, envs: list[Environment]) -> tuple[list[Environment], tuple[str, ...]]:
    """`envs` loaded again from their files (just hashed), so every value and line the run takes from them is
    covered by the comparison at the end; and the files of those that no longer load or read differently than
    when the caller loaded them (changed in between: the caller's environment is kept, the run fails)."""
    loaded: list[Environment] = []
    stale: list[str] = []
    engines = repo.engine_namespaces()
    for env in envs:
        try:
            fresh: Environment | None = repo.environment(env.name, engines)
        except GitopsError:
            fresh = None
        if fresh is None or fresh != env:
            stale.append(env.file)
            fresh = env
        loaded.append(fresh)
    return loaded, tuple(stale)


def _summarise(state: _State) -> None:
    """Stage summarise: every overlay's findings and build into the report by environment, the counts of each
    environment, everything sorted."""
    report = state.report
    for env in state.inputs.envs:
        mine = {o: item for o, item in state.overlays.items() if o.env == env.name}
        if env.kubernetes_version not in supported_versions():
            report.findings.append(Finding(
                "K8S-VERSION", "error",
                f"no Kubernetes {env.kubernetes_version} schemas in this install "
                f"(it has {', '.join(supported_versions())})",
                env.file, env=env.name,
            ))
        report.rendered[env.name] = [item.output for item in mine.values() if item.output is not None]
        report.apps[env.name] = sorted(overlay.app for overlay in mine)
        for overlay, item in mine.items():
            report.findings += item.findings or []
            if item.skipped is not None or item.verdict is None or item.verdict.rules is None:
                report.skipped[overlay.id] = item.skipped or "it was not judged"
            else:
                report.workloads += item.verdict.rules.workloads
    report.findings += state.inputs.repo.orphans(state.inputs.envs)
    for env in state.inputs.envs:
        mine = {o: item for o, item in state.overlays.items() if o.env == env.name}
        found = [f for f in report.findings if f.env == env.name]
        report.summaries.append(EnvSummary(
            env.name, env.cluster, env.kubernetes_version, len(mine), sum(_resources(item) for item in mine.values()),
            sum(f.severity == "error" for f in found), sum(f.severity == "warning" for f in found),
        ))
    report.findings = sort_findings(report.findings)
    report.tool_errors.sort()
    report.skipped = dict(sorted(report.skipped.items()))
    if report.skipped and not report.tool_errors and not any(f.severity == "error" for f in report.findings):
        # (every stage that stops the rules reports an error; should one not, the run must not pass)
        report.tool_errors += [f"{line}, and nothing said why" for line in report.skipped_lines()]


def _resources(item: _Overlay) -> int:
    """How many resources the overlay's build has (0 when it did not build)."""
    if item.output is not None:
        return len(item.output.resources)
    return item.entry.resource_count if item.entry is not None else 0


def _entry(graph: SourceGraph, env: Environment, inputs: _Inputs, output: Output, findings: list[Finding],
           verdict: Verdict) -> Entry:
    own, skipped = verdict.rules, verdict.skipped
    suppressions = []
    if own is not None:
        suppressions = [{**asdict(s), "target": target}
                        for s, target in zip(own.suppressions, own.targets, strict=True)]
    return Entry(deps={rel: inputs.hasher(rel) for rel in sorted(graph.files | {env.file})},
                 context=inputs.context[env.name], findings=[asdict(f) for f in findings],
                 resource_count=len(output.resources), skipped=skipped, suppressions=suppressions,
                 origins=isinstance(output, Rendered), workloads=own.workloads if own is not None else [])


def _cached_rules(entry: Entry) -> rules.ViewRules:
    """An overlay's own rule result as the cache kept it (its findings are already in `entry.findings`)."""
    result = rules.ViewRules()
    for fields in entry.suppressions:
        fields = dict(fields)
        result.targets.append(fields.pop("target"))
        result.suppressions.append(rules.Suppression(**{**fields, "rules": tuple(fields["rules"])}))
    result.workloads = list(entry.workloads)
    return result


def _stored(output: Output) -> dict[str, Any]:
    """An output as the cache stores it (origins None for a build without them)."""
    origins = list(output.origins) if isinstance(output, Rendered) else None
    return {"text": output.text, "resources": list(output.resources), "origins": origins}


def _mentions(value: Any, word: str) -> bool:
    """Whether `word` is in any key or string of `value` (plain YAML data, depth capped by the loader)."""
    if isinstance(value, dict):
        return any(word in str(key) or _mentions(item, word) for key, item in value.items())
    if isinstance(value, list):
        return any(_mentions(item, word) for item in value)
    return isinstance(value, str) and word in value


def _digest_of(path: Traversable) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "-"


def build_failure(err: KustomizeError, graph: SourceGraph, env: str) -> Finding:
    """KUSTOMIZE-BUILD at the overlay's kustomization: the first lines of kustomize's error, on one line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return Finding("KUSTOMIZE-BUILD", "error", " | ".join(lines[:6]), graph.kustomizations[0], env=env,
                   app=graph.overlay.app)
