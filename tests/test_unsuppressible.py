"""Rules no resource can suppress, through the real CLI: the catalogue's floor (`ISO-*`, `POLICY-*`, the `SEC-*`
rules that find credentials) and the policy's `unsuppressible` list. Naming one in `phoenix-gitops/suppress` is a
POLICY-SUPPRESS error at the annotation and the finding stays; a legitimate suppression shows in every format."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PROJECT, run_program, tree_bytes
from jsonschema import Draft4Validator

from phoenix_gitops import rules
from phoenix_gitops.rules.policy import DEFAULT_POLICY, REPO_POLICY, load_policy
from phoenix_gitops.rules.registry import CREDENTIAL_RULES, in_floor
from phoenix_gitops.rules.suppress import parse

SARIF_SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8"))
LABELS = """  labels:
    app.kubernetes.io/name: api
    app.kubernetes.io/instance: api
    app.kubernetes.io/part-of: api
    app.kubernetes.io/managed-by: phoenix-gitops
"""
CLUSTER_ROLE_BINDING = f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: api-admin
{LABELS}  annotations:
    phoenix-gitops/suppress: "ISO-CLUSTER-SCOPED: the api reads nodes for its status page"
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: api
    namespace: api
"""
APPLICATION = f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: api-extras
{LABELS}  annotations:
    phoenix-gitops/suppress: "ISO-FORBIDDEN-KIND: extras are synced by the app team itself"
spec:
  project: default
  destination: {{server: "https://kubernetes.default.svc", namespace: kube-system}}
  source: {{repoURL: "https://example.org/extras.git", path: ., targetRevision: main}}
