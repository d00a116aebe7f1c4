"""rules: every rule trips on its failing fixture and stays quiet on its passing one; policy, suppressions, docs.

Fixtures live in tests/fixtures/rules/<RULE-ID>/: every `fail*.yaml` must produce the rule, every `pass*.yaml`
must not. A fixture file is rendered resources of one overlay (origins point back into the file, so findings carry
its lines). A document `fixture: {...}` starts an overlay and sets `env` (default prod), `app`, `kubernetesVersion`,
`cluster`, `server`, `argocdProject`, `source` (a file of the folder the resources' origins point at instead), and
`expect` (substrings that must each appear in some finding of the rule); several
such documents make several overlays (cross-environment rules). Documents with a `kustomize.config.k8s.io` apiVersion
are the overlay's kustomization (for the source rules).
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT
from support import Evaluation, evaluate

from phoenix_gitops import rules
from phoenix_gitops.check import CheckReport, EnvSummary
from phoenix_gitops.findings import Finding
from phoenix_gitops.layout import Environment, Overlay, Repo
from phoenix_gitops.model import Rendered
from phoenix_gitops.report import format_report
from phoenix_gitops.rules.policy import load_policy
from phoenix_gitops.rules.suppress import parse
from phoenix_gitops.sources import SourceGraph, read_sources
from phoenix_gitops.yamlio import iter_paths, load_file, load_text

FIXTURES = PROJECT / "tests" / "fixtures" / "rules"
RUNNABLE = sorted(r.id for r in rules.CATALOGUE.values() if r.check is not None)
POLICY, _ = load_policy()


def _cases(kind: str) -> list[Any]:
    return [pytest.param(path, id=f"{path.parent.name}/{path.name}")
            for path in sorted(FIXTURES.glob(f"*/{kind}*.yaml"))]


CaseInputs = tuple[list[Environment], dict[str, list[Rendered]], dict[Overlay, SourceGraph], list[str]]


def load_case(path: Path) -> CaseInputs:
    """A fixture file as the inputs of `rules.evaluate`: environments, rendered overlays, source graphs and
    expectations."""
    rel = path.relative_to(PROJECT).as_posix()
    sections: list[tuple[dict[str, Any], list[Any]]] = []
    for doc in load_file(path, name=rel):
        if isinstance(doc.data, dict) and set(doc.data) == {"fixture"}:
            sections.append((doc.data["fixture"] or {}, []))
        else:
            if not sections:
                sections.append(({}, []))
            sections[-1][1].append(doc)
    envs: dict[str, Environment] = {}
    rendered: dict[str, list[Rendered]] = {}
    graphs: dict[Overlay, SourceGraph] = {}
    expect: list[str] = []
    for settings, docs in sections:
        name, app = settings.get("env", "prod"), settings.get("app", "api")
        expect += settings.get("expect", [])
        envs.setdefault(name, Environment(
            name=name, cluster=settings.get("cluster", f"{name}-1"),
            server=settings.get("server", f"https://{name}-1.k8s.example.org:6443"),
            kubernetes_version=str(settings.get("kubernetesVersion", "1.34")),
            argocd_project=settings.get("argocdProject", f"phoenix-{name}"), base_domain="example.org",
            path=PROJECT / "overlays" / name, repo_root=PROJECT, apps={},
        ))
        envs[name].apps.setdefault(app, tuple(settings.get("namespaces", [app])))  # type: ignore[attr-defined]
        overlay = Overlay(name, app, PROJECT / "overlays" / name / app, f"overlays/{name}/{app}")
        resources = [d for d in docs if not str(d.data.get("apiVersion", "")).startswith("kustomize.config.k8s.io/")]
        source = rel
        documents = {rel: docs}
        if settings.get("source"):  # the resources as written in another file (kustomize changed them since)
            source = (path.parent / settings["source"]).relative_to(PROJECT).as_posix()
            documents[source] = load_file(PROJECT / source, name=source)
        graphs[overlay] = SourceGraph(overlay, kustomizations=[rel], documents=documents)
        origins = tuple({"path": source} for _ in resources)
        rendered.setdefault(name, []).append(Rendered(overlay, "", tuple(d.data for d in resources), origins))
    return list(envs.values()), rendered, graphs, expect


def run_case(path: Path, only: set[str] | None) -> Evaluation:
    envs, rendered, graphs, _ = load_case(path)
    return evaluate(envs, rendered, graphs, all_envs=envs, only=only, policy=POLICY)


def _secret_values(path: Path) -> set[str]:
    """Every value a secrets fixture holds where a secret could be (env, ConfigMap, Secret, generator literals)."""
    values: set[str] = set()
    for doc in load_file(path):
        for json_path, value in iter_paths(doc.data):
            if not isinstance(value, str) or len(value) < 6:
                continue
            keys = [p for p in json_path if isinstance(p, str)]
            if keys[-1:] == ["value"] or "data" in keys or "stringData" in keys or "literals" in keys:
                values.add(value.split("=", 1)[-1])
                if "data" in keys:
                    with contextlib.suppress(ValueError, UnicodeDecodeError):
                        values.add(base64.b64decode(value, validate=True).decode())
    return {v for v in values if len(v) >= 6}


def test_every_runnable_rule_has_a_failing_and_a_passing_fixture():
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders == set(RUNNABLE)
    for rule_id in RUNNABLE:
        assert list((FIXTURES / rule_id).glob("fail*.yaml")), rule_id
        assert list((FIXTURES / rule_id).glob("pass*.yaml")), rule_id


def _of_rule(finding_id: str, rule_id: str) -> bool:
    """Whether a finding is the rule's: its own ID, or a member of its family (`VAP/<policy>` of K8S-VAP)."""
    return finding_id == rule_id or rule_id == "K8S-VAP" and finding_id.startswith("VAP/")


