"""Reporters: findings as text, JSON, JUnit XML, SARIF 2.1.0, GitHub annotations or Markdown. Each returns str.

Findings never carry resource values (the checks build their messages from field names and schema facts),
so no reporter can leak a secret. SARIF describes every rule that appears from the catalogue (title, why and how
to fix, a link to its docs/rules.md section); JUnit has a test case for every app that was checked.

Every format shows every suppression (`phoenix-gitops/suppress`), so that a finding switched off by the change
under review is never invisible: a `suppressed` line (text, and the JUnit case's output), an entry of
`suppressions` (JSON), a `::notice` at the annotation (GitHub), a count under the title and a table (Markdown),
and each hidden finding as a SARIF result carrying an `inSource` suppression with the reason. Every format
says likewise where the rules did not run (`CheckReport.skipped`): the text summary, `rulesSkipped` (JSON), the
app's JUnit output, a `::warning` (GitHub), a list under the Markdown table, SARIF tool notifications.

Identical findings about a rendered resource (same rule, severity, message, environment, app and resource; only
the place differs, e.g. one missing Secret referenced 14 times) are one line with a count in text and Markdown
(`... (14 times)`, at the first place) and one JSON entry with `count` and every place in `locations`; GitHub,
SARIF and JUnit keep one annotation or result per place. Every workload the rules classified, and the rule families
that applied to it, is listed in JSON (`workloads`), counted in the summary line (`summary_lines`: "N Phoenix
workloads, M other workloads") and under the Markdown table.

Usage:
    print(format_report(report, "sarif"))
    summary_lines(report)           # ['2 Phoenix workloads (1 web, 1 migration), 1 other workload']
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from xml.etree import ElementTree as ET

from . import __version__, rules
from .check import ACROSS, CheckReport
from .findings import Finding, Located
from .rules.policy import SKIP
from .rules.registry import PROFILES
from .rules.workloads import summary_counts

__all__ = ["FORMATS", "format_report", "INFORMATION_URI", "DOCS_URI", "grouped", "summary_lines"]

TOOL = "phoenix-gitops"
JSON_SCHEMA_VERSION = 1
INFORMATION_URI = "https://phoenix-gitops.invalid/"
"""The tool's home, as SARIF's `informationUri` names it."""
DOCS_URI = f"{INFORMATION_URI}{rules.DOC_PATH}"
"""Where docs/rules.md is published: SARIF's `helpUri` of a rule is this URI and the rule's anchor (SARIF asks
for an absolute URI there)."""
ENV_CASE = "(environment)"
"""The JUnit test case of an environment's findings that are about no app (app names cannot have brackets)."""
REPOSITORY = "(repository)"
"""The JUnit test suite and case of findings about no environment."""
TOOLS = "(tools)"
"""The JUnit test suite of tool failures."""
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", SKIP: "none"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def format_report(report: CheckReport, fmt: str) -> str:
    """`report` in format `fmt` (one of FORMATS)."""
    return FORMATS[fmt](report)


def grouped(findings: list[Finding]) -> list[tuple[Finding, list[Finding]]]:
    """Findings about a rendered resource that differ only in their place, together: (the first, all of them), in
    the order of the first. Findings about no resource (a file, a folder) each stay on their own."""
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for index, finding in enumerate(findings):
        key = (finding.rule, finding.severity, finding.message, finding.env, finding.app, finding.resource)
        groups.setdefault(key if finding.resource else (index,), []).append(finding)
    return [(members[0], members) for members in groups.values()]


def _times(finding: Finding, count: int) -> str:
    """The message of a group of `count` findings."""
    return finding.message if count == 1 else f"{finding.message} ({count} times)"


