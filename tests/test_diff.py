"""diff.py and gitrepo.py: list matching, masking as check detects secrets, a diff between two real commits, env vs
env, errors, CLI."""
from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT, run_program

from phoenix_gitops import diff, layout, rules
from phoenix_gitops.errors import InputError, UsageError
from phoenix_gitops.yamlio import load_file

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env={**os.environ, **GIT_ENV},
                          capture_output=True, text=True, check=True)
    return proc.stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def worktrees(root: Path) -> int:
    return git(root, "worktree", "list", "--porcelain").count("worktree ")


# Resource matching and masking, on plain data.

def deployment(containers: list[dict]) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
            "spec": {"template": {"spec": {"containers": containers}}}}


def body(resource_diff: diff.ResourceDiff) -> list[str]:
    """The changed lines of a resource's diff, indentation removed: `-value: "1"`."""
    return [line[0] + line[1:].strip() for line in resource_diff.lines
            if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def test_reordered_lists_are_matched_by_name_not_rewritten():
    app = {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
           "ports": [{"name": "http", "containerPort": 4000}, {"name": "epmd", "containerPort": 4369}]}
    sidecar = {"name": "sidecar", "image": "proxy:1"}
    moved = {**app, "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "one"}],
             "ports": list(reversed(app["ports"]))}
    (change,) = diff.diff_resources([(deployment([app, sidecar]), {})], [(deployment([sidecar, moved]), {})])
    assert change.status == "changed"
    assert body(change) == ['-value: "1"', "+value: one"]
    hunks = [line for line in change.lines if line.startswith("@@")]
    assert hunks and hunks[0].endswith(" spec.template.spec.containers[name=app].env[name=A].value")
    assert change.notes == (
        "spec.template.spec.containers[name=app].env: order changed from A, B to B, A",
        "spec.template.spec.containers[name=app].ports: order changed from http, epmd to epmd, http",
        "spec.template.spec.containers: order changed from app, sidecar to sidecar, app",
    )


def test_items_without_names_match_by_container_port_and_mount_path():
    old = deployment([{"name": "app", "ports": [{"containerPort": 80}, {"containerPort": 443, "protocol": "TCP"}],
                       "volumeMounts": [{"mountPath": "/a", "name": "v"}, {"mountPath": "/b", "name": "v"}]}])
    new = deployment([{"name": "app", "ports": [{"containerPort": 443, "protocol": "UDP"}, {"containerPort": 80}],
                       "volumeMounts": [{"mountPath": "/b", "name": "v"}, {"mountPath": "/a", "name": "v"}]}])
    (change,) = diff.diff_resources([(old, {})], [(new, {})])
    assert body(change) == ["-protocol: TCP", "+protocol: UDP"]
    assert [n.split(":")[0] for n in change.notes] == ["spec.template.spec.containers[name=app].ports",
                                                         "spec.template.spec.containers[name=app].volumeMounts"]


def test_identical_resources_in_another_order_are_no_change():
    a = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}
    b = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}
    assert diff.diff_resources([(a, {}), (b, {})], [(b, {}), (a, {})]) == []


SECRETS = ("0ld-b4se", "n3w-b4se", "hunter2", "c00kie", "tok-123", "pg-pass", "pg-pass-2", "same-same")