@pytest.mark.parametrize("path", _cases("fail"))
def test_failing_fixture_trips_its_rule_at_a_line(path):
    rule_id = path.parent.name
    envs, rendered, graphs, expect = load_case(path)
    result = evaluate(envs, rendered, graphs, all_envs=envs, only={rule_id}, policy=POLICY)
    assert result.tool_errors == []
    found = [f for f in result.findings if _of_rule(f.rule, rule_id)]
    assert found, f"{rule_id} did not fire on {path.name}"
    assert all(f.line is not None for f in found), [str(f) for f in found]
    texts = [str(f) for f in found]
    for wanted in expect:
        assert any(wanted in text for text in texts), f"{wanted!r} not in {texts}"
    if rule_id.startswith("SEC-") or rule_id in ("PHX-V06", "PHX-V07"):
        leaked = [v for v in _secret_values(path) for text in texts if v in text]
        assert leaked == [], "a secret value was echoed"


@pytest.mark.parametrize("path", _cases("pass"))
def test_passing_fixture_does_not_trip_its_rule(path):
    rule_id = path.parent.name
    result = run_case(path, {rule_id})
    assert result.tool_errors == []
    assert [str(f) for f in result.findings if _of_rule(f.rule, rule_id)] == []


# The policy -------------------------------------------------------------------------------------------------


def test_shipped_policy_is_valid_and_lists_every_rule():
    policy, problems = load_policy()
    assert problems == [] and policy is not None
    tunable = {r.id for r in rules.CATALOGUE.values() if r.tunable}
    assert set(policy.rules) == tunable


def test_shipped_policy_keeps_the_reference_severities():
    for rule in rules.CATALOGUE.values():
        if rule.tunable:
            assert tuple(POLICY.severity_of(rule, p) for p in ("dev", "staging", "prod")) == rule.defaults, rule.id


def test_conditional_severity_and_unknown_environment_profile():
    v18 = rules.CATALOGUE["PHX-V18"]
    assert POLICY.severity(v18, "prod") == "warning" and POLICY.severity(v18, "prod", "cpu-hpa") == "error"
    assert POLICY.severity(v18, "dev") == "-" and not POLICY.enabled(v18, "dev")
    assert POLICY.profile("qa") == "prod"
    v26 = rules.CATALOGUE["PHX-V26"]
    assert POLICY.enabled(v26, "dev") and POLICY.severity(v26, "dev") == "-"
    assert POLICY.severity(v26, "dev", "blocking") == "error"


