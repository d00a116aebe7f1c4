"""report: every format, exactly, for a fixed report (so the documented output cannot drift)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from conftest import PROJECT
from jsonschema import Draft4Validator

from phoenix_gitops import rules
from phoenix_gitops.check import CheckReport, EnvSummary
from phoenix_gitops.findings import Finding
from phoenix_gitops.report import DOCS_URI, FORMATS, format_report
from phoenix_gitops.rules.suppress import Suppression

SARIF_SCHEMA = json.loads((PROJECT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8"))

ERROR = Finding("K8S-SCHEMA", "error", "$.spec.replicsa: unknown field 'replicsa'",
                "overlays/prod/web/deployment-patch.yaml", 6, 3, env="prod", app="web", resource="Deployment/web")
WARNING = Finding("YAML-AMBIGUOUS", "warning", "plain 'on', quote it: a, b|c", "base/web/x.yaml", 2, 1,
                  env="prod", app="web")
NO_LINE = Finding("KUSTOMIZE-BUILD", "error", "kustomize build failed", "overlays/prod/api/kustomization.yaml",
                  env="prod", app="api")


ENV_LEVEL = Finding("K8S-VERSION", "error", "no Kubernetes 1.20 schemas in this install",
                    "overlays/qa/environment.yaml", env="qa")
REPO_LEVEL = Finding("POLICY-FILE", "error", "$.rules.PHX-V01.dev: 'fatal' is not one of ...", "schemas/policy.yaml",
                     40, 12)

HIDDEN = Finding("PHX-V27", "error", "rollingUpdate.maxUnavailable must be 0",
                 "overlays/prod/web/deployment-patch.yaml", 12, 7, env="prod", app="web", resource="Deployment/web")
SUPPRESSION = Suppression(("PHX-V27",), "capacity is reserved per node, 50% is the limit",
                          "overlays/prod/web/deployment-patch.yaml", 8, 5, env="prod", app="web",
                          resource="Deployment/web", hidden=(HIDDEN,))
STALE = Suppression(("SEC-ENTROPY", "PHX-V28"), "a public key, not a secret", "base/web/deployment.yaml", 9, 5,
                    env="prod", app="web", resource="Deployment/web")
"""A suppression that hides nothing (any more)."""


@pytest.fixture
def report() -> CheckReport:
    return CheckReport(
        findings=[WARNING, NO_LINE, ERROR],
        summaries=[EnvSummary("prod", "prod-1", "1.34", 3, 9, 2, 1)],
        apps={"prod": ["api", "web", "worker"]},
    )


def test_text_is_one_sorted_line_per_finding(report):
    report.findings.sort(key=Finding.sort_key)
    assert format_report(report, "text") == (
        "base/web/x.yaml:2:1: warning YAML-AMBIGUOUS plain 'on', quote it: a, b|c [prod/web]\n"
        "overlays/prod/api/kustomization.yaml: error KUSTOMIZE-BUILD kustomize build failed [prod/api]\n"
        "overlays/prod/web/deployment-patch.yaml:6:3: error K8S-SCHEMA $.spec.replicsa: unknown field 'replicsa' "
        "[prod/web Deployment/web]\n"
    )


def test_json_document(report):
    document = json.loads(format_report(report, "json"))
    assert document["version"] == 1 and document["tool"]["name"] == "phoenix-gitops"
    assert document["findings"][2] == {
        "rule": "K8S-SCHEMA", "severity": "error", "message": "$.spec.replicsa: unknown field 'replicsa'",
        "path": "overlays/prod/web/deployment-patch.yaml", "line": 6, "column": 3, "env": "prod", "app": "web",
        "resource": "Deployment/web",
    }
    assert document["findings"][1]["line"] is None
    assert document["environments"] == [{"env": "prod", "cluster": "prod-1", "kubernetes_version": "1.34", "apps": 3,
                                         "resources": 9, "errors": 2, "warnings": 1}]


def test_sarif_has_rules_and_real_regions(report):
    run = json.loads(format_report(report, "sarif"))["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["K8S-SCHEMA", "KUSTOMIZE-BUILD", "YAML-AMBIGUOUS"]
    result = run["results"][2]
    assert result["ruleId"] == "K8S-SCHEMA" and result["level"] == "error" and result["ruleIndex"] == 0
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "overlays/prod/web/deployment-patch.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 6, "startColumn": 3},
    }
    assert "region" not in run["results"][1]["locations"][0]["physicalLocation"]
    assert run["results"][0]["level"] == "warning"


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(report):
    report.findings += [ENV_LEVEL, REPO_LEVEL]
    report.tool_errors = ["overlays/prod/api: kustomize timed out after 60 s"]
    document = json.loads(format_report(report, "sarif"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in
              Draft4Validator(SARIF_SCHEMA, format_checker=Draft4Validator.FORMAT_CHECKER).iter_errors(document)]
    assert errors == []


def test_sarif_rules_carry_the_catalogue_entry_and_a_link_to_its_section(report):
    driver = json.loads(format_report(report, "sarif"))["runs"][0]["tool"]["driver"]
    schema = rules.CATALOGUE["K8S-SCHEMA"]
    assert driver["rules"][0] == {
        "id": "K8S-SCHEMA",
        "name": "K8sSchema",
        "shortDescription": {"text": "Resources match the strict schema of their cluster's Kubernetes version"},
        "fullDescription": {"text": f"{schema.why}\n\nHow to fix: {schema.fix}"},
        "helpUri": f"{DOCS_URI}#k8s-schema",
        "defaultConfiguration": {"level": "error"},
    }
    assert DOCS_URI == "https://phoenix-gitops.invalid/docs/rules.md"
    for rule in driver["rules"]:
        uri = urlsplit(rule["helpUri"])
        assert uri.scheme == "https" and uri.netloc, rule["helpUri"]  # SARIF: an absolute URI
        assert uri.path.endswith("/docs/rules.md") and uri.fragment == rules.doc_anchor(rule["id"])
        assert rule["shortDescription"]["text"] == rules.CATALOGUE[rule["id"]].title
        assert "How to fix: " in rule["fullDescription"]["text"]


@pytest.mark.parametrize("rule_id, name, level", [
    ("PHX-V04", "PhxV04", "error"),             # prod: error
    ("PHX-V18", "PhxV18", "warning"),           # prod: {default: warning, cpu-hpa: error}
    ("PHX-V38", "PhxV38", "warning"),
    ("YAML-AMBIGUOUS", "YamlAmbiguous", "error"),
    ("ISO-ARGO-DEFAULT-PROJECT", "IsoArgoDefaultProject", "error"),
])
def test_sarif_rule_names_and_default_levels(rule_id, name, level):
    finding = Finding(rule_id, "warning", "m", "a.yaml", 1, 1, env="dev")
    (rule,) = json.loads(format_report(CheckReport(findings=[finding]), "sarif"))["runs"][0]["tool"]["driver"]["rules"]
    assert (rule["name"], rule["defaultConfiguration"]["level"]) == (name, level)


def test_sarif_describes_an_id_outside_the_catalogue_by_its_id():
    document = json.loads(format_report(CheckReport(findings=[Finding("NOT-CATALOGUED", "error", "m", "a.yaml")]),
                                        "sarif"))
    assert document["runs"][0]["tool"]["driver"]["rules"] == [
        {"id": "NOT-CATALOGUED", "name": "NotCatalogued", "shortDescription": {"text": "NOT-CATALOGUED"}}]


def test_github_annotations_escape_properties_and_data(report):
    lines = format_report(report, "github").splitlines()
    assert lines[0] == ("::warning file=base/web/x.yaml,line=2,col=1,title=YAML-AMBIGUOUS::"
                        "plain 'on', quote it: a, b|c [prod/web]")
    assert lines[1] == ("::error file=overlays/prod/api/kustomization.yaml,title=KUSTOMIZE-BUILD::"
                        "kustomize build failed [prod/api]")
    odd = CheckReport(findings=[Finding("R", "error", "50%\nnext", "a,b:c.yaml", 1, 1)])
    assert format_report(odd, "github") == "::error file=a%2Cb%3Ac.yaml,line=1,col=1,title=R::50%25%0Anext\n"


def test_junit_has_a_suite_per_env_and_a_case_per_checked_app(report):
    root = ET.fromstring(format_report(report, "junit"))
    (suite,) = root.findall("testsuite")
    assert suite.attrib == {"name": "prod", "tests": "4", "failures": "2", "errors": "0"}
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["(environment)", "api", "web", "worker"]
    assert {case.get("classname") for case in cases.values()} == {"prod"}
    assert cases["web"].find("failure").attrib == {"message": "$.spec.replicsa: unknown field 'replicsa'",
                                                   "type": "K8S-SCHEMA"}
    assert cases["web"].find("failure").text == str(ERROR)
    assert cases["web"].find("system-out").text == str(WARNING)
    assert [f.get("type") for f in cases["api"].findall("failure")] == ["KUSTOMIZE-BUILD"]
    assert list(cases["worker"]) == [] and list(cases["(environment)"]) == []  # passing cases are listed too
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")


def test_junit_puts_findings_about_no_app_or_env_in_their_own_cases(report):
    report.findings += [ENV_LEVEL, REPO_LEVEL]
    report.tool_errors = ["overlays/prod/api: kustomize timed out after 60 s\nsecond line"]
    root = ET.fromstring(format_report(report, "junit"))
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["prod", "qa", "(repository)", "(tools)"]
    (qa,) = suites["qa"].findall("testcase")
    assert (qa.get("name"), qa.find("failure").get("type")) == ("(environment)", "K8S-VERSION")
    (repo,) = suites["(repository)"].findall("testcase")
    assert (repo.get("classname"), repo.get("name"), repo.find("failure").get("type")) == (
        "(repository)", "(repository)", "POLICY-FILE")
    assert suites["(tools)"].attrib == {"name": "(tools)", "tests": "1", "failures": "0", "errors": "1"}
    error = suites["(tools)"].find("testcase/error")
    assert error.get("message") == "overlays/prod/api: kustomize timed out after 60 s"
    assert error.text == report.tool_errors[0]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "4", "1")


def test_junit_does_not_depend_on_the_order_of_apps_or_findings(report):
    first = format_report(report, "junit")
    report.findings.reverse()
    report.apps = {"prod": ["worker", "web", "api"]}
    assert format_report(report, "junit") == first


def test_markdown_summary_table_and_details(report):
    text = format_report(report, "markdown")
    assert "| prod | prod-1 | 1.34 | 3 | 9 | 2 | 1 |" in text
    assert "<details><summary><b>prod</b>: 2 error(s), 1 other</summary>" in text
    assert "plain 'on', quote it: a, b\\|c" in text  # pipes escaped inside the table


def test_clean_report_in_every_format():
    clean = CheckReport(summaries=[EnvSummary("dev", "dev-1", "1.36", 1, 3, 0, 0)], apps={"dev": ["api"]})
    assert format_report(clean, "text") == "" and format_report(clean, "github") == ""
    junit = ET.fromstring(format_report(clean, "junit"))
    assert [(c.get("classname"), c.get("name"), len(c)) for c in junit.iter("testcase")] == [
        ("dev", "(environment)", 0), ("dev", "api", 0)]
    assert "No findings." in format_report(clean, "markdown")
    assert json.loads(format_report(clean, "sarif"))["runs"][0]["results"] == []
    assert set(FORMATS) == {"text", "json", "junit", "sarif", "github", "markdown"}


# Suppressions ------------------------------------------------------------------------------------------------------


@pytest.fixture
def suppressed(report) -> CheckReport:
    report.suppressions = [STALE, SUPPRESSION]
    return report


def test_text_lists_each_suppression_after_the_findings(suppressed):
    lines = format_report(suppressed, "text").splitlines()
    assert lines[3:] == [
        "base/web/deployment.yaml:9:5: suppressed SEC-ENTROPY,PHX-V28 (0 finding(s)): a public key, not a secret "
        "[prod/web Deployment/web]",
        "overlays/prod/web/deployment-patch.yaml:8:5: suppressed PHX-V27 (1 finding(s)): capacity is reserved per "
        "node, 50% is the limit [prod/web Deployment/web]",
    ]


def test_json_lists_each_suppression_with_its_count(suppressed):
    entries = json.loads(format_report(suppressed, "json"))["suppressions"]
    assert entries[1] == {"rules": ["PHX-V27"], "reason": "capacity is reserved per node, 50% is the limit",
                          "path": "overlays/prod/web/deployment-patch.yaml", "line": 8, "column": 5, "env": "prod",
                          "app": "web", "resource": "Deployment/web", "suppressed": 1}
    assert entries[0]["suppressed"] == 0


def test_github_gives_each_suppression_a_notice_at_its_annotation(suppressed):
    suppressed.tool_errors = ["kustomize timed out"]
    lines = format_report(suppressed, "github").splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["::warning", "::error", "::error", "::notice", "::notice",
                                                         "::error"]
    assert lines[3] == ("::notice file=base/web/deployment.yaml,line=9,col=5,title=suppressed SEC-ENTROPY PHX-V28::"
                        "SEC-ENTROPY, PHX-V28 suppressed (0 finding(s)): a public key, not a secret "
                        "[prod/web Deployment/web]")
    assert lines[4] == ("::notice file=overlays/prod/web/deployment-patch.yaml,line=8,col=5,title=suppressed PHX-V27::"
                        "PHX-V27 suppressed (1 finding(s)): capacity is reserved per node, 50%25 is the limit "
                        "[prod/web Deployment/web]")


def test_markdown_counts_suppressions_right_under_the_title(suppressed):
    lines = format_report(suppressed, "markdown").splitlines()
    assert lines[:4] == ["## phoenix-gitops check", "",
                         "**1 finding(s) suppressed** by 2 suppression(s) (`phoenix-gitops/suppress`, listed below).",
                         ""]
    assert ("| `overlays/prod/web/deployment-patch.yaml:8:5` | PHX-V27 | 1 | capacity is reserved per node, 50% is "
            "the limit | prod/web Deployment/web |") in lines
    suppressed.findings = []
    text = format_report(suppressed, "markdown")
    assert "No findings besides the suppressed ones below." in text and ":white_check_mark:" not in text


def test_markdown_without_suppressions_has_no_count_line(report):
    assert format_report(report, "markdown").splitlines()[2] == (
        "| env | cluster | Kubernetes | apps | resources | errors | warnings |")


def test_sarif_gives_each_hidden_finding_an_in_source_suppression(suppressed):
    document = json.loads(format_report(suppressed, "sarif"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in
              Draft4Validator(SARIF_SCHEMA, format_checker=Draft4Validator.FORMAT_CHECKER).iter_errors(document)]
    assert errors == []
    run = document["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == ["K8S-SCHEMA", "KUSTOMIZE-BUILD", "PHX-V27", "YAML-AMBIGUOUS"]
    assert [r["ruleId"] for r in run["results"]] == ["YAML-AMBIGUOUS", "KUSTOMIZE-BUILD", "K8S-SCHEMA", "PHX-V27"]
    assert all("suppressions" not in r for r in run["results"][:3])
    assert run["results"][3] == {
        "ruleId": "PHX-V27", "ruleIndex": 2, "level": "error",
        "message": {"text": "rollingUpdate.maxUnavailable must be 0 [prod/web Deployment/web]"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "overlays/prod/web/deployment-patch.yaml", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 12, "startColumn": 7}}}],
        "suppressions": [{
            "kind": "inSource", "justification": "capacity is reserved per node, 50% is the limit",
            "location": {"physicalLocation": {
                "artifactLocation": {"uri": "overlays/prod/web/deployment-patch.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 8, "startColumn": 5}}},
        }],
    }


def test_junit_lists_an_app_s_suppressions_in_its_output(suppressed):
    root = ET.fromstring(format_report(suppressed, "junit"))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["web"].find("system-out").text.splitlines() == [str(WARNING), str(STALE), str(SUPPRESSION)]
    assert [f.get("type") for f in cases["web"].findall("failure")] == ["K8S-SCHEMA"]  # hidden: no failure
    assert cases["api"].find("system-out") is None


# Where the rules did not run --------------------------------------------------------------------------------------


@pytest.fixture
def skipped(report) -> CheckReport:
    report.skipped = {"across environments": "the policy did not load", "prod/api": "kustomize could not build it",
                      "prod/web": "schema errors"}
    return report


SKIPPED_LINES = ["rules did not run across environments: the policy did not load",
                 "rules did not run for prod/api: kustomize could not build it",
                 "rules did not run for prod/web: schema errors"]


def test_every_format_says_where_the_rules_did_not_run(skipped):
    assert skipped.skipped_lines() == SKIPPED_LINES
    assert json.loads(format_report(skipped, "json"))["rulesSkipped"] == [
        {"what": "across environments", "reason": "the policy did not load"},
        {"what": "prod/api", "reason": "kustomize could not build it"},
        {"what": "prod/web", "reason": "schema errors"}]
    github = format_report(skipped, "github").splitlines()
    assert github[-3:] == [f"::warning title=rules did not run::{line}" for line in SKIPPED_LINES]
    markdown = format_report(skipped, "markdown")
    assert "**Not checked by the rules** (an earlier stage found an error):\n\n" + "".join(
        f"- {line}\n" for line in SKIPPED_LINES) in markdown
    sarif = json.loads(format_report(skipped, "sarif"))
    assert Draft4Validator(SARIF_SCHEMA).is_valid(sarif)
    assert sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"] == [
        {"level": "warning", "message": {"text": line}} for line in SKIPPED_LINES]
    cases = {(case.get("classname"), case.get("name")): case
             for case in ET.fromstring(format_report(skipped, "junit")).iter("testcase")}
    assert cases["prod", "api"].find("system-out").text == "rules did not run: kustomize could not build it"
    assert cases["prod", "web"].find("system-out").text.splitlines()[-1] == "rules did not run: schema errors"
    assert cases["(repository)", "(repository)"].find("system-out").text == (
        "rules did not run: the policy did not load")
    assert cases["prod", "worker"].find("system-out") is None


def test_a_report_where_every_rule_ran_says_nothing_about_skipping(report):
    assert report.skipped_lines() == []
    assert "rulesSkipped" in format_report(report, "json") and "did not run" not in format_report(report, "markdown")
    assert "did not run" not in format_report(report, "github") + format_report(report, "junit")


# Identical findings -------------------------------------------------------------------------------------------

MISSING = "Deployment/web references Secret 'web-env', which nothing in this build or the policy provides"
REFERENCES = [Finding("K8S-REF-MISSING", "error", MISSING, "base/web/deployment.yaml", line, 15, env="prod",
                      app="web", resource="Deployment/web") for line in (21, 25, 29)]
ORPHANS = [Finding("LAYOUT-ORPHAN", "error", "belongs to no environment", path, env="qa")
           for path in ("clusters/qa", "rendered/qa")]


def test_identical_findings_about_a_resource_are_one_line_with_a_count_and_every_place_in_json():
    report = CheckReport(findings=[*REFERENCES, ERROR, *ORPHANS])
    assert format_report(report, "text").splitlines() == [
        f"base/web/deployment.yaml:21:15: error K8S-REF-MISSING {MISSING} (3 times) [prod/web Deployment/web]",
        str(ERROR),
        "clusters/qa: error LAYOUT-ORPHAN belongs to no environment [qa]",  # about no resource: one line each
        "rendered/qa: error LAYOUT-ORPHAN belongs to no environment [qa]",
    ]
    first, error, *orphans = json.loads(format_report(report, "json"))["findings"]
    assert (first["line"], first["message"], first["count"]) == (21, MISSING, 3)
    assert first["locations"] == [{"path": "base/web/deployment.yaml", "line": line, "column": 15}
                                  for line in (21, 25, 29)]
    assert "count" not in error and "locations" not in error and len(orphans) == 2
    assert f"| {MISSING} (3 times) |" in format_report(report, "markdown")
    assert len(format_report(report, "github").splitlines()) == 6  # one annotation per place
    assert len(json.loads(format_report(report, "sarif"))["runs"][0]["results"]) == 6