def test_secret_values_are_masked_but_marked_changed():
    secret_old = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "data": {"DATABASE_URL": "aHVudGVyMg==", "KEEP": "c2FtZS1zYW1l"}, "stringData": {"TOKEN": "tok-123"}}
    secret_new = {**secret_old, "data": {"DATABASE_URL": "aHVudGVyMw==", "KEEP": "c2FtZS1zYW1l"},
                  "stringData": {"TOKEN": "tok-123", "NEW": "c00kie"}}
    env_old = [{"name": "SECRET_KEY_BASE", "value": "0ld-b4se"}, {"name": "RELEASE_COOKIE", "value": "same-same"},
               {"name": "REPO_URL", "value": "https://bot:pg-pass@git.example.org/x.git"},
               {"name": "MODE", "value": "a"}]
    env_new = [{"name": "SECRET_KEY_BASE", "value": "n3w-b4se"}, {"name": "RELEASE_COOKIE", "value": "same-same"},
               {"name": "REPO_URL", "value": "https://bot:pg-pass-2@git.example.org/x.git"},
               {"name": "MODE", "value": "b"}]
    config_old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                  "data": {"SMTP_PASSWORD": "hunter2", "PHX_HOST": "a.example.org"}}
    config_new = {**config_old, "data": {"SMTP_PASSWORD": "hunter3", "PHX_HOST": "b.example.org"}}
    old = [(secret_old, {}), (deployment([{"name": "app", "env": env_old}]), {}), (config_old, {})]
    new = [(secret_new, {}), (deployment([{"name": "app", "env": env_new}]), {}), (config_new, {})]
    secret, dep, config = diff.diff_resources(old, new)
    assert body(secret) == ['-DATABASE_URL: "<masked>"', '+DATABASE_URL: "<masked, changed>"', '+NEW: "<masked>"']
    assert body(dep) == [
        '-value: "<masked>"', '+value: "<masked, changed>"',
        "-value: https://<masked>@git.example.org/x.git", "+value: https://<masked, changed>@git.example.org/x.git",
        "-value: a", "+value: b",
    ]
    assert body(config) == ['-SMTP_PASSWORD: "<masked>"', "-PHX_HOST: a.example.org",
                            '+SMTP_PASSWORD: "<masked, changed>"', "+PHX_HOST: b.example.org"]
    result = diff.DiffResult("a", "b", ("prod",), (diff.AppDiff("prod", "web", "changed", (secret, dep, config)),))
    for fmt in diff.FORMATS:
        text = diff.format_diff(result, fmt)
        assert not [s for s in SECRETS + ("aHVudGVyMg==", "aHVudGVyMw==", "hunter3") if s in text]


# What `check` detects as a secret, `diff` masks (one detector, the repository's policy).

POLICY_SECRETS = {"CLOAK_KEY": "cl0ak-v4lue", "DB_PASS": "db-p4ss-v4lue", "LIVE_VIEW_SIGNING_SALT": "s4lt-v4lue",
                  "JOKEN_SIGNER": "j0ken-v4lue"}
TOKENS = ("ghp_R8x2Lm4Qv7Tz1Wc9Yp3Ks6Hd0Fj5Ng2Bb8Ee", "AKIAQ3EGRJ7Z5HX2M4PA")
RANDOM = "q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi"


def test_names_the_policy_treats_as_secret_tokens_and_random_strings_are_masked():
    env = [{"name": k, "value": v} for k, v in POLICY_SECRETS.items()]
    env += [{"name": "NOTE", "value": f"uses {TOKENS[0]} today"}, {"name": "SESSION", "value": RANDOM},
            {"name": "DATABASE_URL", "value": "ecto://app:$(DB_PASS)@db/app"}, {"name": "MODE", "value": "a"}]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"key": TOKENS[1]}},
              "data": {**POLICY_SECRETS, "PHX_HOST": "a.example.org"}}
    args = ["--git=https://bot:hunter2-arg@git.example.org/x.git", f"--id={TOKENS[1]}"]
    (dep, cm) = diff.diff_resources([], [(deployment([{"name": "app", "env": env, "args": args}]), {}), (config, {})])
    text = "\n".join(dep.lines + cm.lines)
    leaked = [s for s in (*POLICY_SECRETS.values(), *TOKENS, RANDOM, "hunter2-arg") if s in text]
    assert leaked == []
    assert '- "--git=https://<masked>@git.example.org/x.git"' in text and '- "--id=<masked>"' in text  # the secret part
    assert 'key: "<masked>"' in text
    assert "value: ecto://app:$(DB_PASS)@db/app" in text  # a reference is no secret: shown, as check passes it
    assert "PHX_HOST: a.example.org" in text and "value: a" in text


