"""tasks.py through the real CLI in a subprocess: spellings, exit codes, messages."""
from __future__ import annotations

import pytest

from conftest import PROJECT, leftovers, run_cli, tree_bytes


@pytest.mark.parametrize("args", [["render", "env=prod"], ["render", "--env", "prod"], ["render", "prod"]])
def test_render_spellings(fixture_repo, args):
    root = fixture_repo("minimal")
    proc = run_cli(args, root)
    assert proc.returncode == 0, proc.stderr
    assert "wrote: rendered/prod/hello/manifest.yaml" in proc.stdout
    assert "prod: 9 file(s) with kustomize v5." in proc.stdout  # 2 manifests, 7 bootstrap files
    assert sorted(tree_bytes(root / "rendered")) == ["prod/hello/manifest.yaml", "prod/world/manifest.yaml"]


def test_render_all_then_check_is_clean(fixture_repo):
    root = fixture_repo("minimal")
    assert run_cli(["render", "all"], root).returncode == 0
    proc = run_cli(["render", "all", "--check"], root)
    assert proc.returncode == 0, proc.stderr
    assert "dev, prod: 15 file(s)" in proc.stdout and "up to date" in proc.stdout


def test_check_on_stale_output_exits_3_and_names_files(fixture_repo):
    root = fixture_repo("minimal")
    proc = run_cli(["render", "env=prod", "--check"], root)
    assert proc.returncode == 3
    assert "stale: rendered/prod/hello/manifest.yaml" in proc.stdout
    assert "run `invoke render env=prod`" in proc.stderr
    assert not (root / "rendered").exists()


@pytest.mark.parametrize("env", ["qa", "env=../prod", "env=prod/../dev"])
def test_unknown_env_exits_2_listing_envs(fixture_repo, env):
    proc = run_cli(["render", env], fixture_repo("minimal"))
    assert proc.returncode == 2
    assert "known: dev, prod (or all)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_overlay_exits_1_naming_it_and_keeps_output(fixture_repo):
    root = fixture_repo("minimal")
    assert run_cli(["render", "all"], root).returncode == 0
    before = tree_bytes(root / "rendered")
    (root / "overlays/prod/world/kustomization.yaml").write_text("resources:\n  - ../../../base/nope\n")
    proc = run_cli(["render", "env=prod"], root)
    assert proc.returncode == 1
    assert "overlays/prod/world/kustomization.yaml:2:5: error SRC-MISSING '../../../base/nope' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree_bytes(root / "rendered") == before and leftovers(root / "rendered") == []


@pytest.mark.parametrize(
    ("kustomize", "message"),
    [("/nonexistent/kustomize", "is not an executable"), ("/bin/false", "could not read a kustomize version")],
)
def test_missing_or_broken_kustomize_exits_4(fixture_repo, kustomize, message):
    root = fixture_repo("minimal")
    proc = run_cli(["render", "env=prod"], root, KUSTOMIZE=kustomize)
    assert proc.returncode == 4 and message in proc.stderr
    assert not (root / "rendered").exists()


def test_every_task_has_help():
    proc = run_cli(["--list"], PROJECT)
    assert proc.returncode == 0
    for name in ("render", "test"):
        assert f"  {name} " in proc.stdout
    help_text = run_cli(["--help", "render"], PROJECT).stdout
    assert "env=prod" in help_text and "--check" in help_text and "exit 3" in help_text


@pytest.mark.parametrize("variant", [{"PYTHONHASHSEED": "1", "TZ": "UTC"}, {"PYTHONHASHSEED": "987", "TZ": "Asia/Kolkata", "LC_ALL": "C"}])
def test_render_bytes_do_not_depend_on_hash_seed_timezone_or_locale(fixture_repo, tmp_path, variant):
    root = fixture_repo("minimal")
    assert run_cli(["render", "all"], root, PYTHONHASHSEED="0", TZ="Europe/Berlin").returncode == 0
    reference = tree_bytes(root / "rendered")
    other = tmp_path / "other"
    other.mkdir()
    import shutil
    shutil.copytree(root / "overlays", other / "overlays")
    shutil.copytree(root / "base", other / "base")
    shutil.copy(root / "gitops.yaml", other / "gitops.yaml")
    assert run_cli(["render", "all"], other, **variant).returncode == 0
    assert tree_bytes(other / "rendered") == reference
    assert tree_bytes(other / "clusters") == tree_bytes(root / "clusters")
