"""program.py, in this process: environment spellings, every environment by default, the short-flag table, usage
errors (exit 2, one line, no traceback), settings, and where the program finds the config repository.

The console script itself runs in a subprocess at the end: that it is installed and starts is the point there.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT, commit_all, leftovers, run_program, tree_bytes
from invoke import Collection

import tasks
from phoenix_gitops_cli import build, flags, program

SCRIPT = Path(sys.executable).parent / "phoenix-gitops"
PROD = "prod: 16 file(s) with kustomize v5."  # 2 manifests and 14 bootstrap files
ALL = "dev, prod: 25 file(s) with kustomize v5."
ENV_SPELLINGS = [["env=prod"], ["prod"], ["--env", "prod"], ["-e", "prod"]]


def summary_envs(stdout: str) -> list[str]:
    """The environments of check's summary table, in order."""
    return re.findall(r"^│ (\w+) +│", stdout, re.MULTILINE)


def with_image(root: Path) -> Path:
    """Give both hello overlays of the minimal repo an images: entry (dev by tag, prod by digest)."""
    for env, pin in (("dev", "newTag: 1.0.0"), ("prod", f"digest: sha256:{'a' * 64}")):
        path = root / "overlays" / env / "hello" / "kustomization.yaml"
        path.write_text(path.read_text() + f"images:\n  - name: ghcr.io/acme/hello\n    {pin}\n")
    return root


# --- environments: `env=prod`, `prod`, `--env prod`; none means all ------------------------------------------


@pytest.mark.parametrize("spelling", ENV_SPELLINGS)
def test_render_takes_every_env_spelling(fixture_repo, spelling):
    root = fixture_repo("minimal")
    result = run_program(["render", *spelling], root)
    assert result.code == 0, result.stderr
    assert PROD in result.stdout
    assert sorted(tree_bytes(root / "rendered")) == [
        "prod/hello/prepare/manifest.yaml", "prod/world/prepare/manifest.yaml"]


def test_bare_render_renders_every_environment_and_then_is_up_to_date(fixture_repo):
    root = fixture_repo("minimal")
    result = run_program(["render"], root)
    assert result.code == 0 and ALL in result.stdout, result.stderr
    assert sorted(tree_bytes(root / "rendered")) == [
        "dev/hello/prepare/manifest.yaml", "prod/hello/prepare/manifest.yaml", "prod/world/prepare/manifest.yaml"]
    again = run_program(["render", "--check"], root)
    assert again.code == 0 and ALL in again.stdout and again.stdout.endswith(", up to date\n"), again


@pytest.mark.parametrize("spelling", ENV_SPELLINGS)
def test_check_takes_every_env_spelling(fixture_repo, spelling):
    result = run_program(["check", *spelling], fixture_repo("minimal"))
    assert result.code == 0, result.stderr
    assert summary_envs(result.stdout) == ["prod"]


def test_bare_check_checks_every_environment(fixture_repo):
    result = run_program(["check"], fixture_repo("minimal"))
    assert result.code == 0, result.stderr
    assert summary_envs(result.stdout) == ["dev", "prod"]


@pytest.fixture
def minimal_git(fixture_repo) -> Path:
    """The minimal repo committed on `main`, then its hello app's label changed in both environments."""
    root = fixture_repo("minimal")
    commit_all(root, "hello")
    for env in ("dev", "prod"):
        path = root / "overlays" / env / "hello" / "kustomization.yaml"
        path.write_text(path.read_text().replace(f"env: {env}", f"env: {env}-changed"))
    return root


@pytest.mark.parametrize("spelling", [*ENV_SPELLINGS, []])
def test_diff_takes_every_env_spelling_and_covers_every_environment_without_one(minimal_git, spelling):
    result = run_program(["diff", *spelling], minimal_git)
    assert result.code == 0, result.stderr
    changed = re.findall(r"^# (\w+)/hello: 0 added, 0 removed, 1 changed$", result.stdout, re.MULTILINE)
    assert changed == (["prod"] if spelling else ["dev", "prod"]), result.stdout


