"""check: each broken fixture yields its rule at its path:line through the real CLI; the clean repos check clean."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURE_REPOS, PROJECT, leftovers, run_program, tree_bytes

from phoenix_gitops.cache import RunCache, fingerprint
from phoenix_gitops.check import run_check
from phoenix_gitops.kustomize import Kustomize
from phoenix_gitops.layout import Repo
from phoenix_gitops.model import Rendered
from phoenix_gitops.yamlio import load_file

NOT_COMPARED = {"rule": "POLICY-WEAKENED", "severity": "info",
                "message": "not a git checkout: weakening of platform files not compared", "path": ".", "line": None,
                "column": None, "env": None, "app": None, "resource": None}
"""What `check` says outside a git checkout: the platform files were not compared with a merge-base."""

BROKEN = PROJECT / "tests" / "fixtures" / "broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if p.is_dir())


def broken_repo(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    shutil.copytree(FIXTURE_REPOS / "webapp", root, symlinks=True)
    shutil.copytree(BROKEN / case, root, symlinks=True, dirs_exist_ok=True)
    (root / "expect.yaml").unlink()
    return root


def test_every_case_has_an_expectation():
    assert len(CASES) >= 15
    for case in CASES:
        expect = load_file(BROKEN / case / "expect.yaml")[0].data
        assert set(expect) == {"rule", "path", "line", "message"}, case


@pytest.mark.slow  # runs kustomize (no fixture marks it slow)
@pytest.mark.parametrize("case", CASES)
def test_broken_case_reports_its_rule_at_its_line_and_renders_nothing(tmp_path, case):
    expect = load_file(BROKEN / case / "expect.yaml")[0].data
    root = broken_repo(tmp_path, case)
    where = f"{expect['path']}:{expect['line']}:" if expect["line"] else f"{expect['path']}: "
    result = run_program(["check"], root)
    output = result.stdout + result.stderr
    assert result.code == 1, output
    hits = [line for line in output.splitlines() if line.startswith(where) and f" {expect['rule']} " in line]
    assert hits, f"no {expect['rule']} at {where} in:\n{output}"
    assert any(expect["message"] in hit for hit in hits), hits
    assert "Traceback" not in output

    render = run_program(["render", "all"], root)
    assert render.code == 1, render.stdout + render.stderr
    assert where in render.stderr
    assert tree_bytes(root / "rendered") == {} and leftovers(root / "rendered") == []


@pytest.mark.parametrize("name", ["webapp", "minimal"])
def test_clean_fixture_repos_check_clean(name, kz):
    repo = Repo(FIXTURE_REPOS / name)
    report = run_check(repo, repo.select_envs("all"), kz)
    assert [str(f) for f in report.findings] == []
    assert report.exit_code == 0 and report.skipped == {}


def test_a_clean_overlay_is_built_once_without_origins(fixture_repo, kz, builds):
    repo = Repo(fixture_repo("minimal"))
    report = run_check(repo, repo.select_envs("all"), kz)
    assert report.findings == [] and report.tool_errors == []
    assert sorted(builds) == [("dev/hello", False), ("prod/hello", False), ("prod/world", False)]
    assert [isinstance(r, Rendered) for rendered in report.rendered.values() for r in rendered] == [False] * 3
    assert report.apps == {"dev": ["hello"], "prod": ["hello", "world"]}


def test_origins_for_every_build_are_asked_for_and_typed(fixture_repo, kz):
    repo = Repo(fixture_repo("minimal"))
    with pytest.raises(ValueError, match="built without origins: dev/hello, prod/hello, prod/world"):
        run_check(repo, repo.select_envs("all"), kz).rendered_with_origins()
    located = run_check(repo, repo.select_envs("all"), kz, origins=True).rendered_with_origins()
    assert {env: [(r.overlay.app, r.origins) for r in rendered] for env, rendered in located.items()} == {
        "dev": [("hello", ({"path": "base/hello/configmap.yaml"},))],
        "prod": [("hello", ({"path": "base/hello/configmap.yaml"},)),
                 ("world", ({"path": "base/hello/configmap.yaml"},))],
    }


@pytest.mark.parametrize("name, file, change", [
    ("webapp", "overlays/prod/web/deployment-patch.yaml", ("  replicas: 3", "  replicsa: 3")),  # K8S-SCHEMA
    ("five-rules", "overlays/prod/api/deployment-patch.yaml", ("phoenix-gitops/suppress", "x-note")),  # five rules
])
def test_an_overlay_with_a_finding_is_built_again_with_origins_and_reports_what_an_eager_check_does(
        fixture_repo, kz, builds, name, file, change):
    root = fixture_repo(name)
    (root / file).write_text((root / file).read_text().replace(*change))
    repo = Repo(root)
    lazy = run_check(repo, repo.select_envs("all"), kz)
    overlay = f"prod/{file.split('/')[2]}"
    assert builds == [(overlay, False), (overlay, True)]
    eager = run_check(repo, repo.select_envs("all"), kz, origins=True)
    assert lazy.findings and [str(f) for f in lazy.findings] == [str(f) for f in eager.findings]
    assert any(f.path == file and f.line for f in lazy.findings)
    assert lazy.rendered["prod"] == eager.rendered["prod"]  # the overlay with the finding, built with origins


def test_a_rule_that_reads_an_origin_gets_the_build_with_origins_and_judges_as_an_eager_check(
        fixture_repo, kz, builds):
    root = fixture_repo("webapp")  # a v1 Secret: PHX-V06 reads its origin (a secretGenerator's is not plaintext)
    (root / "base/web/secret.sops.yaml").write_text(SOPS_SECRET.format(value=ENCRYPTED))
    kustomization = root / "base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - secret.sops.yaml\n")
    repo = Repo(root)
    lazy = run_check(repo, repo.select_envs("all"), kz)
    assert builds == [("prod/web", False), ("prod/web", True)]
    assert lazy.findings == [] and lazy.tool_errors == []
    assert lazy.rendered == run_check(repo, repo.select_envs("all"), kz, origins=True).rendered


def test_a_build_that_changed_before_its_origins_were_built_is_a_tool_error(fixture_repo, kz, monkeypatch):
    root = fixture_repo("webapp")
    patch = root / "overlays/prod/web/deployment-patch.yaml"
    patch.write_text(patch.read_text().replace("  replicas: 3", "  replicsa: 3"))
    build = Kustomize.build

    def changed(self, overlay, origins=False, sort_options=None):
        text = build(self, overlay, origins, sort_options)
        return text + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edited\n" if origins else text

    monkeypatch.setattr(Kustomize, "build", changed)
    report = run_check(Repo(root), Repo(root).select_envs("all"), kz)
    assert report.exit_code == 4 and report.rendered == {"prod": []}
    assert report.tool_errors == ["overlays/prod/web: the build changed during the check (files edited?); check again"]
    assert [f.rule for f in report.findings] == []


def test_an_overlay_whose_sources_carry_a_suppression_is_built_with_origins_at_once(fixture_repo, kz, builds):
    repo = Repo(fixture_repo("five-rules"))
    report = run_check(repo, repo.select_envs("all"), kz)
    assert builds == [("prod/api", True)]
    assert [s.suppressed for s in report.suppressions] == [1]


def test_shipped_repo_checks_clean_in_every_env(kz):
    repo = Repo(PROJECT)
    report = run_check(repo, repo.select_envs("all"), kz)
    assert [str(f) for f in report.findings] == []
    assert [(s.env, s.apps, s.errors) for s in report.summaries] == [("dev", 2, 0), ("prod", 2, 0), ("staging", 2, 0)]


@pytest.mark.slow  # runs kustomize (no fixture marks it slow)
def test_json_output_of_a_broken_repo_is_stable_and_exit_1(tmp_path):
    root = broken_repo(tmp_path, "k8s-unknown-field")
    result = run_program(["check", "--env", "prod", "--format", "json"], root)
    assert result.code == 1
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert document["findings"] == [NOT_COMPARED, {
        "rule": "K8S-SCHEMA", "severity": "error", "message": "$.spec.replicsa: unknown field 'replicsa'",
        "path": "overlays/prod/web/deployment-patch.yaml", "line": 6, "column": 3, "env": "prod", "app": "web",
        "resource": "Deployment/web",
    }]
    assert document["environments"][0]["errors"] == 1
    assert document["rulesSkipped"] == []  # a schema error stops no rule


@pytest.mark.slow  # runs kustomize (no fixture marks it slow)
def test_every_finding_of_several_broken_overlays_is_reported(tmp_path):
    root = broken_repo(tmp_path, "k8s-unknown-field")
    shutil.copytree(BROKEN / "crd-unknown-field" / "base", root / "base", dirs_exist_ok=True)
    result = run_program(["check"], root)
    rules = [line.split(" ")[2] for line in result.stdout.splitlines() if " error " in line]
    assert rules == ["K8S-SCHEMA", "K8S-SCHEMA"]
    assert "base/web/externalsecret.yaml:6:" in result.stdout and "deployment-patch.yaml:6:" in result.stdout


@pytest.mark.parametrize(("case", "reason"), [
    ("kustomize-build-failure", "kustomize could not build it"),
    ("yaml-duplicate-key", "its sources have errors"),
])
def test_the_report_says_whose_rules_did_not_run_and_why_also_from_the_cache(tmp_path, kz, case, reason):
    repo = Repo(broken_repo(tmp_path, case))
    cache_folder = tmp_path / "cache"
    for _ in range(2):  # the second run takes what it can from the cache
        cache = RunCache.load(repo.root, fingerprint(kz.version), cache_folder)
        report = run_check(repo, repo.select_envs("all"), kz, cache=cache)
        assert report.skipped == {"prod/web": reason}
        assert report.exit_code == 1 and report.tool_errors == []


def test_a_policy_that_does_not_load_skips_every_rule_and_says_so(fixture_repo, kz):
    root = fixture_repo("minimal")
    (root / "schemas").mkdir()
    (root / "schemas" / "policy.yaml").write_text("rules: [\n", "utf-8")
    repo = Repo(root)
    report = run_check(repo, repo.select_envs("all"), kz)
    assert report.skipped == {what: "the policy did not load"
                              for what in ["across environments", "dev/hello", "prod/hello", "prod/world"]}
    assert report.exit_code == 1


@pytest.mark.slow  # runs kustomize (no fixture marks it slow)
def test_check_prints_whose_rules_did_not_run_under_the_summary(tmp_path):
    root = broken_repo(tmp_path, "kustomize-build-failure")
    result = run_program(["check"], root)
    assert result.code == 1
    assert result.stdout.rstrip().endswith("rules did not run for prod/web: kustomize could not build it"), \
        result.stdout
    render = run_program(["render", "all"], root)
    assert render.code == 1 and "rules did not run for prod/web: kustomize could not build it" in render.stderr


def test_unknown_format_is_a_usage_error(fixture_repo):
    result = run_program(["check", "--format", "xml"], fixture_repo("minimal"))
    assert result.code == 2 and "unknown format 'xml'" in result.stderr


def test_missing_kustomize_is_a_tool_error(fixture_repo):
    result = run_program(["check"], fixture_repo("minimal"), KUSTOMIZE="/nonexistent/kustomize")
    assert result.code == 4


ENCRYPTED = "ENC[AES256_GCM,data:c2VjcmV0dmFsdWU=,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFndGFn,type:str]"
SOPS_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: web-extra
type: Opaque
stringData:
  API_TOKEN: {value}
sops:
  mac: ENC[AES256_GCM,data:bWFjbWFj,iv:aXZpdml2,tag:dGFndGFn,type:str]
  lastmodified: "2026-11-01T10:00:00Z"
  version: 3.9.0
  encrypted_regex: ^(data|stringData)$
  age:
    - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOQ==
        -----END AGE ENCRYPTED FILE-----
"""


