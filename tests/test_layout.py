"""layout: environments are schema-checked, selected only by exact name, and list their app overlays."""
from __future__ import annotations

import pytest

from phoenix_gitops.errors import InputError, UsageError
from phoenix_gitops.layout import Repo


@pytest.mark.parametrize("selector", ["prod", "env=prod"])
def test_select_one_env_by_name_or_env_assignment(fixture_repo, selector):
    envs = Repo(fixture_repo("minimal")).select_envs(selector)
    assert [e.name for e in envs] == ["prod"]
    assert envs[0].server == "https://prod-1.k8s.example.org:6443"
    assert envs[0].kubernetes_version == "1.34"


def test_all_selects_every_env_sorted(fixture_repo):
    assert [e.name for e in Repo(fixture_repo("minimal")).select_envs("all")] == ["dev", "prod"]


@pytest.mark.parametrize("selector", ["qa", "env=../prod", "prod/../dev", "../../etc", "", "env=", "PROD"])
def test_unknown_or_path_like_env_is_a_usage_error_listing_envs(fixture_repo, selector):
    with pytest.raises(UsageError) as caught:
        Repo(fixture_repo("minimal")).select_envs(selector)
    assert "known: dev, prod (or all)" in str(caught.value)
    assert caught.value.exit_code == 2


def test_overlays_are_the_app_folders_sorted(fixture_repo):
    root = fixture_repo("minimal")
    (root / "overlays/prod/notes").mkdir()  # no kustomization: not an app
    prod = Repo(root).environment("prod")
    assert [(o.id, o.rel) for o in prod.overlays()] == [
        ("prod/hello", "overlays/prod/hello"),
        ("prod/world", "overlays/prod/world"),
    ]


def test_not_a_config_repo(tmp_path):
    with pytest.raises(UsageError, match="no overlays/ folder"):
        Repo(tmp_path)


def test_environment_file_errors_name_file_line_and_field(fixture_repo):
    root = fixture_repo("minimal")
    (root / "overlays/prod/environment.yaml").write_text(
        "name: prod\ncluster: prod-1\nserver: http://prod-1:6443\nkubernetesVersion: 1.34\n"
        "argocdProject: phoenix-prod\nbaseDomain: example.org\nreplicsa: 3\n"
    )
    with pytest.raises(InputError) as caught:
        Repo(root).environment("prod")
    lines = str(caught.value).splitlines()
    assert lines == [
        "overlays/prod/environment.yaml:3:1: error SRC-ENVIRONMENT $.server: 'http://prod-1:6443' does not match "
        "'^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$' [prod]",
        "overlays/prod/environment.yaml:4:1: error SRC-ENVIRONMENT $.kubernetesVersion: 1.34 is not of type 'string' [prod]",
        "overlays/prod/environment.yaml:7:1: error SRC-ENVIRONMENT $.replicsa: Additional properties are not allowed "
        "('replicsa' was unexpected) [prod]",
    ]


def test_environment_name_must_match_its_folder(fixture_repo):
    root = fixture_repo("minimal")
    path = root / "overlays/prod/environment.yaml"
    path.write_text(path.read_text().replace("name: prod", "name: dev"))
    with pytest.raises(InputError, match=r"environment.yaml:2:1: error SRC-ENVIRONMENT \$.name: 'dev' must equal"):
        Repo(root).environment("prod")


def test_environment_file_with_yaml_hazard_is_refused(fixture_repo):
    root = fixture_repo("minimal")
    path = root / "overlays/dev/environment.yaml"
    path.write_text(path.read_text() + "name: dev\n")
    with pytest.raises(InputError, match=r"overlays/dev/environment.yaml:8:1: error YAML-DUPLICATE-KEY"):
        Repo(root).select_envs("dev")
