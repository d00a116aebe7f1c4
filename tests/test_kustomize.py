"""kustomize: found in the documented order, version-checked, and every failure mode becomes a typed error.

Failure modes of the tool itself (hang, crash, garbage, old version) are played by small fake executables;
overlay errors and successful builds use the real kustomize.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import fake_kustomize, fake_overlay

from phoenix_gitops.cache import cache_dir
from phoenix_gitops.errors import KustomizeError, ToolError
from phoenix_gitops.kustomize import BUILD_FLAGS, TOOLS_FILE, find_kustomize
from phoenix_gitops.layout import Repo


@pytest.fixture
def fake_kz(tmp_path):
    return find_kustomize({"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin"))}, timeout=2)


def test_kustomize_env_var_wins_and_version_is_read(tmp_path):
    kz = find_kustomize({"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin", version="v5.9.0"))})
    assert kz.version == "v5.9.0"
    assert kz.command == (str(tmp_path / "bin" / "kustomize"), "build")


def test_kustomize_env_var_naming_kubectl_uses_kubectl_kustomize(tmp_path):
    version = "Client Version: v1.30.2\nKustomize Version: v5.0.4-0.2023"
    path = fake_kustomize(tmp_path / "bin", name="kubectl", version=version)
    kz = find_kustomize({"KUSTOMIZE": str(path)})
    assert (kz.command, kz.version) == ((str(path), "kustomize"), "v5.0.4")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("v4.5.7", "is kustomize v4.5.7; v5 or newer is required"),
        ("{Version:kustomize/v3.8.7 GitCommit:ad092cc}", "is kustomize v3.8.7; v5 or newer is required"),
        ("hello world", "could not read a kustomize version"),
    ],
)
def test_old_or_unreadable_versions_are_refused(tmp_path, version, message):
    with pytest.raises(ToolError, match=message) as caught:
        find_kustomize({"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin", version=version))})
    assert caught.value.exit_code == 4


def test_kubectl_without_a_kustomize_line_is_refused(tmp_path):
    path = fake_kustomize(tmp_path / "bin", name="kubectl", version="Client Version: v1.13.0")
    with pytest.raises(ToolError, match="could not read a kustomize version"):
        find_kustomize({"KUSTOMIZE": str(path)})


def test_kustomize_env_var_that_is_not_executable(tmp_path):
    with pytest.raises(ToolError, match=r"KUSTOMIZE='/nonexistent/kustomize' is not an executable"):
        find_kustomize({"KUSTOMIZE": "/nonexistent/kustomize"})


def test_project_install_comes_before_path_and_kustomize_before_kubectl(tmp_path):
    project, on_path = tmp_path / "project", tmp_path / "path"
    fake_kustomize(project, name="kubectl", version="Kustomize Version: v5.8.1")
    fake_kustomize(on_path, name="kustomize", version="v5.1.0")
    kz = find_kustomize({"PATH": str(on_path)}, project_bin=project)
    assert kz.command == (str(project / "kubectl"), "kustomize")
    fake_kustomize(project, name="kustomize", version="v5.2.0")
    assert find_kustomize({"PATH": str(on_path)}, project_bin=project).version == "v5.2.0"
    assert find_kustomize({"PATH": str(on_path)}, project_bin=tmp_path / "empty").version == "v5.1.0"


def test_a_version_answer_is_remembered_per_binary_file_and_asked_again_when_it_changes(tmp_path):
    path = fake_kustomize(tmp_path / "bin", version="v5.9.0")
    counter = tmp_path / "asked"
    path.write_text(path.read_text().replace('echo "v5.9.0"', f'echo x >> {counter}; echo "v5.9.0"'))
    env = {"KUSTOMIZE": str(path)}
    assert [find_kustomize(env).version for _ in range(3)] == ["v5.9.0"] * 3
    assert counter.read_text().count("x") == 1  # asked once, then remembered
    path.write_text(path.read_text().replace("v5.9.0", "v5.9.1"))  # an upgrade rewrites the file
    assert find_kustomize(env).version == "v5.9.1"
    assert counter.read_text().count("x") == 2


@pytest.mark.parametrize("memo", [b"\x00\xff not json", b"[1, 2]", b'{"key": 5}'])
def test_a_damaged_version_memo_is_ignored_and_replaced(tmp_path, memo):
    memo_file = cache_dir() / TOOLS_FILE
    memo_file.parent.mkdir(parents=True, exist_ok=True)
    memo_file.write_bytes(memo)
    env = {"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin", version="v5.9.0"))}
    assert find_kustomize(env).version == "v5.9.0"
    assert find_kustomize(env).version == "v5.9.0"
    assert "v5.9.0" in memo_file.read_text()


def test_a_failed_answer_is_not_remembered(tmp_path):
    counter, path = tmp_path / "asked", tmp_path / "kustomize"
    path.write_text(f"#!/bin/sh\necho x >> {counter}\nexit 3\n")
    path.chmod(0o755)
    for _ in range(2):
        with pytest.raises(ToolError, match="could not read a kustomize version"):
            find_kustomize({"KUSTOMIZE": str(path)})
    assert counter.read_text().count("x") == 2


def test_nothing_found_says_how_to_install(tmp_path):
    with pytest.raises(ToolError, match=r"kustomize not found: install the project") as caught:
        find_kustomize({"PATH": str(tmp_path)}, project_bin=tmp_path)
    assert caught.value.exit_code == 4


def test_default_finds_the_pinned_kubectl_installed_with_the_project(kz):
    assert kz.version.startswith("v5.")
    assert Path(kz.command[0]).parent == Path(sys.executable).parent, "install the project: pip install -e ."


def test_build_argv_is_a_list_with_the_strict_load_restrictor(fake_kz, tmp_path):
    ov = fake_overlay(tmp_path, "argv")
    assert fake_kz.build(ov) == f"# build {' '.join(BUILD_FLAGS)} {ov.path}\n"


def test_build_environment_is_closed(fake_kz, tmp_path):
    env = dict(line.split("=", 1) for line in fake_kz.build(fake_overlay(tmp_path, "env")).splitlines() if "=" in line)
    assert env["PATH"] == ""
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:9"
    assert env["KUBECONFIG"] == "/dev/null"
    assert env["GIT_ALLOW_PROTOCOL"] == "none"
    assert (env["GOGC"], env["GOMEMLIMIT"]) == ("400", "512MiB")  # fewer collections in a short-lived process
    assert not {"SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"} & env.keys()


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("hang", ToolError, "overlays/prod/hang: kustomize timed out after 2s"),
        ("panic", ToolError, "overlays/prod/panic: kustomize crashed:\n  panic: assignment to entry in nil map"),
        ("garbage", ToolError, "overlays/prod/garbage: kustomize printed output that is not UTF-8 text"),
        ("empty", KustomizeError, "overlays/prod/empty: the overlay renders no resources"),
        ("fail", KustomizeError,
         "overlays/prod/fail: kustomize build failed:\n"
         "  Error: accumulating resources: overlays/prod/fail/missing.yaml"),
    ],
)
def test_build_failures_are_typed_and_name_the_overlay(fake_kz, tmp_path, mode, error, message):
    with pytest.raises(error) as caught:
        fake_kz.build(fake_overlay(tmp_path, mode))
    assert str(caught.value).startswith(message)
    assert str(tmp_path) not in str(caught.value)


def test_real_build_and_real_failure(kz, fixture_repo):
    root = fixture_repo("minimal")
    hello = Repo(root).environment("prod").overlays()[0]
    assert "name: hello\n  namespace: hello\n" in kz.build(hello)
    (hello.path / "kustomization.yaml").write_text("resources:\n  - nowhere.yaml\n")
    with pytest.raises(KustomizeError) as caught:
        kz.build(hello)
    assert caught.value.overlay == "overlays/prod/hello"
    assert "nowhere.yaml" in str(caught.value) and str(root) not in str(caught.value)


def test_batched_builds_split_into_exactly_the_per_overlay_outputs(kz):
    from conftest import PROJECT

    from phoenix_gitops.kustomize import strip_annotations

    overlays = [o for env in Repo(PROJECT).select_envs("all") for o in env.overlays()]
    prod = [o for o in overlays if o.env == "prod"]
    batch = kz.build_batch(prod, {"order": "legacy"})
    for overlay in prod:
        assert strip_annotations(batch[overlay]) == kz.build(overlay)
        assert batch[overlay] == kz.build(overlay, origins=True, sort_options={"order": "legacy"})
        assert "phoenix-gitops.internal/overlay" not in batch[overlay]


def test_a_batch_without_origins_splits_into_exactly_the_plain_builds(kz):
    from conftest import PROJECT

    prod = Repo(PROJECT).environment("prod").overlays()
    batch = kz.build_batch(prod, {"order": "legacy"}, origins=False)
    for overlay in prod:
        assert batch[overlay] == kz.build(overlay)
        assert "phoenix-gitops.internal/overlay" not in batch[overlay]
        assert "config.kubernetes.io/origin" not in batch[overlay]


def test_one_overlay_with_origins_is_built_without_a_wrapper(kz, fixture_repo):
    from phoenix_gitops.kustomize import strip_annotations

    hello = Repo(fixture_repo("minimal")).environment("prod").overlays()[0]
    text = kz.build(hello, origins=True)
    assert "config.kubernetes.io/origin: |\n      path: base/hello/configmap.yaml\n" in text
    assert "phoenix-gitops.internal/overlay" not in text
    assert strip_annotations(text) == kz.build(hello)


def test_strip_annotations_removes_one_line_and_block_values_and_empty_parents():
    from phoenix_gitops.kustomize import strip_annotations

    text = (
        "metadata:\n  annotations:\n    a/b: keep\n    config.kubernetes.io/origin: |\n      path: x.yaml\n"
        "    phoenix-gitops.internal/overlay: prod/api\n  name: x\nspec:\n  template:\n    metadata:\n"
        "      annotations:\n        phoenix-gitops.internal/overlay: prod/api\n      labels:\n        a: b\n"
    )
    assert strip_annotations(text, ("config.kubernetes.io/origin", "phoenix-gitops.internal/overlay")) == (
        "metadata:\n  annotations:\n    a/b: keep\n  name: x\nspec:\n  template:\n    metadata:\n"
        "      labels:\n        a: b\n"
    )


BUILTIN_PLUGINS = {
    "namespace.yaml": "apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n  namespace: moved\n",
    "more.yaml": "apiVersion: builtin\nkind: ReplicaCountTransformer\nmetadata:\n  name: rc\nreplica:\n"
                 "  name: web\n  count: 4\nfieldSpecs:\n  - path: spec/replicas\n    kind: Deployment\n---\n"
                 "apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata:\n  name: ps\nprefix: acme-\n"
                 "fieldSpecs:\n  - path: metadata/name\n",
    "settings.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: settings\nliterals:\n"
                     "  - POOL_SIZE=10\n",
}


def test_builtin_plugin_configurations_build_under_the_locked_down_flags(kz, fixture_repo):
    web = Repo(fixture_repo("webapp")).environment("prod").overlays()[0]
    for name, text in BUILTIN_PLUGINS.items():
        (web.path / name).write_text(text)
    kustomization = web.path / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "transformers:\n  - namespace.yaml\n  - more.yaml\n"
                             "generators:\n  - settings.yaml\n")
    text = kz.build(web)
    assert "  name: acme-web\n  namespace: moved\nspec:\n  replicas: 4\n" in text
    assert "kind: ConfigMap\nmetadata:\n  name: acme-settings-" in text
    assert "path: overlays/prod/web/settings.yaml" not in text  # a plain build: no origins
    assert "configuredIn: overlays/prod/web/settings.yaml" in kz.build(web, origins=True)


@pytest.mark.parametrize("plugin", [
    "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n",
    "apiVersion: someteam.example.com/v1\nkind: Runner\nmetadata:\n  name: x\n  annotations:\n"
    "    config.kubernetes.io/function: |\n      exec:\n        path: ./run.sh\n",
])
def test_kustomize_itself_refuses_plugins_that_run_code_under_these_flags(kz, fixture_repo, plugin):
    """Behind the source check (SRC-PLUGIN), the build's own flags: no `--enable-alpha-plugins`, no `--enable-exec`."""
    web = Repo(fixture_repo("webapp")).environment("prod").overlays()[0]
    (web.path / "plugin.yaml").write_text(plugin)
    (web.path / "run.sh").write_text("#!/bin/sh\ntouch ran\n")
    (web.path / "run.sh").chmod(0o755)
    kustomization = web.path / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "transformers:\n  - plugin.yaml\n")
    with pytest.raises(KustomizeError, match="plugin"):
        kz.build(web)
    assert not (web.path / "ran").exists()
