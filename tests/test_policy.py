"""policy: the default policy is package data, a repository's own policy replaces it, fixed severities are
refused, and `retune` gives a stage's tunable findings the policy's severity."""
from __future__ import annotations

from importlib import resources

import pytest
from conftest import PROJECT

from phoenix_gitops import rules
from phoenix_gitops.findings import Finding
from phoenix_gitops.rules.policy import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    REPO_POLICY,
    load_policy,
    policy_file,
    retune,
    rules_named,
)

DEFAULT_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")


AMBIGUOUS_LINE = "  YAML-AMBIGUOUS: {dev: error, staging: error, prod: error}\n"


def with_rules(text: str) -> str:
    """The default policy with `text` (lines of `rules:` entries) added at the top of its rules."""
    assert "\nrules:\n" in DEFAULT_TEXT
    return DEFAULT_TEXT.replace("\nrules:\n", f"\nrules:\n{text}", 1)


def with_ambiguous(entry: str) -> str:
    """The default policy with YAML-AMBIGUOUS's severities set to `entry`."""
    assert DEFAULT_TEXT.count(AMBIGUOUS_LINE) == 1
    return DEFAULT_TEXT.replace(AMBIGUOUS_LINE, f"  YAML-AMBIGUOUS: {entry}\n")


def test_the_default_policy_is_package_data():
    assert DEFAULT_POLICY.read_bytes() == (resources.files("phoenix_gitops") / "data" / "policy.yaml").read_bytes()
    policy, problems = load_policy()
    assert problems == [] and policy is not None
    assert policy.source == DEFAULT_POLICY_NAME == "phoenix_gitops/data/policy.yaml"


def test_the_shipped_repository_runs_on_the_defaults():
    assert (PROJECT / REPO_POLICY).read_bytes() == DEFAULT_POLICY.read_bytes()


def test_the_default_lists_every_tunable_rule_at_the_catalogue_defaults():
    policy, _ = load_policy()
    assert policy is not None
    assert set(policy.rules) == {r.id for r in rules.CATALOGUE.values() if r.tunable}
    for rule_id in policy.rules:
        rule = rules.CATALOGUE[rule_id]
        assert tuple(policy.severity_of(rule, p) for p in ("dev", "staging", "prod")) == rule.defaults, rule_id


def test_a_repository_policy_wins_and_the_default_applies_without_one(tmp_path):
    assert policy_file(tmp_path) == (DEFAULT_POLICY, DEFAULT_POLICY_NAME)
    (tmp_path / "schemas").mkdir()
    own = tmp_path / "schemas" / "policy.yaml"
    own.write_text(with_ambiguous('{dev: "-", staging: warning, prod: error}'), encoding="utf-8")
    assert policy_file(tmp_path) == (own, "schemas/policy.yaml")
    policy, problems = load_policy(*policy_file(tmp_path))
    assert problems == [] and policy is not None and policy.source == "schemas/policy.yaml"
    assert policy.severity(rules.CATALOGUE["YAML-AMBIGUOUS"], "staging") == "warning"


@pytest.mark.parametrize("rule_id", ["YAML-SYNTAX", "SRC-REMOTE", "KUSTOMIZE-BUILD", "K8S-SCHEMA", "ISO-CROSS-ENV",
                                     "ISO-ARGO-DESTINATION", "POLICY-FILE"])
def test_a_policy_that_tunes_a_finding_that_stops_its_stage_is_refused_at_its_line(tmp_path, rule_id):
    file = tmp_path / "policy.yaml"
    file.write_text(with_rules(f"  {rule_id}: {{dev: warning, staging: error, prod: error}}\n"), encoding="utf-8")
    policy, problems = load_policy(file, name="policy.yaml")
    assert policy is None
    line = DEFAULT_TEXT[:DEFAULT_TEXT.index("\nrules:\n")].count("\n") + 3
    (problem,) = problems
    assert (problem.rule, problem.severity, problem.path, problem.line, problem.col) == (
        "POLICY-FILE", "error", "policy.yaml", line, 3)
    assert problem.message.startswith(f"$.rules.{rule_id}: its severity cannot be set here: reported by ")
    assert problem.message.endswith("it stops that stage and is always an error; leave it out")


def test_a_fixed_finding_is_an_error_whatever_the_profile():
    policy, _ = load_policy()
    assert policy is not None
    for env in ("dev", "staging", "prod", "qa"):
        assert policy.severity(rules.CATALOGUE["K8S-SCHEMA"], env) == "error"


def test_an_unreadable_policy_is_a_finding(tmp_path):
    policy, problems = load_policy(tmp_path, name="schemas/policy.yaml")  # a folder, not a file
    assert policy is None
    assert [(p.rule, p.path) for p in problems] == [("POLICY-FILE", "schemas/policy.yaml")]
    assert problems[0].message.startswith("cannot read file")


# unsuppressible ---------------------------------------------------------------------------------------------


def with_unsuppressible(entries: str) -> str:
    """The default policy with `unsuppressible: <entries>`."""
    lines = [line for line in DEFAULT_TEXT.splitlines(keepends=True) if line.startswith("unsuppressible:")]
    assert len(lines) == 1
    return DEFAULT_TEXT.replace(lines[0], f"unsuppressible: {entries}\n")


def test_the_default_policy_keeps_node_access_unsuppressible():
    policy, _ = load_policy()
    assert policy is not None and policy.unsuppressible == ("K8S-PRIVILEGED", "K8S-HOST-ACCESS", "K8S-POD-SECURITY")
    catalogue_allows = [r for r in rules.CATALOGUE.values() if r.suppressible]
    assert sorted(r.id for r in catalogue_allows if not policy.suppressible(r)) == [
        "K8S-HOST-ACCESS", "K8S-POD-SECURITY", "K8S-PRIVILEGED"]


