"""The rule catalogue end to end: `check` through the program, `invoke rules-doc`, on copies of fixture repos."""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, leftovers, run_cli, run_program, tree_bytes
from invoke import Context, Exit

from phoenix_gitops_cli import develop

FIVE_RULES = "".join(f"{line}\n" for line in (
    ".: info POLICY-WEAKENED not a git checkout: weakening of platform files not compared",
    "overlays/prod/api/deployment-patch.yaml:7:5: error PHX-V37 POOL_SIZE 10 x 6 replicas + migration 2 + headroom 2 "
    "= 64 connections, over the declared 40 [prod/api Deployment/api-web]",
    "overlays/prod/api/hpa-patch.yaml:7:3: error PHX-V24 Deployment/api-web runs 2 replica(s); this environment needs "
    "at least 3 [prod/api HorizontalPodAutoscaler/api-web]",
    "overlays/prod/api/kustomization.yaml:16:5: error PHX-V04 image of container 'app' is not pinned by digest "
    "(@sha256:...) [prod/api Deployment/api-web]",
    "overlays/prod/api/kustomization.yaml:16:5: error PHX-V04 image of container 'migrate' is not pinned by digest "
    "(@sha256:...) [prod/api Job/api-migrate]",
    "overlays/prod/api/kustomization.yaml:21:9: error PHX-V22 PHX_HOST is the placeholder 'localhost' "
    "[prod/api Deployment/api-web]",
    "overlays/prod/api/kustomization.yaml:23:9: error SEC-URL-CREDENTIALS ConfigMap key REDIS_URL holds a URL with a "
    "password (scheme://user:****@host) [prod/api ConfigMap/api-env-ctk9hcth2c]",
    "overlays/prod/api/deployment-patch.yaml:8:5: suppressed PHX-V27 (1 finding(s)): capacity is reserved per node, "
    "a surge pod would not fit during rollouts [prod/api Deployment/api-web]",
))
REDIS_PASSWORD = "s3cr3t-redis-pass"


def shipped_copy(tmp_path: Path) -> Path:
    """The shipped base and overlays (no schemas/: the tool's own policy applies)."""
    root = tmp_path / "shipped"
    for folder in ("base", "overlays"):
        shutil.copytree(PROJECT / folder, root / folder)
    shutil.copy(PROJECT / "gitops.yaml", root / "gitops.yaml")
    return root


def test_five_rules_at_once_with_a_suppression(fixture_repo):
    root = fixture_repo("five-rules")
    result = run_program(["check"], root)
    assert result.code == 1, result.stderr
    assert result.stdout.split("check summary")[0] == FIVE_RULES
    assert "│ prod │ prod-1  │ 1.34       │ 1    │ 12        │ 6      │ 0        │" in result.stdout
    rules = {line.split(" ")[2] for line in FIVE_RULES.splitlines() if " error " in line}
    assert rules == {"PHX-V04", "PHX-V22", "PHX-V24", "PHX-V37", "SEC-URL-CREDENTIALS"}

    document = json.loads(run_program(["check", "--format", "json"], root).stdout)
    assert document["suppressions"] == [{
        "rules": ["PHX-V27"], "reason": "capacity is reserved per node, a surge pod would not fit during rollouts",
        "path": "overlays/prod/api/deployment-patch.yaml", "line": 8, "column": 5, "env": "prod", "app": "api",
        "resource": "Deployment/api-web", "suppressed": 1,
    }]
    sarif = run_program(["check", "--format", "sarif"], root)
    assert sarif.code == 1 and REDIS_PASSWORD not in sarif.stdout + sarif.stderr
    assert REDIS_PASSWORD not in result.stdout + result.stderr and REDIS_PASSWORD not in json.dumps(document)


def test_render_refuses_the_five_rules_fixture(fixture_repo):
    root = fixture_repo("five-rules")
    result = run_program(["render", "all"], root)
    assert result.code == 1
    assert "overlays/prod/api/hpa-patch.yaml:7:3: error PHX-V24" in result.stderr
    assert tree_bytes(root / "rendered") == {} and leftovers(root / "rendered") == []
    assert REDIS_PASSWORD not in result.stdout + result.stderr


@pytest.mark.slow  # runs kustomize (no fixture marks it slow)
def test_same_cookie_key_in_staging_and_prod_is_reported_in_both(tmp_path):
    root = shipped_copy(tmp_path)
    patch = root / "overlays/prod/api/externalsecret-patch.yaml"
    patch.write_text(patch.read_text().replace("phoenix/prod/api", "phoenix/staging/api")
                     .replace("vault-prod", "vault-staging"))
    result = run_program(["check"], root)
    assert result.code == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if " error " in line]
    assert errors == [
        "overlays/prod/api/externalsecret-patch.yaml:11:9: error PHX-V35 RELEASE_COOKIE has the same secret-store key "
        "in prod and staging [prod/api ExternalSecret/api-secrets]",
        "overlays/staging/api/externalsecret-patch.yaml:11:9: error PHX-V35 RELEASE_COOKIE has the same secret-store "
        "key in staging and prod [staging/api ExternalSecret/api-secrets]",
    ]


