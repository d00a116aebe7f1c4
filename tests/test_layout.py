"""layout: environments are schema-checked, selected only by exact name, and list their app overlays."""
from __future__ import annotations

import pytest

from phoenix_gitops.errors import InputError, UsageError
from phoenix_gitops.layout import Repo, env_name


@pytest.mark.parametrize("selector", ["prod", "env=prod"])
def test_select_one_env_by_name_or_env_assignment(fixture_repo, selector):
    envs = Repo(fixture_repo("minimal")).select_envs(selector)
    assert [e.name for e in envs] == ["prod"]
    assert envs[0].server == "https://prod-1.k8s.example.org:6443"
    assert envs[0].kubernetes_version == "1.34"


def test_all_selects_every_env_sorted(fixture_repo):
    assert [e.name for e in Repo(fixture_repo("minimal")).select_envs("all")] == ["dev", "prod"]


@pytest.mark.parametrize("selector", ["qa", "env=../prod", "prod/../dev", "../../etc", "PROD"])
def test_unknown_or_path_like_env_is_a_usage_error_listing_envs(fixture_repo, selector):
    with pytest.raises(UsageError) as caught:
        Repo(fixture_repo("minimal")).select_envs(selector)
    assert "known: dev, prod (or all)" in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("selector", "name"), [("prod", "prod"), ("env=prod", "prod"), ("env=dev ", "dev"),
                                                ("all", "all"), ("env=all", "all")])
def test_env_name_reads_a_selector(selector, name):
    assert env_name(selector) == name


@pytest.mark.parametrize("selector", ["", "env=", "  "])
def test_an_empty_selector_is_a_usage_error(fixture_repo, selector):
    with pytest.raises(UsageError, match="empty environment"):
        env_name(selector)
    with pytest.raises(UsageError, match="empty environment"):
        Repo(fixture_repo("minimal")).select_envs(selector)


def test_select_env_names_exactly_one(fixture_repo):
    repo = Repo(fixture_repo("minimal"))
    assert repo.select_env("env=dev").name == "dev"
    for selector, message in (("all", "name one environment, not 'all'"), ("qa", "unknown environment 'qa'")):
        with pytest.raises(UsageError, match=message):
            repo.select_env(selector)


def test_overlays_are_the_app_folders_sorted(fixture_repo):
    root = fixture_repo("minimal")
    (root / "overlays/prod/notes").mkdir()  # no kustomization: not an app
    prod = Repo(root).environment("prod")
    assert [(o.id, o.rel) for o in prod.overlays()] == [
        ("prod/hello", "overlays/prod/hello"),
        ("prod/world", "overlays/prod/world"),
    ]


def test_an_overlay_knows_its_kustomization_file(fixture_repo):
    root = fixture_repo("minimal")
    hello, world = Repo(root).environment("prod").overlays()
    assert hello.kustomization() == (root / "overlays/prod/hello/kustomization.yaml",
                                     "overlays/prod/hello/kustomization.yaml")
    (root / "overlays/prod/world/kustomization.yaml").rename(root / "overlays/prod/world/Kustomization")
    assert world.kustomization()[1] == "overlays/prod/world/Kustomization"
    (root / "overlays/prod/world/Kustomization").unlink()
    with pytest.raises(UsageError, match="overlays/prod/world: no kustomization file"):
        world.kustomization()


@pytest.mark.parametrize("url", ["https://deploy:t0ken@git.example.org/acme/minimal.git",
                                 "https://t0ken@git.example.org/acme/minimal.git",
                                 "ssh://git:t0ken@git.example.org/acme/minimal.git"])
def test_settings_refuse_credentials_in_the_repo_url_without_showing_them(fixture_repo, url):
    root = fixture_repo("minimal")
    (root / "gitops.yaml").write_text(f"repoURL: {url}\nrevision: main\n")
    expected = r"gitops.yaml:1:1: error SRC-SETTINGS \$.repoURL: contains credentials"
    with pytest.raises(InputError, match=expected) as caught:
        Repo(root).settings()
    assert "t0ken" not in str(caught.value)


def test_settings_accept_an_ssh_user_without_a_password(fixture_repo):
    root = fixture_repo("minimal")
    (root / "gitops.yaml").write_text("repoURL: ssh://git@git.example.org/acme/minimal.git\nrevision: main\n")
    assert Repo(root).settings().repo_url == "ssh://git@git.example.org/acme/minimal.git"


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
        "overlays/prod/environment.yaml:4:1: error SRC-ENVIRONMENT $.kubernetesVersion: 1.34 is not of type "
        "'string' [prod]",
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
    with pytest.raises(InputError, match=r"overlays/dev/environment.yaml:10:1: error YAML-DUPLICATE-KEY"):
        Repo(root).select_envs("dev")
