"""own_schemas: the tool's schemas are package data, named the same way in every install, written only in a checkout."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from phoenix_gitops import own_schemas
from phoenix_gitops.errors import UsageError
from phoenix_gitops.yamlio import load_text

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "phoenix_gitops" / "data" / "schemas"


def test_schemas_are_the_package_data_folder_and_not_the_repository_schemas_folder():
    assert own_schemas.SCHEMAS == DATA and own_schemas.CRD_SCHEMAS == DATA / "crds"
    assert sorted(p.name for p in DATA.glob("*.schema.json")) == [
        "environment.schema.json", "gitops.schema.json", "kustomization.schema.json", "policy.schema.json"]
    assert sorted(p.name for p in (PROJECT / "schemas").iterdir()) == ["policy.yaml"]


@pytest.mark.parametrize("name", ["environment", "gitops", "kustomization", "policy"])
def test_every_shipped_schema_compiles_and_is_named_by_its_place_in_the_package(name):
    assert own_schemas.schema_validator(name).schema == json.loads((DATA / f"{name}.schema.json").read_text())
    assert own_schemas.shown(name) == f"phoenix_gitops/data/schemas/{name}.schema.json"
    assert (PROJECT / own_schemas.shown(name)).is_file()


def test_an_unknown_schema_name_is_an_error():
    with pytest.raises(FileNotFoundError):
        own_schemas.schema_validator("no-such")


def test_check_reports_every_violation_at_its_line():
    (doc,) = load_text("name: prod\nkubernetesVersion: 134\n", name="overlays/prod/environment.yaml")
    findings = own_schemas.check(doc, "environment", rule="SRC-ENVIRONMENT")
    assert [(f.line, f.message) for f in findings] == [
        *((1, f"$: {key!r} is a required property") for key in ("cluster", "server", "argocdProject", "baseDomain")),
        (2, "$.kubernetesVersion: 134 is not of type 'string'"),
    ]
    assert {(f.rule, f.path) for f in findings} == {("SRC-ENVIRONMENT", "overlays/prod/environment.yaml")}


def test_crd_schemas_are_written_into_this_checkout():
    assert own_schemas.crd_schemas_to_write() == DATA / "crds"


def copy_package_data(root: Path, pyproject: str | None) -> Path:
    """A package-shaped folder under `root` (with a pyproject.toml holding `pyproject` beside it, if any)."""
    crds = root / "phoenix_gitops" / "data" / "schemas" / "crds"
    shutil.copytree(DATA / "crds", crds)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return crds


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (None, "not in a source checkout of phoenix-gitops"),                      # site-packages
        ('[project]\nname = "someone-else"\n', "not in a source checkout of phoenix-gitops"),
        ("[project\n", "not in a source checkout of phoenix-gitops"),              # unreadable pyproject
        ('project = "phoenix-gitops"\n', "not in a source checkout of phoenix-gitops"),
    ],
)
def test_crd_schemas_are_not_written_into_an_installed_package(tmp_path, monkeypatch, pyproject, message):
    crds = copy_package_data(tmp_path / "site-packages", pyproject)
    monkeypatch.setattr(own_schemas, "CRD_SCHEMAS", crds)
    with pytest.raises(UsageError, match=message) as caught:
        own_schemas.crd_schemas_to_write()
    assert str(tmp_path / "site-packages" / "phoenix_gitops") in str(caught.value)
    assert caught.value.exit_code == 2


def test_crd_schemas_are_not_written_into_a_read_only_checkout(tmp_path, monkeypatch):
    crds = copy_package_data(tmp_path, '[project]\nname = "phoenix-gitops"\n')
    monkeypatch.setattr(own_schemas, "CRD_SCHEMAS", crds)
    assert own_schemas.crd_schemas_to_write() == crds
    monkeypatch.setattr(os, "access", lambda path, mode: not (Path(path) == crds and mode == os.W_OK))
    with pytest.raises(UsageError, match=f"{crds}: read-only"):
        own_schemas.crd_schemas_to_write()


def test_crd_schemas_that_are_not_a_folder_on_disk_are_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(own_schemas, "CRD_SCHEMAS", tmp_path / "missing")
    with pytest.raises(UsageError, match="not a folder on disk"):
        own_schemas.crd_schemas_to_write()
