"""report: every format, exactly, for a fixed report (so the documented output cannot drift)."""
from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from phoenix_gitops.check import CheckReport, EnvSummary
from phoenix_gitops.findings import Finding
from phoenix_gitops.report import FORMATS, format_report

ERROR = Finding("K8S-SCHEMA", "error", "$.spec.replicsa: unknown field 'replicsa'",
                "overlays/prod/web/deployment-patch.yaml", 6, 3, env="prod", app="web", resource="Deployment/web")
WARNING = Finding("YAML-AMBIGUOUS", "warning", "plain 'on', quote it: a, b|c", "base/web/x.yaml", 2, 1, env="prod", app="web")
NO_LINE = Finding("KUSTOMIZE-BUILD", "error", "kustomize build failed", "overlays/prod/api/kustomization.yaml",
                  env="prod", app="api")


@pytest.fixture
def report() -> CheckReport:
    return CheckReport(
        findings=[WARNING, NO_LINE, ERROR],
        summaries=[EnvSummary("prod", "prod-1", "1.34", 2, 9, 2, 1)],
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
    assert document["environments"] == [{"env": "prod", "cluster": "prod-1", "kubernetes_version": "1.34", "apps": 2,
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


def test_github_annotations_escape_properties_and_data(report):
    lines = format_report(report, "github").splitlines()
    assert lines[0] == "::warning file=base/web/x.yaml,line=2,col=1,title=YAML-AMBIGUOUS::plain 'on', quote it: a, b|c [prod/web]"
    assert lines[1] == "::error file=overlays/prod/api/kustomization.yaml,title=KUSTOMIZE-BUILD::kustomize build failed [prod/api]"
    odd = CheckReport(findings=[Finding("R", "error", "50%\nnext", "a,b:c.yaml", 1, 1)])
    assert format_report(odd, "github") == "::error file=a%2Cb%3Ac.yaml,line=1,col=1,title=R::50%25%0Anext\n"


def test_junit_has_a_suite_per_env_and_a_failure_per_error(report):
    root = ET.fromstring(format_report(report, "junit"))
    suite = root.find("testsuite")
    assert suite.get("name") == "prod" and suite.get("failures") == "2"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert sorted(cases) == ["api", "sources", "web"]
    assert cases["web"].find("failure").get("type") == "K8S-SCHEMA"
    assert "YAML-AMBIGUOUS" in cases["web"].find("system-out").text


def test_markdown_summary_table_and_details(report):
    text = format_report(report, "markdown")
    assert "| prod | prod-1 | 1.34 | 2 | 9 | 2 | 1 |" in text
    assert "<details><summary><b>prod</b>: 2 error(s), 1 other</summary>" in text
    assert "plain 'on', quote it: a, b\\|c" in text  # pipes escaped inside the table


def test_clean_report_in_every_format():
    clean = CheckReport(summaries=[EnvSummary("dev", "dev-1", "1.36", 1, 3, 0, 0)])
    assert format_report(clean, "text") == "" and format_report(clean, "github") == ""
    assert "No findings." in format_report(clean, "markdown")
    assert json.loads(format_report(clean, "sarif"))["runs"][0]["results"] == []
    assert set(FORMATS) == {"text", "json", "junit", "sarif", "github", "markdown"}