def summary_lines(report: CheckReport) -> list[str]:
    """The workload summary: `N Phoenix workloads (roles), M other workloads (K unclassified)`; nothing when no
    overlay's rules ran."""
    if not report.workloads and not report.apps:
        return []
    phoenix, other, roles = summary_counts(report.workloads)
    unclassified = sum(1 for w in report.workloads if w.get("unclassified"))
    line = f"{phoenix} Phoenix workload{'s' * (phoenix != 1)}"
    if roles:
        line += f" ({', '.join(f'{count} {role}' for role, count in roles.items())})"
    line += f", {other} other workload{'s' * (other != 1)}"
    if unclassified:
        line += f" ({unclassified} with Phoenix signals but unclassified: PHX-UNCLASSIFIED)"
    return [line]


def as_text(report: CheckReport) -> str:
    """One finding per line, sorted: `path:line:col: severity RULE-ID message [env/app kind/name]` (identical
    findings at several places once, at the first, with ` (N times)` after the message); then one
    `path:line:col: suppressed RULE-IDS (N finding(s)): reason [env/app kind/name]` line per suppression."""
    lines = [f"{f.location}: {f.severity} {f.rule} {_times(f, len(group))}{f.context}"
             for f, group in grouped(report.findings)]
    return "".join(f"{line}\n" for line in [*lines, *map(str, report.suppressions)])


