"""redaction: what the output layer masks (shapes, names, the repository's values), the stream every task writes
through, and the issue's scenarios through the program: credentials in an API-server URL or a repository URL, a
secret quoted by kustomize's stderr, and the SEC-* rules' wider coverage (annotations, labels, command/args,
ExternalSecret templates)."""
from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURE_REPOS, PROJECT, commit_all, run_program
from invoke.exceptions import Exit

from phoenix_gitops.redaction import REDACTED, CleanFiles, Redactor, policy_detector, secret_values
from phoenix_gitops.secret_detector import SecretDetector
from phoenix_gitops_cli import program
from phoenix_gitops_cli.display import RedactingStream
from phoenix_gitops_cli.exits import exits

DETECTOR = SecretDetector()
GITHUB = "ghp_R8x2Lm4Qv7Tz1Wc9Yp3Ks6Hd0Fj5Ng2Bb8Ee"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# What is masked -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("server: https://deploy:pa55w0rd@api.example.org:6443", "server: https://****@api.example.org:6443"),
    ("https://api.example.org/?password=pa55w0rd&x=1", "https://api.example.org/?password=****&x=1"),
    ("https://api.example.org/?token=t0ken-value", "https://api.example.org/?token=****"),
    ("https://git.example.org/a.git?private_token=glpat-xyz", "https://git.example.org/a.git?private_token=****"),
    ("https://api.example.org/x?a=1&access_token=abc123", "https://api.example.org/x?a=1&access_token=****"),
    ("https://b.s3.example.org/k?X-Amz-Signature=ab12cd&X-Amz-Date=1", "https://b.s3.example.org/k?X-Amz-Signature=****&X-Amz-Date=1"),
    ("https://x-token@git.example.org/a.git", "https://****@git.example.org/a.git"),
    (f"id {GITHUB} and AKIAQ3EGRJ7Z5HX2M4PA", "id **** and ****"),
    ("SECRET_KEY_BASE=k3y-base-value rest", "SECRET_KEY_BASE=**** rest"),
    ("  DB_PASS: hunter2-pass", "  DB_PASS: ****"),
    ('{"CLOAK_KEY": "cl0ak-value", "PHX_HOST": "a.example.org"}', '{"CLOAK_KEY": "****", "PHX_HOST": "a.example.org"}'),
    ("- name: LIVE_VIEW_SIGNING_SALT\n+  value: s4lt-value\n", "- name: LIVE_VIEW_SIGNING_SALT\n+  value: ****\n"),
    ("{name: JOKEN_SIGNER, value: j0ken-value}", "{name: JOKEN_SIGNER, value: ****}"),
])
def test_shapes_and_names_are_masked(text, expected):
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize("text", [
    "overlays/prod/api/kustomization.yaml:3:5: error SEC-SECRET-NAME env SECRET_KEY_BASE has a literal value (****)",
    "$.stringData.PASSWORD: expected string, got integer",
    "SECRET_KEY_BASE: <masked, changed>",
    "- {name: DB_PASS, value: $(DB_PASSWORD_FROM_SECRET)}",
    "PHX_HOST=api.example.org POOL_SIZE: 10",
    "ssh://git@github.com/acme/repo.git",
])
def test_what_is_no_secret_is_left_alone(text):
    assert Redactor().redact(text) == text


def test_repository_values_are_masked_in_every_form_and_only_as_whole_words():
    redactor = Redactor(DETECTOR, frozenset({"hunter2-patch-9e9e", 'quote"d-value'}))
    assert redactor.redact("node contents: [hunter2-patch-9e9e]") == f"node contents: [{REDACTED}]"
    assert redactor.redact(f"data: {b64('hunter2-patch-9e9e')}") == f"data: {REDACTED}"
    assert redactor.redact('"message": "quote\\"d-value"') == f'"message": "{REDACTED}"'
    assert redactor.redact("xhunter2-patch-9e9e1") == "xhunter2-patch-9e9e1"


