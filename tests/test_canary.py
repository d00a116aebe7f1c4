"""One canary secret in every place a secret can be, fed through every surface of the program, found nowhere.

The canary is a Secret's value, an env value named like a secret, a configMapGenerator literal, a command-line flag,
a credential in an annotation's URL; then also inside a patch kustomize rejects (its stderr is quoted), in an
environment's API-server URL and in an environment field whose schema message quotes the value. Every `check`
format, `render` and `render --check`, `diff` as text and markdown, and a progress bar drawn on a (fake) terminal
print what they print; the canary, plain or base64-encoded, is in none of it. `rendered/` keeps the real bytes.
"""
from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURE_REPOS, commit_all, run_program
from rich.console import Console

from phoenix_gitops.report import FORMATS
from phoenix_gitops_cli import display

CANARY = "c4nary-Zq8v-s3cret-91x"
ENCODED = base64.b64encode(CANARY.encode()).decode()
OVERLAY = "overlays/prod/web"
BUILDS = {
    "base/web/canary-secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary\nstringData:\n"
                                   f"  password: {CANARY}\n",
    f"{OVERLAY}/canary-patch.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n"
        f"    example.org/callback: https://hooks.example.org/x?token={CANARY}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: app\n"
        f"          args: [--db-password={CANARY}]\n"
        f"          env:\n            - name: SECRET_KEY_BASE\n              value: {CANARY}\n"),
}
"""A repository that builds: every finding about the canary is reported, nothing quotes it."""
TOOL_ERROR = {
    f"{OVERLAY}/canary-patch.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - name: app\n          env: {{name: SECRET_KEY_BASE, value: {CANARY}}}\n"),
}
"""A patch kustomize rejects with an error that quotes it."""


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def canary_repo(root: Path, files: dict[str, str]) -> Path:
    shutil.copytree(FIXTURE_REPOS / "webapp", root)
    assert run_program(["render", "all"], root).code == 0
    commit_all(root, "before the canary")
    for rel, text in files.items():
        (root / rel).write_text(text, encoding="utf-8")
    edit(root, "base/web/kustomization.yaml", "resources:\n", "resources:\n  - canary-secret.yaml\n")
    (root / "base/web/canary-secret.yaml").write_text(BUILDS["base/web/canary-secret.yaml"], encoding="utf-8")
    edit(root, f"{OVERLAY}/kustomization.yaml", "patches:\n", "patches:\n  - path: canary-patch.yaml\n")
    (root / f"{OVERLAY}/kustomization.yaml").write_text(
        (root / f"{OVERLAY}/kustomization.yaml").read_text(encoding="utf-8")
        + f"configMapGenerator:\n  - name: canary\n    literals:\n      - API_TOKEN={CANARY}\n", encoding="utf-8")
    return root


def assert_clean(result, command: list[str]) -> str:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert CANARY not in text and ENCODED not in text, f"{' '.join(command)} printed the canary:\n{text}"
    return text


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Path:
    return canary_repo(tmp_path_factory.mktemp("canary") / "builds", BUILDS)


@pytest.fixture(scope="module")
def tool_error(tmp_path_factory) -> Path:
    return canary_repo(tmp_path_factory.mktemp("canary") / "tool-error", TOOL_ERROR)


SURFACES = [["check", "--format", fmt] for fmt in FORMATS] + [
    ["render", "all", "--check"], ["diff"], ["diff", "--format", "markdown"], ["diff", "--exit-code"],
]


@pytest.mark.parametrize("command", SURFACES, ids=" ".join)
def test_the_canary_is_reported_never_printed(builds, command):
    result = run_program(command, builds)
    text = assert_clean(result, command)
    if command[0] == "check":
        assert result.code == 1 and "SEC-SECRET-NAME" in text and "SEC-URL-CREDENTIALS" in text
    elif command[0] == "render":
        assert result.code == 1 and "PHX-V06" in text and "SEC-SECRET-NAME" in text
    else:
        assert "Secret" in text and "canary" in text  # the new Secret and ConfigMap are in the diff, masked


@pytest.mark.parametrize("command", [["check"], ["check", "--format", "json"], ["render", "prod"], ["diff"],
                                     ["diff", "--format", "markdown"]], ids=" ".join)
def test_a_tool_error_quoting_the_canary_never_prints_it(tool_error, command):
    result = run_program(command, tool_error)
    text = assert_clean(result, command)
    assert result.code != 0 and "wrong node kind" in text


@pytest.mark.parametrize("field", ["server", "kubernetesVersion"])
@pytest.mark.parametrize("command", [["check"], ["render", "all"], ["render", "all", "--check"], ["diff"]],
                         ids=" ".join)
def test_a_schema_error_quoting_the_canary_never_prints_it(builds, tmp_path, field, command):
    root = tmp_path / "schema"
    shutil.copytree(builds, root)
    env_file = "overlays/prod/environment.yaml"
    current = (root / env_file).read_text(encoding="utf-8").split(f"{field}: ", 1)[1].split("\n", 1)[0]
    bad = f"https://deploy:{CANARY}@k8s.example.org" if field == "server" else f'"{CANARY}"'
    edit(root, env_file, f"{field}: {current}", f"{field}: {bad}")
    result = run_program(command, root)
    text = assert_clean(result, command)
    assert result.code != 0 and f"{env_file}:" in text and "SRC-ENVIRONMENT" in text


def test_render_writes_the_real_bytes_and_prints_no_canary(tmp_path):
    root = tmp_path / "render"
    shutil.copytree(FIXTURE_REPOS / "webapp", root)
    (root / "base/web/canary-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary\n  annotations:\n"
        '    phoenix-gitops/suppress: "V06: a public value in a test"\n'
        f"stringData:\n  password: {CANARY}\n", encoding="utf-8")
    edit(root, "base/web/kustomization.yaml", "resources:\n", "resources:\n  - canary-secret.yaml\n")
    for command in (["render", "all"], ["render", "all", "--check"]):
        result = run_program(command, root)
        assert_clean(result, command)
        assert result.code == 0, result
    assert CANARY.encode() in (root / "rendered/prod/web/prepare/manifest.yaml").read_bytes()


def test_progress_on_a_terminal_is_redacted_too(builds, monkeypatch):
    monkeypatch.setattr(display, "stderr", Console(stderr=True, force_terminal=True, highlight=False, width=100))
    result = run_program(["check", "--no-cache"], builds)
    text = assert_clean(result, ["check"])
    assert "check" in result.stderr and "\x1b[" in result.stderr  # the bar was drawn, on the redacted stream
    assert "SEC-SECRET-NAME" in text