@pytest.mark.parametrize("entries, listed", [
    ("[K8S-RESOURCES]", ["K8S-RESOURCES"]),
    ("[V27, 'K8S-P*']", ["K8S-PDB-SELECTOR", "K8S-PLACEHOLDER", "K8S-PLAIN-HTTP", "K8S-POD-SECURITY",
                         "K8S-PRIVILEGED", "K8S-PROBES", "PHX-V27"]),
    ("[ISO-CLUSTER-SCOPED, 'SEC-*']", ["SEC-DB-TRUST-AUTH", "SEC-EMPTY-SECRET", "SEC-ENTROPY",
                                       "SEC-SEALED-CLUSTER-WIDE", "SEC-SEALED-RENAMED", "SEC-SEALED-REUSED"]),
    ("[]", []),
])
def test_unsuppressible_names_rules_by_id_reference_number_or_pattern(tmp_path, entries, listed):
    file = tmp_path / "policy.yaml"
    file.write_text(with_unsuppressible(entries), encoding="utf-8")
    policy, problems = load_policy(file, name="policy.yaml")
    assert problems == [] and policy is not None
    assert sorted(r.id for r in rules.CATALOGUE.values() if r.suppressible and not policy.suppressible(r)) == listed
    assert not policy.suppressible(rules.CATALOGUE["ISO-FORBIDDEN-KIND"])  # the floor holds whatever the list says


def test_an_entry_names_rules_by_id_reference_number_or_pattern():
    assert rules_named("K8S-RESOURCES") == {"K8S-RESOURCES"}
    assert rules_named("V27") == {"PHX-V27"}
    assert rules_named("PHX-V0?") == {f"PHX-V0{n}" for n in range(1, 10)}
    assert rules_named("K8S-RESOURCE") == rules_named("k8s-resources") == set()


@pytest.mark.parametrize("entries, message", [
    ("[K8S-RESOURCES, V99]", "$.unsuppressible[1]: 'V99' names no rule in the catalogue"),
    ("['K8S-RESOURCES', 'K8S-RESOURCES']", "$.unsuppressible: ['K8S-RESOURCES', 'K8S-RESOURCES'] has non-unique"),
    ("['sec-*']", "$.unsuppressible[0]: 'sec-*' does not match"),
])
def test_a_bad_unsuppressible_list_is_refused_at_its_line(tmp_path, entries, message):
    file = tmp_path / "policy.yaml"
    file.write_text(with_unsuppressible(entries), encoding="utf-8")
    policy, problems = load_policy(file, name="policy.yaml")
    line = DEFAULT_TEXT[:DEFAULT_TEXT.index("\nunsuppressible:")].count("\n") + 2
    assert policy is None
    (problem,) = problems
    assert (problem.rule, problem.path, problem.line) == ("POLICY-FILE", "policy.yaml", line)
    assert problem.message.startswith(message), problem.message


# retune -----------------------------------------------------------------------------------------------------


def ambiguous(env: str | None) -> Finding:
    return Finding("YAML-AMBIGUOUS", "error", "plain 'on' is read as boolean true by YAML 1.1 tools; quote it",
                   "base/web/deployment.yaml", 4, 9, env=env, app="web")


@pytest.fixture
def tuned(tmp_path):
    file = tmp_path / "policy.yaml"
    file.write_text(with_ambiguous('{dev: warning, staging: "-", prod: info}'), encoding="utf-8")
    policy, problems = load_policy(file, name="policy.yaml")
    assert problems == [] and policy is not None
    return policy


def test_retune_gives_a_tunable_stage_finding_the_policy_s_severity(tuned):
    found = retune([ambiguous("dev"), ambiguous("staging"), ambiguous("prod"), ambiguous("qa")], tuned)
    assert [(f.env, f.severity) for f in found] == [("dev", "warning"), ("prod", "info"), ("qa", "info")]
    assert found[0].message == ambiguous("dev").message and found[0].line == 4


def test_retune_keeps_a_finding_about_no_environment_at_the_default_profile(tuned):
    assert [f.severity for f in retune([ambiguous(None)], tuned)] == ["info"]


def test_retune_leaves_fixed_findings_rule_findings_and_unknown_ids_alone(tuned):
    others = [
        Finding("K8S-SCHEMA", "error", "$.spec.replicsa: unknown field", "a.yaml", 1, 1, env="dev", app="web"),
        Finding("PHX-V04", "warning", "image not pinned by digest", "b.yaml", 2, 1, env="staging", app="web"),
        Finding("NOT-CATALOGUED", "error", "from somewhere else", "c.yaml", env="dev"),
    ]
    assert retune(others, tuned) == others


def test_retune_is_idempotent_and_the_default_changes_nothing(tuned):
    once = retune([ambiguous("dev"), ambiguous("prod")], tuned)
    assert retune(once, tuned) == once
    default, _ = load_policy()
    assert default is not None
    assert retune([ambiguous("dev"), ambiguous("staging")], default) == [ambiguous("dev"), ambiguous("staging")]


def test_an_edited_policy_file_is_read_again(tmp_path):
    file = tmp_path / "policy.yaml"
    file.write_text(with_ambiguous('{dev: warning, staging: error, prod: error}'), encoding="utf-8")
    first, _ = load_policy(file, name="policy.yaml")
    file.write_text(with_ambiguous('{dev: "-", staging: error, prod: error}'), encoding="utf-8")
    again, _ = load_policy(file, name="policy.yaml")
    assert first is not None and again is not None
    ambiguous_rule = rules.CATALOGUE["YAML-AMBIGUOUS"]
    assert (first.severity(ambiguous_rule, "dev"), again.severity(ambiguous_rule, "dev")) == ("warning", "-")