@pytest.mark.parametrize("text, message", [
    ("rules: {NOPE-RULE: {dev: error, staging: error, prod: error}}", "$.rules.NOPE-RULE: no such rule"),
    ("rules: {PHX-V18: {dev: error, staging: error, prod: {default: error, sunny: error}}}",
     "has no condition 'sunny'"),
    ("rules: {PHX-V01: {dev: fatal, staging: error, prod: error}}", "$.rules.PHX-V01.dev"),
    ("rules: {ISO-CROSS-ENV: {dev: error, staging: error, prod: error}}", "cannot be set here"),
])
def test_a_broken_policy_is_a_finding_at_its_line(tmp_path, text, message):
    shipped = (PROJECT / "schemas" / "policy.yaml").read_text(encoding="utf-8")
    head, _, tail = shipped.partition("\nrules:\n")
    body = tail[tail.index("\nsettings:"):]
    file = tmp_path / "policy.yaml"
    file.write_text(head + "\n" + text + "\n" + body, encoding="utf-8")
    policy, problems = load_policy(file, name="policy.yaml")
    assert policy is None
    found = [str(p) for p in problems]
    assert any(message in p.message and p.rule == "POLICY-FILE" and p.line for p in problems), found


# Suppressions -----------------------------------------------------------------------------------------------


def test_suppression_clauses_parse_ids_and_aliases():
    clauses, problems = parse("V28: single-zone staging cluster; SEC-ENTROPY, V04 : a public test key here", POLICY)
    assert problems == []
    assert [(c.rules, c.reason) for c in clauses] == [
        (("PHX-V28",), "single-zone staging cluster"), (("SEC-ENTROPY", "PHX-V04"), "a public test key here")]


@pytest.mark.parametrize("value, problem", [
    ("PHX-V28", "has no reason"),
    ("PHX-V28: short", "has no reason"),
    ("PHX-V99: because the cluster has one zone", "unknown rule(s) 'PHX-V99'"),
    ("ISO-CLUSTER-DISTINCT: because we share a cluster", "ISO-CLUSTER-DISTINCT cannot be suppressed by any"),
    ("YAML-AMBIGUOUS: the file is read by kustomize only", "cannot be suppressed on a resource"),
    (42, "must be a string"),
])
def test_bad_suppressions_are_explained(value, problem):
    clauses, problems = parse(value, POLICY)
    assert any(problem in p for p in problems), problems


def test_a_suppression_hides_its_rule_on_its_resource_and_is_listed():
    result = run_case(FIXTURES / "POLICY-SUPPRESS" / "pass.yaml", None)
    assert [f.rule for f in result.findings if f.rule == "PHX-V14"] == []
    (entry,) = result.suppressions
    assert entry.rules == ("PHX-V14",) and entry.suppressed == 1 and entry.line == 8
    assert entry.resource == "Deployment/api-web" and "probes on a TCP port" in entry.reason
    (hidden,) = entry.hidden  # kept, so that every report can show it as suppressed
    assert (hidden.rule, hidden.env, hidden.resource) == ("PHX-V14", "prod", "Deployment/api-web")
    assert dataclasses.replace(entry) == rules.Suppression(**dataclasses.asdict(entry))  # as a cache keeps it


def test_a_suppression_keeps_the_cross_environment_findings_it_hid():
    result = run_case(PROJECT / "tests" / "fixtures" / "suppress" / "sealed-reused.yaml", {"SEC-SEALED-REUSED"})
    assert [(f.env, f.message) for f in result.findings] == [
        ("prod", "SealedSecret/api-secrets: the ciphertext of RELEASE_COOKIE is also used in staging")]
    (entry,) = result.suppressions
    assert (entry.env, entry.rules, entry.line) == ("staging", ("SEC-SEALED-REUSED",), 9)
    assert [(f.rule, f.env, f.line) for f in entry.hidden] == [("SEC-SEALED-REUSED", "staging", 12)]