@pytest.mark.parametrize(("rule", "secrets"), [
    ("SEC-SECRET-NAME", ("dev-only-but-still-a-secret", "not-so-public-stripe-value")),
    ("SEC-TOKEN-FORMAT", TOKENS),
    ("SEC-URL-CREDENTIALS", ("hunter2-db-pass", "guest-rabbit-pass")),
    ("SEC-PRIVATE-KEY", ("MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oLVjO6hTg5XBoAoGCCqGSM49",)),
    ("SEC-ENTROPY", ("q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b")),
])
def test_every_value_a_secrets_rule_reports_is_masked(rule, secrets):
    fixture = PROJECT / "tests" / "fixtures" / "rules" / rule / "fail.yaml"
    resources = [d.data for d in load_file(fixture) if set(d.data) != {"fixture"}]
    changed = [copy.deepcopy(r) for r in resources]
    for resource in changed:
        resource.setdefault("metadata", {})["labels"] = {"changed": "yes"}
    for old, new, side in (([], resources, "added"), (resources, [], "removed"), (resources, changed, "changed")):
        result = diff.diff_resources([(r, {}) for r in old], [(r, {}) for r in new])
        text = "\n".join(line for r in result for line in r.lines)
        assert result and all(r.status == side for r in result)
        assert [s for s in secrets if s in text] == [], side


def test_diff_masks_the_names_of_the_repositorys_own_policy(fixture_repo, kz):
    root = fixture_repo("minimal")
    configmap = root / "base/hello/configmap.yaml"
    configmap.write_text(configmap.read_text() + '  ODD_SETTING: "plain-to-the-tool"\n')
    repo = layout.Repo(root)
    shown = diff.format_diff(diff.diff_envs(repo, kz, "dev", "prod", app="world"), "text")
    assert "ODD_SETTING: plain-to-the-tool" in shown  # the tool's policy does not treat it as a secret
    policy = rules.DEFAULT_POLICY.read_text(encoding="utf-8")
    assert "  secretNames:\n" in policy
    (root / rules.REPO_POLICY).parent.mkdir(exist_ok=True)
    (root / rules.REPO_POLICY).write_text(policy.replace("  secretNames:\n", '  secretNames:\n    - "ODD_*"\n'))
    masked = diff.format_diff(diff.diff_envs(repo, kz, "dev", "prod", app="world"), "text")
    assert "plain-to-the-tool" not in masked and 'ODD_SETTING: "<masked>"' in masked


def test_generated_names_are_matched_without_their_hash():
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-env-h976fbt5hg"}, "data": {"A": "1"}}
    new = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-env-85c5296kt7"}, "data": {"A": "2"}}
    origin = {"configuredIn": "base/web/kustomization.yaml", "configuredBy": ""}
    (change,) = diff.diff_resources([(old, origin)], [(new, origin)])
    assert change.status == "changed" and change.label == "ConfigMap/web-env-85c5296kt7"
    assert change.notes[0].startswith("generated name web-env-h976fbt5hg -> web-env-85c5296kt7")
    added, removed = diff.diff_resources([(old, {})], [(new, {})])  # not generated: two different objects
    assert (added.status, removed.status) == ("added", "removed")


# A diff between two real commits of a fixture repo.

@pytest.fixture
def webapp_git(fixture_repo) -> Path:
    """The webapp fixture as a git repo: `main` with one commit, and a `feature` branch checked out."""
    root = fixture_repo("webapp")
    (root / "base/web/secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\nstringData:\n"
                                               "  DATABASE_URL: postgres://web:0ld-b4se@db/web\n")
    deployment_file = root / "base/web/deployment.yaml"
    phx = '              value: "web.example.org"\n'
    assert phx in deployment_file.read_text()
    deployment_file.write_text(deployment_file.read_text().replace(
        phx, phx + '            - name: POOL_SIZE\n              value: "10"\n'))
    kustomization = root / "base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - secret.yaml\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "web 1.4.2")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def change_feature(root: Path) -> None:
    patch = root / "overlays/prod/web/deployment-patch.yaml"
    assert "replicas: 3" in patch.read_text()
    patch.write_text(patch.read_text().replace("replicas: 3", "replicas: 4"))
    secret = root / "base/web/secret.yaml"
    secret.write_text(secret.read_text().replace("0ld-b4se", "n3w-b4se"))
    deployment_file = root / "base/web/deployment.yaml"
    text = deployment_file.read_text()
    phx = '            - name: PHX_HOST\n              value: "web.example.org"\n'
    pool = '            - name: POOL_SIZE\n              value: "10"\n'
    assert phx + pool in text
    deployment_file.write_text(text.replace(phx + pool, pool.replace('"10"', '"12"') + phx))