def test_a_policys_secret_names_are_the_ones_masked(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("settings:\n  secretNames: ['ODD_*']\n  entropy: {minLength: 30}\n", encoding="utf-8")
    detector = policy_detector(policy)
    assert detector.names == ("ODD_*",) and detector.min_length == 30
    assert Redactor(detector).redact("ODD_ONE=x1y2z3 DB_PASS=x1y2z3") == "ODD_ONE=**** DB_PASS=x1y2z3"
    assert policy_detector(tmp_path / "missing.yaml") == SecretDetector()
    policy.write_text("settings:\n  entropy: {minLength: many}\n", encoding="utf-8")
    assert policy_detector(policy) == SecretDetector()
    assert policy_detector(PROJECT / "schemas" / "policy.yaml") == SecretDetector()


# What the repository holds --------------------------------------------------------------------------------------


SOURCES = {
    "gitops.yaml": "repoURL: https://git.example.org/acme/x.git?private_token=tok3n-in-gitops\nrevision: main\n",
    "overlays/prod/environment.yaml": "name: prod\nserver: https://deploy:pa55-in-server@k8s.example.org\n",
    "overlays/prod/web/kustomization.yaml": (
        "resources: [../../../base/web]\npatches:\n  - path: patch.yaml\n"
        "  - patch: |-\n      - op: add\n        path: /x\n"
        "        value: {name: RELEASE_COOKIE, value: inline-cookie}\n"
        "secretGenerator:\n  - name: db\n    literals: [DB_PASSWORD=literal-pass, bare-literal]\n"
        "    envs: [db.env]\n    files: [COOKIE=cookie.txt]\n"
        "configMapGenerator:\n  - name: cm\n    literals: [API_TOKEN=cm-token, PHX_HOST=plain-host]\n"),
    "overlays/prod/web/patch.yaml": "kind: Secret\nstringData: [patch-list-value]\n",
    "overlays/prod/web/db.env": "DB_USER=envfile-user\n# a comment\n",
    "overlays/prod/web/cookie.txt": "file-cookie\n",
    "base/web/kustomization.yaml": "resources: [deployment.yaml, secret.yaml]\n",
    "base/web/deployment.yaml": (
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          env:\n"
        "            - {name: CLOAK_KEY, value: cloak-value}\n            - {name: PHX_HOST, value: plain-value}\n"
        "            - {name: SESSION, value: q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi}\n"),
    "base/web/secret.yaml": f"kind: Secret\ndata:\n  a: {b64('decoded-value')}\nstringData:\n  b: string-value\n",
    "base/other/secret.yaml": "kind: Secret\nstringData: {c: unreferenced-value}\n",
    "rendered/prod/web/manifest.yaml": "kind: Secret\nstringData: {d: rendered-value}\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_secret_values_of_a_repository(tmp_path):
    write(tmp_path, SOURCES)
    found = secret_values(tmp_path, DETECTOR)
    for value in ("tok3n-in-gitops", "deploy:pa55-in-server", "pa55-in-server", "inline-cookie", "literal-pass",
                  "bare-literal", "envfile-user", "file-cookie", "cm-token", "patch-list-value", "cloak-value",
                  "q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi", b64("decoded-value"), "decoded-value", "string-value"):
        assert value in found, value
    for value in ("plain-host", "plain-value", "unreferenced-value", "rendered-value", "main"):
        assert value not in found, value


def test_secret_values_survive_what_the_check_rejects(tmp_path):
    write(tmp_path, {"overlays/prod/web/kustomization.yaml": "resources: [deep.yaml, bad.yaml, ../../../../../etc]\n",
                     "overlays/prod/web/deep.yaml": "[" * 100_000,
                     "overlays/prod/web/bad.yaml": "kind: Secret\nstringData: {a: before-the-error}\nb: [\n",
                     "overlays/prod/web/bomb.yaml": "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"})
    (tmp_path / "overlays/prod/web/fifo.yaml").symlink_to("/dev/zero")
    assert secret_values(tmp_path, DETECTOR) == {"before-the-error"}


def test_clean_files_are_skipped_by_content_and_a_file_that_gains_a_secret_is_read_again(tmp_path, monkeypatch):
    from phoenix_gitops import redaction
    write(tmp_path, {**SOURCES, "overlays/prod/web/service.yaml": "kind: Service\nmetadata: {name: web}\n"})
    expected = secret_values(tmp_path, DETECTOR)
    first = CleanFiles()
    assert secret_values(tmp_path, DETECTOR, first) == expected
    learned = first.now
    # only files without a value that read no other file: not the Secret, not the kustomization with generators
    assert sorted(learned.values()) == [[], ["deployment.yaml", "secret.yaml"]]

    parsed: list[str] = []
    real = redaction._file_values
    monkeypatch.setattr(redaction, "_file_values", lambda text, folder, name, *rest: parsed.append(name)
                        or real(text, folder, name, *rest))
    second = CleanFiles(known=learned)
    assert secret_values(tmp_path, DETECTOR, second) == expected
    assert second.now == learned and "deployment.yaml" in parsed and "service.yaml" not in parsed
    assert parsed.count("kustomization.yaml") == 1  # (overlays/prod/web's; base/web's is known clean)

    (tmp_path / "base/web/kustomization.yaml").write_text("resources: [deployment.yaml, secret.yaml]\n"
                                                          "secretGenerator: [{name: s, literals: [K=gained-value]}]\n")
    third = CleanFiles(known=learned)
    assert "gained-value" in secret_values(tmp_path, DETECTOR, third)
    assert len(third.now) == 1


def test_the_tasks_keep_clean_files_in_the_cache_and_find_the_same(tmp_path, monkeypatch):
    from invoke.config import Config
    from invoke.context import Context

    from phoenix_gitops_cli.exits import redactor_of
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    write(repo, SOURCES)
    monkeypatch.setenv("PHOENIX_GITOPS_CACHE", str(cache))
    c = Context(Config(overrides={"gitops": {"repo": str(repo)}}))
    plain = redactor_of(c)
    assert plain.values and not (cache / "redaction").exists()  # (--no-cache)
    assert redactor_of(c, cached=True) == plain
    assert list((cache / "redaction").glob("*/index.json"))
    assert redactor_of(c, cached=True) == plain


# The stream and the tasks -----------------------------------------------------------------------------------------


def test_the_stream_redacts_whole_lines_and_passes_the_rest_on_flush():
    target = io.StringIO()
    stream = RedactingStream(target, Redactor(DETECTOR, frozenset({"split-secret"})).redact)
    stream.write("a split-")
    assert target.getvalue() == ""
    stream.write("secret b\nSECRET_KEY_BASE=")
    assert target.getvalue() == "a **** b\n"
    stream.write("xyz123")
    stream.flush()
    assert target.getvalue() == "a **** b\nSECRET_KEY_BASE=****"
    assert stream.isatty() is False and stream.encoding


@pytest.mark.parametrize("task", program.TASKS, ids=lambda t: t.name)
def test_every_task_writes_through_the_redaction(task):
    assert getattr(task.body, "redacts_output", False), f"{task.name} is not wrapped by exits()"


def test_a_tasks_messages_and_tracebacks_are_redacted(capsys):
    @exits(interrupted="nothing was written")
    def leaks(c, error):
        print(f"printed {GITHUB}")
        raise error

    for error, code in ((ValueError(f"bug near {GITHUB}"), 1), (Exit(f"exit {GITHUB}", code=3), 3),
                        (OSError(2, f"no {GITHUB}"), 4)):
        with pytest.raises(Exit) as raised:
            leaks(None, error)
        out, err = capsys.readouterr()
        assert raised.value.code == code and GITHUB not in f"{out}{err}{raised.value.message}"
        assert "printed ****" in out
        assert ("ValueError: bug near ****" in err) == isinstance(error, ValueError)


# The scenarios through the program ------------------------------------------------------------------------


@pytest.fixture
def webapp(tmp_path) -> Path:
    root = tmp_path / "webapp"
    shutil.copytree(FIXTURE_REPOS / "webapp", root)
    return root


def output(result) -> str:
    return result.stdout + result.stderr


SERVER_FORMATS = {
    "userinfo": ("https://deploy:{s}@k8s.example.org:6443", "p4ss-userinfo-77"),
    "password": ("https://k8s.example.org:6443/?password={s}", "p4ss-query-77"),
    "token": ("https://k8s.example.org:6443/?token={s}", "t0ken-query-77"),
    "private_token": ("https://k8s.example.org:6443/?private_token={s}", "pr1v-token-77"),
    "access_token": ("https://k8s.example.org:6443/?a=1&access_token={s}", "acc3ss-token-77"),
    "X-Amz-Signature": ("https://k8s.example.org:6443/?X-Amz-Signature={s}", "4mz-signature-77"),
}


@pytest.mark.parametrize("form", SERVER_FORMATS)
@pytest.mark.parametrize("command", [["render", "all", "--check"], ["check"]], ids=" ".join)
def test_a_credential_in_the_api_server_url_is_never_printed(webapp, form, command):
    url, secret = SERVER_FORMATS[form]
    env_file = webapp / "overlays/prod/environment.yaml"
    text = env_file.read_text(encoding="utf-8")
    env_file.write_text(text.replace(text.split("server: ", 1)[1].split("\n", 1)[0], url.format(s=secret)),
                        encoding="utf-8")
    result = run_program(command, webapp)
    assert result.code != 0 and "overlays/prod/environment.yaml" in output(result)
    assert secret not in output(result) and b64(secret) not in output(result)


def test_a_token_in_the_repository_url_is_never_printed(webapp):
    settings = webapp / "gitops.yaml"
    text = settings.read_text(encoding="utf-8")
    url = text.split("repoURL: ", 1)[1].split("\n", 1)[0]
    settings.write_text(text.replace(url, f"{url}?private_token=glpat-R3poT0kenValue77"), encoding="utf-8")
    result = run_program(["render", "all", "--check"], webapp)
    assert result.code != 0 and "gitops.yaml" in output(result)
    assert "R3poT0kenValue77" not in output(result)


SECRET_PATCH = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
                "      containers:\n        - name: app\n"
                "          env: {name: SECRET_KEY_BASE, value: K3yB4se-in-patch}\n")


def test_a_secret_quoted_by_kustomizes_error_is_never_printed(webapp):
    commit_all(webapp, "base")
    (webapp / "overlays/prod/web/env-patch.yaml").write_text(SECRET_PATCH, encoding="utf-8")
    kustomization = webapp / "overlays/prod/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text(encoding="utf-8").replace(
        "patches:\n", "patches:\n  - path: env-patch.yaml\n"), encoding="utf-8")
    for command in (["check"], ["render", "prod"], ["diff"], ["diff", "--format", "markdown"]):
        result = run_program(command, webapp)
        assert result.code != 0 and "wrong node kind" in output(result), (command, output(result))
        assert "K3yB4se-in-patch" not in output(result), command