def test_a_suppression_without_reason_suppresses_nothing():
    result = run_case(FIXTURES / "POLICY-SUPPRESS" / "fail.yaml", None)
    assert {"PHX-V14", "POLICY-SUPPRESS"} <= {f.rule for f in result.findings}
    assert result.suppressions == []


def test_reporters_list_suppressions():
    result = run_case(FIXTURES / "POLICY-SUPPRESS" / "pass.yaml", {"PHX-V14"})
    report = CheckReport(findings=[], summaries=[EnvSummary("prod", "prod-1", "1.34", 1, 1, 0, 0)],
                         suppressions=result.suppressions)
    text = format_report(report, "text")
    assert text.startswith("tests/fixtures/rules/POLICY-SUPPRESS/pass.yaml:8:5: ")
    assert " suppressed PHX-V14 (1 finding(s)): " in text and text.endswith("[prod/api Deployment/api-web]\n")
    document = json.loads(format_report(report, "json"))
    assert document["suppressions"][0]["rules"] == ["PHX-V14"] and document["suppressions"][0]["suppressed"] == 1
    assert "| PHX-V14 | 1 |" in format_report(report, "markdown")


# The engine -------------------------------------------------------------------------------------------------


def test_an_overlay_with_errors_from_earlier_stages_is_not_checked():
    envs, rendered, graphs, _ = load_case(FIXTURES / "PHX-V14" / "fail.yaml")
    earlier = Finding("K8S-SCHEMA", "error", "$.spec.x: unknown field 'x'", "a.yaml", 1, 1, env="prod", app="api")
    assert evaluate(envs, rendered, graphs, prior=[earlier], policy=POLICY).findings == []
    assert evaluate(envs, rendered, graphs, prior=[], policy=POLICY).findings != []


def test_a_crashing_rule_is_a_tool_error_without_values(monkeypatch):
    rule = rules.CATALOGUE["PHX-V14"]

    def boom(view):
        raise ValueError("s3cr3t-value-from-a-resource")

    monkeypatch.setitem(rules.CATALOGUE, "PHX-V14", dataclasses.replace(rule, check=boom))
    result = run_case(FIXTURES / "PHX-V14" / "fail.yaml", {"PHX-V14"})
    assert result.tool_errors == ["rule PHX-V14 failed on prod/api (ValueError); its findings are missing from this "
                                  "report"]


def test_severity_dash_skips_the_rule_in_that_environment():
    # PHX-V04 (digest) is "-" in dev: the same tag-only image is an error in prod, nothing in dev.
    envs, rendered, graphs, _ = load_case(FIXTURES / "PHX-V04" / "fail.yaml")
    assert {f.severity for f in evaluate(envs, rendered, graphs, only={"PHX-V04"}, policy=POLICY).findings} == {
        "error"}
    dev = [Environment(**{**e.__dict__, "name": "dev"}) for e in envs]
    moved = {"dev": [Rendered(Overlay("dev", r.overlay.app, r.overlay.path, r.overlay.rel), r.text, r.resources,
                              r.origins) for r in rendered["prod"]]}
    assert evaluate(dev, moved, {}, only={"PHX-V04"}, policy=POLICY).findings == []