def as_json(report: CheckReport) -> str:
    """A stable document: {version, tool, findings: [...], environments: [...], toolErrors: [...],
    rulesSkipped: [...], suppressions: [...], workloads: [...]}. A finding found at several places is one entry
    with `count` and `locations`; a workload is {env, app, resource, namespace, phoenix, role, container,
    servingPort, clustered, evidence, rules (the rule families that applied), unclassified (why, or null)}."""
    document = {
        "version": JSON_SCHEMA_VERSION,
        "tool": {"name": TOOL, "version": __version__},
        "findings": [_json_finding(f, group) for f, group in grouped(report.findings)],
        "environments": [vars(summary) for summary in report.summaries],
        "toolErrors": report.tool_errors,
        "rulesSkipped": [{"what": what, "reason": reason} for what, reason in report.skipped.items()],
        "suppressions": [
            {
                "rules": list(s.rules), "reason": s.reason, "path": s.path, "line": s.line, "column": s.col,
                "env": s.env, "app": s.app, "resource": s.resource, "suppressed": s.suppressed,
            }
            for s in report.suppressions
        ],
        "workloads": report.workloads,
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def _json_finding(f: Finding, group: list[Finding]) -> dict[str, object]:
    """A JSON finding; one found at several places also has `count` and every place in `locations`."""
    entry: dict[str, object] = {
        "rule": f.rule, "severity": f.severity, "message": f.message, "path": f.path,
        "line": f.line, "column": f.col, "env": f.env, "app": f.app, "resource": f.resource,
    }
    if len(group) > 1:
        entry["count"] = len(group)
        entry["locations"] = [{"path": g.path, "line": g.line, "column": g.col} for g in group]
    return entry


def as_junit(report: CheckReport) -> str:
    """JUnit XML: a test suite per environment with a test case per app that was checked (passing ones included)
    and one, `(environment)`, for the findings about no app; a `(repository)` suite for findings about no
    environment and a `(tools)` suite for tool failures. A failure per error finding; warnings, notes and the
    app's suppressions go to the case's system-out."""
    suppressed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for x in report.suppressions:
        suppressed[x.env or REPOSITORY, x.app or ENV_CASE].append(str(x))
    suites: dict[str, dict[str, list[Finding]]] = {}
    if ACROSS in report.skipped:
        suites.setdefault(REPOSITORY, {REPOSITORY: []})
    for env in [*report.apps, *(s.env for s in report.summaries)]:
        cases = suites.setdefault(env, {ENV_CASE: []})
        for app in report.apps.get(env, []):
            cases.setdefault(app, [])
    for finding in report.findings:
        if finding.env is None:
            suites.setdefault(REPOSITORY, {}).setdefault(REPOSITORY, []).append(finding)
        else:
            suites.setdefault(finding.env, {ENV_CASE: []}).setdefault(finding.app or ENV_CASE, []).append(finding)
    order = sorted(name for name in suites if name != REPOSITORY) + [REPOSITORY] * (REPOSITORY in suites)
    root = ET.Element("testsuites", name=TOOL)
    failed_total = tests_total = 0
    for name in order:
        cases = suites[name]
        failed = sum(any(f.severity == "error" for f in found) for found in cases.values())
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)), failures=str(failed), errors="0")
        tests_total, failed_total = tests_total + len(cases), failed_total + failed
        for case_name in sorted(cases):
            case = ET.SubElement(suite, "testcase", classname=name, name=case_name)
            for finding in cases[case_name]:
                if finding.severity == "error":
                    ET.SubElement(case, "failure", message=finding.message, type=finding.rule).text = str(finding)
            notes = [str(f) for f in cases[case_name] if f.severity != "error"] + suppressed[name, case_name]
            skipped = report.skipped.get(f"{name}/{case_name}") or (name == REPOSITORY and report.skipped.get(ACROSS))
            notes += [f"rules did not run: {skipped}"] if skipped else []
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(notes)
    if report.tool_errors:
        count = str(len(report.tool_errors))
        suite = ET.SubElement(root, "testsuite", name=TOOLS, tests=count, failures="0", errors=count)
        for number, message in enumerate(report.tool_errors, start=1):
            case = ET.SubElement(suite, "testcase", classname=TOOLS, name=f"tool failure {number}")
            ET.SubElement(case, "error", message=message.splitlines()[0] if message else "").text = message
        tests_total += len(report.tool_errors)
    root.set("tests", str(tests_total))
    root.set("failures", str(failed_total))
    root.set("errors", str(len(report.tool_errors)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def as_sarif(report: CheckReport) -> str:
    """SARIF 2.1.0 with one run: a rule descriptor for every rule that appears (`ruleIndex` points at it) and a
    region (line/column) wherever the line is known. The findings that suppressions hid follow the reported
    ones, each with a `suppressions` entry: kind `inSource`, the reason as justification, the annotation as
    location."""
    hidden = [(f, x) for x in report.suppressions for f in x.hidden]
    ids = sorted({f.rule for f in report.findings} | {f.rule for f, _ in hidden})
    results = [_sarif_result(f, ids) for f in report.findings]
    for f, x in hidden:
        results.append({**_sarif_result(f, ids), "suppressions": [{
            "kind": "inSource", "justification": x.reason, "location": {"physicalLocation": _sarif_location(x)},
        }]})
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL, "version": __version__, "informationUri": INFORMATION_URI,
                "rules": [_sarif_rule(rule_id) for rule_id in ids],
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": not report.tool_errors,
                "toolExecutionNotifications": [
                    *({"level": "error", "message": {"text": m}} for m in report.tool_errors),
                    *({"level": "warning", "message": {"text": m}} for m in report.skipped_lines()),
                ],
            }],
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _sarif_result(f: Finding, ids: list[str]) -> dict[str, object]:
    return {
        "ruleId": f.rule,
        "ruleIndex": ids.index(f.rule),
        "level": _SARIF_LEVEL.get(f.severity, "warning"),
        "message": {"text": f"{f.message}{f.context}"},
        "locations": [{"physicalLocation": _sarif_location(f)}],
    }


def _sarif_location(item: Located) -> dict[str, object]:
    """A SARIF physicalLocation: the file, and the region where the line is known."""
    location: dict[str, object] = {"artifactLocation": {"uri": item.path, "uriBaseId": "%SRCROOT%"}}
    if item.line is not None:
        location["region"] = {"startLine": item.line, "startColumn": item.col or 1}
    return location


def _sarif_rule(rule_id: str) -> dict[str, object]:
    """The reportingDescriptor of `rule_id`: from the catalogue (an ID outside it gets its ID as description)."""
    entry = rules.CATALOGUE.get(rule_id)
    name = "".join(part.capitalize() for part in rule_id.split("-"))
    if entry is None:
        return {"id": rule_id, "name": name, "shortDescription": {"text": rule_id}}
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": entry.title},
        "fullDescription": {"text": f"{entry.why}\n\nHow to fix: {entry.fix}"},
        "helpUri": f"{DOCS_URI}#{rules.doc_anchor(rule_id)}",
        "defaultConfiguration": {"level": _default_level(entry)},
    }