# SEC-* coverage: annotations, labels, command/args, ExternalSecret templates --------------------------------------


COVERAGE = [
    ("SEC-TOKEN-FORMAT/fail-annotations-labels.yaml", ("annotation ci.example.org/deploy-token", "label aws-key"),
     ("ghp_Q7w2Er5Ty8Ui1Op4As7Df0Gh3Jk6Lz9Xc2Vb", "AKIAZ7Y6X5W4V3U2T1SA")),
    ("SEC-SECRET-NAME/fail-command-args.yaml", ("args DB_PASSWORD", "args API_TOKEN", "command RELEASE_COOKIE"),
     ("hunter2-command-cookie", "hunter2-args-equals", "hunter2-args-next")),
    ("SEC-URL-CREDENTIALS/fail-externalsecret-template.yaml",
     ("ExternalSecret template key DATABASE_URL", "annotation backup.example.org/target"),
     ("hunter2-template-pass", "hunter2-amz-signature")),
]


@pytest.mark.parametrize(("fixture", "wanted", "values"), COVERAGE, ids=[c[0].split("/")[0] for c in COVERAGE])
def test_secret_scanning_covers_annotations_labels_command_line_and_templates(fixture, wanted, values):
    from test_rules import FIXTURES, run_case

    path = FIXTURES / fixture
    rule = fixture.split("/")[0]
    found = [f for f in run_case(path, {rule}).findings if f.rule == rule]
    lines = path.read_text(encoding="utf-8").splitlines()
    for what in wanted:
        hits = [f for f in found if what in f.message]
        assert len(hits) == 1, (what, [str(f) for f in found])
        assert hits[0].path.endswith(fixture) and hits[0].line is not None
        key = what.rsplit(" ", 1)[1].split("/")[-1]
        flag = key.lower().replace("_", "-")
        assert key in lines[hits[0].line - 1] or flag in lines[hits[0].line - 1], (what, hits[0].line)
    for value in values:
        assert not [str(f) for f in found if value in str(f)], value