def test_a_field_added_by_a_json_patch_points_at_the_operation(fixture_repo):
    root = fixture_repo("webapp")
    kustomization = root / "overlays/prod/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + (
        "  - patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/env/-\n"
        "        value: {name: RELEASE_COOKIE, value: hunter2-inline-1f2b}\n    target:\n      kind: Deployment\n"))
    env = Repo(root).environment("prod")
    (overlay,) = env.overlays()
    graph = read_sources(root, overlay)
    container = {"name": "app", "image": "ghcr.io/acme/web:1.4.2", "env": [
        {"name": "PHX_HOST", "value": "web.example.org"},
        {"name": "RELEASE_COOKIE", "value": "hunter2-inline-1f2b"}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
                  "spec": {"template": {"spec": {"containers": [container]}}}}
    rendered = {"prod": [Rendered(overlay, "", (deployment,), ({"path": "base/web/deployment.yaml"},))]}
    result = evaluate([env], rendered, {overlay: graph}, only={"SEC-SECRET-NAME"}, policy=POLICY)
    assert [f"{f.location} {f.rule}" for f in result.findings] == [
        "overlays/prod/web/kustomization.yaml:14:39 SEC-SECRET-NAME"]  # the value inside the operation's value


def test_a_field_removed_below_the_flagged_path_by_a_json_patch_points_at_the_operation(fixture_repo):
    root = fixture_repo("webapp")
    kustomization = root / "overlays/prod/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + (
        "  - patch: |-\n      - op: remove\n        path: /spec/template/spec/containers/0/resources/limits\n"
        "    target:\n      kind: Deployment\n"))
    env = Repo(root).environment("prod")
    (overlay,) = env.overlays()
    container = {"name": "app", "image": "ghcr.io/acme/web:1.4.2", "env": [{"name": "PHX_HOST", "value": "a.org"}],
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
                  "spec": {"template": {"spec": {"containers": [container]}}}}
    rendered = {"prod": [Rendered(overlay, "", (deployment,), ({"path": "base/web/deployment.yaml"},))]}
    result = evaluate([env], rendered, {overlay: read_sources(root, overlay)}, only={"PHX-V15"}, policy=POLICY)
    assert [f"{f.location} {f.message}" for f in result.findings] == [
        "overlays/prod/web/kustomization.yaml:12:9 C does not set limits.memory"]  # not the base's resources line


BASE_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
configMapGenerator:
  - name: shop-env
    literals:
      - ERL_FLAGS=+sbwt none +sbwtdcpu none +sbwtdio none
"""
OVERLAY_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../../base/shop]
configMapGenerator:
  - name: shop-env
    behavior: merge
    literals:
      - ERL_FLAGS=+S 2:2
"""


def test_v18_points_at_the_overlay_literal_that_changed_the_beam_flags():
    overlay = Overlay("prod", "shop", PROJECT / "overlays/prod/shop", "overlays/prod/shop")
    outer, inner = "overlays/prod/shop/kustomization.yaml", "base/shop/kustomization.yaml"
    documents = {outer: load_text(OVERLAY_KUSTOMIZATION, outer), inner: load_text(BASE_KUSTOMIZATION, inner)}
    graph = SourceGraph(overlay, kustomizations=[outer, inner], documents=documents)
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-env-5g7h9k2m4t"},
                 "data": {"ERL_FLAGS": "+S 2:2"}}
    container = {"name": "shop", "image": "ghcr.io/acme/shop:1.2.3",
                 "envFrom": [{"configMapRef": {"name": "shop-env"}}],
                 "env": [{"name": "PHX_HOST", "value": "shop.example.org"}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop"},
                  "spec": {"template": {"spec": {"containers": [container]}}}}
    rendered = {"prod": [Rendered(overlay, "", (configmap, deployment),
                                  ({"configuredIn": inner}, {"path": "base/shop/deployment.yaml"}))]}
    (env, *_), _, _, _ = load_case(FIXTURES / "PHX-V14" / "fail.yaml")
    result = evaluate([env], rendered, {overlay: graph}, only={"PHX-V18"}, policy=POLICY)
    assert [f.location for f in result.findings] == [f"{outer}:8:9"]


# The rules document -----------------------------------------------------------------------------------------


def test_committed_rules_doc_is_current():
    committed = (PROJECT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules.rules_markdown(POLICY), "docs/rules.md is stale: run `invoke rules-doc`"


def test_rules_doc_covers_every_rule_and_every_v_number():
    text = rules.rules_markdown(POLICY)
    for rule_id in rules.CATALOGUE:
        assert f"### {rule_id}\n" in text
    for number in range(1, 39):
        assert f"Implements V{number:02d} of the Phoenix reference" in text
