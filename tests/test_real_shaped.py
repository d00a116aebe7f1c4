"""The real-shaped apps of tests/fixtures/real-shaped/ through `lint` and `check`: manifests written the way teams
write them (plain folders, kustomize trees with builtin transformers, their own labels and port names, live-object
dumps, templates left unfilled), each finding asserted at its file and line and each false alarm asserted absent.

Every app folder holds its manifests (`k8s/`, `deploy/`, `manifests/`) and `expected.yaml`:

    findings:                       # must be reported, at this file and line
      - {rule: PHX-V32, file: deploy/base/migrate-job.yaml, line: 7, why: "..."}
      - {rule: K8S-REF-MISSING, file: manifests/api.yaml, line: 30, message: "api-env", only_one: true, count: 6}
    silent:                         # must not be reported in this file (at this line, when one is given)
      - {rule: PHX-V13, file: k8s/deployment.yaml, why: "..."}
    workloads:                      # how lint classifies workloads (the JSON report's `workloads`)
      - {resource: Deployment/shop, phoenix: true, role: web}

`message` is a regular expression the finding's message must match; `only_one` says no other finding of that rule
in that file matches it (identical findings are grouped) and `count` how many places the grouped finding stands
for (the JSON `count`); `xfail: "<reason>"` marks a known gap of the tool (a
strict xfail: the test fails once the gap is closed, so the mark goes). `lint` runs from the app's folder on its
manifest folders, so finding paths are relative to it.

The same apps also go through `check`, as a team adopting this repository's layout would put them: the manifest
folder becomes `base/<app>/` (with a kustomization.yaml listing its files when it has none), the overlay
`overlays/prod/<app>/` refers to its kustomize root, and the environment file declares the namespaces the
manifests use. Expected findings and silences carry over (paths mapped back); an entry with `modes: [lint]` is
about lint alone (a check of the wrapped repository may report it elsewhere, e.g. in the generated files).
"""
from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT, run_program

from phoenix_gitops.rules.registry import CATALOGUE
from phoenix_gitops_cli import program

FIXTURES = PROJECT / "tests" / "fixtures" / "real-shaped"
EXPECTED = "expected.yaml"
LINT = "lint"
CHECK = "check"
WRAPPED = Path(tempfile.mkdtemp(prefix="real-shaped-"))
"""Where `check` gets each app wrapped into the repository layout (one per test session, removed at exit)."""
atexit.register(shutil.rmtree, WRAPPED, True)


@dataclass(frozen=True)
class Item:
    """One entry of an app's expected.yaml."""

    app: str
    rule: str
    file: str
    line: int | None
    message: str | None
    only_one: bool
    why: str
    known_gap: str | None = None
    count: int | None = None
    modes: tuple[str, ...] = ("lint", "check")

    @property
    def id(self) -> str:
        return f"{self.app}:{self.rule}:{self.file}:{self.line or '*'}"

    def matches(self, finding: dict[str, Any]) -> bool:
        return (finding.get("rule") == self.rule and finding.get("path") == self.file
                and (self.line is None or finding.get("line") == self.line)
                and (self.message is None or re.search(self.message, finding.get("message") or "") is not None)
                and (self.count is None or finding.get("count", 1) == self.count))


def apps() -> list[str]:
    return sorted(p.parent.name for p in FIXTURES.glob(f"*/{EXPECTED}"))


def items(app: str, section: str) -> list[Item]:
    document = yaml.safe_load((FIXTURES / app / EXPECTED).read_text(encoding="utf-8")) or {}
    return [Item(app, entry["rule"], entry["file"], entry.get("line"), entry.get("message"),
                 bool(entry.get("only_one")), entry.get("why", ""), entry.get("xfail"), entry.get("count"),
                 tuple(entry.get("modes", ("lint", "check"))))
            for entry in document.get(section) or []]


def targets(app: str) -> list[str]:
    """What `lint` is given: every manifest folder (or file) of the app, beside expected.yaml."""
    return sorted(p.name for p in (FIXTURES / app).iterdir() if p.name != EXPECTED)


def has_lint() -> bool:
    return any(task.name == LINT for task in program.TASKS)


