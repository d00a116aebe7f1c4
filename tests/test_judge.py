"""judge: every problem of a build at once (schema errors, removed APIs, custom resources without a schema) and the
rules on top of them; rules that never trip over a shape the schema refused."""
from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from phoenix_gitops import rules
from phoenix_gitops.cache import RunCache, fingerprint
from phoenix_gitops.check import run_check
from phoenix_gitops.judge import judge, parse
from phoenix_gitops.kube_schemas import SchemaIndex
from phoenix_gitops.layout import Repo
from phoenix_gitops.model import Rendered
from phoenix_gitops.sources import read_sources

CERTIFICATES = """apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-tls
spec:
  secretName: web-tls
  dnsNames: [web.example.org]
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web-internal-tls
spec:
  secretName: web-internal-tls
"""
DNS_ENDPOINT = """apiVersion: externaldns.k8s.io/v1alpha1
kind: DNSEndpoint
metadata:
  name: web
spec:
  endpoints: []
"""
REMOVED_PDB = """apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  maxUnavailable: 1
"""
COMMITTED_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: web-keys
stringData:
  RELEASE_COOKIE: not-a-real-cookie-but-committed
"""
TYPO_PATCH = """apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
dta:
  GREETING: hi
"""
HELLO = "overlays/prod/hello"


def add_resources(root: Path, patch: str | None = None, **files: str) -> Path:
    """The minimal fixture with `files` (name -> text) added to the resources of overlays/prod/hello, and
    `patch` as a strategic-merge patch there."""
    folder = root / HELLO
    kustomization = folder / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8").replace(
        "  - ../../../base/hello\n", "  - ../../../base/hello\n" + "".join(f"  - {name}\n" for name in files))
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    if patch is not None:
        (folder / "patch.yaml").write_text(patch, encoding="utf-8")
        text += "patches:\n  - path: patch.yaml\n"
    kustomization.write_text(text, encoding="utf-8")
    return root


def every_problem(root: Path) -> Path:
    """One of each: a schema error, a removed apiVersion, two custom resource kinds without a schema (one of them
    twice), and a committed Secret only the rules see."""
    return add_resources(root, TYPO_PATCH, **{"certificates.yaml": CERTIFICATES, "dnsendpoint.yaml": DNS_ENDPOINT,
                                             "pdb.yaml": REMOVED_PDB, "secret.yaml": COMMITTED_SECRET})


def found(report: Any) -> list[tuple[str, str, int | None, str]]:
    return [(f.rule, f.path, f.line, f.severity) for f in report.findings]


def test_one_broken_resource_stops_neither_the_others_nor_the_rules(fixture_repo, kz):
    repo = Repo(every_problem(fixture_repo("minimal")))
    report = run_check(repo, repo.select_envs("all"), kz)
    assert found(report) == [
        ("K8S-UNKNOWN-CRD", f"{HELLO}/certificates.yaml", 10, "warning"),  # the first of the build's order
        ("K8S-UNKNOWN-CRD", f"{HELLO}/dnsendpoint.yaml", 2, "warning"),
        ("K8S-SCHEMA", f"{HELLO}/patch.yaml", 5, "error"),
        ("K8S-UNKNOWN-KIND", f"{HELLO}/pdb.yaml", 2, "error"),
        ("PHX-V06", f"{HELLO}/secret.yaml", 5, "error"),  # a rule, on top of the schema errors
    ]
    messages = {f.path: f.message for f in report.findings}
    assert messages[f"{HELLO}/certificates.yaml"] == (
        "no schema for the custom resource kind Certificate (cert-manager.io/v1), so it is not validated; add its "
        "CRD's schema with `invoke crd-schemas --add FILE_OR_DIR` (2 resources)")
    assert messages[f"{HELLO}/pdb.yaml"] == (
        "$.kind: PodDisruptionBudget policy/v1beta1 is not served by Kubernetes 1.34; use policy/v1")
    assert report.skipped == {} and report.tool_errors == [] and report.exit_code == 1


def test_a_custom_resource_without_a_schema_alone_is_a_warning_and_the_check_passes(fixture_repo, kz):
    repo = Repo(add_resources(fixture_repo("minimal"), **{"dnsendpoint.yaml": DNS_ENDPOINT}))
    report = run_check(repo, repo.select_envs("all"), kz)
    assert found(report) == [("K8S-UNKNOWN-CRD", f"{HELLO}/dnsendpoint.yaml", 2, "warning")]
    assert report.exit_code == 0 and report.skipped == {}


def test_a_policy_may_make_a_missing_crd_schema_an_error(fixture_repo, kz):
    root = add_resources(fixture_repo("minimal"), **{"dnsendpoint.yaml": DNS_ENDPOINT})
    (root / "schemas").mkdir()
    (root / "schemas/policy.yaml").write_text(rules.DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "K8S-UNKNOWN-CRD: {dev: warning, staging: warning, prod: warning}",
        "K8S-UNKNOWN-CRD: {dev: warning, staging: warning, prod: error}"), encoding="utf-8")
    repo = Repo(root)
    report = run_check(repo, repo.select_envs("all"), kz)
    assert found(report) == [("K8S-UNKNOWN-CRD", f"{HELLO}/dnsendpoint.yaml", 2, "error")]
    assert report.exit_code == 1


def test_the_cached_result_is_the_same_every_problem_and_nothing_skipped(fixture_repo, kz, tmp_path):
    repo = Repo(every_problem(fixture_repo("minimal")))
    first = run_check(repo, repo.select_envs("all"), kz)
    runs = []
    for _ in range(2):
        cache = RunCache.load(repo.root, fingerprint(kz.version), tmp_path / "cache")
        runs.append(run_check(repo, repo.select_envs("all"), kz, cache=cache))
    assert [found(r) for r in runs] == [found(first), found(first)]
    assert [r.skipped for r in runs] == [{}, {}]


def test_a_build_without_origins_is_judged_again_with_them_to_place_a_warning(fixture_repo, kz):
    root = add_resources(fixture_repo("minimal"), **{"dnsendpoint.yaml": DNS_ENDPOINT})
    repo = Repo(root)
    env = repo.environment("prod")
    overlay = next(o for o in env.overlays() if o.app == "hello")
    graph = read_sources(root, overlay)
    policy, _ = rules.load_policy(*rules.policy_file(root))
    schemas = SchemaIndex()
    plain = judge(parse(overlay, kz.build(overlay), False), env, graph, schemas, policy)
    assert plain.needs_origins and [p.rule for _, p in plain.problems] == ["K8S-UNKNOWN-CRD"]
    again = judge(parse(overlay, kz.build(overlay, origins=True), True), env, graph, schemas, policy, plain.problems)
    assert [(f.rule, f.path, f.line) for f in again.findings] == [
        ("K8S-UNKNOWN-CRD", f"{HELLO}/dnsendpoint.yaml", 2)]
    assert again.rules is not None and again.skipped is None


# The rules never trust a shape -------------------------------------------------------------------------------

ODD_VALUES: list[Any] = ["x", 7, None, [], {}, ["y"], {"a": "b"}, True, 1.5, -1]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nodes(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nodes(item, path + (index,))
    return found


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


@pytest.fixture(scope="module")
def shipped_builds(kz) -> tuple[Repo, dict[str, list[Rendered]]]:
    repo = Repo(PROJECT)
    report = run_check(repo, repo.select_envs("all"), kz, origins=True)
    assert report.findings == []
    return repo, report.rendered_with_origins()


@pytest.mark.slow  # builds the shipped overlays
@pytest.mark.parametrize("seed", range(3))
def test_no_rule_crashes_on_resources_of_any_shape(shipped_builds, seed):
    """Random fields of the shipped builds (which pass every rule) replaced by values of another type, as a build
    that failed its schema may hold: every rule (per overlay and across environments) must still finish."""
    repo, outputs = shipped_builds
    envs = repo.select_envs("all")
    policy, _ = rules.load_policy(*rules.policy_file(repo.root))
    assert policy is not None
    schemas = SchemaIndex()
    context = rules.Context(policy, schemas, envs)
    rng = random.Random(seed)
    crashes: set[str] = set()
    for env in envs:
        for output in outputs[env.name]:
            graph = read_sources(repo.root, output.overlay)
            for _ in range(40):
                resources = copy.deepcopy(list(output.resources))
                for _ in range(rng.randint(1, 6)):
                    resource = rng.choice(resources)
                    paths = [p for p in _nodes(resource) if p and p[0] not in ("apiVersion", "kind")]
                    _set(resource, rng.choice(paths), copy.deepcopy(rng.choice(ODD_VALUES)))
                mutant = Rendered(output.overlay, output.text, tuple(resources), output.origins)
                view = rules.view_of(env, mutant, graph, policy, schemas)
                own = rules.check_view(view, policy)
                across = rules.check_across([view], {output.overlay.id: own}, context)
                crashes.update(own.tool_errors + across.tool_errors)
    assert sorted(crashes) == []