@pytest.mark.parametrize("spelling", [["prod", "hello"], ["env=prod", "hello"], ["--env", "prod", "--app", "hello"],
                                      ["-e", "prod", "-a", "hello"]])
def test_history_takes_every_env_spelling(fixture_repo, spelling):
    root = with_image(fixture_repo("minimal"))
    commit_all(root, "hello with an image")
    result = run_program(["history", *spelling], root)
    assert result.code == 0, result.stderr
    assert f"ghcr.io/acme/hello@sha256:{'a' * 64}" in result.stdout and "1.0.0" not in result.stdout


@pytest.mark.parametrize("spelling", [["prod", "hello"], ["env=prod", "hello"], ["--env", "prod", "--app", "hello"],
                                      ["-e", "prod", "-a", "hello"]])
def test_set_image_takes_every_env_spelling(fixture_repo, spelling):
    root = with_image(fixture_repo("minimal"))
    before = tree_bytes(root)
    result = run_program(["set-image", *spelling, f"sha256:{'a' * 64}"], root)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("overlays/prod/hello/kustomization.yaml: already ")  # prod's pin, not dev's
    assert tree_bytes(root) == before


@pytest.mark.parametrize("spelling", [["hello", "prod", "dev"], ["--app", "hello", "--from", "prod", "--to", "dev"],
                                      ["-a", "hello", "--from", "env=prod", "--to", "env=dev"]])
def test_promote_takes_positionals_or_the_option_names_of_diff(fixture_repo, spelling):
    root = with_image(fixture_repo("minimal"))
    result = run_program(["promote", *spelling], root)
    assert result.code == 0, result.stderr
    assert (f"overlays/dev/hello/kustomization.yaml: ghcr.io/acme/hello:1.0.0 -> ghcr.io/acme/hello@sha256:{'a' * 64}"
            in result.stdout)
    assert "wrote: rendered/dev/hello/prepare/manifest.yaml" in result.stdout and "rendered/prod" not in result.stdout


# --- one table of short flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("collection", [tasks.ns, program.namespace(*program.TASKS)], ids=["invoke", "program"])
def test_every_short_flag_comes_from_the_one_table(collection: Collection):
    for name in collection.task_names:
        for arg in collection[name].get_arguments():
            long, shorts = arg.names[0], [n for n in arg.names if len(n) == 1]
            expected = [flags.SHORT_FLAGS[long]] if long in flags.SHORT_FLAGS else []
            assert shorts == expected, f"{name} --{long}"


@pytest.mark.parametrize("collection", [tasks.ns, program.namespace(*program.TASKS)], ids=["invoke", "program"])
def test_every_option_of_every_task_has_help(collection: Collection):
    for name in collection.task_names:
        assert collection[name].__doc__, name
        assert [arg.names[0] for arg in collection[name].get_arguments() if not arg.help] == [], name


def test_the_readme_documents_the_short_flag_table():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    for long, short in flags.SHORT_FLAGS.items():
        users = [name for name in tasks.ns.task_names
                 if any(arg.names[0] == long for arg in tasks.ns[name].get_arguments())]
        assert f"| `-{short}` | `--{long}` | {', '.join(users)} |" in readme


def test_no_letter_means_two_options_and_none_hides_help():
    letters = list(flags.SHORT_FLAGS.values())
    assert len(letters) == len(set(letters)) and "h" not in letters
    assert all(len(letter) == 1 for letter in letters)


def test_the_program_has_every_task_of_tasks_py_but_the_checkout_ones():
    assert set(tasks.ns.task_names) - set(program.namespace(*program.TASKS).task_names) == {"rules-doc", "test"}


def test_help_texts_survive_building_the_parser_twice():
    first = {arg.names[0]: arg.help for arg in tasks.ns["render"].get_arguments()}
    second = {arg.names[0]: arg.help for arg in tasks.ns["render"].get_arguments()}
    assert first == second and all(second.values()) and "exit 3" in second["check"]