def marks(item: Item | None) -> list[pytest.MarkDecorator]:
    """xfail while `lint` or the item's rule is not there yet (the reason names what is missing), and for a known
    gap its entry names (`xfail: reason`; strict, so the entry must be updated once the gap is closed)."""
    if not has_lint():
        return [pytest.mark.xfail(reason="`invoke lint` (issue 20 point 1) is not there yet", run=False)]
    if item is not None and item.rule not in CATALOGUE:
        return [pytest.mark.xfail(reason=f"rule {item.rule} is not in the catalogue yet", run=False)]
    if item is not None and item.known_gap:
        return [pytest.mark.xfail(reason=item.known_gap, strict=True)]
    return []


def cases(section: str) -> list[Any]:
    return [pytest.param(mode, item, id=f"{mode}:{item.id}", marks=marks(item) if mode == LINT else check_marks(item))
            for mode in (LINT, CHECK) for app in apps() for item in items(app, section) if mode in item.modes]


def check_marks(item: Item) -> list[pytest.MarkDecorator]:
    if item.rule not in CATALOGUE:
        return [pytest.mark.xfail(reason=f"rule {item.rule} is not in the catalogue yet", run=False)]
    if item.known_gap:
        return [pytest.mark.xfail(reason=item.known_gap, strict=True)]
    return []


@dataclass(frozen=True)
class Linted:
    code: int
    findings: list[dict[str, Any]]
    document: dict[str, Any]
    stderr: str


@functools.cache
def linted(app: str) -> Linted:
    """`lint <manifest folders> --format json` from the app's folder (once per app)."""
    result = run_program([LINT, *targets(app), "--format", "json"], None, cwd=FIXTURES / app)
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return Linted(result.code, document.get("findings", []), document, result.stderr)


NAMESPACE = re.compile(r"^\s+namespace:\s*['\"]?([a-z0-9][-a-z0-9]*)['\"]?\s*$", re.M)


def wrapped(app: str) -> tuple[Path, str]:
    """The app as a repository of this project's layout (see the module docstring); returns it and the manifest
    folder whose files now live in base/<app>/."""
    (folder,) = targets(app)
    repo = WRAPPED / app
    if repo.exists():
        return repo, folder
    base = repo / "base" / app
    shutil.copytree(FIXTURES / app / folder, base)
    files = sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml"))
    roots = sorted({p.parent for p in files if p.name == "kustomization.yaml"})
    referenced = {(root / line.split("- ", 1)[1].strip()).resolve() for root in roots
                  for line in (root / "kustomization.yaml").read_text().splitlines() if line.strip().startswith("- ")}
    roots = [root for root in roots if root.resolve() not in referenced]
    if not roots:
        (base / "kustomization.yaml").write_text("resources:\n" + "".join(
            f"  - {p.relative_to(base)}\n" for p in files))
        roots = [base]
    namespaces = sorted({ns for p in files for ns in NAMESPACE.findall(p.read_text())} - {"default"}) or [app]
    (repo / "gitops.yaml").write_text("repoURL: https://git.example.org/acme/real-shaped.git\nrevision: main\n")
    overlay = repo / "overlays" / "prod" / app
    overlay.mkdir(parents=True)
    (overlay.parent / "environment.yaml").write_text(
        "name: prod\ncluster: prod-1\nserver: https://prod-1.k8s.example.org:6443\nkubernetesVersion: \"1.34\"\n"
        "argocdProject: real-shaped\nbaseDomain: example.org\n"
        f"apps:\n  {app}: {{namespaces: [{', '.join(namespaces)}]}}\n")
    (overlay / "kustomization.yaml").write_text("resources:\n" + "".join(
        f"  - ../../../base/{app}/{root.relative_to(base)}\n".replace("/.\n", "\n") for root in roots))
    return repo, folder


@functools.cache
def checked(app: str) -> Linted:
    """`check --format json` of the wrapped app, finding paths mapped back to the app's folder."""
    repo, folder = wrapped(app)
    result = run_program([CHECK, "--format", "json"], repo)
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    prefix = f"base/{app}/"
    findings = [{**f, "path": folder + "/" + f["path"][len(prefix):]} if str(f.get("path")).startswith(prefix) else f
                for f in document.get("findings", [])]
    return Linted(result.code, findings, document, result.stderr)


