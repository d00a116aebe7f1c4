"""Reporters: findings as text, JSON, JUnit XML, SARIF 2.1.0, GitHub annotations or Markdown. Each returns str.

Findings never carry resource values (the checks build their messages from field names and schema facts),
so no reporter can leak a secret.

Usage:
    print(format_report(report, "sarif"))
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Callable
from xml.etree import ElementTree as ET

from . import __version__
from .check import CheckReport
from .findings import Finding

__all__ = ["FORMATS", "format_report"]

TOOL = "phoenix-gitops"
JSON_SCHEMA_VERSION = 1
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def format_report(report: CheckReport, fmt: str) -> str:
    """`report` in format `fmt` (one of FORMATS)."""
    return FORMATS[fmt](report)


def as_text(report: CheckReport) -> str:
    """One finding per line, sorted: `path:line:col: severity RULE-ID message [env/app kind/name]`; then one
    `path:line:col: suppressed RULE-IDS (N finding(s)): reason [env/app kind/name]` line per suppression."""
    return "".join(f"{item}\n" for item in [*report.findings, *report.suppressions])


def as_json(report: CheckReport) -> str:
    """A stable document: {version, tool, findings: [...], environments: [...], toolErrors: [...], suppressions: [...]}."""
    document = {
        "version": JSON_SCHEMA_VERSION,
        "tool": {"name": TOOL, "version": __version__},
        "findings": [
            {
                "rule": f.rule, "severity": f.severity, "message": f.message, "path": f.path,
                "line": f.line, "column": f.col, "env": f.env, "app": f.app, "resource": f.resource,
            }
            for f in report.findings
        ],
        "environments": [vars(summary) for summary in report.summaries],
        "toolErrors": report.tool_errors,
        "suppressions": [
            {
                "rules": list(s.rules), "reason": s.reason, "path": s.path, "line": s.line, "column": s.col,
                "env": s.env, "app": s.app, "resource": s.resource, "suppressed": s.suppressed,
            }
            for s in report.suppressions
        ],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def as_junit(report: CheckReport) -> str:
    """JUnit XML: a test suite per environment, a test case per app (and one for the sources), a failure per error."""
    suites = ET.Element("testsuites", name=TOOL)
    by_env: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for finding in report.findings:
        by_env[finding.env or "repository"][finding.app or "sources"].append(finding)
    for summary in report.summaries:
        by_env[summary.env].setdefault("sources", [])
    for env in sorted(by_env):
        cases = by_env[env]
        errors = sum(f.severity == "error" for fs in cases.values() for f in fs)
        suite = ET.SubElement(suites, "testsuite", name=env, tests=str(len(cases)), failures=str(errors), errors="0")
        for app in sorted(cases):
            case = ET.SubElement(suite, "testcase", classname=env, name=app)
            for finding in cases[app]:
                if finding.severity == "error":
                    failure = ET.SubElement(case, "failure", message=finding.message, type=finding.rule)
                    failure.text = str(finding)
            notes = [str(f) for f in cases[app] if f.severity != "error"]
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(notes)
    for message in report.tool_errors:
        suite = ET.SubElement(suites, "testsuite", name="tools", tests="1", failures="0", errors="1")
        ET.SubElement(ET.SubElement(suite, "testcase", classname="tools", name="kustomize"), "error", message=message)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def as_sarif(report: CheckReport) -> str:
    """SARIF 2.1.0 with one run, the rules seen, and a region (line/column) wherever the line is known."""
    rules = sorted({f.rule for f in report.findings})
    results = []
    for f in report.findings:
        location: dict[str, object] = {"artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"}}
        if f.line is not None:
            location["region"] = {"startLine": f.line, "startColumn": f.col or 1}
        results.append({
            "ruleId": f.rule,
            "ruleIndex": rules.index(f.rule),
            "level": _SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.message}{f.context}"},
            "locations": [{"physicalLocation": location}],
        })
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL, "version": __version__, "informationUri": "https://phoenix-gitops.invalid/",
                "rules": [{"id": rule, "shortDescription": {"text": rule}} for rule in rules],
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": not report.tool_errors,
                "toolExecutionNotifications": [{"level": "error", "message": {"text": m}} for m in report.tool_errors],
            }],
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def as_github(report: CheckReport) -> str:
    """GitHub Actions workflow commands: `::error file=...,line=...,col=...,title=RULE::message`."""
    lines = []
    for f in report.findings:
        props = [f"file={_gh_property(f.path)}"]
        if f.line is not None:
            props += [f"line={f.line}", f"col={f.col or 1}"]
        props.append(f"title={_gh_property(f.rule)}")
        lines.append(f"::{_GITHUB_LEVEL.get(f.severity, 'warning')} {','.join(props)}::{_gh_data(f.message + f.context)}")
    lines += [f"::error title=tool failure::{_gh_data(message)}" for message in report.tool_errors]
    return "".join(f"{line}\n" for line in lines)


def as_markdown(report: CheckReport) -> str:
    """A pull-request comment: a summary table per environment, then the findings in collapsible sections."""
    out = ["## phoenix-gitops check", "", "| env | cluster | Kubernetes | apps | resources | errors | warnings |",
           "|---|---|---|---:|---:|---:|---:|"]
    for s in report.summaries:
        out.append(f"| {s.env} | {s.cluster} | {s.kubernetes_version} | {s.apps} | {s.resources} | {s.errors} | {s.warnings} |")
    out.append("")
    if report.tool_errors:
        out += ["**Tool failures (the check is incomplete):**", ""]
        out += [f"- `{_md(line)}`" for message in report.tool_errors for line in message.splitlines()[:1]]
        out.append("")
    if not report.findings:
        out.append("No findings. :white_check_mark:")
    by_env: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_env[f.env or "repository"].append(f)
    for env in sorted(by_env):
        findings = by_env[env]
        errors = sum(f.severity == "error" for f in findings)
        out += [f"<details><summary><b>{env}</b>: {errors} error(s), {len(findings) - errors} other</summary>", "",
                "| where | severity | rule | message | resource |", "|---|---|---|---|---|"]
        for f in findings:
            out.append(f"| `{_md(f.location)}` | {f.severity} | {f.rule} | {_md(f.message)} | {_md(f.resource or '')} |")
        out += ["", "</details>", ""]
    if report.suppressions:
        out += [f"<details><summary><b>suppressed</b>: {len(report.suppressions)} suppression(s)</summary>", "",
                "| where | rules | findings | reason | env/app resource |", "|---|---|---:|---|---|"]
        for x in report.suppressions:
            out.append(f"| `{_md(x.location)}` | {', '.join(x.rules)} | {x.suppressed} | {_md(x.reason)} | "
                       f"{_md(x.context.strip(' []'))} |")
        out += ["", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


FORMATS: dict[str, Callable[[CheckReport], str]] = {
    "text": as_text,
    "json": as_json,
    "junit": as_junit,
    "sarif": as_sarif,
    "github": as_github,
    "markdown": as_markdown,
}
