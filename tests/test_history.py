"""history.py: the images an app ran in an environment, from git history; rollback with set-image."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_program

from phoenix_gitops import edit, history, layout
from phoenix_gitops.errors import UsageError

GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_COMMITTER_NAME": "CI",
           "GIT_COMMITTER_EMAIL": "ci@example.org"}
D = {n: f"sha256:{n * 64}" for n in "abc"}
D0 = "sha256:b92bf84fd9398018372e09c5a3b5cc552672f4c26e2e6029b28f5a45c7e9b3bc"  # the shipped prod api digest
KUSTOMIZATION = "overlays/prod/api/kustomization.yaml"


def git(root: Path, *args: str, author: str = "Ada Lovelace", date: str = "2026-01-01T10:00:00+00:00") -> str:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env=env, capture_output=True,
                          text=True, check=True).stdout


def set_pin(root: Path, pin: str) -> None:
    path = root / KUSTOMIZATION
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(("    newTag:", "    digest:")))
    lines[index] = f"    {pin}\n"
    path.write_text("".join(lines))


def commit(root: Path, message: str, day: int, author: str = "Ada Lovelace") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message, author=author, date=f"2026-01-0{day}T10:00:00+00:00")


@pytest.fixture
def api_history(shipped_repo) -> Path:
    """The shipped config (api only) as a git repo with four commits to prod/api's kustomization: the shipped
    digest, digest a, an unrelated change (POOL_SIZE), digest b."""
    root = shipped_repo
    git(root, "init", "-q", "-b", "main")
    commit(root, "api 2e8b4f6", 1)
    set_pin(root, f"digest: {D['a']}")
    commit(root, "release a", 2, author="Grace Hopper")
    path = root / KUSTOMIZATION
    text = path.read_text()
    assert "POOL_SIZE=10" in text
    path.write_text(text.replace("POOL_SIZE=10", "POOL_SIZE=12"))
    commit(root, "bigger pool", 3)
    set_pin(root, f"digest: {D['b']}")
    commit(root, "release b", 4)
    return root


def test_history_lists_image_changes_newest_first(api_history):
    events = history.image_history(layout.Repo(api_history), "prod", "api")
    assert [(e.date, e.author, e.subject, e.image) for e in events] == [
        ("2026-01-04T10:00:00+00:00", "Ada Lovelace", "release b", f"ghcr.io/acme/api@{D['b']}"),
        ("2026-01-02T10:00:00+00:00", "Grace Hopper", "release a", f"ghcr.io/acme/api@{D['a']}"),
        ("2026-01-01T10:00:00+00:00", "Ada Lovelace", "api 2e8b4f6", f"ghcr.io/acme/api@{D0}"),
    ]
    assert all(len(e.commit) == 10 for e in events)


def test_rollback_is_set_image_to_a_listed_value(api_history, kz):
    repo = layout.Repo(api_history)
    previous = history.image_history(repo, "prod", "api")[1].image
    edit.set_image(repo, kz, "prod", "api", previous, digest_envs=("prod",))
    events = history.image_history(repo, "prod", "api")
    assert (events[0].commit, events[0].image) == (history.WORKING_TREE, f"ghcr.io/acme/api@{D['a']}")
    assert git(api_history, "diff", "--stat", "--", KUSTOMIZATION).strip().endswith(
        "1 file changed, 1 insertion(+), 1 deletion(-)")


def test_a_deleted_overlay_shows_in_the_history(api_history):
    git(api_history, "rm", "-q", "-r", "overlays/prod/api")
    commit(api_history, "retire web", 5)
    events = history.image_history(layout.Repo(api_history), "prod", "api")
    assert (events[0].subject, events[0].image) == ("retire web", "(no overlay)")
    assert len(events) == 4


@pytest.mark.parametrize(("env", "app", "message"), [
    ("qa", "api", "unknown environment 'qa'"),
    ("all", "api", "name one environment"),
    ("prod", "web", "unknown app 'web' in prod: no overlay and no history; known: api"),
])
def test_history_errors(api_history, env, app, message):
    with pytest.raises(UsageError, match=message):
        history.image_history(layout.Repo(api_history), env, app)


def test_history_outside_git_is_a_usage_error(fixture_repo):
    with pytest.raises(UsageError, match="not a git repository"):
        history.image_history(layout.Repo(fixture_repo("minimal")), "prod", "hello")


def test_cli_history(api_history):
    result = run_program(["history", "--env", "prod", "--app", "api"], api_history)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["commit", "date", "author", "image"]
    assert lines[1].endswith(f"ghcr.io/acme/api@{D['b']}") and "Ada Lovelace" in lines[1]
    assert lines[-1] == f"roll back: invoke set-image prod api ghcr.io/acme/api@{D['a']}"
    result = run_program(["history", "prod", "nope"], api_history)
    assert result.code == 2 and "unknown app 'nope'" in result.stderr and "Traceback" not in result.stderr