def test_short_flags_mean_the_same_option_in_render_and_check(fixture_repo):
    root = fixture_repo("minimal")
    stale = run_program(["render", "prod", "-c"], root)
    assert stale.code == 3 and "stale: rendered/prod/hello/prepare/manifest.yaml" in stale.stdout
    assert not (root / "rendered").exists()
    checked = run_program(["check", "-e", "prod", "-f", "json", "-j", "1"], root)
    assert checked.code == 0, checked.stderr
    assert isinstance(json.loads(checked.stdout), dict)


# --- usage errors: exit 2, one line, no traceback ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--bogus"], "No idea what '--bogus' is!"),
        (["check", "-x"], "No idea what '-x' is!"),
        (["render", "--jobs", "abc"], "--jobs: 'abc' is not a whole number (0 or more)"),
        (["check", "-j", "-3"], "--jobs: '-3' is not a whole number (0 or more)"),
        (["render", "--jobs"], "needed value and was not given one"),
        (["set-image", "prod", "hello"], "'set-image' did not receive required positional arguments: 'image'"),
        (["history", "prod"], "'history' did not receive required positional arguments: 'app'"),
        (["history", "prod", "hello", "extra"], "No idea what 'extra' is!"),
        (["render", "prod", "dev"], "No idea what 'dev' is!"),
        (["render", "qa"], "unknown environment 'qa'; known: dev, prod (or all)"),
        (["check", "--format", "xml"], "unknown format 'xml'"),
        (["diff", "--format", "html"], "unknown format 'html'"),
        (["diff", "--from", "dev"], "use --from and --to together"),
        (["--help", "nope"], "No idea what 'nope' is!"),
        (["nope"], "No idea what 'nope' is!"),
    ],
)
def test_usage_errors_exit_2_with_one_line(fixture_repo, args, message):
    root = fixture_repo("minimal")
    result = run_program(args, root)
    assert result.code == 2, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert "Traceback" not in result.stderr and not (root / "rendered").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JOBS", "abc", "gitops.jobs = 'abc' (invoke.yaml or INVOKE_GITOPS_JOBS): a whole number, 0 or more"),
        ("JOBS", "-2", "gitops.jobs = -2"),
        ("KUSTOMIZE_TIMEOUT", "-1", "gitops.kustomize_timeout = -1.0 (invoke.yaml or INVOKE_GITOPS_KUSTOMIZE_TIMEOUT)"),
        ("KUSTOMIZE_TIMEOUT", "soon", "a number of seconds above 0"),
        ("KUSTOMIZE_TIMEOUT", "nan", "a number of seconds above 0"),
        ("DIFF_BASE", " ", "gitops.diff_base = ' '"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(fixture_repo, variable, value, message):
    root = fixture_repo("minimal")
    result = run_program(["render", "prod"], root, **{f"INVOKE_GITOPS_{variable}": value})
    assert result.code == 2, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert "Traceback" not in result.stderr and not (root / "rendered").exists()


def test_settings_from_variables_are_used(fixture_repo):
    root = with_image(fixture_repo("minimal"))
    refused = run_program(["set-image", "dev", "hello", "2.0.0"], root, INVOKE_GITOPS_DIGEST_ENVS="dev, prod")
    assert refused.code == 2 and "takes only images pinned by digest" in refused.stderr
    rendered = run_program(["render", "prod"], root, INVOKE_GITOPS_KUSTOMIZE_TIMEOUT="30.5", INVOKE_GITOPS_JOBS="1")
    assert rendered.code == 0, rendered.stderr


# --- exit codes of the tasks ------------------------------------------------------------------------------------


def test_stale_output_exits_3_naming_files_and_writes_nothing(fixture_repo):
    root = fixture_repo("minimal")
    result = run_program(["render", "env=prod", "--check"], root)
    assert result.code == 3
    assert "stale: rendered/prod/hello/prepare/manifest.yaml" in result.stdout
    assert result.stderr == "rendered/ is stale (16 file(s)); run `invoke render env=prod`\n"
    assert not (root / "rendered").exists()


def test_broken_overlay_exits_1_naming_it_and_keeps_output(fixture_repo):
    root = fixture_repo("minimal")
    assert run_program(["render", "all"], root).code == 0
    before = tree_bytes(root / "rendered")
    (root / "overlays/prod/world/kustomization.yaml").write_text("resources:\n  - ../../../base/nope\n")
    result = run_program(["render", "env=prod"], root)
    assert result.code == 1
    assert ("overlays/prod/world/kustomization.yaml:2:5: error SRC-MISSING '../../../base/nope' does not exist"
            in result.stderr)
    assert "Traceback" not in result.stderr
    assert tree_bytes(root / "rendered") == before and leftovers(root / "rendered") == []


@pytest.mark.parametrize(
    ("kustomize", "message"),
    [("/nonexistent/kustomize", "is not an executable"), ("/bin/false", "could not read a kustomize version")],
)
def test_missing_or_broken_kustomize_exits_4(fixture_repo, kustomize, message):
    root = fixture_repo("minimal")
    result = run_program(["render", "env=prod"], root, KUSTOMIZE=kustomize)
    assert result.code == 4 and message in result.stderr
    assert not (root / "rendered").exists()


def test_a_file_that_cannot_be_written_exits_4_naming_it(fixture_repo):
    root = fixture_repo("minimal")
    (root / "rendered").write_text("a file where the output folder belongs\n")
    result = run_program(["render", "env=prod"], root)
    assert result.code == 4 and "rendered" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_ctrl_c_exits_130_saying_what_was_written(fixture_repo, monkeypatch):
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(build.rendering, "render", interrupted)
    root = fixture_repo("minimal")
    result = run_program(["render", "prod"], root)
    assert result.code == 130
    assert result.stderr == "interrupted: rendered/ and clusters/ are unchanged\n"


# --- where the config repository is -----------------------------------------------------------------------------


def test_the_repository_is_found_from_a_folder_inside_it(fixture_repo):
    root = fixture_repo("minimal")
    result = run_program(["render", "prod"], None, cwd=root / "overlays" / "prod" / "hello")
    assert result.code == 0, result.stderr
    assert (root / "rendered" / "prod" / "hello" / "prepare" / "manifest.yaml").is_file()


def test_outside_any_repository_the_program_says_so(tmp_path):
    result = run_program(["check"], None, cwd=tmp_path)
    assert result.code == 2
    assert f"no config repository at or above {tmp_path.resolve()}" in result.stderr
    assert "INVOKE_GITOPS_REPO" in result.stderr and "Traceback" not in result.stderr


def test_list_and_help_work_outside_any_repository(tmp_path):
    listed = run_program(["--list"], None, cwd=tmp_path)
    assert listed.code == 0
    assert re.findall(r"^  ([a-z-]+) ", listed.stdout, re.MULTILINE) == sorted(
        program.namespace(*program.TASKS).task_names)
    helped = run_program(["--help", "render"], None, cwd=tmp_path)
    assert helped.code == 0 and "Usage: phoenix-gitops" in helped.stdout and "exit 3" in helped.stdout


# --- the console script, in a subprocess ------------------------------------------------------------------------


def script(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_console_script_is_installed_and_runs_from_another_folder(fixture_repo, tmp_path):
    listed = script(["--list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "  render " in listed.stdout and "  set-image " in listed.stdout
    root = fixture_repo("minimal")
    rendered = script(["render"], root / "overlays")
    assert rendered.returncode == 0, rendered.stderr
    assert ALL in rendered.stdout and "Traceback" not in rendered.stderr
    wrong = script(["render", "--jobs", "x"], root)
    assert wrong.returncode == 2 and wrong.stderr == "--jobs: 'x' is not a whole number (0 or more)\n"


def test_what_invokes_parser_prints_goes_through_the_redaction_too(fixture_repo):
    token = "ghp_" + "a1B2c3D4e5" * 4  # a GitHub token format, typed where a task name or flag was due
    root = fixture_repo("minimal")
    for args in ([token], ["check", f"--{token}"]):
        result = run_program(args, root)
        assert result.code == 2, result
        assert token not in result.stdout + result.stderr and "****" in result.stderr, result
