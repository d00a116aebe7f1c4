"""scaffold: the files of a new app, from the package's templates, shaped by each environment's other apps."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT

from phoenix_gitops import layout, scaffold
from phoenix_gitops.images import parse_image

GOLDEN = PROJECT / "tests" / "fixtures" / "scaffold" / "billing"
D2 = "sha256:" + "ab" * 32
DIGEST_ENVS = {"staging", "prod"}


@pytest.fixture
def shipped(shipped_repo: Path) -> layout.Repo:
    return layout.Repo(shipped_repo)


def test_scaffold_is_byte_identical_to_the_golden_files(shipped):
    files = scaffold.scaffold(shipped, "billing", parse_image(f"1a2b3c4@{D2}"), DIGEST_ENVS)
    golden = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(golden)
    for rel, text in files.items():
        assert text.encode("utf-8") == golden[rel], rel


def test_digest_envs_pin_the_digest_and_others_the_tag_with_the_digest_noted(shipped):
    files = scaffold.scaffold(shipped, "billing", parse_image(f"1a2b3c4@{D2}"), DIGEST_ENVS)
    assert f"    digest: {D2}\n" in files["overlays/prod/billing/kustomization.yaml"]
    assert f'    newTag: "1a2b3c4"  # digest: {D2}\n' in files["overlays/dev/billing/kustomization.yaml"]
    only_digest = scaffold.scaffold(shipped, "billing", parse_image(D2), set())
    assert f"    digest: {D2}\n" in only_digest["overlays/dev/billing/kustomization.yaml"]
    assert 'app.kubernetes.io/version: "abababababab"' in only_digest["overlays/dev/billing/kustomization.yaml"]


def test_scaffold_without_an_image_is_unreleased(shipped):
    files = scaffold.scaffold(shipped, "billing", None, set())  # what new-app writes where no digest is needed
    text = files["overlays/dev/billing/kustomization.yaml"]
    assert 'newTag: "unreleased"' in text and "invoke set-image dev billing" in text
    assert 'app.kubernetes.io/version: "unreleased"' in text
    assert "single-replica" in text and "overlays/dev/billing/hpa-patch.yaml" not in files
    assert "minReplicas: 3\n  maxReplicas: 6" in files["overlays/prod/billing/hpa-patch.yaml"]  # prod's api range


def test_an_environment_without_apps_is_single_replica_unless_it_takes_digests(shipped):
    shutil.rmtree(shipped.root / "overlays" / "dev" / "api")
    relaxed = scaffold.scaffold(shipped, "billing", None, set())
    assert "overlays/dev/billing/hpa-patch.yaml" not in relaxed
    assert "POOL_SIZE=5" in relaxed["overlays/dev/billing/kustomization.yaml"]
    strict = scaffold.scaffold(shipped, "billing", parse_image(D2), {"dev"})
    assert "minReplicas: 2\n  maxReplicas: 4" in strict["overlays/dev/billing/hpa-patch.yaml"]  # the default range
    assert "secretStoreRef:\n    name: vault-dev\n" in strict["overlays/dev/billing/externalsecret-patch.yaml"]


def test_templates_are_package_data():
    text = scaffold.template("hpa-patch.yaml")
    assert text.startswith("# {env} replica range for {name}.\n") and "maxReplicas: {high}\n" in text
    with pytest.raises(FileNotFoundError):
        scaffold.template("no-such-template.yaml")