def test_diff_between_two_commits(webapp_git, kz):
    change_feature(webapp_git)
    commit(webapp_git, "more replicas, bigger pool, new password")
    status = git(webapp_git, "status", "--porcelain")
    result = diff.diff_revisions(layout.Repo(webapp_git), kz)
    assert result.old_label.endswith("web 1.4.2 (merge-base of HEAD and main)")
    assert result.changed and [(a.env, a.app, a.state) for a in result.apps] == [("prod", "web", "changed")]
    (app,) = result.apps
    by_label = {r.label: r for r in app.resources}
    assert sorted(by_label) == ["Deployment/web", "Secret/web-db"]
    dep = by_label["Deployment/web"]
    assert body(dep) == ["-replicas: 3", "+replicas: 4", '-value: "10"', '+value: "12"']
    assert dep.notes == ("spec.template.spec.containers[name=app].env: order changed from PHX_HOST, POOL_SIZE to "
                         "POOL_SIZE, PHX_HOST",)
    assert body(by_label["Secret/web-db"]) == ['-DATABASE_URL: "<masked>"', '+DATABASE_URL: "<masked, changed>"']
    text = diff.format_diff(result, "text")
    assert "0ld-b4se" not in text and "n3w-b4se" not in text
    assert worktrees(webapp_git) == 1 and git(webapp_git, "status", "--porcelain") == status
    assert not (webapp_git / "rendered").exists()
    same = diff.diff_revisions(layout.Repo(webapp_git), kz, base="HEAD~1")
    assert same.apps == result.apps
    assert not diff.diff_revisions(layout.Repo(webapp_git), kz, base="HEAD").changed


def test_uncommitted_changes_are_part_of_the_working_tree(webapp_git, kz):
    change_feature(webapp_git)
    result = diff.diff_revisions(layout.Repo(webapp_git), kz, base="main", app="web")
    assert result.totals() == {"added": 0, "removed": 0, "changed": 2}
    markdown = diff.format_diff(result, "markdown")
    assert "| app | prod |" in markdown and "| web | +0 \u22120 ~2 |" in markdown
    assert "<details><summary><b>prod/web</b>: 0 added, 0 removed, 2 changed</summary>" in markdown
    assert "```diff\n--- a/prod/web/Deployment/web" in markdown


def test_base_without_overlays_shows_everything_added(tmp_path, fixture_repo, kz):
    root = fixture_repo("minimal")
    git(root, "init", "-q", "-b", "main")
    (root / "NOTES.md").write_text("before the config existed\n")
    git(root, "add", "NOTES.md")
    git(root, "commit", "-q", "-m", "notes")
    commit(root, "config")
    result = diff.diff_revisions(layout.Repo(root), kz, base="HEAD~1")
    assert [(a.env, a.app, a.state) for a in result.apps] == [
        ("dev", "hello", "added"), ("prod", "hello", "added"), ("prod", "world", "added")]


