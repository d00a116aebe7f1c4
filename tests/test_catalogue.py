"""The catalogue covers every finding ID the package can emit, and docs/rules.md has a section for each.

The package's source is scanned (AST) for IDs in every form they are written: a string that is an ID (the first
argument of `Finding(...)`, the rule of `YamlError(...)`, `own_schemas.check(..., rule=...)`, a stage's
`find(...)`, the rule of a schema `Problem`, a table of IDs) and an ID written into an exception message
(`InputError(f"{path}: error SRC-PATH ...")`).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import PROJECT

from phoenix_gitops import rules
from phoenix_gitops.rules.registry import FAMILIES, PROFILES, document

PACKAGE = PROJECT / "phoenix_gitops"
_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
_IN_MESSAGE = re.compile(r"\berror ([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) ")
_REGISTRATIONS = {"rule", "document"}
"""Calls whose first argument registers an ID in the catalogue rather than emitting it."""


def _registration_ids(tree: ast.AST) -> set[int]:
    """The `id()` of every string node that is the first argument of `rule(...)` or `document(...)`."""
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _REGISTRATIONS
                and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(id(node.args[0]))
    return found


def emitted_ids(files: list[Path], root: Path = PROJECT) -> dict[str, set[str]]:
    """Every finding ID the source of `files` can emit -> the files (relative to `root`) it appears in."""
    found: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        registrations = _registration_ids(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in registrations:
                continue
            ids = {node.value} if _ID.match(node.value) else set()
            ids |= set(_IN_MESSAGE.findall(node.value))
            for rule_id in ids:
                found.setdefault(rule_id, set()).add(path.relative_to(root).as_posix())
    return found


@pytest.fixture(scope="module")
def emitted() -> dict[str, set[str]]:
    return emitted_ids(sorted(PACKAGE.rglob("*.py")))


def test_the_scan_sees_every_form_an_id_is_written_in(emitted):
    # One ID per form: YamlError's rule, a Finding's first argument, a table value, a dataclass default, a
    # Problem's rule, a stage's find(), own_schemas.check(rule=...), an ID inside an exception message.
    for rule_id in ("YAML-SYNTAX", "KUSTOMIZE-BUILD", "SRC-HELM", "K8S-SCHEMA", "K8S-UNKNOWN-KIND", "ISO-ARGO-SYNC",
                    "POLICY-FILE", "BOOT-NAME", "LAYOUT-NAME", "SRC-SETTINGS"):
        assert rule_id in emitted, rule_id


def test_the_scan_finds_ids_in_exception_messages_and_skips_registrations(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        'raise InputError(f"{rel}: error ABC-DEF something broke")\n'
        'Finding("GHI-JKL", "error", "message", "x.yaml")\n'
        'document("MNO-PQR", title="t")\n'
        'text = "an error in UTF-8 text, no ID"\n', encoding="utf-8")
    assert emitted_ids([source], tmp_path) == {"ABC-DEF": {"sample.py"}, "GHI-JKL": {"sample.py"}}


def test_every_emitted_id_is_in_the_catalogue(emitted):
    missing = {rule_id: sorted(files) for rule_id, files in emitted.items() if rule_id not in rules.CATALOGUE}
    assert missing == {}


def test_every_stage_rule_is_emitted_somewhere(emitted):
    stale = [r.id for r in rules.CATALOGUE.values() if r.check is None and r.id not in emitted]
    assert stale == []


def test_every_entry_is_complete():
    for rule in rules.CATALOGUE.values():
        assert rule.title and rule.why and rule.fix, rule.id
        assert rule.family in FAMILIES, rule.id
        assert len(rule.defaults) == len(PROFILES), rule.id
        if rule.check is None:
            assert rule.scope == "stage" and rule.stage and not rule.suppressible, rule.id
        if not rule.tunable:
            assert rule.check is None and rule.defaults == ("error", "error", "error"), rule.id


def test_only_yaml_ambiguous_policy_weakened_and_unknown_crd_among_the_stage_findings_may_be_tuned():
    assert sorted(r.id for r in rules.CATALOGUE.values() if r.check is None and r.tunable) == [
        "K8S-UNKNOWN-CRD", "POLICY-WEAKENED", "YAML-AMBIGUOUS"]


def test_the_issue_s_stage_ids_are_catalogued_as_fixed_stage_findings():
    for rule_id in ("YAML-SYNTAX", "YAML-DUPLICATE-KEY", "SRC-PATH", "SRC-REMOTE", "K8S-SCHEMA", "K8S-VERSION",
                    "KUSTOMIZE-BUILD", "ISO-ARGO-DESTINATION", "ISO-FLUX-PATH", "BOOT-NAME", "LAYOUT-NAME"):
        rule = rules.CATALOGUE[rule_id]
        assert (rule.scope, rule.tunable, rule.suppressible, rule.check) == ("stage", False, False, None), rule_id


# docs/rules.md ---------------------------------------------------------------------------------------------


def _github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lowercase, punctuation other than `-`/`_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_catalogue_id_has_a_section_and_a_working_anchor():
    text = (PROJECT / rules.DOC_PATH).read_text(encoding="utf-8")
    headings = re.findall(r"^### (.+)$", text, flags=re.MULTILINE)
    assert sorted(headings) == sorted(rules.CATALOGUE)
    for rule_id in rules.CATALOGUE:
        assert rules.doc_anchor(rule_id) == _github_slug(rule_id)
        assert f"| [{rule_id}](#{rules.doc_anchor(rule_id)}) |" in text


def test_docs_say_which_severities_are_fixed_and_what_can_be_suppressed():
    text = (PROJECT / rules.DOC_PATH).read_text(encoding="utf-8")
    assert ("| [K8S-SCHEMA](#k8s-schema) |  | Resources match the strict schema of their cluster's Kubernetes version "
            "| error | error | error | no | no |") in text
    assert ("| [PHX-V04](#phx-v04) | V04 | Phoenix workloads' images are pinned by digest "
            "| – | warning | error | yes | yes |") in text
    section = text[text.index("### KUSTOMIZE-BUILD\n"):]
    section = section[:section.index("\n### ", 1)]
    assert "*Severity.* error in every environment (it stops its stage; the policy cannot change it)." in section
    assert "*Suppress.* not suppressible" in section


def test_committed_rules_doc_is_current():
    policy, problems = rules.load_policy()
    assert problems == [] and policy is not None
    assert (PROJECT / rules.DOC_PATH).read_text(encoding="utf-8") == rules.rules_markdown(policy), (
        "docs/rules.md is stale: run `invoke rules-doc`")


def test_the_catalogue_refuses_a_second_entry_a_lower_fixed_severity_and_an_unknown_family():
    entry = {"title": "t", "why": "w", "fix": "f", "stage": "a stage"}
    with pytest.raises(ValueError, match="YAML-SYNTAX registered twice"):
        document("YAML-SYNTAX", family="yaml", **entry)
    with pytest.raises(ValueError, match="an error in every environment"):
        document("NEW-FIXED", family="yaml", defaults=("warning", "error", "error"), **entry)
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        document("NEW-FAMILY", family="nope", **entry)
    assert {"NEW-FIXED", "NEW-FAMILY"}.isdisjoint(rules.CATALOGUE)