def _default_level(entry: rules.Rule) -> str:
    """The SARIF level of the catalogue's default severity in the strictest profile (`prod`); `none` when the rule
    is off there."""
    if not entry.tunable:
        return "error"
    value = entry.defaults[PROFILES.index("prod")]
    if isinstance(value, dict):
        value = value.get("default", SKIP)
    return _SARIF_LEVEL.get(value, "warning")


def as_github(report: CheckReport) -> str:
    """GitHub Actions workflow commands: `::error file=...,line=...,col=...,title=RULE::message` per finding, then
    `::notice file=...,line=...,col=...,title=suppressed RULES::...` at each suppression's annotation."""
    lines = [f"::{_GITHUB_LEVEL.get(f.severity, 'warning')} {_gh_where(f, f.rule)}::{_gh_data(f.message + f.context)}"
             for f in report.findings]
    lines += [f"::notice {_gh_where(x, 'suppressed ' + ' '.join(x.rules))}::"
              + _gh_data(f"{', '.join(x.rules)} suppressed ({x.suppressed} finding(s)): {x.reason}{x.context}")
              for x in report.suppressions]
    lines += [f"::error title=tool failure::{_gh_data(message)}" for message in report.tool_errors]
    lines += [f"::warning title=rules did not run::{_gh_data(line)}" for line in report.skipped_lines()]
    return "".join(f"{line}\n" for line in lines)


def _gh_where(item: Located, title: str) -> str:
    """The properties of an annotation at `item`: file, line and column where known, and `title`."""
    props = [f"file={_gh_property(item.path)}"]
    if item.line is not None:
        props += [f"line={item.line}", f"col={item.col or 1}"]
    props.append(f"title={_gh_property(title)}")
    return ",".join(props)


def as_markdown(report: CheckReport) -> str:
    """A pull-request comment: how many findings suppressions hid (right under the title, when there are any), a
    summary table per environment, then the findings and the suppressions in collapsible sections."""
    out = ["## phoenix-gitops check", ""]
    if report.suppressions:
        hidden = sum(x.suppressed for x in report.suppressions)
        out += [f"**{hidden} finding(s) suppressed** by {len(report.suppressions)} suppression(s) "
                "(`phoenix-gitops/suppress`, listed below).", ""]
    out += ["| env | cluster | Kubernetes | apps | resources | errors | warnings |",
            "|---|---|---|---:|---:|---:|---:|"]
    for s in report.summaries:
        out.append(f"| {s.env} | {s.cluster} | {s.kubernetes_version} | {s.apps} | {s.resources} | {s.errors} "
                   f"| {s.warnings} |")
    out.append("")
    out += [*(_md(line) for line in summary_lines(report)), ""] if summary_lines(report) else []
    if report.skipped:
        out += ["**Not checked by the rules** (an earlier stage found an error):", ""]
        out += [f"- {_md(line)}" for line in report.skipped_lines()]
        out.append("")
    if report.tool_errors:
        out += ["**Tool failures (the check is incomplete):**", ""]
        out += [f"- `{_md(line)}`" for message in report.tool_errors for line in message.splitlines()[:1]]
        out.append("")
    if not report.findings:
        out.append("No findings besides the suppressed ones below." if report.suppressions
                   else "No findings. :white_check_mark:")
    by_env: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_env[f.env or "repository"].append(f)
    for env in sorted(by_env):
        findings = by_env[env]
        errors = sum(f.severity == "error" for f in findings)
        out += [f"<details><summary><b>{env}</b>: {errors} error(s), {len(findings) - errors} other</summary>", "",
                "| where | severity | rule | message | resource |", "|---|---|---|---|---|"]
        for f, group in grouped(findings):
            out.append(f"| `{_md(f.location)}` | {f.severity} | {f.rule} | {_md(_times(f, len(group)))} "
                       f"| {_md(f.resource or '')} |")
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