def test_the_worktree_is_removed_on_ctrl_c(webapp_git, kz, monkeypatch):
    real = diff._render

    def interrupted(repo, names, kz, label, jobs):
        if label.startswith("base revision"):
            assert worktrees(webapp_git) == 2
            raise KeyboardInterrupt
        return real(repo, names, kz, label, jobs)

    monkeypatch.setattr(diff, "_render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        diff.diff_revisions(layout.Repo(webapp_git), kz)
    assert worktrees(webapp_git) == 1
    assert not (webapp_git / ".git" / "worktrees").exists() or not list((webapp_git / ".git" / "worktrees").iterdir())


def test_errors_not_a_git_repo_bad_revision_unknown_env_and_app(fixture_repo, webapp_git, kz):
    with pytest.raises(UsageError, match="not a git repository"):
        diff.diff_revisions(layout.Repo(fixture_repo("minimal")), kz)
    repo = layout.Repo(webapp_git)
    for revision in ("no-such-branch", "--output=/tmp/x", "HEAD~99"):
        with pytest.raises(UsageError, match="bad revision"):
            diff.diff_revisions(repo, kz, base=revision)
    with pytest.raises(UsageError, match="no branch 'trunk' or 'origin/trunk'.*give --base"):
        diff.diff_revisions(repo, kz, base_branch="trunk")
    with pytest.raises(UsageError, match="unknown environment 'qa'; known: prod"):
        diff.diff_revisions(repo, kz, env="qa")
    with pytest.raises(UsageError, match="unknown app 'api' in prod; known: web"):
        diff.diff_revisions(repo, kz, app="api")
    assert worktrees(webapp_git) == 1


def test_an_overlay_that_cannot_be_built_is_an_error_not_a_removal(webapp_git, kz):
    (webapp_git / "overlays/prod/web/kustomization.yaml").write_text("resources:\n  - ../../../base/nope\n")
    with pytest.raises(InputError, match=r"(?s)working tree: prod/web could not be rendered.*SRC-MISSING"):
        diff.diff_revisions(layout.Repo(webapp_git), kz)


# Environment against environment.

def test_env_vs_env_normalises_env_names_and_shows_the_rest(fixture_repo, kz):
    repo = layout.Repo(fixture_repo("minimal"))
    result = diff.diff_envs(repo, kz, "dev", "prod")
    assert [(a.app, a.state) for a in result.apps] == [("hello", "unchanged"), ("world", "removed")]
    assert result.notes == ("normalised in dev: 'dev.example.org' -> 'prod.example.org', 'dev' -> 'prod' (whole "
                            "words, in every value); generated names' hash suffixes read -<hash> on both sides",)
    raw = diff.diff_envs(repo, kz, "dev", "prod", app="hello", normalise=False)
    (hello,) = raw.apps
    assert hello.state == "changed" and body(hello.resources[0]) == ["-env: prod", "+env: dev"]
    assert "hello (dev \u2192 prod)" in diff.format_diff(raw, "markdown")


def test_env_vs_env_on_the_shipped_apps_hides_hosts_and_hashes(shipped_repo, kz):
    result = diff.diff_envs(layout.Repo(shipped_repo), kz, "staging", "prod", app="api")
    text = diff.format_diff(result, "text")
    assert "PHX_HOST" not in text and "vault-" not in text and "phoenix/staging" not in text
    assert "-        image: ghcr.io/acme/api@sha256:b92bf84f" in text
    assert "+        image: ghcr.io/acme/api@sha256:845d4384" in text
    assert "-  maxReplicas: 6" in text and "+  maxReplicas: 4" in text  # sizes differ on purpose: shown


@pytest.mark.parametrize(("source", "target", "app", "message"), [
    ("dev", "dev", None, "both 'dev'"),
    ("all", "prod", None, "one environment, not 'all'"),
    ("qa", "prod", None, "unknown environment 'qa'"),
    ("dev", "prod", "nope", "unknown app 'nope' in dev, prod; known: hello, world"),
])
def test_env_vs_env_errors(fixture_repo, kz, source, target, app, message):
    with pytest.raises(UsageError, match=message):
        diff.diff_envs(layout.Repo(fixture_repo("minimal")), kz, source, target, app=app)


# Through the real CLI.

def test_cli_exit_codes_and_formats(webapp_git, fixture_repo):
    change_feature(webapp_git)
    result = run_program(["diff"], webapp_git)
    assert result.code == 0 and "+  replicas: 4" in result.stdout, result.stderr
    result = run_program(["diff", "--format", "markdown", "--exit-code"], webapp_git)
    assert result.code == 1 and result.stdout.startswith("### Rendered diff\n"), result.stderr
    for args, message in ((["diff", "--base", "nope"], "bad revision 'nope'"),
                          (["diff", "--from", "prod"], "use --from and --to together"),
                          (["diff", "--format", "html"], "unknown format 'html'")):
        result = run_program(args, webapp_git)
        assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    minimal = fixture_repo("minimal")
    result = run_program(["diff"], minimal)
    assert result.code == 2 and "not a git repository" in result.stderr and "Traceback" not in result.stderr
    result = run_program(["diff", "--from", "dev", "--to", "prod", "--exit-code"], minimal)
    assert result.code == 1
    assert "# world (dev \u2192 prod): 0 added, 1 removed, 0 changed (app removed)" in result.stdout