def test_a_plaintext_secret_in_the_webapp_is_reported_and_never_echoed(fixture_repo):
    root = fixture_repo("webapp")
    value = "hunter2-plaintext-9f3a"
    (root / "base/web/secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\ntype: Opaque\ndata:\n"
        f"  password: {base64.b64encode(value.encode()).decode()}\n")
    kustomization = root / "base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - secret.yaml\n")
    for fmt in ("text", "github", "markdown"):
        result = run_program(["check", "--format", fmt], root)
        assert result.code == 1
        assert value not in result.stdout + result.stderr
        assert base64.b64encode(value.encode()).decode() not in result.stdout + result.stderr
        if fmt == "text":
            assert ("base/web/secret.yaml:6:1: error PHX-V06 Secret/web-db has plaintext data (keys password; values "
                    "not shown) [prod/web Secret/web-db]") in result.stdout


def test_an_argo_application_in_app_output_is_refused(fixture_repo):
    root = fixture_repo("webapp")
    (root / "base/web/app.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: sneaky\nspec:\n  project: default\n"
        "  destination:\n    server: https://prod-1.k8s.example.org:6443\n    namespace: kube-system\n"
        "  source:\n    repoURL: https://git.example.org/evil.git\n    path: .\n")
    kustomization = root / "base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - app.yaml\n")
    result = run_program(["check"], root)
    assert result.code == 1
    assert ("base/web/app.yaml:2:1: error ISO-FORBIDDEN-KIND argoproj.io/v1alpha1 Application does not belong in an "
            "app's rendered output [prod/web Application/sneaky]") in result.stdout


def test_a_repository_policy_file_tunes_severities(fixture_repo):
    root = fixture_repo("five-rules")
    policy = (PROJECT / "schemas" / "policy.yaml").read_text(encoding="utf-8")
    (root / "schemas").mkdir()
    (root / "schemas" / "policy.yaml").write_text(
        policy.replace("PHX-V04: {dev: \"-\", staging: warning, prod: error}",
                       "PHX-V04: {dev: \"-\", staging: warning, prod: \"-\"}")
        .replace("PHX-V24: {dev: error, staging: error, prod: error}",
                 "PHX-V24: {dev: error, staging: error, prod: warning}"))
    result = run_program(["check"], root)
    assert " PHX-V04 " not in result.stdout
    assert "overlays/prod/api/hpa-patch.yaml:7:3: warning PHX-V24" in result.stdout

    (root / "schemas" / "policy.yaml").write_text(policy.replace("PHX-V04: {dev: \"-\"", "PHX-V04: {dev: never"))
    broken = run_program(["check"], root)
    assert broken.code == 1
    assert "schemas/policy.yaml:" in broken.stdout and " error POLICY-FILE $.rules.PHX-V04.dev" in broken.stdout


def test_rules_doc_check_is_current_through_the_cli(fixture_repo):
    # a subprocess of plain `invoke` on purpose: `rules-doc` is a task of tasks.py only, not of the program
    proc = run_cli(["rules-doc", "--check"], fixture_repo("minimal"))
    assert proc.returncode == 0, proc.stderr
    assert "docs/rules.md: up to date" in proc.stdout


def test_rules_doc_check_exits_3_when_stale_and_writes_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(develop, "CHECKOUT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.md").write_text("old\n")
    with pytest.raises(Exit) as stale:
        develop.rules_doc(Context(), check=True)
    assert stale.value.code == 3 and (tmp_path / "docs" / "rules.md").read_text() == "old\n"
    develop.rules_doc(Context())
    assert (tmp_path / "docs" / "rules.md").read_text() == (PROJECT / "docs" / "rules.md").read_text()


def test_a_policy_may_tune_yaml_ambiguous_and_the_overlay_then_builds(fixture_repo):
    root = fixture_repo("webapp")
    patch = root / "overlays/prod/web/deployment-patch.yaml"
    patch.write_text(patch.read_text().replace("  name: web\n", "  name: web\n  labels:\n    tier: on\n"))
    where = "overlays/prod/web/deployment-patch.yaml:6:11"
    strict = run_program(["check", "--format", "json"], root)
    assert strict.code == 1, strict.stderr
    document = json.loads(strict.stdout)
    assert [(f["rule"], f["severity"], f"{f['path']}:{f['line']}:{f['column']}") for f in document["findings"]] == [
        ("POLICY-WEAKENED", "info", ".:None:None"), ("YAML-AMBIGUOUS", "error", where)]
    assert document["environments"][0]["resources"] == 0  # a source error: the overlay was not built

    policy = root / "schemas" / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("\nrules:\n",
                                   "\nrules:\n  YAML-AMBIGUOUS: {dev: error, staging: error, prod: warning}\n"))
    tuned = run_program(["check", "--format", "json"], root)
    assert tuned.code == 0, tuned.stdout + tuned.stderr
    document = json.loads(tuned.stdout)
    assert [(f["rule"], f["severity"]) for f in document["findings"]] == [("POLICY-WEAKENED", "info"),
                                                                         ("YAML-AMBIGUOUS", "warning")]
    assert document["environments"][0]["resources"] == 3  # built, validated and ruled

    policy.write_text(text.replace("\nrules:\n",
                                   "\nrules:\n  YAML-AMBIGUOUS: {dev: error, staging: error, prod: \"-\"}\n"))
    off = run_program(["check"], root)
    assert off.code == 0 and "YAML-AMBIGUOUS" not in off.stdout, off.stdout + off.stderr