@pytest.mark.parametrize(("value", "expected"), [
    (ENCRYPTED, []),
    ("hunter2-plaintext-token", ["base/web/secret.sops.yaml:7:3: error SEC-SOPS"]),
])
def test_sops_encrypted_secret_passes_the_schema_and_plaintext_in_it_is_caught(fixture_repo, kz, value, expected):
    root = fixture_repo("webapp")
    (root / "base/web/secret.sops.yaml").write_text(SOPS_SECRET.format(value=value))
    kustomization = root / "base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - secret.sops.yaml\n")
    repo = Repo(root)
    found = [str(f) for f in run_check(repo, repo.select_envs("all"), kz).findings]
    assert [line[: len(expected[0])] for line in found] == expected if expected else found == []
    assert not any("hunter2" in line for line in found)


def test_builtin_plugin_configurations_pass_the_source_check_and_build(fixture_repo, kz):
    root = fixture_repo("webapp")
    web = root / "overlays/prod/web"
    (web / "namespace.yaml").write_text("apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n"
                                        "  namespace: web-2\n")
    (web / "kustomization.yaml").write_text((web / "kustomization.yaml").read_text()
                                            + "transformers:\n  - namespace.yaml\n")
    repo = Repo(root)
    report = run_check(repo, repo.select_envs("all"), kz)
    assert not [f for f in report.findings if f.rule.startswith(("SRC-", "KUSTOMIZE-", "K8S-"))]
    assert "prod/web" not in report.skipped and report.tool_errors == []
    namespaces = {r["metadata"].get("namespace") for r in report.rendered["prod"][0].resources}
    assert namespaces == {"web-2"}
