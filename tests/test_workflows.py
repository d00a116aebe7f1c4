"""The pull-request loop as data: the workflows under .github/workflows/ and renovate.json.

Each file is read as the project reads YAML (`yamlio.load_file`, the safe loader) or as JSON, validated against the
published schema of its format (as the pinned test dependency check-jsonschema ships them), and checked for what the
loop relies on: its triggers, least-privilege permissions per job, every action pinned by commit, the sticky diff
comment, the SARIF upload, the tests' file filter, and the re-render of Renovate's pull requests.

Each property is a function that returns the problems it finds. A test runs it on the real files (no problems) and
on a changed copy (the problem is named), so every check is shown to fail when the property is broken. The scripts
of a few steps are run for real, with `bash -eo pipefail` as GitHub runs them, against a stub `gh` or a scratch git
repository (marked slow: they start processes).

Usage:
    python -m pytest -q tests/test_workflows.py
"""
from __future__ import annotations

import copy
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT
from jsonschema.validators import validator_for

from phoenix_gitops.yamlio import load_file

WORKFLOWS = PROJECT / ".github" / "workflows"
SCHEMAS = files("check_jsonschema.builtin_schemas.vendor")
"""The published schemas, as the pinned test dependency check-jsonschema ships them (SchemaStore's workflow schema,
Apache-2.0; Renovate's, AGPL-3.0, so read from the installed package rather than copied into this repository)."""
RENOVATE = PROJECT / "renovate.json"
NAMES = ("pull-request.yaml", "tests.yaml", "renovate-rerender.yaml", "release.yaml")

MARKER = "<!-- phoenix-gitops:rendered-diff -->"
COMMENT_LIMIT = 65536
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
SHA = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_./-]+)?)@(?P<sha>[0-9a-f]{40})$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>.*)$")
VERSION_COMMENT = re.compile(r"^\s+# (?P<version>v\d+\.\d+\.\d+)$")

PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "github/codeql-action/upload-sarif": ("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
    "actions/create-github-app-token": ("1b10c78c7865c340bc4f6099eb2f838309f1e8c3", "v3.1.1"),
}
"""Each action's commit and the tag it was read from (`git rev-parse <tag>^{commit}` in the action's repository).
A bump changes this table in the same pull request, so the reviewer sees the new commit next to its tag."""

WRITES = {
    ("pull-request.yaml", "comment"): {"pull-requests"},
    ("pull-request.yaml", "code-scanning"): {"security-events"},
    ("renovate-rerender.yaml", "rerender"): {"contents"},
    ("release.yaml", "release"): {"contents"},
}
"""The only jobs that may write, and what. Every other job reads, at most."""

SCHEMA_SUMS = {
    "github-workflows.json": "d10c9f4656e1bd5bc6727e9b35080e017dc167154726fca93da33c7a6bd1c4f3",
    "renovate.json": "8310e7b51da681b60e553c52b42eaa72ab8baf1388ccaf598aaedb6d881d8db8",
}
"""sha256 of each schema in check-jsonschema 0.39.0 (SchemaStore's github-workflow.json; Renovate 44.181.5's
renovate-schema.json): another version of the package fails the tests instead of validating against other rules."""

Problems = list[str]


# --- reading -------------------------------------------------------------------------------------------------


@functools.cache
def _workflow(name: str) -> Any:
    docs = load_file(WORKFLOWS / name, name=f".github/workflows/{name}")
    assert len(docs) == 1, f"{name}: one YAML document expected"
    return docs[0].data


def workflow(name: str) -> Any:
    """A fresh copy of a workflow's data, safe to change in a test."""
    return copy.deepcopy(_workflow(name))


def renovate() -> Any:
    return json.loads(RENOVATE.read_text(encoding="utf-8"))


@functools.cache
def _validator(schema: str) -> Any:
    document = json.loads(SCHEMAS.joinpath(schema).read_text(encoding="utf-8"))
    cls = validator_for(document)
    cls.check_schema(document)
    return cls(document)


def schema_problems(data: Any, schema: str) -> Problems:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in _validator(schema).iter_errors(data)]


def step(data: Any, job: str, key: str) -> dict[str, Any]:
    """The step of `job` whose id (or, failing that, name) is `key`."""
    for item in data["jobs"][job]["steps"]:
        if key in (item.get("id"), item.get("name")):
            return dict(item)
    raise KeyError(f"no step {key!r} in job {job}")


def runs(data: Any) -> list[tuple[str, str, str]]:
    """(job, step name, script) of every `run:` step."""
    return [(job_id, item.get("name", "?"), item["run"]) for job_id, job in data["jobs"].items()
            for item in job.get("steps", []) if "run" in item]


def uses(data: Any) -> list[tuple[str, str]]:
    """(job, reference) of every `uses:`, of steps and of jobs that call reusable workflows."""
    found = [(job_id, job["uses"]) for job_id, job in data["jobs"].items() if "uses" in job]
    return found + [(job_id, item["uses"]) for job_id, job in data["jobs"].items()
                    for item in job.get("steps", []) if "uses" in item]


