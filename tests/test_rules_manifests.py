"""rules.manifests (and the detections added to rules.secrets): each finding at its file:line, each near-miss silent.

The fixtures are in tests/fixtures/detections/ (see its README); tests/fixtures/rules/<ID>/ has each rule's failing
and passing fixture for tests/test_rules.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT
from support import evaluate
from test_rules import POLICY, load_case

from phoenix_gitops.layout import Overlay
from phoenix_gitops.model import Rendered
from phoenix_gitops.rules.manifests import dns_target, is_shell, kube_references, placeholders
from phoenix_gitops.rules.secrets import command_line, plausible_secret
from phoenix_gitops.sources import read_sources

DETECTIONS = PROJECT / "tests" / "fixtures" / "detections"
NEW_RULES = {"K8S-PLACEHOLDER", "K8S-VAR-REF", "K8S-LIVE-OBJECT", "K8S-EMPTY-RESOURCE", "K8S-CLUSTER-QUERY",
             "K8S-PLAIN-HTTP", "K8S-INGRESS-CLASS", "SEC-EMPTY-SECRET", "SEC-DB-TRUST-AUTH"}


def found(name: str, only: set[str]) -> list[str]:
    """`path:line:col RULE message` of every finding of the rules `only` on detections/`name`."""
    envs, rendered, graphs, _ = load_case(DETECTIONS / name)
    result = evaluate(envs, rendered, graphs, all_envs=envs, only=only, policy=POLICY)
    assert result.tool_errors == []
    return [f"{f.location} {f.rule} {f.message}" for f in result.findings if f.rule in only]


def at(name: str, line: int, col: int) -> str:
    return f"tests/fixtures/detections/{name}:{line}:{col}"


# Template placeholders and $(VAR) references ------------------------------------------------------------------


def test_placeholders_left_by_a_chart_or_envsubst_are_found_where_they_are():
    findings = found("templates.yaml", {"K8S-PLACEHOLDER"})
    assert [f.split(" K8S-PLACEHOLDER ")[0] for f in findings] == [
        at("templates.yaml", 7, 3), at("templates.yaml", 22, 11), at("templates.yaml", 23, 18),
        at("templates.yaml", 28, 36), at("templates.yaml", 29, 30)]
    text = "\n".join(findings)
    assert "metadata.name holds {{ .Release.Name }}, which nothing fills in" in text
    assert "args[0] holds ${PHX_HOST}, which nothing fills in; Kubernetes only expands $(PHX_HOST)" in text
    assert "holds ${DB_HOST}" in text and "localhost" not in text  # a default may be a value: never shown
    # near-misses: the shell line, a Go log format, the ConfigMap template, the PrometheusRule's own templates
    assert "--format" not in text and "LOG_FORMAT" not in text and "SERVER_NAME" not in text
    assert "$labels" not in text and "initContainers" not in text


@pytest.mark.parametrize(("text", "loose", "expected"), [
    ("app:${TAG}", True, ["${TAG}"]),
    ("${A:-x} and ${B:=y}", True, ["${A}", "${B}"]),
    ("{{ .Values.host }}", False, ["{{ .Values.host }}"]),
    ("{{- include \"x\" . | nindent 4 }}", False, ["{{ … }}"]),
    ("{{ name }}", False, ["{{ name }}"]),
    ("{{.Time}} {{.Level}}", False, []),
    ("{{.Time}}", True, ["{{.Time}}"]),
    ("$(VAR) and $VAR", True, []),
])
def test_placeholders(text, loose, expected):
    assert placeholders(text, loose) == expected


def test_var_refs_follow_kubernetes_expansion():
    findings = found("var-refs.yaml", {"K8S-VAR-REF"})
    assert [f.split(": ", 1)[0] for f in findings] == [
        f"{at('var-refs.yaml', 21, 38)} K8S-VAR-REF StatefulSet/chat",
        f"{at('var-refs.yaml', 21, 91)} K8S-VAR-REF StatefulSet/chat",
        f"{at('var-refs.yaml', 25, 36)} K8S-VAR-REF StatefulSet/chat",
        f"{at('var-refs.yaml', 29, 34)} K8S-VAR-REF StatefulSet/chat"]
    text = "\n".join(findings)
    assert "args[2] of container 'chat' refers to $(RELEASE_NAME), which the container does not define" in text
    assert "$(POSTGRES_SERVICE_HOST)" in text  # enableServiceLinks: false, so the kubelet defines none
    assert "env RELEASE_NODE of container 'chat' refers to $(POD_NAME), which is defined only after it" in text
    assert "$(DIST_PORT), which is not defined in the container" in text
    assert "HOME" not in text and "PHX_HOST" not in text and "$(PORT)" not in text


@pytest.mark.parametrize(("text", "names"), [
    ("a $(B) c", ["B"]), ("$$(B)", []), ("$$$(B)", ["B"]), ("$(B", []), ("$(date +%s)", []),
    ("$(A)$(B)", ["A", "B"]), ("$", []), ("$()", []),
])
def test_kube_references(text, names):
    assert kube_references(text) == names


@pytest.mark.parametrize(("container", "shell"), [
    ({"command": ["sh", "-c", "x"]}, True), ({"command": ["/bin/bash"], "args": ["-c", "x"]}, True),
    ({"args": ["-c", "x"]}, True), ({"command": ["/usr/bin/env", "bash", "-c", "x"]}, True),
    ({"command": ["/app/bin/server"]}, False), ({"args": ["start"]}, False), ({}, False),
])
def test_is_shell(container, shell):
    assert is_shell(container) is shell


# Live objects and empty files ---------------------------------------------------------------------------------


def test_a_pasted_live_object_is_found_field_by_field_and_a_dry_run_is_not():
    findings = found("live-dump.yaml", {"K8S-LIVE-OBJECT", "SEC-LAST-APPLIED"})
    assert [f.split(" ")[0] + " " + f.split(" ")[1] for f in findings] == [
        f"{at('live-dump.yaml', 9, 5)} SEC-LAST-APPLIED",
        f"{at('live-dump.yaml', 11, 3)} K8S-LIVE-OBJECT",
        f"{at('live-dump.yaml', 15, 3)} K8S-LIVE-OBJECT",
        f"{at('live-dump.yaml', 16, 3)} K8S-LIVE-OBJECT",
        f"{at('live-dump.yaml', 28, 1)} K8S-LIVE-OBJECT"]
    assert "Deployment/api-web carries metadata.uid, a field of the live object: an apply to another cluster" in \
        findings[3]
    assert "status, a field of the live object" in findings[4]
    assert all("Service/" not in f for f in findings)  # creationTimestamp: null, status: {loadBalancer: {}}


def test_an_empty_file_listed_as_a_resource_is_found_in_every_kustomization():
    root = DETECTIONS / "empty-resource"
    envs, _, _, _ = load_case(DETECTIONS / "templates.yaml")
    overlay = Overlay("prod", "api", root / "overlays" / "prod" / "api", "overlays/prod/api")
    graph = read_sources(root, overlay)
    assert [f for f in graph.findings if f.severity == "error"] == []
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-web", "namespace": "api"},
               "spec": {"selector": {"app.kubernetes.io/name": "api"}, "ports": [{"port": 80}]}}
    rendered = {"prod": [Rendered(overlay, "", (service,), ({"path": "base/api/service.yaml"},))]}
    result = evaluate(envs, rendered, {overlay: graph}, only={"K8S-EMPTY-RESOURCE"}, policy=POLICY)
    assert [str(f) for f in result.findings if f.rule == "K8S-EMPTY-RESOURCE"] == [
        "base/api/kustomization.yaml:5:5: warning K8S-EMPTY-RESOURCE resources[1] 'networkpolicy.yaml' has no YAML "
        "document: kustomize adds nothing for it [prod/api]",
        "overlays/prod/api/kustomization.yaml:6:5: warning K8S-EMPTY-RESOURCE resources[1] 'pdb.yaml' has no YAML "
        "document: kustomize adds nothing for it [prod/api]"]


# Clustering ---------------------------------------------------------------------------------------------------


def test_clustering_queries_are_checked_once_each():
    findings = found("clustering.yaml", {"K8S-CLUSTER-QUERY", "PHX-V09"})
    line_24 = [f for f in findings if f.startswith(at("clustering.yaml", 24, 1)[:-2])]
    assert len(line_24) == 1, findings  # the release's DNS_CLUSTER_QUERY: one rule says it, not two
    assert f"{at('clustering.yaml', 43, 15)} K8S-CLUSTER-QUERY CLUSTER_SERVICE names Service 'shop-workers', which " \
           "is not in this build; a Service of that name is in namespace shop, not jobs: the query finds no peers" \
           in findings
    assert all("SELECTOR" not in f for f in findings)  # app=shop,role=worker selects the worker pods


@pytest.mark.parametrize(("query", "target"), [
    ("api-nodes", ("api-nodes", None)),
    ("api-nodes.api", ("api-nodes", "api")),
    ("api-nodes.api.svc.cluster.local.", ("api-nodes", "api")),
    ("_epmd._tcp.api-nodes.api.svc.cluster.local", ("api-nodes", "api")),
    ("api.internal", None), ("api.example.org", None), ("10.0.0.7", None), ("http://api-nodes", None),
    ("Api_Nodes", None), ("", None),
])
def test_dns_target(query, target):
    assert dns_target(query, {"api"}) == target


# Services and Ingresses ---------------------------------------------------------------------------------------


def test_services_exposed_in_plain_http_or_selecting_another_namespace_and_the_ingress_annotation():
    findings = found("services.yaml", {"K8S-SERVICE-SELECTOR", "K8S-PLAIN-HTTP", "K8S-INGRESS-CLASS"})
    assert findings == [
        f"{at('services.yaml', 29, 3)} K8S-SERVICE-SELECTOR Service/blog selects no pods in its namespace default; "
        "it matches Deployment/blog in namespace blog, and a Service only selects pods of its own namespace",
        f"{at('services.yaml', 31, 7)} K8S-PLAIN-HTTP Service/blog (LoadBalancer) serves plain HTTP on port 80 and "
        "nothing terminates TLS in front of it",
        f"{at('services.yaml', 40, 5)} K8S-INGRESS-CLASS Ingress/blog chooses its class with the deprecated "
        "kubernetes.io/ingress.class annotation (spec.ingressClassName is set as well: 'nginx'); use "
        "spec.ingressClassName: nginx"]  # the metrics port and the NodePort behind the Ingress are not flagged


# Secrets --------------------------------------------------------------------------------------------------------


def test_secret_detections_in_a_real_shaped_app_and_no_value_is_shown():
    rules = {"SEC-SECRET-NAME", "SEC-EMPTY-SECRET", "SEC-DB-TRUST-AUTH", "SEC-ENTROPY"}
    findings = found("secrets.yaml", rules)
    assert [" ".join(f.split(" ")[:2]) for f in findings] == [
        f"{at('secrets.yaml', 9, 5)} SEC-SECRET-NAME",
        f"{at('secrets.yaml', 22, 18)} SEC-SECRET-NAME",
        f"{at('secrets.yaml', 29, 15)} SEC-EMPTY-SECRET",
        f"{at('secrets.yaml', 59, 3)} SEC-DB-TRUST-AUTH"]
    text = "\n".join(findings)
    assert "annotation forum.example.org/admin-password has a literal value (****)" in text
    assert "args DATABASE_PASSWORD has a literal value (****)" in text
    assert ("SECRET_KEY_BASE of container 'forum' is empty (set in env); the empty env entry overrides what Secret "
            "'forum-secrets' gives through envFrom") in text
    assert "POSTGRES_HOST_AUTH_METHOD trust: the postgres image lets every client log in as any user" in text
    assert "hunter2" not in text and "SENTRY_DSN" not in text and "GIT_SHA" not in text


def test_shell_lines_give_their_named_words():
    line = ("export DB_PASSWORD=hunter2-a && PGPASSWORD=$(cat /run/pg) psql; mysql -uroot -phunter2-b app "
            "--api-token tok-hunter2-c --verbose # --secret=hidden")
    assert [(k, v) for _, k, v in command_line(["sh", "-c", line], "args")][3:] == [
        ("DB_PASSWORD", "hunter2-a"), ("PASSWORD", "hunter2-b"), ("API_TOKEN", "tok-hunter2-c")]
    assert [(k, v) for _, k, v in command_line(["-p", "x y"], "args")] == [("args", "-p"), ("P", "x y")]
    assert list(command_line(['echo "unbalanced --token=abc'], "args"))[-1] == (0, "TOKEN", "abc")


@pytest.mark.parametrize(("value", "plausible"), [
    ("hunter2-x", True), ("s3cr3t", True), ("true", False), ("Disabled", False), ("3600", False), ("30s", False),
    ("1.5Gi", False), ("/run/secrets/db", False), ("database/creds/app", False), ("$(TOKEN)", False),
    ("{{ .token }}", False), ("", False),
])
def test_plausible_secret(value, plausible):
    assert plausible_secret(value) is plausible


def test_every_new_rule_has_a_failing_and_a_passing_fixture_in_the_rules_folder():
    rules_folder = PROJECT / "tests" / "fixtures" / "rules"
    for rule_id in NEW_RULES:
        assert list(Path(rules_folder / rule_id).glob("fail*.yaml")) and list(
            Path(rules_folder / rule_id).glob("pass*.yaml")), rule_id
