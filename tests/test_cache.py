"""cache: unchanged overlays are reused without running kustomize; anything changed, corrupted or foreign is rebuilt."""
from __future__ import annotations

import json

import pytest

from phoenix_gitops import rules
from phoenix_gitops.cache import RunCache, fingerprint
from phoenix_gitops.check import run_check
from phoenix_gitops.kustomize import Kustomize
from phoenix_gitops.layout import Repo


def check(root, kz, folder, env="all", outputs=True):
    repo = Repo(root)
    cache = RunCache.load(repo.root, fingerprint(kz.version), folder)
    return run_check(repo, repo.select_envs(env), kz, cache=cache, outputs=outputs)


@pytest.fixture
def broken_kz(kz):
    """A kustomize that cannot run: any overlay it is asked to build becomes a tool error naming it."""
    return Kustomize(("/nonexistent/kustomize", "build"), kz.version)


def test_unchanged_overlays_come_from_the_cache_without_kustomize(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("minimal")
    first = check(root, kz, tmp_path)
    second = check(root, broken_kz, tmp_path)
    assert second.tool_errors == []
    assert {e: [r.text for r in rs] for e, rs in second.rendered.items()} == {
        e: [r.text for r in rs] for e, rs in first.rendered.items()}


def test_a_changed_base_rebuilds_exactly_the_overlays_that_read_it(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    (root / "overlays/prod/world/kustomization.yaml").write_text(
        (root / "overlays/prod/world/kustomization.yaml").read_text() + "# touched\n")
    assert [e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors] == ["overlays/prod/world"]
    (root / "base/hello/configmap.yaml").write_text((root / "base/hello/configmap.yaml").read_text() + "# touched\n")
    failed = sorted(e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors)
    assert failed == ["overlays/dev/hello", "overlays/prod/hello", "overlays/prod/world"]


def test_a_changed_environment_file_rebuilds_that_environment(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    env_file = root / "overlays/dev/environment.yaml"
    env_file.write_text(env_file.read_text().replace('"1.34"', '"1.35"'))
    assert [e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors] == ["overlays/dev/hello"]


def test_findings_survive_the_cache(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("webapp")
    patch = root / "overlays/prod/web/deployment-patch.yaml"
    patch.write_text(patch.read_text().replace("  replicas: 3", "  replicsa: 3"))
    cold = check(root, kz, tmp_path)
    warm = check(root, broken_kz, tmp_path)
    assert [str(f) for f in warm.findings] == [str(f) for f in cold.findings] != []
    assert warm.exit_code == 1 and warm.tool_errors == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other-tool"])
def test_a_corrupted_or_foreign_cache_is_never_trusted(fixture_repo, kz, broken_kz, tmp_path, damage):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    (path,) = tmp_path.glob("*/index.json")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":  # one changed byte in the payload: the checksum no longer matches
        path.write_bytes(raw.replace(b"hello", b"HELLO", 1))
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    else:
        check_sum, _, payload = raw.partition(b"\n")
        document = json.loads(payload)
        document["tool"] = "another-version"
        path.write_bytes(check_sum + b"\n" + json.dumps(document).encode())
    report = check(root, broken_kz, tmp_path)
    assert len(report.tool_errors) == 3  # everything rebuilt (and fails with the broken kustomize)
    assert check(root, kz, tmp_path).tool_errors == []
    assert check(root, broken_kz, tmp_path).tool_errors == []  # and the rewritten cache is good again


def test_a_stale_entry_with_a_valid_checksum_is_rebuilt(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    repo = Repo(root)
    cache = RunCache.load(repo.root, fingerprint(kz.version), tmp_path)
    cache.entries["prod/hello"].deps["base/hello/configmap.yaml"] = "0" * 64
    cache.dirty = True
    cache.save()
    assert [e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors] == ["overlays/prod/hello"]


def test_cli_check_uses_and_bypasses_the_cache(fixture_repo, kz, tmp_path):
    from conftest import run_program

    root = fixture_repo("minimal")
    folder = str(tmp_path / "cli-cache")
    failing = tmp_path / "kustomize"  # same version (same fingerprint), but every build fails
    failing.write_text(f'#!/bin/sh\nif [ "$1" = version ]; then echo {kz.version}; exit 0; fi\n'
                       'echo "Error: boom" >&2\nexit 1\n')
    failing.chmod(0o755)
    assert run_program(["check"], root, PHOENIX_GITOPS_CACHE=folder).code == 0
    assert run_program(["check"], root, PHOENIX_GITOPS_CACHE=folder, KUSTOMIZE=str(failing)).code == 0
    bypass = run_program(["check", "--no-cache"], root, PHOENIX_GITOPS_CACHE=folder, KUSTOMIZE=str(failing))
    assert bypass.code == 1 and "KUSTOMIZE-BUILD" in bypass.stdout


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_a_corrupted_or_missing_output_rebuilds_that_overlay(fixture_repo, kz, broken_kz, tmp_path, damage):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    cache = RunCache.load(Repo(root).root, fingerprint(kz.version), tmp_path)
    output = cache.folder / "outputs" / f"{cache.entries['prod/world'].output}.json"
    if damage == "flip":
        output.write_bytes(output.read_bytes().replace(b"world", b"WORLD", 1))
    else:
        output.unlink()
    assert [e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors] == ["overlays/prod/world"]
    assert check(root, kz, tmp_path).tool_errors == []
    assert check(root, broken_kz, tmp_path).tool_errors == []


def test_rule_findings_and_suppressions_survive_the_cache(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("five-rules")
    cold = check(root, kz, tmp_path)
    for outputs in (False, True):
        warm = check(root, broken_kz, tmp_path, outputs=outputs)
        assert warm.tool_errors == []
        assert [str(f) for f in warm.findings] == [str(f) for f in cold.findings]
        assert [str(s) for s in warm.suppressions] == [str(s) for s in cold.suppressions]
        assert warm.summaries == cold.summaries
    assert {f.rule for f in cold.findings} >= {"PHX-V04", "PHX-V22", "PHX-V24", "PHX-V37"}
    assert [s.suppressed for s in cold.suppressions] == [1]


def test_a_check_with_nothing_changed_reads_no_source_and_no_output(fixture_repo, kz, tmp_path, monkeypatch):
    from phoenix_gitops import check as checking

    root = fixture_repo("five-rules")
    cold = check(root, kz, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("read while nothing changed")

    monkeypatch.setattr(checking, "read_sources", refuse)
    monkeypatch.setattr(RunCache, "output", refuse)
    warm = check(root, kz, tmp_path, outputs=False)
    assert [str(f) for f in warm.findings] == [str(f) for f in cold.findings]
    assert warm.rendered == {"prod": []}


def test_a_changed_policy_reruns_the_rules(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("five-rules")
    assert {f.severity for f in check(root, kz, tmp_path).findings if f.rule == "PHX-V04"} == {"error"}
    (root / "schemas").mkdir()
    policy = rules.DEFAULT_POLICY.read_text(encoding="utf-8")
    (root / "schemas/policy.yaml").write_text(policy.replace("PHX-V04: {dev: \"-\", staging: warning, prod: error}",
                                                             "PHX-V04: {dev: \"-\", staging: warning, prod: warning}"))
    assert check(root, broken_kz, tmp_path).tool_errors != []  # the policy is an input: nothing is reused
    assert {f.severity for f in check(root, kz, tmp_path).findings if f.rule == "PHX-V04"} == {"warning"}


def test_another_environment_file_changes_the_rules_across_environments(fixture_repo, kz, broken_kz, tmp_path):
    root = fixture_repo("minimal")
    assert "ISO-CLUSTER-DISTINCT" not in {f.rule for f in check(root, kz, tmp_path, env="prod").findings}
    dev = root / "overlays/dev/environment.yaml"
    dev.write_text(dev.read_text().replace("dev-1", "prod-1"))
    report = check(root, broken_kz, tmp_path, env="prod", outputs=False)  # prod's own overlays are unchanged
    assert report.tool_errors == []
    assert "ISO-CLUSTER-DISTINCT" in {f.rule for f in report.findings}


def test_an_overlay_that_needed_origins_is_built_with_them_at_once_after_a_change(fixture_repo, kz, tmp_path, builds):
    root = fixture_repo("webapp")
    patch = root / "overlays/prod/web/deployment-patch.yaml"
    patch.write_text(patch.read_text().replace("  replicas: 3", "  replicsa: 3"))
    first = check(root, kz, tmp_path)
    assert builds == [("prod/web", False), ("prod/web", True)]
    builds.clear()
    patch.write_text(patch.read_text() + "# touched\n")
    assert [str(f) for f in check(root, kz, tmp_path).findings] == [str(f) for f in first.findings]
    assert builds == [("prod/web", True)]


def same_cookie_key(root):
    """Make staging's api read prod's secret-store key from a store of prod's name, so PHX-V35 fires in staging and
    prod."""
    patch = root / "overlays/staging/api/externalsecret-patch.yaml"
    patch.write_text(patch.read_text().replace("phoenix/staging/api", "phoenix/prod/api")
                     .replace("vault-staging", "vault-prod"))


def test_rules_across_environments_get_the_origins_of_cached_overlays_they_report_on(
        shipped_repo, kz, tmp_path, builds):
    repo = Repo(shipped_repo)
    assert check(shipped_repo, kz, tmp_path).findings == []
    assert {origins for _, origins in builds} == {False}
    same_cookie_key(shipped_repo)
    builds.clear()
    report = check(shipped_repo, kz, tmp_path)  # prod/api is unchanged: its output comes from the cache
    assert builds[0] == ("staging/api", False)
    assert sorted(builds[1:]) == [("prod/api", True), ("staging/api", True)]  # one batch each, in the same pool
    eager = run_check(repo, repo.select_envs("all"), kz, origins=True)
    assert [str(f) for f in report.findings] == [str(f) for f in eager.findings]
    assert [(f.env, f.path) for f in report.findings if f.rule == "PHX-V35"] == [
        ("prod", "overlays/prod/api/externalsecret-patch.yaml"),
        ("staging", "overlays/staging/api/externalsecret-patch.yaml")]
    builds.clear()
    again = check(shipped_repo, kz, tmp_path)
    assert builds == [] and [str(f) for f in again.findings] == [str(f) for f in report.findings]
    (shipped_repo / "overlays/staging/environment.yaml").write_text(
        (shipped_repo / "overlays/staging/environment.yaml").read_text() + "# touched\n")
    assert [str(f) for f in check(shipped_repo, kz, tmp_path).findings] == [str(f) for f in report.findings]
    assert ("prod/api", True) not in builds  # its origins were kept in the cache


def test_a_build_that_changed_while_it_was_checked_is_a_tool_error(shipped_repo, kz, tmp_path, monkeypatch):
    check(shipped_repo, kz, tmp_path)
    same_cookie_key(shipped_repo)
    build = Kustomize.build

    def changed(self, overlay, origins=False, sort_options=None):
        text = build(self, overlay, origins, sort_options)
        return text + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edited\n" if origins else text

    monkeypatch.setattr(Kustomize, "build", changed)
    report = check(shipped_repo, kz, tmp_path)
    assert report.exit_code == 4
    assert [e for e in report.tool_errors if "changed during the check" in e] == [
        "overlays/prod/api: the build changed during the check (files edited?); check again",
        "overlays/staging/api: the build changed during the check (files edited?); check again"]
    assert "PHX-V35" not in {f.rule for f in report.findings}  # not reported at a line of another build


def test_a_check_that_wants_origins_gets_them_for_outputs_cached_without(fixture_repo, kz, tmp_path, builds):
    root = fixture_repo("minimal")
    check(root, kz, tmp_path)
    builds.clear()
    repo = Repo(root)
    cache = RunCache.load(repo.root, fingerprint(kz.version), tmp_path)
    report = run_check(repo, repo.select_envs("all"), kz, cache=cache, origins=True)
    assert sorted(builds) == [("dev/hello", True), ("prod/hello", True), ("prod/world", True)]
    assert [r.origins[0] for rendered in report.rendered.values() for r in rendered] == [
        {"path": "base/hello/configmap.yaml"}, {"path": "base/hello/configmap.yaml"},
        {"path": "base/hello/configmap.yaml"}]


@pytest.mark.parametrize("library", ["kubernetes-validate", "cel-expr-python", "jsonschema"])
def test_the_fingerprint_changes_with_each_library_that_decides_a_result(monkeypatch, library):
    from importlib import metadata

    real = metadata.version
    before = fingerprint("v5.8.1")
    monkeypatch.setattr(metadata, "version", lambda name: "0.0.0-other" if name == library else real(name))
    assert fingerprint("v5.8.1") != before
    monkeypatch.setattr(metadata, "version", real)
    assert fingerprint("v5.8.1") == before
