"""tasks.py through plain `invoke` in a subprocess: the README's commands, the task list and help, and renders that
must not depend on the process (hash seed, time zone, locale).

Behaviour of the tasks themselves is tested in process through the program (test_program.py).
"""
from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import PROJECT, run_cli, tree_bytes

from phoenix_gitops_cli import program


@pytest.mark.parametrize("args", [["render", "env=prod"], ["render", "--env", "prod"], ["render", "prod"]])
def test_render_spellings(fixture_repo, args):
    root = fixture_repo("minimal")
    proc = run_cli(args, root)
    assert proc.returncode == 0, proc.stderr
    assert "wrote: rendered/prod/hello/prepare/manifest.yaml" in proc.stdout
    assert "prod: 16 file(s) with kustomize v5." in proc.stdout  # 2 manifests, 14 bootstrap files
    assert sorted(tree_bytes(root / "rendered")) == [
        "prod/hello/prepare/manifest.yaml", "prod/world/prepare/manifest.yaml"]


COVERED = {  # task -> (what its output says when it covered dev and prod, ... when it covered prod alone)
    "check": ("│ dev ", "│ prod "),
    "render": ("dev, prod: 25 file(s)", "prod: 16 file(s)"),
    "diff": ("no changes in 3 app(s)", "no changes in 2 app(s)"),
}


@pytest.mark.parametrize("task", sorted(COVERED))
def test_plain_invoke_takes_every_env_spelling_and_none_means_every_environment(fixture_repo, task):
    root = fixture_repo("minimal")
    assert run_cli(["render", "all"], root).returncode == 0
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):  # diff needs a base
        subprocess.run(["git", *argv], cwd=root, check=True, capture_output=True)
    extra = ["--check"] if task == "render" else []
    both, prod_only = COVERED[task]
    every = run_cli([task, *extra], root)
    assert every.returncode == 0 and both in every.stdout, every.stdout + every.stderr
    for spelling in (["env=prod"], ["prod"], ["--env", "prod"], ["-e", "prod"]):
        one = run_cli([task, *spelling, *extra], root)
        assert one.returncode == 0, (spelling, one.stderr)
        assert prod_only in one.stdout and both not in one.stdout, (spelling, one.stdout)
    empty = run_cli([task, "env=", *extra], root)
    assert empty.returncode == 2 and "empty environment 'env='" in empty.stderr


def test_every_task_is_listed_and_has_help():
    proc = run_cli(["--list"], PROJECT)
    assert proc.returncode == 0
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ") and line.strip()
              and not line.startswith("   ")]
    assert listed == sorted([*program.namespace(*program.TASKS).task_names, "rules-doc", "test"])
    help_text = run_cli(["--help", "render"], PROJECT).stdout
    assert "env=prod" in help_text and "-c, --check" in help_text and "exit 3" in help_text


def test_usage_errors_are_one_line_without_a_traceback(fixture_repo):
    proc = run_cli(["render", "prod", "--jobs", "many"], fixture_repo("minimal"))
    assert proc.returncode == 1  # invoke's own parser exit code; the phoenix-gitops program exits 2
    assert proc.stderr == "--jobs: 'many' is not a whole number (0 or more)\n"


@pytest.mark.parametrize("variant", [{"PYTHONHASHSEED": "1", "TZ": "UTC"},
                                     {"PYTHONHASHSEED": "987", "TZ": "Asia/Kolkata", "LC_ALL": "C"}])
def test_render_bytes_do_not_depend_on_hash_seed_timezone_or_locale(fixture_repo, tmp_path, variant):
    root = fixture_repo("minimal")
    assert run_cli(["render", "all"], root, PYTHONHASHSEED="0", TZ="Europe/Berlin").returncode == 0
    reference = tree_bytes(root / "rendered")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copytree(root / "overlays", other / "overlays")
    shutil.copytree(root / "base", other / "base")
    shutil.copy(root / "gitops.yaml", other / "gitops.yaml")
    assert run_cli(["render", "all"], other, **variant).returncode == 0
    assert tree_bytes(other / "rendered") == reference
    assert tree_bytes(other / "clusters") == tree_bytes(root / "clusters")