def ran(mode: str, app: str) -> Linted:
    return linted(app) if mode == LINT else checked(app)


def shown(run: Linted) -> str:
    return "\n".join(f"  {f.get('path')}:{f.get('line')}: {f.get('severity')} {f.get('rule')} {f.get('message')}"
                     for f in run.findings) + (f"\nstderr: {run.stderr}" if run.stderr else "")


# --- the fixtures themselves --------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", apps())
def test_every_expected_entry_points_at_a_line_of_a_fixture_file(app: str) -> None:
    """The expectations cannot rot silently: each names a file of the app, a line that exists and is not blank,
    and a rule id of the right shape."""
    assert len(apps()) >= 8
    entries = items(app, "findings") + items(app, "silent")
    assert items(app, "findings"), f"{app}: no expected finding"
    for item in entries:
        path = FIXTURES / app / item.file
        assert path.is_file(), item
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", item.rule), item
        if item.line is not None:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert 1 <= item.line <= len(lines) and lines[item.line - 1].strip(), item


# --- lint ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "app"), [pytest.param(mode, app, marks=marks(None) if mode == LINT else [])
                                          for mode in (LINT, CHECK) for app in apps()])
def test_the_app_is_checked_and_exits_1_on_errors(mode: str, app: str) -> None:
    """Findings at error severity exit 1, never a usage error (2) or a tool failure (4); nothing crashed."""
    run = ran(mode, app)
    assert run.code in (0, 1), f"exit {run.code}\n{shown(run)}"
    assert run.document.get("toolErrors", []) == [], run.document.get("toolErrors")
    errors = [f for f in run.findings if f.get("severity") == "error"]
    assert (run.code == 1) == bool(errors), shown(run)
    assert all(not Path(f.get("path") or ".").is_absolute() for f in run.findings), shown(run)


@pytest.mark.parametrize(("mode", "item"), cases("findings"))
def test_expected_finding_is_reported_at_its_line(mode: str, item: Item) -> None:
    run = ran(mode, item.app)
    found = [f for f in run.findings if item.matches(f)]
    assert found, f"{item.rule} not at {item.file}:{item.line} ({item.why})\nfound:\n{shown(run)}"
    if item.only_one:
        same = [f for f in run.findings if f.get("rule") == item.rule and f.get("path") == item.file
                and (item.message is None or re.search(item.message, f.get("message") or ""))]
        assert len(same) == 1, f"{len(same)} findings where one grouped finding belongs:\n{shown(run)}"


@pytest.mark.parametrize(("mode", "item"), cases("silent"))
def test_false_alarm_stays_silent(mode: str, item: Item) -> None:
    run = ran(mode, item.app)
    fired = [f for f in run.findings if item.matches(f)]
    assert not fired, f"{item.rule} fired in {item.file} ({item.why}):\n{shown(run)}"


def workloads(app: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((FIXTURES / app / EXPECTED).read_text(encoding="utf-8")) or {}
    return list(document.get("workloads") or [])


def workload_cases() -> list[Any]:
    cases = []
    for mode in (LINT, CHECK):
        for app in apps():
            for wanted in workloads(app):
                gap = wanted.get("xfail")
                mark = marks(None) if mode == LINT else []
                if not mark and gap:
                    mark = [pytest.mark.xfail(reason=gap, strict=True)]
                cases.append(pytest.param(mode, app, wanted, id=f"{mode}:{app}:{wanted['resource']}", marks=mark))
    return cases


@pytest.mark.parametrize(("mode", "app", "wanted"), workload_cases())
def test_workloads_are_classified_by_evidence(mode: str, app: str, wanted: dict[str, Any]) -> None:
    """Phoenix workloads are found by what their pods show (no house labels here), others are not, and each says
    which rule families applied (the JSON report's `workloads`)."""
    run = ran(mode, app)
    reported = {w.get("resource"): w for w in run.document.get("workloads", [])}
    got = reported.get(wanted["resource"])
    assert got is not None, f"{wanted['resource']} not among the workloads: {sorted(reported)}"
    assert bool(got.get("phoenix")) == wanted["phoenix"], got
    if "role" in wanted:
        assert got.get("role") == wanted["role"], got
    assert got.get("rules"), got