"""
ANNOTATION_LINE = 11
"""The line of `phoenix-gitops/suppress` in both documents above."""
V27_SUPPRESSION = "overlays/prod/api/deployment-patch.yaml:8:5"
"""Where five-rules suppresses PHX-V27 (see its README)."""


def add_to_prod_api(root: Path, name: str, text: str) -> str:
    """Add `text` as `name` to the prod api overlay's resources; returns the file's repository path."""
    overlay = root / "overlays" / "prod" / "api"
    (overlay / name).write_text(text, encoding="utf-8")
    kustomization = overlay / "kustomization.yaml"
    source = kustomization.read_text(encoding="utf-8")
    assert source.count("\nresources:\n") == 1
    kustomization.write_text(source.replace("\nresources:\n", f"\nresources:\n  - {name}\n"), encoding="utf-8")
    return f"overlays/prod/api/{name}"


def with_unsuppressible(root: Path, entries: str) -> None:
    """Give the repository its own policy: the default with `unsuppressible: <entries>`."""
    text, count = re.subn(r"^unsuppressible: .*$", f"unsuppressible: {entries}", DEFAULT_POLICY.read_text("utf-8"),
                          flags=re.MULTILINE)
    assert count == 1
    (root / REPO_POLICY).parent.mkdir(exist_ok=True)
    (root / REPO_POLICY).write_text(text, encoding="utf-8")


def policy_line(root: Path) -> int:
    """The line of `unsuppressible:` in the repository's policy."""
    lines = (root / REPO_POLICY).read_text("utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.startswith("unsuppressible:"))


# The floor ------------------------------------------------------------------------------------------------------


def test_the_floor_is_every_isolation_and_policy_rule_and_the_credential_finders():
    floor = sorted(r.id for r in rules.CATALOGUE.values() if in_floor(r.id))
    assert all(not rules.CATALOGUE[r].suppressible for r in floor)
    assert {r for r in rules.CATALOGUE if r.startswith(("ISO-", "POLICY-"))} <= set(floor)
    assert set(rules.CATALOGUE) >= CREDENTIAL_RULES  # a renamed rule cannot silently leave the floor
    credentials = {"SEC-SECRET-NAME", "SEC-URL-CREDENTIALS", "SEC-PRIVATE-KEY", "SEC-TOKEN-FORMAT", "SEC-SOPS",
                   "SEC-LAST-APPLIED"}
    assert set(CREDENTIAL_RULES) == credentials
    for heuristic in ("SEC-ENTROPY", "SEC-SEALED-CLUSTER-WIDE", "SEC-SEALED-RENAMED", "PHX-V27", "K8S-RESOURCES"):
        assert rules.CATALOGUE[heuristic].suppressible and not in_floor(heuristic), heuristic


@pytest.mark.parametrize("rule_id", sorted(r.id for r in rules.CATALOGUE.values()
                                           if in_floor(r.id) and r.scope != "stage"))
def test_no_annotation_suppresses_a_floor_rule(rule_id):
    policy, _ = load_policy()
    assert policy is not None
    clauses, problems = parse(f"{rule_id}: we know what we are doing here", policy)
    assert clauses == []
    assert problems == [f"clause 1: {rule_id} cannot be suppressed by any annotation (isolation, policy and "
                        "credential rules never can); the finding stays"]


def test_a_clause_keeps_the_rules_it_may_suppress_and_refuses_the_others():
    policy, _ = load_policy()
    assert policy is not None
    clauses, problems = parse("V27, SEC-PRIVATE-KEY, K8S-PRIVILEGED: a key for the node agent", policy)
    assert [(c.rules, c.reason) for c in clauses] == [(("PHX-V27",), "a key for the node agent")]
    assert problems == [
        "clause 1: SEC-PRIVATE-KEY cannot be suppressed by any annotation (isolation, policy and credential rules "
        "never can); the finding stays",
        "clause 1: K8S-PRIVILEGED cannot be suppressed: phoenix_gitops/data/policy.yaml lists it under "
        "`unsuppressible`; the finding stays",
    ]


@pytest.mark.parametrize("kind, text, rule_id", [
    ("clusterrolebinding", CLUSTER_ROLE_BINDING, "ISO-CLUSTER-SCOPED"),
    ("application", APPLICATION, "ISO-FORBIDDEN-KIND"),
], ids=["ClusterRoleBinding", "Application"])
def test_an_app_overlay_cannot_suppress_isolation_on_itself(shipped_repo, kind, text, rule_id):
    root = shipped_repo
    assert run_program(["render", "all"], root).code == 0
    before = {name: tree_bytes(root / name) for name in ("rendered", "clusters")}
    path = add_to_prod_api(root, f"{kind}.yaml", text)

    result = run_program(["check", "--no-cache"], root)
    assert result.code == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{path}:2:1: error {rule_id} ") for line in lines), lines
    assert f"{path}:{ANNOTATION_LINE}:5: error POLICY-SUPPRESS phoenix-gitops/suppress: clause 1: {rule_id} cannot " \
           "be suppressed by any annotation" in result.stdout
    assert ": suppressed " not in result.stdout  # nothing was suppressed

    github = run_program(["check", "--format", "github"], root).stdout.splitlines()
    assert any(line.startswith(f"::error file={path},line=2,col=1,title={rule_id}::") for line in github), github
    assert any(line.startswith(f"::error file={path},line={ANNOTATION_LINE},col=5,title=POLICY-SUPPRESS::")
               and rule_id in line for line in github), github
    assert not any(",title=suppressed " in line for line in github)  # no suppression notice
    markdown = run_program(["check", "--format", "markdown"], root).stdout
    assert "No findings" not in markdown and "suppressed" not in markdown.split("<details>")[0]
    assert f"| {rule_id} |" in markdown and "| POLICY-SUPPRESS |" in markdown

    assert run_program(["render", "all"], root).code == 1
    assert {name: tree_bytes(root / name) for name in ("rendered", "clusters")} == before


# The policy's list ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entries", ["[PHX-V27]", "[V27]", "['PHX-V2*']"])
def test_a_rule_the_policy_lists_cannot_be_suppressed(fixture_repo, entries):
    root = fixture_repo("five-rules")
    assert " suppressed PHX-V27 (1 finding(s)): " in run_program(["check", "--no-cache"], root).stdout
    with_unsuppressible(root, entries)
    result = run_program(["check", "--no-cache"], root)
    assert result.code == 1
    assert f"{V27_SUPPRESSION}: error POLICY-SUPPRESS phoenix-gitops/suppress: clause 1: PHX-V27 cannot be " \
           f"suppressed: {REPO_POLICY} lists it under `unsuppressible`" in result.stdout
    assert " error PHX-V27 " in result.stdout and ": suppressed " not in result.stdout


def test_the_policy_can_lift_nothing_from_the_floor_and_an_empty_list_adds_nothing(fixture_repo):
    root = fixture_repo("five-rules")
    with_unsuppressible(root, "[]")
    result = run_program(["check", "--no-cache"], root)
    assert " suppressed PHX-V27 (1 finding(s)): " in result.stdout
    policy, problems = load_policy(root / REPO_POLICY, REPO_POLICY)
    assert problems == [] and policy is not None and policy.unsuppressible == ()
    assert not policy.suppressible(rules.CATALOGUE["ISO-CLUSTER-SCOPED"])
    assert policy.suppressible(rules.CATALOGUE["K8S-PRIVILEGED"])


@pytest.mark.parametrize("entries, message", [
    ("[K8S-RESOURCES, K8S-RESOURCE]", "$.unsuppressible[1]: 'K8S-RESOURCE' names no rule in the catalogue"),
    ("[NOPE-*]", "$.unsuppressible[0]: 'NOPE-*' names no rule in the catalogue"),
    ("[k8s-resources]", "$.unsuppressible[0]: 'k8s-resources' does not match"),
    ("K8S-RESOURCES", "$.unsuppressible: 'K8S-RESOURCES' is not of type 'array'"),
])
def test_a_bad_unsuppressible_entry_is_a_policy_error_at_its_line(fixture_repo, entries, message):
    root = fixture_repo("five-rules")
    with_unsuppressible(root, entries)
    result = run_program(["check", "--no-cache"], root)
    assert result.code == 1
    line = policy_line(root)
    hits = [x for x in result.stdout.splitlines() if x.startswith(f"{REPO_POLICY}:{line}:")]
    assert hits and all(" error POLICY-FILE " in x for x in hits), result.stdout
    assert any(message in x for x in hits), hits


# A legitimate suppression in every format --------------------------------------------------------------------------


def test_a_suppression_shows_in_every_format(fixture_repo):
    root = fixture_repo("five-rules")
    reason = "capacity is reserved per node, a surge pod would not fit during rollouts"
    path, line, col = V27_SUPPRESSION.split(":")

    github = run_program(["check", "--format", "github"], root).stdout.splitlines()
    assert f"::notice file={path},line={line},col={col},title=suppressed PHX-V27::PHX-V27 suppressed " \
           f"(1 finding(s)): {reason} [prod/api Deployment/api-web]" in github

    markdown = run_program(["check", "--format", "markdown"], root).stdout.splitlines()
    assert markdown[:3] == ["## phoenix-gitops check", "", "**1 finding(s) suppressed** by 1 suppression(s) "
                            "(`phoenix-gitops/suppress`, listed below)."]

    for run in (["--no-cache"], []):  # a fresh run, then one from the cache the runs above filled
        document = json.loads(run_program(["check", *run, "--format", "sarif"], root).stdout)
        errors = [e.message for e in Draft4Validator(SARIF_SCHEMA).iter_errors(document)]
        assert errors == [], run
        results = document["runs"][0]["results"]
        suppressed = [r for r in results if "suppressions" in r]
        assert [(r["ruleId"], r["suppressions"]) for r in suppressed] == [("PHX-V27", [{
            "kind": "inSource", "justification": reason,
            "location": {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"},
                                              "region": {"startLine": int(line), "startColumn": int(col)}}},
        }])], run
        assert suppressed[0]["message"]["text"] == ("rollingUpdate.maxUnavailable must be 0 "
                                                    "[prod/api Deployment/api-web]")
        assert suppressed[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 10, "startColumn": 3}
        rule_ids = [r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]]
        assert suppressed[0]["ruleIndex"] == rule_ids.index("PHX-V27")
        assert all("suppressions" not in r for r in results if r["ruleId"] != "PHX-V27")

    text = run_program(["check"], root).stdout
    assert f"{V27_SUPPRESSION}: suppressed PHX-V27 (1 finding(s)): {reason}" in text
    entry = json.loads(run_program(["check", "--format", "json"], root).stdout)["suppressions"]
    assert [(e["rules"], e["suppressed"], e["reason"]) for e in entry] == [(["PHX-V27"], 1, reason)]
    junit = run_program(["check", "--format", "junit"], root).stdout
    assert f"{V27_SUPPRESSION}: suppressed PHX-V27 (1 finding(s))" in junit
