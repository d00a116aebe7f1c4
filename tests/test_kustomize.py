"""kustomize: found in the documented order, version-checked, and every failure mode becomes a typed error.

Failure modes of the tool itself (hang, crash, garbage, old version) are played by small fake executables;
overlay errors and successful builds use the real kustomize.
"""
from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from phoenix_gitops.cache import cache_dir
from phoenix_gitops.errors import KustomizeError, ToolError
from phoenix_gitops.kustomize import BUILD_FLAGS, TOOLS_FILE, find_kustomize
from phoenix_gitops.layout import Overlay, Repo

FAKE = """#!/bin/sh
if [ "$1" = "version" ]; then echo "{version}"; exit 0; fi
for last; do :; done
mode=$(/bin/cat "$last/mode" 2>/dev/null)
case "$mode" in
  hang) exec /bin/sleep 30 ;;
  panic) echo "panic: assignment to entry in nil map" >&2; echo "goroutine 1 [running]:" >&2; exit 2 ;;
  garbage) printf '\\377\\376bad' ;;
  empty) exit 0 ;;
  fail) echo "Error: accumulating resources: $last/missing.yaml: no such file" >&2; exit 1 ;;
  argv) echo "# $*" ;;
  env) /usr/bin/env | /usr/bin/sort ;;
  *) printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: x\\n' ;;
esac
"""


def fake(folder: Path, name: str = "kustomize", version: str = "v5.9.0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(FAKE.format(version=version))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def overlay(tmp_path: Path, mode: str) -> Overlay:
    path = tmp_path / "repo" / "overlays" / "prod" / mode
    path.mkdir(parents=True)
    (path / "mode").write_text(mode)
    return Overlay("prod", mode, path, f"overlays/prod/{mode}")


@pytest.fixture
def fake_kz(tmp_path):
    return find_kustomize({"KUSTOMIZE": str(fake(tmp_path / "bin"))}, timeout=2)


def test_kustomize_env_var_wins_and_version_is_read(tmp_path):
    kz = find_kustomize({"KUSTOMIZE": str(fake(tmp_path / "bin", version="v5.9.0"))})
    assert kz.version == "v5.9.0"
    assert kz.command == (str(tmp_path / "bin" / "kustomize"), "build")


def test_kustomize_env_var_naming_kubectl_uses_kubectl_kustomize(tmp_path):
    path = fake(tmp_path / "bin", name="kubectl", version="Client Version: v1.30.2\nKustomize Version: v5.0.4-0.2023")
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
        find_kustomize({"KUSTOMIZE": str(fake(tmp_path / "bin", version=version))})
    assert caught.value.exit_code == 4


def test_kubectl_without_a_kustomize_line_is_refused(tmp_path):
    path = fake(tmp_path / "bin", name="kubectl", version="Client Version: v1.13.0")
    with pytest.raises(ToolError, match="could not read a kustomize version"):
        find_kustomize({"KUSTOMIZE": str(path)})


def test_kustomize_env_var_that_is_not_executable(tmp_path):
    with pytest.raises(ToolError, match=r"KUSTOMIZE='/nonexistent/kustomize' is not an executable"):
        find_kustomize({"KUSTOMIZE": "/nonexistent/kustomize"})


def test_project_install_comes_before_path_and_kustomize_before_kubectl(tmp_path):
    project, on_path = tmp_path / "project", tmp_path / "path"
    fake(project, name="kubectl", version="Kustomize Version: v5.8.1")
    fake(on_path, name="kustomize", version="v5.1.0")
    kz = find_kustomize({"PATH": str(on_path)}, project_bin=project)
    assert kz.command == (str(project / "kubectl"), "kustomize")
    fake(project, name="kustomize", version="v5.2.0")
    assert find_kustomize({"PATH": str(on_path)}, project_bin=project).version == "v5.2.0"
    assert find_kustomize({"PATH": str(on_path)}, project_bin=tmp_path / "empty").version == "v5.1.0"


def test_a_version_answer_is_remembered_per_binary_file_and_asked_again_when_it_changes(tmp_path):
    path = fake(tmp_path / "bin", version="v5.9.0")
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
    env = {"KUSTOMIZE": str(fake(tmp_path / "bin", version="v5.9.0"))}
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
    ov = overlay(tmp_path, "argv")
    assert fake_kz.build(ov) == f"# build {' '.join(BUILD_FLAGS)} {ov.path}\n"


def test_build_environment_is_closed(fake_kz, tmp_path):
    env = dict(line.split("=", 1) for line in fake_kz.build(overlay(tmp_path, "env")).splitlines() if "=" in line)
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
        ("fail", KustomizeError, "overlays/prod/fail: kustomize build failed:\n  Error: accumulating resources: overlays/prod/fail/missing.yaml"),
    ],
)
def test_build_failures_are_typed_and_name_the_overlay(fake_kz, tmp_path, mode, error, message):
    with pytest.raises(error) as caught:
        fake_kz.build(overlay(tmp_path, mode))
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


def test_build_many_attempts_every_overlay_and_returns_failures(fake_kz, tmp_path):
    overlays = [overlay(tmp_path, mode) for mode in ("ok", "fail", "empty")]
    seen = []
    results = fake_kz.build_many(overlays, jobs=2, on_done=lambda o, err: seen.append((o.app, err is None)))
    assert list(results) == overlays
    assert isinstance(results[overlays[0]], str)
    assert [type(results[o]).__name__ for o in overlays[1:]] == ["KustomizeError", "KustomizeError"]
    assert sorted(seen) == [("empty", False), ("fail", False), ("ok", True)]


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


def test_a_failing_batch_is_rebuilt_one_by_one_and_the_failure_attributed(kz, fixture_repo):
    root = fixture_repo("minimal")
    (root / "overlays/prod/world/kustomization.yaml").write_text("resources:\n  - nothing.yaml\n")
    prod = Repo(root).environment("prod").overlays()
    seen = []
    results = kz.build_many(prod, jobs=1, origins=True, on_done=lambda o, e: seen.append(o.app))
    assert isinstance(results[prod[0]], str) and "name: hello" in results[prod[0]]
    assert isinstance(results[prod[1]], KustomizeError) and results[prod[1]].overlay == "overlays/prod/world"
    assert sorted(seen) == ["hello", "world"]


def test_strip_annotations_removes_one_line_and_block_values_and_empty_parents():
    from phoenix_gitops.kustomize import strip_annotations

    text = (
        "metadata:\n  annotations:\n    a/b: keep\n    config.kubernetes.io/origin: |\n      path: x.yaml\n"
        "    phoenix-gitops.internal/overlay: prod/api\n  name: x\nspec:\n  template:\n    metadata:\n"
        "      annotations:\n        phoenix-gitops.internal/overlay: prod/api\n      labels:\n        a: b\n"
    )
    assert strip_annotations(text, ("config.kubernetes.io/origin", "phoenix-gitops.internal/overlay")) == (
        "metadata:\n  annotations:\n    a/b: keep\n  name: x\nspec:\n  template:\n    metadata:\n      labels:\n        a: b\n"
    )
