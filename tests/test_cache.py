"""cache: unchanged overlays are reused without running kustomize; anything changed, corrupted or foreign is rebuilt."""
from __future__ import annotations

import json

import pytest

from phoenix_gitops.cache import RunCache, fingerprint
from phoenix_gitops.check import run_check
from phoenix_gitops.kustomize import Kustomize
from phoenix_gitops.layout import Repo
from phoenix_gitops.own_schemas import SCHEMA_DIR


def check(root, kz, folder):
    repo = Repo(root)
    cache = RunCache.load(repo.root, fingerprint(kz.version, SCHEMA_DIR), folder)
    return run_check(repo, repo.select_envs("all"), kz, cache=cache)


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
    (path,) = tmp_path.glob("*.json")
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
    cache = RunCache.load(repo.root, fingerprint(kz.version, SCHEMA_DIR), tmp_path)
    cache.entries["prod/hello"].deps["base/hello/configmap.yaml"] = "0" * 64
    cache.dirty = True
    cache.save()
    assert [e.split(":")[0] for e in check(root, broken_kz, tmp_path).tool_errors] == ["overlays/prod/hello"]


def test_cli_check_uses_and_bypasses_the_cache(fixture_repo, kz, tmp_path):
    from conftest import run_cli

    root = fixture_repo("minimal")
    folder = str(tmp_path / "cli-cache")
    failing = tmp_path / "kustomize"  # same version (same fingerprint), but every build fails
    failing.write_text(f'#!/bin/sh\nif [ "$1" = version ]; then echo {kz.version}; exit 0; fi\necho "Error: boom" >&2\nexit 1\n')
    failing.chmod(0o755)
    assert run_cli(["check"], root, PHOENIX_GITOPS_CACHE=folder).returncode == 0
    assert run_cli(["check"], root, PHOENIX_GITOPS_CACHE=folder, KUSTOMIZE=str(failing)).returncode == 0
    bypass = run_cli(["check", "--no-cache"], root, PHOENIX_GITOPS_CACHE=folder, KUSTOMIZE=str(failing))
    assert bypass.returncode == 1 and "KUSTOMIZE-BUILD" in bypass.stdout