def triggers(data: Any) -> dict[str, Any]:
    on = data["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


# --- the properties --------------------------------------------------------------------------------------------


def pin_problems(data: Any, text: str) -> Problems:
    """Every `uses:` is a full commit SHA of a known action, with its tag in a comment on the same line."""
    problems = []
    for job, ref in uses(data):
        match = SHA.match(ref)
        if not match:
            problems.append(f"{job}: {ref} is not pinned to a 40-hex commit")
        elif match["action"] not in PINS:
            problems.append(f"{job}: {match['action']} is not in PINS (verify its commit, then add it)")
        elif match["sha"] != PINS[match["action"]][0]:
            problems.append(f"{job}: {ref} is not the verified commit {PINS[match['action']][0]}")
    for number, line in enumerate(text.splitlines(), 1):
        found = USES_LINE.match(line)
        if not found:
            continue
        comment = VERSION_COMMENT.match(found["comment"])
        action = found["ref"].split("@")[0]
        if not comment:
            problems.append(f"line {number}: no `# vX.Y.Z` comment after {found['ref']}")
        elif action in PINS and comment["version"] != PINS[action][1]:
            problems.append(f"line {number}: {action} is {PINS[action][1]}, the comment says {comment['version']}")
    return problems


def permission_problems(name: str, data: Any) -> Problems:
    """contents: read by default; each job states its own permissions; write only where WRITES allows it."""
    problems = []
    if data.get("permissions") != {"contents": "read"}:
        problems.append(f"{name}: workflow permissions {data.get('permissions')!r}, expected contents: read")
    for job_id, job in data["jobs"].items():
        granted = job.get("permissions")
        if not isinstance(granted, dict):
            problems.append(f"{name} {job_id}: permissions {granted!r}, expected a mapping per scope")
            continue
        allowed = WRITES.get((name, job_id), set())
        writes = {scope for scope, level in granted.items() if level == "write"}
        for scope in sorted(writes - allowed):
            problems.append(f"{name} {job_id}: {scope}: write is not allowed here")
        for scope in sorted(allowed - writes):
            problems.append(f"{name} {job_id}: needs {scope}: write")
        for scope, level in granted.items():
            if level not in ("read", "write", "none"):
                problems.append(f"{name} {job_id}: {scope}: {level!r}")
    return problems


def script_problems(data: Any) -> Problems:
    """Steps run bash with errexit and pipefail, multi-line scripts say so on their first line, and no script holds
    a `${{ }}` expression (values reach scripts through `env:`, never pasted into the script's text)."""
    problems = []
    if data.get("defaults", {}).get("run", {}).get("shell") != "bash":
        problems.append("defaults.run.shell is not bash (bash -eo pipefail)")
    for job, name, script in runs(data):
        if "${{" in script:
            problems.append(f"{job} / {name}: an expression inside the script")
        lines = script.strip().splitlines()
        if len(lines) > 1 and not re.match(r"^set -e?uo pipefail$", lines[0]):
            problems.append(f"{job} / {name}: first line {lines[0]!r}, expected `set -euo pipefail`")
    return problems


def checkout_problems(data: Any) -> Problems:
    """No checkout leaves a token in .git/config for the steps after it."""
    return [f"{job_id}: checkout without persist-credentials: false"
            for job_id, job in data["jobs"].items() for item in job.get("steps", [])
            if item.get("uses", "").startswith("actions/checkout@")
            and item.get("with", {}).get("persist-credentials") is not False]


def trigger_problems(name: str, data: Any) -> Problems:
    """No trigger that runs with a write token on code from a pull request."""
    risky = {"pull_request_target", "workflow_run"} & set(triggers(data))
    return [f"{name}: triggered by {event}" for event in sorted(risky)]


def loop_problems(data: Any) -> Problems:
    """pull-request.yaml: pull requests, the merge queue and pushes to main run check and render --check."""
    problems = []
    on = triggers(data)
    for event in ("pull_request", "merge_group", "push"):
        if event not in on:
            problems.append(f"not triggered by {event}")
    if "push" in on and (on["push"] or {}).get("branches") != ["main"]:
        problems.append(f"push runs on {on['push']!r}, expected branches: [main]")
    check = data["jobs"].get("check", {})
    if "if" in check:
        problems.append("the check job has a condition: it must run for every event")
    scripts = [item.get("run", "").strip() for item in check.get("steps", [])]
    for command in ("invoke check --format github", "invoke render all --check"):
        if command not in scripts:
            problems.append(f"the check job does not run `{command}`")
    return problems


def sticky_problems(data: Any) -> Problems:
    """The diff is posted by a job that runs no pull-request code, as one comment found again by its marker."""
    problems = []
    jobs = data["jobs"]
    diff, comment = jobs.get("diff", {}), jobs.get("comment", {})
    if not any("invoke diff" in item.get("run", "") and "--format markdown" in item.get("run", "")
               for item in diff.get("steps", [])):
        problems.append("the diff job does not run `invoke diff --format markdown`")
    if "github.event_name == 'pull_request'" not in diff.get("if", ""):
        problems.append("the diff job is not limited to pull requests")
    if comment.get("needs") != "diff":
        problems.append("the comment job does not wait for the diff job")
    if "github.event.pull_request.head.repo.full_name == github.repository" not in comment.get("if", ""):
        problems.append("the comment job does not skip pull requests from forks")
    for item in comment.get("steps", []):
        if item.get("uses", "").startswith("actions/checkout@") or "invoke" in item.get("run", ""):
            problems.append("the comment job checks out or runs code")
    scripts = [item.get("run", "") for item in comment.get("steps", [])]
    sticky = next((s for s in scripts if "gh api" in s), "")
    for needle in (f"marker='{MARKER}'", "--method PATCH", "--method POST", '"github-actions[bot]"',
                   "startswith($marker)"):
        if needle not in sticky:
            problems.append(f"the comment step lacks {needle}")
    body = next((item.get("run", "") for item in diff.get("steps", []) if item.get("id") == "body"), "")
    if f'MARKER = "{MARKER}"' not in body or f"LIMIT = {COMMENT_LIMIT}" not in body:
        problems.append("the body step does not start the comment with the marker or cut it at the limit")
    return problems


def sarif_problems(data: Any) -> Problems:
    """`invoke check --format sarif` goes to code scanning, from a job that runs no pull-request code."""
    problems = []
    jobs = data["jobs"]
    produced = [item for item in jobs.get("check", {}).get("steps", [])
                if "invoke check --format sarif > check.sarif" in item.get("run", "")]
    if not produced:
        problems.append("the check job does not write check.sarif")
    upload = jobs.get("code-scanning", {})
    steps = upload.get("steps", [])
    sent = [item for item in steps if item.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    if not sent or sent[0].get("with", {}).get("sarif_file") != "check.sarif":
        problems.append("no upload-sarif step sends check.sarif")
    if any("invoke" in item.get("run", "") or "pip install" in item.get("run", "") for item in steps):
        problems.append("the upload job runs code")
    condition = upload.get("if", "")
    if "github.event.pull_request.head.repo.full_name == github.repository" not in condition:
        problems.append("the upload runs for forks")
    if "merge_group" in condition or "github.event_name == 'push'" not in condition:
        problems.append("the upload must run for pushes to main and pull requests, not the merge queue")
    return problems


def suite_problems(data: Any) -> Problems:
    """tests.yaml: the README's test command whenever the tool changed; skipped only on a definite 'no'."""
    problems = []
    on = triggers(data)
    for event in ("pull_request", "merge_group", "push"):
        if event not in on:
            problems.append(f"not triggered by {event}")
    if any(isinstance(v, dict) and ("paths" in v or "paths-ignore" in v) for v in on.values()):
        problems.append("a workflow-level paths filter: the required check would never report")
    tests = data["jobs"].get("tests", {})
    if tests.get("if") != "${{ !cancelled() && needs.changes.outputs.package != 'false' }}":
        problems.append(f"the tests job's condition is {tests.get('if')!r}")
    if not any(item.get("run", "").strip() == "bash .ci/run" for item in tests.get("steps", [])):
        problems.append("the tests job does not run .ci/run")
    script = step(data, "changes", "paths")["run"] if "changes" in data["jobs"] else ""
    for path in ("phoenix_gitops/", "phoenix_gitops_cli/", r"tasks\.py$", r"pyproject\.toml$", "tests/"):
        if path not in script:
            problems.append(f"the file filter does not watch {path}")
    return problems


def rerender_problems(data: Any, config: Any) -> Problems:
    """renovate-rerender.yaml: only Renovate's pull requests from this repository, and commits Renovate ignores."""
    problems = []
    on = triggers(data)
    if set(on) != {"pull_request"}:
        problems.append(f"triggered by {sorted(on)}, expected pull_request only")
    condition = data["jobs"].get("rerender", {}).get("if", "")
    for needle in ("github.event.pull_request.head.repo.full_name == github.repository",
                   "github.event.pull_request.user.login == 'renovate[bot]'",
                   "startsWith(github.event.pull_request.head.ref, 'renovate/')"):
        if needle not in condition:
            problems.append(f"the job's condition lacks {needle}")
    if "||" in condition:
        problems.append("the job's condition has an `||`: every part must hold")
    scripts = "\n".join(script for _, _, script in runs(data))
    if "invoke render all\n" not in scripts + "\n":
        problems.append("the job does not run `invoke render all`")
    if f"git config user.email '{BOT_EMAIL}'" not in scripts or BOT_EMAIL not in config.get("gitIgnoredAuthors", []):
        problems.append("the commit's author is not one renovate.json's gitIgnoredAuthors lists")
    if re.search(r"\bpush\b[^\n]*(--force|\s-f\b|\s\+)", scripts):
        problems.append("the push is forced")
    return problems


def renovate_problems(config: Any) -> Problems:
    """renovate.json: the kustomize manager on the overlays only, digests pinned, one pull request per app and
    environment, staging not held back, prod held for approval."""
    problems = []
    if config.get("enabledManagers") != ["kustomize"]:
        problems.append(f"enabledManagers {config.get('enabledManagers')!r}, expected ['kustomize']")
    kustomize = config.get("kustomize", {})
    if kustomize.get("pinDigests") is not True:
        problems.append("kustomize.pinDigests is not true")
    patterns = [_renovate_regex(p) for p in kustomize.get("managerFilePatterns", [])]
    overlays = sorted(p.relative_to(PROJECT).as_posix() for p in PROJECT.glob("overlays/*/*/kustomization.yaml"))
    others = sorted(p.relative_to(PROJECT).as_posix() for p in PROJECT.glob("base/**/kustomization.yaml"))
    assert overlays and others
    for path in overlays:
        if not any(p.search(path) for p in patterns):
            problems.append(f"{path} is not managed")
    for path in others:
        if any(p.search(path) for p in patterns):
            problems.append(f"{path} is managed, but only overlays pin images")
    if "{{packageFileDir}}" not in config.get("additionalBranchPrefix", ""):
        problems.append("branches are not per overlay (app and environment)")
    if BOT_EMAIL not in config.get("gitIgnoredAuthors", []):
        problems.append("the re-render commits would make Renovate stop updating its branch")

    def held(path: str) -> bool:
        return config.get("dependencyDashboardApproval") is True or any(rule.get("dependencyDashboardApproval") is True
                   and any(fnmatch.fnmatchcase(path, glob) for glob in rule.get("matchFileNames", []))
                   for rule in config.get("packageRules", []))

    if not held("overlays/prod/api/kustomization.yaml"):
        problems.append("prod updates are not held for approval")
    if held("overlays/staging/api/kustomization.yaml"):
        problems.append("staging updates are held too: staging must get them first")
    return problems


def _renovate_regex(pattern: str) -> re.Pattern[str]:
    """Renovate writes a regular expression as /.../; anything else is a glob."""
    if pattern.startswith("/") and pattern.endswith("/"):
        return re.compile(pattern[1:-1])
    return re.compile(fnmatch.translate(pattern))


# --- schemas and files -------------------------------------------------------------------------------------------


def test_the_schemas_are_the_published_bytes():
    for name, expected in SCHEMA_SUMS.items():
        assert hashlib.sha256(SCHEMAS.joinpath(name).read_bytes()).hexdigest() == expected, name


def test_the_workflow_folder_holds_exactly_these_workflows():
    assert sorted(p.name for p in WORKFLOWS.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_workflow_is_valid_by_the_published_schema(name):
    assert schema_problems(workflow(name), "github-workflows.json") == []
    docs = load_file(WORKFLOWS / name, name=name)
    assert docs[0].ambiguities == (), "a plain scalar YAML 1.1 readers read differently"


@pytest.mark.parametrize(("change", "where"), [
    (lambda w: w["jobs"]["check"].__setitem__("permissions", {"contents": "admin"}), "jobs/check"),
    (lambda w: w["jobs"]["check"].pop("runs-on"), "jobs/check"),
    (lambda w: w["on"].__setitem__("merge_queue", None), "on"),
])
def test_the_workflow_schema_rejects_a_broken_workflow(change: Callable[[Any], Any], where: str):
    data = workflow("pull-request.yaml")
    change(data)
    problems = schema_problems(data, "github-workflows.json")
    assert problems and any(p.startswith(where) for p in problems), problems


def test_renovate_config_is_valid_by_the_published_schema():
    assert schema_problems(renovate(), "renovate.json") == []
    broken = renovate()
    broken["rebaseWhen"] = "sometimes"
    broken["kustomize"]["pinDigests"] = "yes"
    assert sorted(schema_problems(broken, "renovate.json")) == [
        "kustomize/pinDigests: 'yes' is not of type 'boolean'",
        "rebaseWhen: 'sometimes' is not one of ['auto', 'never', 'conflicted', 'behind-base-branch', 'automerging']",
    ]


# --- every workflow --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_by_commit_with_its_tag(name):
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert pin_problems(workflow(name), text) == []


def test_an_unpinned_or_mislabelled_action_is_refused():
    text = (WORKFLOWS / "pull-request.yaml").read_text(encoding="utf-8")
    sha, version = PINS["actions/checkout"]
    data = workflow("pull-request.yaml")
    data["jobs"]["check"]["steps"][0]["uses"] = "actions/checkout@v7"
    assert pin_problems(data, text) == ["check: actions/checkout@v7 is not pinned to a 40-hex commit"]
    data["jobs"]["check"]["steps"][0]["uses"] = f"actions/checkout@{'0' * 40}"
    assert pin_problems(data, text) == [f"check: actions/checkout@{'0' * 40} is not the verified commit {sha}"]
    relabelled = text.replace(f"{sha} # {version}", f"{sha} # v6.0.0", 1)
    assert pin_problems(workflow("pull-request.yaml"), relabelled) == [
        f"line {number}: actions/checkout is v7.0.1, the comment says v6.0.0"
        for number, line in enumerate(relabelled.splitlines(), 1) if "# v6.0.0" in line
    ]
    bare = text.replace(f"{sha} # {version}", sha, 1)
    assert len(pin_problems(workflow("pull-request.yaml"), bare)) == 1


@pytest.mark.parametrize("name", NAMES)
def test_permissions_are_read_only_except_where_a_job_needs_one_write(name):
    assert permission_problems(name, workflow(name)) == []


def test_a_write_where_none_is_needed_is_refused():
    data = workflow("pull-request.yaml")
    data["jobs"]["check"]["permissions"]["pull-requests"] = "write"
    data["jobs"]["comment"]["permissions"] = {"pull-requests": "read"}
    data["jobs"]["diff"]["permissions"] = "write-all"
    data["permissions"] = "read-all"
    assert permission_problems("pull-request.yaml", data) == [
        "pull-request.yaml: workflow permissions 'read-all', expected contents: read",
        "pull-request.yaml check: pull-requests: write is not allowed here",
        "pull-request.yaml diff: permissions 'write-all', expected a mapping per scope",
        "pull-request.yaml comment: needs pull-requests: write",
    ]
    rerender = workflow("renovate-rerender.yaml")
    rerender["jobs"]["rerender"]["permissions"]["pull-requests"] = "write"
    assert permission_problems("renovate-rerender.yaml", rerender) == [
        "renovate-rerender.yaml rerender: pull-requests: write is not allowed here",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_scripts_are_strict_and_take_values_only_through_env(name):
    assert script_problems(workflow(name)) == []
    assert checkout_problems(workflow(name)) == []
    assert trigger_problems(name, workflow(name)) == []


def test_a_pasted_expression_a_lax_script_or_a_kept_token_is_refused():
    data = workflow("pull-request.yaml")
    data["jobs"]["diff"]["steps"][3]["run"] = 'set -euo pipefail\necho "${{ github.event.pull_request.title }}"'
    data["jobs"]["check"]["steps"][2]["run"] = "python -m venv .venv\n.venv/bin/pip install -e ."
    data["jobs"]["check"]["steps"][0]["with"].pop("persist-credentials")
    data["on"]["pull_request_target"] = None
    assert script_problems(data) == [
        "check / Install phoenix-gitops (pinned kustomize comes with it): first line 'python -m venv .venv', "
        "expected `set -euo pipefail`",
        "diff / Render the base and the pull request, and compare: an expression inside the script",
    ]
    assert checkout_problems(data) == ["check: checkout without persist-credentials: false"]
    assert trigger_problems("pull-request.yaml", data) == ["pull-request.yaml: triggered by pull_request_target"]


# --- pull-request.yaml -----------------------------------------------------------------------------------------


def test_pull_requests_merge_queue_and_main_run_check_and_render_check():
    data = workflow("pull-request.yaml")
    assert loop_problems(data) == []
    check = data["jobs"]["check"]
    assert check["steps"][0]["with"]["fetch-depth"] == 0
    assert check["steps"][1]["with"]["python-version"] == "3.11"
    assert "python -m venv .venv && .venv/bin/pip install -e ." in check["steps"][2]["run"]
    summary = step(data, "check", "Post the check summary")["run"]
    assert "invoke check --format markdown > summary.md" in summary and '>> "$GITHUB_STEP_SUMMARY"' in summary
    assert data["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_a_loop_without_the_merge_queue_or_the_render_check_is_refused():
    data = workflow("pull-request.yaml")
    del data["on"]["merge_group"]
    data["on"]["push"] = {"branches": ["develop"]}
    data["jobs"]["check"]["if"] = "github.event_name == 'pull_request'"
    data["jobs"]["check"]["steps"] = [s for s in data["jobs"]["check"]["steps"]
                                      if s.get("run") != "invoke render all --check"]
    assert loop_problems(data) == [
        "not triggered by merge_group",
        "push runs on {'branches': ['develop']}, expected branches: [main]",
        "the check job has a condition: it must run for every event",
        "the check job does not run `invoke render all --check`",
    ]


def test_the_diff_is_one_sticky_comment_posted_by_a_job_that_runs_no_pull_request_code():
    data = workflow("pull-request.yaml")
    assert sticky_problems(data) == []
    assert data["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    assert "--base HEAD^1 --format markdown" in step(data, "diff", "diff")["run"]


def test_a_comment_without_its_marker_or_posted_for_forks_is_refused():
    data = workflow("pull-request.yaml")
    sticky = data["jobs"]["comment"]["steps"][1]
    sticky["run"] = sticky["run"].replace('"github-actions[bot]" and ', "")
    data["jobs"]["comment"]["if"] = "${{ !cancelled() }}"
    data["jobs"]["comment"]["steps"].insert(0, {"uses": "actions/checkout@" + PINS["actions/checkout"][0]})
    body = step(data, "diff", "body")
    body["run"] = body["run"].replace("LIMIT = 65536", "LIMIT = 70000")
    data["jobs"]["diff"]["steps"] = [body if s.get("id") == "body" else s for s in data["jobs"]["diff"]["steps"]]
    assert sticky_problems(data) == [
        "the comment job does not skip pull requests from forks",
        "the comment job checks out or runs code",
        "the comment step lacks \"github-actions[bot]\"",
        "the body step does not start the comment with the marker or cut it at the limit",
    ]


def test_check_findings_go_to_code_scanning_from_a_job_that_runs_no_pull_request_code():
    data = workflow("pull-request.yaml")
    assert sarif_problems(data) == []
    assert data["jobs"]["code-scanning"]["needs"] == "check"
    upload = step(data, "code-scanning", "Upload to code scanning")
    assert upload["with"] == {"sarif_file": "check.sarif", "category": "phoenix-gitops"}


def test_a_sarif_upload_for_forks_or_that_runs_code_is_refused():
    data = workflow("pull-request.yaml")
    job = data["jobs"]["code-scanning"]
    job["if"] = "${{ !cancelled() }}"
    job["steps"].append({"run": "invoke check --format sarif > check.sarif"})
    job["steps"] = [s for s in job["steps"] if not s.get("uses", "").startswith("github/codeql-action/")]
    assert sarif_problems(data) == [
        "no upload-sarif step sends check.sarif",
        "the upload job runs code",
        "the upload runs for forks",
        "the upload must run for pushes to main and pull requests, not the merge queue",
    ]


# --- tests.yaml and renovate-rerender.yaml ---------------------------------------------------------------------


def test_the_tests_run_when_the_tool_changes():
    assert suite_problems(workflow("tests.yaml")) == []


def test_a_tests_workflow_that_skips_silently_is_refused():
    data = workflow("tests.yaml")
    data["on"]["pull_request"] = {"paths": ["phoenix_gitops/**"]}
    data["jobs"]["tests"]["if"] = "needs.changes.outputs.package == 'true'"
    paths = step(data, "changes", "paths")
    paths["run"] = paths["run"].replace(r"|tasks\.py$", "")
    data["jobs"]["changes"]["steps"][1] = paths
    assert suite_problems(data) == [
        "a workflow-level paths filter: the required check would never report",
        "the tests job's condition is \"needs.changes.outputs.package == 'true'\"",
        r"the file filter does not watch tasks\.py$",
    ]


def test_the_rerender_runs_only_for_renovate_pull_requests_of_this_repository():
    assert rerender_problems(workflow("renovate-rerender.yaml"), renovate()) == []


def test_a_rerender_open_to_forks_or_others_is_refused():
    data = workflow("renovate-rerender.yaml")
    data["on"] = {"pull_request_target": None}
    job = data["jobs"]["rerender"]
    job["if"] = "${{ github.event.pull_request.user.login == 'renovate[bot]' || github.actor == 'someone' }}"
    push = step(data, "rerender", "Push onto the pull request's branch")
    push["run"] = push["run"].replace("push origin", "push --force origin")
    job["steps"] = [push if s.get("name") == push["name"] else s for s in job["steps"]]
    config = renovate()
    config["gitIgnoredAuthors"] = []
    assert rerender_problems(data, config) == [
        "triggered by ['pull_request_target'], expected pull_request only",
        "the job's condition lacks github.event.pull_request.head.repo.full_name == github.repository",
        "the job's condition lacks startsWith(github.event.pull_request.head.ref, 'renovate/')",
        "the job's condition has an `||`: every part must hold",
        "the commit's author is not one renovate.json's gitIgnoredAuthors lists",
        "the push is forced",
    ]


def test_renovate_updates_overlay_images_by_digest_staging_first():
    assert renovate_problems(renovate()) == []


def test_a_renovate_config_that_lets_prod_go_first_is_refused():
    config = renovate()
    config["enabledManagers"] = ["kustomize", "github-actions"]
    config["kustomize"] = {"managerFilePatterns": ["/(^|/)kustomization\\.ya?ml$/"]}
    config["packageRules"] = [rule for rule in config["packageRules"] if "dependencyDashboardApproval" not in rule]
    config["dependencyDashboardApproval"] = True
    problems = renovate_problems(config)
    assert problems[:2] == [
        "enabledManagers ['kustomize', 'github-actions'], expected ['kustomize']",
        "kustomize.pinDigests is not true",
    ]
    assert "base/api/kustomization.yaml is managed, but only overlays pin images" in problems
    assert problems[-1] == "staging updates are held too: staging must get them first"
    assert "prod updates are not held for approval" not in problems  # the global approval holds prod as well
    del config["dependencyDashboardApproval"]
    assert renovate_problems(config)[-1] == "prod updates are not held for approval"


# --- the scripts, run ------------------------------------------------------------------------------------------


def runner_files(cwd: Path) -> Path:
    """Where a step's script and the runner's files (GITHUB_OUTPUT, ...) go: beside `cwd`, never inside it."""
    folder = cwd.parent / f"{cwd.name}.runner"
    folder.mkdir(exist_ok=True)
    return folder


def run_step(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a step's script in `cwd` as GitHub's `shell: bash` does (`bash --noprofile --norc -eo pipefail`)."""
    runner = runner_files(cwd)
    (runner / "step.sh").write_text(script, encoding="utf-8")
    environ = {"PATH": os.environ["PATH"], "HOME": str(runner), "LC_ALL": "C.UTF-8",
               "GITHUB_OUTPUT": str(runner / "output"), "GITHUB_STEP_SUMMARY": str(runner / "summary"), **env}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(runner / "step.sh")], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=60, check=False)


def outputs(cwd: Path) -> dict[str, str]:
    """What the steps run in `cwd` wrote to GITHUB_OUTPUT."""
    output = runner_files(cwd) / "output"
    lines = output.read_text(encoding="utf-8").splitlines() if output.exists() else []
    return dict(line.split("=", 1) for line in lines)


BODY_ENV = {"HEAD_SHA": "0123456789abcdef" * 2 + "01234567", "RUN_URL": "https://github.example/acme/r/actions/runs/7"}


@pytest.mark.slow
def test_the_comment_body_is_the_diff_after_the_marker(tmp_path):
    script = step(workflow("pull-request.yaml"), "diff", "body")["run"]
    (tmp_path / "diff.md").write_text("### Rendered diff\n\n**no changes in 6 app(s)**\n", encoding="utf-8")
    proc = run_step(script, tmp_path, DIFF_STATUS="0", **BODY_ENV)
    assert proc.returncode == 0, proc.stderr
    body = (tmp_path / "comment.md").read_text(encoding="utf-8")
    assert body == (f"{MARKER}\n### Rendered diff\n\n**no changes in 6 app(s)**\n\n\n"
                    "<sub>Commit 0123456789ab, [run](https://github.example/acme/r/actions/runs/7).</sub>\n")
    assert outputs(tmp_path) == {"ready": "true"}


@pytest.mark.slow
def test_a_comment_over_githubs_limit_is_cut_on_a_line_with_its_blocks_closed_and_a_note(tmp_path):
    script = step(workflow("pull-request.yaml"), "diff", "body")["run"]
    hunk = "".join(f"-  line{i}: \"été\"\n+  line{i}: \"hiver\"\n" for i in range(40))
    apps = "".join(f"<details><summary><b>prod/app{n}</b></summary>\n\n```diff\n{hunk}```\n\n</details>\n\n"
                   for n in range(60))
    (tmp_path / "diff.md").write_text("### Rendered diff\n\n" + apps, encoding="utf-8")
    assert len(apps) > COMMENT_LIMIT
    proc = run_step(script, tmp_path, DIFF_STATUS="0", **BODY_ENV)
    assert proc.returncode == 0, proc.stderr
    body = (tmp_path / "comment.md").read_text(encoding="utf-8")
    assert COMMENT_LIMIT - 200 < len(body) <= COMMENT_LIMIT
    assert body.startswith(MARKER + "\n### Rendered diff\n")
    cut, note = body.split("\n\n**Cut here**: ")
    assert note.startswith("the diff is longer than GitHub's 65,536-character comment limit.")
    assert cut.endswith("\n```\n</details>")
    assert sum(line.startswith("```") for line in cut.splitlines()) % 2 == 0
    assert cut.count("<details>") == cut.count("</details>")
    assert all(line.startswith(("-  line", "+  line")) or not line.startswith(("-", "+"))
               for line in cut.splitlines())


@pytest.mark.slow
def test_a_diff_that_failed_says_so_in_the_comment_instead_of_leaving_the_old_one(tmp_path):
    script = step(workflow("pull-request.yaml"), "diff", "body")["run"]
    (tmp_path / "diff.err").write_text("overlays/prod/api/kustomization.yaml: error KUSTOMIZE-BUILD failed\n")
    proc = run_step(script, tmp_path, DIFF_STATUS="1", **BODY_ENV)
    assert proc.returncode == 0, proc.stderr
    body = (tmp_path / "comment.md").read_text(encoding="utf-8")
    assert body.startswith(f"{MARKER}\n### Rendered diff\n\n`invoke diff` could not make the diff (exit 1)")
    assert "\n````text\noverlays/prod/api/kustomization.yaml: error KUSTOMIZE-BUILD failed\n````\n" in body


FAKE_GH = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["GH_LOG"], "a") as log:
    body = None
    if "--input" in args:
        body = json.load(open(args[args.index("--input") + 1]))["body"]
    log.write(json.dumps({"args": args, "body": body}) + "\\n")
if "--paginate" in args:
    comments = json.load(open(os.environ["GH_COMMENTS"]))
    for page in (comments[:1], comments[1:]):
        print(json.dumps(page))
"""


def sticky_run(tmp_path: Path, comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the comment step with a stub `gh` serving `comments` in two pages; the calls it made."""
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "gh").write_text(f"#!{sys.executable}\n{FAKE_GH}", encoding="utf-8")
    (binary / "gh").chmod(0o755)
    (tmp_path / "comments.json").write_text(json.dumps(comments), encoding="utf-8")
    (tmp_path / "comment.md").write_text(f"{MARKER}\n### Rendered diff\n\nnew\n", encoding="utf-8")
    script = step(workflow("pull-request.yaml"), "comment", "sticky")["run"]
    proc = run_step(script, tmp_path, PATH=f"{binary}:{os.environ['PATH']}", GH_TOKEN="t", REPO="acme/r", PR="12",
                    GH_LOG=str(tmp_path / "gh.log"), GH_COMMENTS=str(tmp_path / "comments.json"))
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in (tmp_path / "gh.log").read_text().splitlines()]
    assert calls[0]["args"] == ["api", "--paginate", "repos/acme/r/issues/12/comments?per_page=100"]
    return calls[1:]


def comment(id_: int, login: str, body: str) -> dict[str, Any]:
    return {"id": id_, "user": {"login": login}, "body": body}


needs_jq = pytest.mark.skipif(shutil.which("jq") is None,
                              reason="the comment step's jq is missing (Debian package jq; GitHub's runners have it)")


@pytest.mark.slow
@needs_jq
def test_the_first_push_creates_the_comment(tmp_path):
    calls = sticky_run(tmp_path, [comment(1, "alice", "looks good")])
    assert calls == [{"args": ["api", "--method", "POST", "repos/acme/r/issues/12/comments", "--input",
                               "payload.json", "--silent"], "body": f"{MARKER}\n### Rendered diff\n\nnew\n"}]


@pytest.mark.slow
@needs_jq
def test_a_later_push_updates_our_comment_in_place_found_by_its_marker_on_any_page(tmp_path):
    calls = sticky_run(tmp_path, [comment(1, "alice", "hi"), comment(2, "alice", f"{MARKER}\nquoted by a person"),
                                  comment(3, "github-actions[bot]", "another bot message"),
                                  comment(4, "github-actions[bot]", f"{MARKER}\nold diff"),
                                  comment(5, "github-actions[bot]", f"{MARKER}\nolder duplicate")])
    assert calls == [{"args": ["api", "--method", "PATCH", "repos/acme/r/issues/comments/4", "--input",
                               "payload.json", "--silent"], "body": f"{MARKER}\n### Rendered diff\n\nnew\n"}]


def _git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def scratch_repo(tmp_path: Path, changed: list[str]) -> tuple[Path, str]:
    """A git repository with a base commit and a commit on top that changes `changed`; (repo, base sha)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    for name in changed:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("changed\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "change")
    return repo, base


@pytest.mark.slow
@pytest.mark.parametrize(("event", "changed", "expected"), [
    ("pull_request", ["phoenix_gitops/render.py"], "true"),
    ("pull_request", ["tests/test_render.py"], "true"),
    ("pull_request", ["tasks.py"], "true"),
    ("pull_request", ["pyproject.toml"], "true"),
    ("pull_request", ["phoenix_gitops_cli/review.py"], "true"),
    ("pull_request", ["overlays/prod/api/kustomization.yaml", "rendered/prod/api/release/manifest.yaml"], "false"),
    ("pull_request", ["docs/tasks.py.md"], "false"),
    ("merge_group", ["overlays/dev/api/kustomization.yaml"], "false"),
    ("merge_group", ["phoenix_gitops/diff.py"], "true"),
    ("push", ["overlays/dev/api/kustomization.yaml"], "true"),
])
def test_the_file_filter_decides_whether_the_tests_run(tmp_path, event, changed, expected):
    repo, base = scratch_repo(tmp_path, changed)
    script = step(workflow("tests.yaml"), "changes", "paths")["run"]
    proc = run_step(script, repo, EVENT=event, MERGE_GROUP_BASE=base if event == "merge_group" else "")
    assert proc.returncode == 0, proc.stderr
    assert outputs(repo) == {"package": expected}


@pytest.mark.slow
def test_the_file_filter_runs_the_tests_when_it_cannot_compare(tmp_path):
    repo, _ = scratch_repo(tmp_path, ["overlays/dev/api/kustomization.yaml"])
    script = step(workflow("tests.yaml"), "changes", "paths")["run"]
    proc = run_step(script, repo, EVENT="merge_group", MERGE_GROUP_BASE="0" * 40)
    assert proc.returncode == 0, proc.stderr
    assert outputs(repo) == {"package": "true"}


@pytest.mark.slow
@pytest.mark.parametrize(("changed", "accepted"), [
    (["overlays/staging/api/kustomization.yaml"], True),
    (["overlays/prod/storefront/kustomization.yaml", "rendered/prod/storefront/release/manifest.yaml",
      "clusters/prod/argocd/storefront.yaml"], True),
    (["overlays/staging/api/kustomization.yaml", "tasks.py"], False),
    (["overlays/staging/api/deployment-patch.yaml"], False),
    (["phoenix_gitops/render.py"], False),
])
def test_the_rerender_refuses_a_pull_request_that_is_more_than_an_image_update(tmp_path, changed, accepted):
    repo, base = scratch_repo(tmp_path, changed)
    script = step(workflow("renovate-rerender.yaml"), "rerender",
                  "The pull request changes only image entries and generated output")["run"]
    proc = run_step(script, repo, BASE_SHA=base)
    assert (proc.returncode == 0) is accepted, proc.stdout + proc.stderr
    if not accepted:
        assert "::error::not only an image update" in proc.stdout


# release: promotion moves an environment's own branch ------------------------------------------------------------

RELEASE_STEP = "Resolve the commit and the branch"


def release_repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository whose prod follows deploy/prod: main has commits c0, c1, c2; deploy/prod is at c1; a commit x
    exists only on a side branch. Returns (repo, [c0, c1, c2, x])."""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT / "tests/fixtures/repos/minimal", repo)
    env_file = repo / "overlays/prod/environment.yaml"
    env_file.write_text(env_file.read_text() + "sync:\n  automated: false\n  branch: deploy/prod\n")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    commits = []
    for number in range(3):
        (repo / "change.txt").write_text(f"{number}\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "--quiet", "-m", f"c{number}")
        commits.append(_git(repo, "rev-parse", "HEAD").strip())
    _git(repo, "checkout", "--quiet", "-b", "side")
    (repo / "change.txt").write_text("unreviewed\n")
    _git(repo, "commit", "--quiet", "-am", "x")
    commits.append(_git(repo, "rev-parse", "HEAD").strip())
    _git(repo, "checkout", "--quiet", "main")
    _git(repo, "update-ref", "refs/remotes/origin/main", commits[2])
    _git(repo, "update-ref", "refs/remotes/origin/deploy/prod", commits[1])
    return repo, commits


def run_release(repo: Path, commit: str = "", rollback: str = "false", environment: str = "prod"):
    script = step(workflow("release.yaml"), "release", RELEASE_STEP)["run"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the python with phoenix_gitops
    return run_step(script, repo, ENVIRONMENT=environment, COMMIT=commit, ROLLBACK=rollback, PATH=path)


@pytest.mark.slow
def test_release_resolves_main_and_the_branch_of_the_environment_file(tmp_path):
    repo, commits = release_repo(tmp_path)
    proc = run_release(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs(repo) == {"commit": commits[2], "branch": "deploy/prod", "current": commits[1]}


@pytest.mark.slow
@pytest.mark.parametrize(("pick", "rollback", "error"), [
    (3, "false", "is not on main: only reviewed, merged commits are promoted"),
    (0, "false", "which {commit} does not contain: tick rollback to go back"),
])
def test_release_refuses_an_unmerged_commit_and_an_unasked_rollback(tmp_path, pick, rollback, error):
    repo, commits = release_repo(tmp_path)
    proc = run_release(repo, commit=commits[pick], rollback=rollback)
    assert proc.returncode == 1
    assert error.format(commit=commits[pick]) in proc.stdout
    assert outputs(repo) == {}


@pytest.mark.slow
def test_release_goes_back_when_asked_and_refuses_an_environment_that_follows_main(tmp_path):
    repo, commits = release_repo(tmp_path)
    proc = run_release(repo, commit=commits[0], rollback="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs(repo)["commit"] == commits[0]
    other = tmp_path / "other"
    other.mkdir()
    repo2, _ = release_repo(other)
    proc = run_release(repo2, environment="dev")
    assert proc.returncode == 1
    assert "::error::overlays/dev/environment.yaml names no sync.branch: it follows main" in proc.stdout


def test_release_offers_exactly_the_environments_with_their_own_branch_and_checks_before_it_pushes():
    from phoenix_gitops.layout import Repo
    repo = Repo(PROJECT)
    own = [env.name for env in repo.environments(repo.env_names()) if env.sync.branch]
    data = workflow("release.yaml")
    assert triggers(data)["workflow_dispatch"]["inputs"]["environment"]["options"] == own == ["prod"]
    job = data["jobs"]["release"]
    assert job["environment"] == "${{ inputs.environment }}"  # required reviewers of the GitHub environment
    names = [item["name"] for item in job["steps"]]
    assert names.index("Check the commit again") < names.index("Move the branch")
    check = step(data, "release", "Check the commit again")["run"]
    assert 'invoke check "$ENVIRONMENT"' in check and "invoke render all --check" in check
    push = step(data, "release", "Move the branch")["run"]
    assert '--force-with-lease="refs/heads/$BRANCH:$CURRENT"' in push


def test_every_path_the_readme_calls_platform_owned_has_a_code_owner():
    rows = [line for line in (PROJECT / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `") and "platform-owned" in line]
    owned = {line.split()[0] for line in (PROJECT / ".github" / "CODEOWNERS").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")}
    paths = ["/" + re.sub(r"<[^>]+>", "*", row.split("`")[1]) for row in rows]
    assert "/admission/" in paths and "/overlays/*/environment.yaml" in paths
    assert [path for path in paths if path not in owned] == []
