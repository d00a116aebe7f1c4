"""Reliability: bad input, broken tools, signals and concurrent renders, each through the real CLI.

Every case runs the `phoenix-gitops` program in a subprocess, as a user or CI would, against its own copy of a
fixture repo whose output was rendered first, and asserts what README ("Exit codes", "Rendering guarantees") and
DESIGN sections 3, 5 and 7 promise:

- the exit code: 0 ok, 1 findings, 2 usage, 3 stale, 4 tool, 5 lock busy, 130 interrupted; never a traceback;
- a message naming the file, `path:line:col` where a line applies;
- `rendered/` and `clusters/` byte-identical to before when the run fails, and nothing outside the repo touched;
- no temp folder left behind: no `.tmp.*` / `.old.*` beside the output, no `phoenix-gitops-*` in `$TMPDIR`;
- no secret value in stdout or stderr, whatever the output format;
- finished in under 10 s, within a memory limit.

Memory limits, set in `preexec_fn` and inherited by the kustomize the CLI starts: `RLIMIT_AS` = 1.5 GiB and
`RLIMIT_DATA` = 512 MiB. Measured on the healthy path: kubectl's Go runtime reserves about 0.85 GiB of address
space up front (`kubectl version` fails below that), while the Python side needs under 100 MiB of address space
(the shipped repo's `render all`, kubectl exempted through a raised soft limit). So RLIMIT_AS cannot be tight
without breaking kubectl: it is set at kubectl's need with a margin, and RLIMIT_DATA (heap and other private
writable memory, which Go's unused reservations do not count against) bounds what Python and kubectl really
use: the shipped repo's `render all` needs 128-192 MiB of it, so 512 MiB leaves a margin of about 3.

The table cases run two at a time in background threads (`outcomes`), so the table costs about half its serial
time on a 2-core machine; each case keeps its own repo, `$TMPDIR`, result cache and 10 s budget.

"""
from __future__ import annotations

import base64
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import FIXTURE_REPOS, PROJECT, cli_env, leftovers, program_argv, tree_bytes

from phoenix_gitops import render as rendering
from phoenix_gitops.layout import Repo

SECONDS = 10.0
"""Every CLI run must finish within this."""
ADDRESS_SPACE_LIMIT = 1536 * 2**20
DATA_LIMIT = 512 * 2**20
"""RLIMIT_AS and RLIMIT_DATA of every CLI run (see the module docstring)."""
WORKERS = 2
FAKE_KUSTOMIZE = PROJECT / "tests" / "fixtures" / "reliability" / "fake-kustomize"
OUTPUTS = ("rendered", "clusters")
RENDER = ("render", "all")
CHECK = ("check",)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))


# ---------------------------------------------------------------------------------------------------------------
# Running the CLI


@dataclass
class Run:
    """One finished CLI run. `code` is None when it was still running after its time budget (then killed)."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"phoenix-gitops {' '.join(self.argv)} -> {self.code} in {self.seconds:.1f}s\n"
                f"{self.stdout}\n{self.stderr}")


def launch(args: tuple[str, ...], repo: Path, env: Mapping[str, str], cwd: Path | None = None,
           umask: int = -1) -> subprocess.Popen[str]:
    """Start `phoenix-gitops <args>` against `repo` in its own process group, under the memory limit."""
    return subprocess.Popen(
        program_argv(list(args)), cwd=cwd or repo, env=cli_env(repo, **env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        start_new_session=True, preexec_fn=_limit_memory, umask=umask,
    )


def finish(proc: subprocess.Popen[str], args: tuple[str, ...], started: float, budget: float = SECONDS) -> Run:
    """Wait for `proc` (killing its whole process group after `budget` seconds) and collect what it printed."""
    try:
        stdout, stderr = proc.communicate(timeout=max(0.1, budget - (time.monotonic() - started)))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        stdout, stderr = proc.communicate()
        code = None
    seconds = time.monotonic() - started
    _kill_group(proc.pid)  # a kustomize left running by the tool (or by a fake) must not outlive the case
    return Run(args, code, stdout, stderr, seconds)


def run(args: tuple[str, ...], repo: Path, env: Mapping[str, str], cwd: Path | None = None,
        budget: float = SECONDS, umask: int = -1) -> Run:
    started = time.monotonic()
    return finish(launch(args, repo, env, cwd, umask), args, started, budget)


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------------------
# Workspaces: a repo (rendered beforehand), a folder outside it, a private TMPDIR and cache, maybe a fake kustomize


@dataclass(frozen=True)
class Link:
    """A symlink to write instead of a file; `{outside}`, `{case}` and `{bin}` are filled in."""

    target: str


DELETE = object()
Content = str | bytes | Link | object


@dataclass
class Workspace:
    folder: Path
    root: Path
    outside: Path
    tmp: Path
    bin: Path
    env: dict[str, str]

    def fill(self, text: str) -> str:
        return text.format(case=self.folder, outside=self.outside, bin=self.bin, repo=self.root)

    def apply(self, files: Mapping[str, Content]) -> None:
        for rel, content in files.items():
            path = self.root / rel
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
            if content is DELETE:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Link):
                path.symlink_to(self.fill(content.target))
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(str(content), encoding="utf-8")

    def outputs(self) -> dict[str, bytes]:
        """`rendered/` and `clusters/`, every file with its bytes (the lock file aside)."""
        return {f"{out}/{rel}": data for out in OUTPUTS for rel, data in tree_bytes(self.root / out).items()}

    def leftovers(self) -> list[str]:
        """Temp or swapped-out folders beside the output, and our temp folders in $TMPDIR."""
        found = [f"{out}/{name}" for out in OUTPUTS for name in leftovers(self.root / out)]
        return found + [f"$TMPDIR/{p.name}" for p in sorted(self.tmp.iterdir()) if p.name.startswith("phoenix-gitops-")]

    def fake_kustomize(self, mode: str, version: str = "v5.8.1", name: str = "kustomize",
                       executable: bool = True) -> Path:
        """Install tests/fixtures/reliability/fake-kustomize as `<bin>/<name>` and select it with KUSTOMIZE."""
        self.bin.mkdir(exist_ok=True)
        path = self.bin / name
        shutil.copy(FAKE_KUSTOMIZE, path)
        path.chmod(0o755 if executable else 0o644)
        (self.bin / "mode").write_text(mode + "\n")
        (self.bin / "version").write_text(version + "\n")
        (self.bin / "real-kubectl").symlink_to(_real_kubectl())
        self.env["KUSTOMIZE"] = str(path)
        return path


OUTSIDE = {
    "base/kustomization.yaml": "resources:\n  - configmap.yaml\n",
    "base/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  FROM: outside\n",
    "patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 9\n",
    "file.txt": "read from outside the repository\n",
    "overlay-kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                  "namespace: web\nresources:\n  - ../../../base/web\n",
    "environment.yaml": "name: prod\ncluster: prod-1\nserver: https://prod-1.k8s.example.org:6443\n"
                        'kubernetesVersion: "1.34"\nargocdProject: phoenix-prod\nbaseDomain: example.org\n',
    "rendered-prod/web/manifest.yaml": "# not ours: must survive every render\n",
}
"""What lies outside the repo, for the cases that point a path or a symlink there."""


def workspace(folder: Path, base: Path) -> Workspace:
    root = folder / "repo"
    shutil.copytree(base, root, symlinks=True)
    space = Workspace(folder, root, folder / "outside", folder / "tmp", folder / "bin", {})
    for rel, text in OUTSIDE.items():
        (space.outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (space.outside / rel).write_text(text)
    space.tmp.mkdir()
    space.env.update(TMPDIR=str(space.tmp), PHOENIX_GITOPS_CACHE=str(folder / "cache"))
    return space


_KUBECTL: list[str] = []


def _real_kubectl() -> str:
    if not _KUBECTL:
        from phoenix_gitops.kustomize import find_kustomize

        _KUBECTL.append(find_kustomize({}).command[0])
    return _KUBECTL[0]


# ---------------------------------------------------------------------------------------------------------------
# Source texts of the webapp fixture (tests/fixtures/repos/webapp), and edits of them


def original(rel: str, repo: str = "webapp") -> str:
    return (FIXTURE_REPOS / repo / rel).read_text(encoding="utf-8")


def edited(rel: str, old: str, new: str, repo: str = "webapp") -> str:
    text = original(rel, repo)
    assert text.count(old) == 1, f"{rel}: {old!r} must occur exactly once"
    return text.replace(old, new)


BASE_K = "base/web/kustomization.yaml"
OVERLAY_K = "overlays/prod/web/kustomization.yaml"
PATCH = "overlays/prod/web/deployment-patch.yaml"
DEPLOYMENT = "base/web/deployment.yaml"
SERVICE = "base/web/service.yaml"
ENV_FILE = "overlays/prod/environment.yaml"


def with_resources(*extra: str) -> str:
    """base/web/kustomization.yaml with `extra` first in its resources."""
    return edited(BASE_K, "resources:\n", "resources:\n" + "".join(f"  - {entry}\n" for entry in extra))


def overlay_plus(text: str) -> str:
    """overlays/prod/web/kustomization.yaml with the top-level fields `text` added at the end."""
    return original(OVERLAY_K) + text


def overlay_patches(text: str) -> str:
    """overlays/prod/web/kustomization.yaml with the entries `text` first in its patches."""
    return edited(OVERLAY_K, "patches:\n", "patches:\n" + text)


ENV_PATCH = "overlays/prod/web/env-patch.yaml"


def env_patch(*pairs: tuple[str, str]) -> dict[str, str]:
    """One more patch of the web Deployment (ENV_PATCH), setting container env variables."""
    text = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
            "      containers:\n        - name: app\n          env:\n"
            + "".join(f"            - name: {name}\n              value: {value}\n" for name, value in pairs))
    return {ENV_PATCH: text, OVERLAY_K: overlay_patches("  - path: env-patch.yaml\n")}


def secret_manifest(body: str, name: str = "web-plain") -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{body}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
OVERSIZED = b"a: 1\n" * (1024 * 1024 // 5 + 1)
APPLICATION = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: escalate
  namespace: argocd
spec:
  project: default
  destination:
    server: https://kubernetes.default.svc
    namespace: kube-system
  source:
    repoURL: https://git.example.org/evil/manifests.git
    path: .
"""
APPPROJECT = """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: anything-goes
  namespace: argocd
spec:
  sourceRepos: ["*"]
  destinations:
    - server: "*"
      namespace: "*"
  clusterResourceWhitelist:
    - group: "*"
      kind: "*"
"""


@dataclass(frozen=True)
class Where:
    """`path:line:col:` of the first `needle` in the repo file `rel` as the case wrote it (plus `shift` columns),
    so the expectation follows the fixture files if they change. `column=False` leaves the column open."""

    rel: str
    needle: str
    shift: int = 0
    column: bool = True

    def resolve(self, root: Path) -> str:
        raw = (root / self.rel).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # one character per byte: columns of encoding errors count bytes
        at = text.index(self.needle)
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1 + self.shift
        return f"{self.rel}:{line}:{col}:" if self.column else f"{self.rel}:{line}:"


def Item(rel: str, entry: str) -> Where:
    """Where the list item `- <entry>` of a kustomization stands (findings point at the item, after `- `)."""
    return Where(rel, f"- {entry}\n", shift=2)


# ---------------------------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Case:
    id: str
    """`category/what`: the test id."""
    files: Mapping[str, Content] = field(default_factory=dict)
    """Repo-relative path -> new content (text, bytes, Link, or DELETE), written after the clean render."""
    commands: tuple[tuple[str, ...], ...] = (RENDER,)
    exit: int = 1
    where: str | Where | tuple[str, ...] | None = None
    """What the message must name: `path:line:col:` (a Where finds line and column in the file as written), or
    the path where no line applies (one of several, for a tuple)."""
    message: str = ""
    """A fragment on the same line as `where`."""
    repo: str = "webapp"
    env: Mapping[str, str] = field(default_factory=dict)
    tool: str | None = None
    """Mode of the fake kustomize (tests/fixtures/reliability/fake-kustomize); None: the real one."""
    version: str = "v5.8.1"
    tool_name: str = "kustomize"
    tool_executable: bool = True
    secrets: tuple[str, ...] = ()
    """Values (and their base64) that no output may contain."""
    absent: str | None = None
    """A repo file that must not exist afterwards (code in the repo never runs)."""
    max_output: int | None = None
    xfail: str | None = None


YAML_CASES = [
    Case("yaml/duplicate-key",
         {OVERLAY_K: original(OVERLAY_K) + "namespace: web-2\n"},
         where=Where(OVERLAY_K, "namespace: web-2"), message="YAML-DUPLICATE-KEY duplicate key 'namespace'"),
    Case("yaml/duplicate-key-quoted-differently",
         {SERVICE: edited(SERVICE, "metadata:\n", 'metadata:\n  "name": web-2\n')},
         where=Where(SERVICE, "  name: web\n", shift=2), message="YAML-DUPLICATE-KEY"),
    Case("yaml/billion-laughs", {"base/web/bomb.yaml": BILLION_LAUGHS, BASE_K: with_resources("bomb.yaml")},
         where="base/web/bomb.yaml:1:4:", message="YAML-ALIAS"),
    Case("yaml/merge-key",
         {SERVICE: edited(SERVICE, "metadata:\n", "metadata:\n  annotations:\n    <<: {tier: web}\n")},
         where=Where(SERVICE, "<<"), message="YAML-MERGE-KEY"),
    Case("yaml/deep-flow-nesting-100kb", {"base/web/deep.yaml": "[" * 100_000, BASE_K: with_resources("deep.yaml")},
         where="base/web/deep.yaml:1:101:", message="YAML-DEPTH"),
    Case("yaml/deep-block-nesting",
         {"base/web/deep.yaml": "".join("  " * i + "a:\n" for i in range(300)), BASE_K: with_resources("deep.yaml")},
         where="base/web/deep.yaml:100:199:", message="YAML-DEPTH"),
    Case("yaml/file-over-1mib", {"base/web/huge.yaml": OVERSIZED, BASE_K: with_resources("huge.yaml")},
         where="base/web/huge.yaml: error YAML-SIZE"),
    Case("yaml/python-tag-never-runs",
         {"base/web/evil.yaml": 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n'
                                'data: !!python/object/apply:os.system ["touch pwned"]\n',
          BASE_K: with_resources("evil.yaml")},
         where="base/web/evil.yaml:5:7:", message="YAML-TAG", absent="pwned"),
    Case("yaml/set-tag", {SERVICE: edited(SERVICE, "metadata:\n", "metadata:\n  annotations: !!set {a, b}\n")},
         where=Where(SERVICE, "!!set"), message="YAML-TAG"),
    Case("yaml/utf8-bom", {SERVICE: b"\xef\xbb\xbf" + original(SERVICE).encode()},
         where=f"{SERVICE}:1:1:", message="YAML-ENCODING"),
    Case("yaml/utf16", {OVERLAY_K: original(OVERLAY_K).encode("utf-16")},
         where=f"{OVERLAY_K}:1:1:", message="YAML-ENCODING"),
    Case("yaml/latin1-byte",
         {DEPLOYMENT: edited(DEPLOYMENT, '"web.example.org"', '"caf\xe9.example.org"').encode("latin-1")},
         where=Where(DEPLOYMENT, "\xe9", column=False), message="YAML-ENCODING invalid UTF-8"),
    Case("yaml/nul-byte", {SERVICE: edited(SERVICE, "port: 80", "port: 8\x000")},
         where=Where(SERVICE, "\x00"), message="YAML-CONTROL-CHAR"),
    Case("yaml/bidi-override", {SERVICE: edited(SERVICE, "targetPort: http", "targetPort: http\u202e")},
         where=Where(SERVICE, "\u202e"), message="YAML-CONTROL-CHAR forbidden character U+202E"),
    Case("yaml/yaml11-boolean-yes", {DEPLOYMENT: edited(DEPLOYMENT, '"web.example.org"', "yes")},
         where=Where(DEPLOYMENT, "yes"), message="plain 'yes' is read as boolean true"),
    Case("yaml/yaml11-octal-port", {SERVICE: edited(SERVICE, "port: 80", "port: 0443")},
         where=Where(SERVICE, "0443"), message="YAML-AMBIGUOUS plain value (not shown) is read as an octal integer"),
    Case("yaml/yaml11-float-image-tag", {OVERLAY_K: edited(OVERLAY_K, 'newTag: "1.4.2"', "newTag: 1.10")},
         where=Where(OVERLAY_K, "1.10", column=False)),
    Case("yaml/integer-key", {SERVICE: edited(SERVICE, "metadata:\n", "metadata:\n  annotations:\n    80: http\n")},
         where=Where(SERVICE, "80: http"), message="YAML-KEY"),
    Case("yaml/tab-indentation", {SERVICE: edited(SERVICE, "metadata:\n", "metadata:\n\tlabels: {}\n")},
         where=Where(SERVICE, "\tlabels"), message="YAML-SYNTAX"),
    Case("yaml/unclosed-quote", {DEPLOYMENT: edited(DEPLOYMENT, '"web.example.org"', '"web.example.org')},
         where=DEPLOYMENT, message="YAML-SYNTAX"),
    Case("yaml/not-a-number", {PATCH: edited(PATCH, "replicas: 3", "replicas: .nan")},
         where=Where(PATCH, ".nan"), message="YAML-NUMBER"),
    Case("yaml/integer-beyond-2-53", {PATCH: edited(PATCH, "replicas: 3", "replicas: 123456789012345678901")},
         where=Where(PATCH, "123456789012345678901"), message="YAML-NUMBER"),
    Case("yaml/kustomization-with-two-documents", {OVERLAY_K: original(OVERLAY_K) + "---\nkind: Kustomization\n"},
         where=f"{OVERLAY_K}:1:1:", message="expected exactly one YAML document, found 2"),
    Case("yaml/environment-file-duplicate-key", {ENV_FILE: original(ENV_FILE) + "cluster: prod-2\n"},
         where=Where(ENV_FILE, "cluster: prod-2"), message="YAML-DUPLICATE-KEY"),
    Case("yaml/settings-file-anchor", {"gitops.yaml": edited("gitops.yaml", "revision: main", "revision: &r main")},
         where=Where("gitops.yaml", "&r"), message="YAML-ALIAS"),
]

K8S_CASES = [
    Case("k8s/missing-kind", {"base/web/cm.yaml": "apiVersion: v1\nmetadata:\n  name: cm\ndata:\n  A: b\n",
                              BASE_K: with_resources("cm.yaml")},
         where=("base/web/cm.yaml", BASE_K, OVERLAY_K)),
    Case("k8s/document-is-a-list", {"base/web/cm.yaml": "- apiVersion: v1\n- kind: ConfigMap\n",
                                    BASE_K: with_resources("cm.yaml")},
         where=("base/web/cm.yaml", BASE_K, OVERLAY_K)),
    Case("k8s/document-is-a-string", {"base/web/cm.yaml": "just a sentence\n", BASE_K: with_resources("cm.yaml")},
         where=("base/web/cm.yaml", BASE_K, OVERLAY_K)),
    Case("k8s/wrong-type", {PATCH: edited(PATCH, "replicas: 3", 'replicas: "3"')},
         where=Where(PATCH, "replicas"), message="K8S-SCHEMA $.spec.replicas: expected integer"),
    Case("k8s/missing-required-field", {SERVICE: edited(SERVICE, "      port: 80\n", "")},
         where=f"{SERVICE}:", message="K8S-SCHEMA $.spec.ports[0]"),
    Case("k8s/unknown-nested-field",
         {DEPLOYMENT: edited(DEPLOYMENT, "          image: ghcr.io/acme/web\n",
                             "          image: ghcr.io/acme/web\n          imagePulPolicy: Always\n")},
         where=Where(DEPLOYMENT, "imagePulPolicy", column=False), message="unknown field 'imagePulPolicy'"),
    Case("k8s/removed-api-version",
         {"base/web/ingress.yaml": "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\n"
                                   "spec:\n  rules: []\n", BASE_K: with_resources("ingress.yaml")},
         where="base/web/ingress.yaml:2:", message="use networking.k8s.io/v1"),
    Case("k8s/unsupported-kubernetes-version", {ENV_FILE: edited(ENV_FILE, '"1.34"', '"1.12"')},
         where=ENV_FILE),
]

SECRET_CASES = [
    Case("secret/plaintext-secret-stringdata",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  password: hunter2-stringdata-4d1f\n"),
          BASE_K: with_resources("secret.yaml")},
         where="base/web/secret.yaml", secrets=("hunter2-stringdata-4d1f",)),
    Case("secret/plaintext-secret-data-base64",
         {"base/web/secret.yaml": secret_manifest(f"data:\n  password: {b64('hunter2-data-9c2e')}\n"),
          BASE_K: with_resources("secret.yaml")},
         where="base/web/secret.yaml", secrets=("hunter2-data-9c2e",)),
    Case("secret/secret-generator-literal",
         {OVERLAY_K: overlay_plus("secretGenerator:\n  - name: web-db\n    literals:\n"
                                  "      - DB_PASSWORD=hunter2-literal-51aa\n")},
         where=OVERLAY_K, secrets=("hunter2-literal-51aa",)),
    Case("secret/secret-generator-env-file",
         {OVERLAY_K: overlay_plus("secretGenerator:\n  - name: web-db\n    envs:\n      - db.env\n"),
          "overlays/prod/web/db.env": "DB_PASSWORD=hunter2-envfile-77b0\n"},
         where=(OVERLAY_K, "overlays/prod/web/db.env"), secrets=("hunter2-envfile-77b0",)),
    Case("secret/secret-generator-file",
         {OVERLAY_K: overlay_plus("secretGenerator:\n  - name: web-cookie\n    files:\n"
                                  "      - RELEASE_COOKIE=cookie.txt\n"),
          "overlays/prod/web/cookie.txt": "hunter2-cookie-e3d9"},
         where=(OVERLAY_K, "overlays/prod/web/cookie.txt"), secrets=("hunter2-cookie-e3d9",)),
    Case("secret/env-literal-in-patch",
         env_patch(("SECRET_KEY_BASE", "hunter2-keybase-0b6c")),
         where=ENV_PATCH, secrets=("hunter2-keybase-0b6c",)),
    Case("secret/configmap-with-a-password",
         {"base/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n"
                                  "  DATABASE_PASSWORD: hunter2-configmap-a8f4\n",
          BASE_K: with_resources("config.yaml")},
         where="base/web/config.yaml", secrets=("hunter2-configmap-a8f4",)),
    Case("secret/configmap-generator-literal",
         {OVERLAY_K: overlay_plus("configMapGenerator:\n  - name: web-config\n    literals:\n"
                                  "      - SECRET_KEY_BASE=hunter2-cmgen-3e57\n")},
         where=OVERLAY_K, secrets=("hunter2-cmgen-3e57",)),
    Case("secret/credentials-in-database-url",
         env_patch(("DATABASE_URL", "ecto://app:hunter2-dburl-c90d@db.internal/web")),
         where=ENV_PATCH, secrets=("hunter2-dburl-c90d",)),
    Case("secret/inline-patch",
         {OVERLAY_K: overlay_patches(
             "  - patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/env/-\n"
             "        value: {name: RELEASE_COOKIE, value: hunter2-inline-1f2b}\n"
             "    target:\n      kind: Deployment\n")},
         where=OVERLAY_K, secrets=("hunter2-inline-1f2b",)),
    Case("secret/token-in-repo-url",
         {"gitops.yaml": edited("gitops.yaml", "https://git.example.org",
                                "https://x-access-token:hunter2-token-5e0a@git.example.org")},
         where=Where("gitops.yaml", "repoURL"), message="SRC-SETTINGS $.repoURL: contains credentials",
         secrets=("hunter2-token-5e0a",)),
    Case("secret/duplicate-key-in-a-secret",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  password: hunter2-first-6a6a\n"
                                                  "  password: hunter2-second-7b7b\n"),
          BASE_K: with_resources("secret.yaml")},
         commands=(("check", "--format", "json"), RENDER), where="base/web/secret.yaml:7:3:",
         message="YAML-DUPLICATE-KEY", secrets=("hunter2-first-6a6a", "hunter2-second-7b7b")),
    Case("secret/number-in-a-secret",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  pin: 97531864\n"),
          BASE_K: with_resources("secret.yaml")},
         commands=(CHECK, RENDER), where="base/web/secret.yaml:6:3:", message="K8S-SCHEMA", secrets=("97531864",)),
    Case("secret/huge-number-in-a-secret",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  token: 918273645546372819001\n"),
          BASE_K: with_resources("secret.yaml")},
         commands=(("check", "--format", "sarif"), RENDER), where="base/web/secret.yaml:6:10:", message="YAML-NUMBER",
         secrets=("918273645546372819001",)),
    Case("secret/octal-looking-pin-in-a-secret",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  pin: 01234567\n"),
          BASE_K: with_resources("secret.yaml")},
         commands=(CHECK, RENDER), where="base/web/secret.yaml:6:", message="YAML-AMBIGUOUS",
         secrets=("01234567", "342391")),
    Case("secret/version-looking-token-in-a-secret",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  token: 8675309.1230\n"),
          BASE_K: with_resources("secret.yaml")},
         where="base/web/secret.yaml:6:", message="YAML-AMBIGUOUS", secrets=("8675309.1230", "8675309.123")),
    Case("secret/literal-without-a-key",
         {OVERLAY_K: overlay_plus("secretGenerator:\n  - name: web-db\n    literals:\n      - hunter2-nokey-2c2c\n")},
         commands=(CHECK, RENDER), where=Item(OVERLAY_K, "hunter2-nokey-2c2c"),
         message="SRC-KUSTOMIZATION $.secretGenerator[0].literals[0]: the value (not shown)",
         secrets=("hunter2-nokey-2c2c",)),
    Case("secret/literal-that-is-a-number",
         {OVERLAY_K: overlay_plus("secretGenerator:\n  - name: web-db\n    literals:\n      - 86420135\n")},
         where=Item(OVERLAY_K, "86420135"), message="SRC-KUSTOMIZATION", secrets=("86420135",)),
    Case("secret/kustomize-error-quotes-patch-contents",
         {"base/web/secret.yaml": secret_manifest("stringData:\n  password: hunter2-base-8d8d\n"),
          BASE_K: with_resources("secret.yaml"),
          OVERLAY_K: overlay_patches("  - path: secret-patch.yaml\n"),
          "overlays/prod/web/secret-patch.yaml": secret_manifest("stringData: [hunter2-patch-9e9e]\n")},
         commands=(CHECK, RENDER), where=OVERLAY_K, secrets=("hunter2-patch-9e9e",)),
]

PATH_CASES = [
    Case("path/dotdot-out-of-the-repo", {BASE_K: with_resources("../../../../../../../../etc")},
         where=Item(BASE_K, "../../../../../../../../etc"),
         message="SRC-PATH '../../../../../../../../etc' leads outside the repository"),
    Case("path/absolute-path",
         {OVERLAY_K: edited(OVERLAY_K, "  - ../../../base/web\n", "  - ../../../base/web\n  - /etc/passwd\n")},
         where=Item(OVERLAY_K, "/etc/passwd"), message="SRC-PATH absolute path '/etc/passwd'"),
    Case("path/symlinked-folder-out-of-the-repo",
         {"base/web/ext": Link("{outside}/base"), BASE_K: with_resources("ext")},
         where=Item(BASE_K, "ext"), message="'ext' leads through a symlink outside the repository"),
    Case("path/symlinked-patch-out-of-the-repo", {PATCH: Link("{outside}/patch.yaml")},
         where=Where(OVERLAY_K, "path: deployment-patch.yaml"), message="SRC-PATH"),
    Case("path/symlinked-generator-input-out-of-the-repo",
         {OVERLAY_K: overlay_plus("configMapGenerator:\n  - name: web-config\n    files:\n      - settings.txt\n"),
          "overlays/prod/web/settings.txt": Link("{outside}/file.txt")},
         where=Item(OVERLAY_K, "settings.txt"), message="SRC-PATH"),
    Case("path/symlinked-kustomization-out-of-the-repo", {OVERLAY_K: Link("{outside}/overlay-kustomization.yaml")},
         where=OVERLAY_K),
    Case("path/symlinked-environment-file-out-of-the-repo", {ENV_FILE: Link("{outside}/environment.yaml")},
         where=ENV_FILE, message="SRC-PATH"),
    Case("path/symlink-loop", {"base/web/loop": Link("loop"), BASE_K: with_resources("loop")},
         where=Item(BASE_K, "loop"), message="SRC-PATH 'loop' is a symlink loop"),
    Case("path/dangling-symlink",
         {"base/web/gone.yaml": Link("{case}/nothing-here.yaml"), BASE_K: with_resources("gone.yaml")},
         where=Item(BASE_K, "gone.yaml"), message="SRC-PATH"),
    Case("path/rendered-env-folder-is-a-symlink-out-of-the-repo", {"rendered/prod": Link("{outside}/rendered-prod")},
         commands=(("render", "prod"),), exit=0),
    Case("path/rendered-env-folder-is-a-dangling-symlink", {"rendered/prod": Link("{case}/nowhere")},
         commands=(("render", "prod"),), exit=0),
]

REMOTE_CASES = [
    Case("remote/github-shorthand-with-ref",
         {OVERLAY_K: edited(OVERLAY_K, "  - ../../../base/web\n", "  - github.com/acme/bases//web?ref=v1.0.0\n")},
         where=Item(OVERLAY_K, "github.com/acme/bases//web?ref=v1.0.0"), message="SRC-REMOTE"),
    Case("remote/https-resource-in-a-base", {BASE_K: with_resources("https://raw.example.org/acme/cm.yaml")},
         where=Item(BASE_K, "https://raw.example.org/acme/cm.yaml"), message="builds must not reach the network"),
    Case("remote/ssh-component",
         {OVERLAY_K: overlay_plus("components:\n  - git@github.com:acme/components.git//sidecar\n")},
         where=Item(OVERLAY_K, "git@github.com:acme/components.git//sidecar"), message="SRC-REMOTE"),
    Case("remote/file-url", {BASE_K: with_resources("file:///etc/hostname")},
         where=Item(BASE_K, "file:///etc/hostname"), message="SRC-REMOTE"),
    Case("remote/patch-from-a-url",
         {OVERLAY_K: edited(OVERLAY_K, "path: deployment-patch.yaml", "path: https://example.org/patch.yaml")},
         where=Where(OVERLAY_K, "path: https://"), message="SRC-REMOTE"),
]

WORLD_K = "overlays/prod/world/kustomization.yaml"
CROSS_ENV_CASES = [
    Case("cross-env/patch-from-another-environment", repo="minimal",
         files={WORLD_K: original(WORLD_K, "minimal") + "patches:\n  - path: ../../dev/hello/patch.yaml\n",
                "overlays/dev/hello/patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n"
                                                 "data:\n  GREETING: from dev\n"},
         where=Where(WORLD_K, "path: ../../dev"),
         message="ISO-CROSS-ENV '../../dev/hello/patch.yaml' reaches into overlays/dev"),
    Case("cross-env/base-reaches-into-an-overlay", repo="minimal",
         files={"base/hello/kustomization.yaml": original("base/hello/kustomization.yaml", "minimal")
                + "  - ../../overlays/dev/hello/extra.yaml\n",
                "overlays/dev/hello/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"},
         where=Item("base/hello/kustomization.yaml", "../../overlays/dev/hello/extra.yaml"), message="ISO-CROSS-ENV"),
    Case("cross-env/generator-input-from-another-environment", repo="minimal",
         files={WORLD_K: original(WORLD_K, "minimal")
                + "configMapGenerator:\n  - name: world\n    files:\n      - ../../dev/hello/settings.txt\n",
                "overlays/dev/hello/settings.txt": "dev only\n"},
         where=Item(WORLD_K, "../../dev/hello/settings.txt"), message="ISO-CROSS-ENV"),
]

KIND_CASES = [
    Case("kinds/argocd-application-in-app-output",
         {"base/web/app.yaml": APPLICATION, BASE_K: with_resources("app.yaml")},
         where="base/web/app.yaml"),
    Case("kinds/argocd-appproject-in-app-output",
         {"base/web/project.yaml": APPPROJECT, BASE_K: with_resources("project.yaml")},
         where="base/web/project.yaml"),
    Case("kinds/unknown-kind", {"base/web/widget.yaml": "apiVersion: apps/v1\nkind: Widget\nmetadata:\n"
                                                        "  name: w\n", BASE_K: with_resources("widget.yaml")},
         where="base/web/widget.yaml:2:", message="K8S-UNKNOWN-KIND"),
]

ARG_CASES = [
    Case("args/env-path-traversal", commands=(("render", "env=../prod"),), exit=2,
         where=None, message="unknown environment '../prod'; known: prod (or all)"),
    Case("args/env-absolute-path", commands=(("render", "env=/etc"),), exit=2, message="unknown environment '/etc'"),
    Case("args/unknown-env", commands=(("render", "qa"),), exit=2, message="unknown environment 'qa'"),
    Case("args/check-env-path-traversal", commands=(("check", "--env", "../prod"),), exit=2,
         message="unknown environment '../prod'"),
    Case("args/empty-env", commands=(("render", ""),), exit=2, message="empty environment ''"),
    Case("args/unknown-format", commands=(("check", "--format", "xml"),), exit=2, message="unknown format 'xml'"),
    Case("args/format-is-case-sensitive", commands=(("check", "--format", "JSON"),), exit=2,
         message="unknown format 'JSON'"),
    Case("args/repo-is-not-a-config-repo", env={"INVOKE_GITOPS_REPO": "{outside}"}, exit=2,
         message="not a config repository"),
    Case("args/render-without-env-renders-every-env", commands=(("render",),), exit=0),
    Case("args/jobs-not-a-number", commands=(("render", "prod", "--jobs", "many"),), exit=2, message="jobs"),
    Case("args/timeout-setting-not-a-number", env={"INVOKE_GITOPS_KUSTOMIZE_TIMEOUT": "soon"}, exit=2,
         message="KUSTOMIZE_TIMEOUT"),
]

HANG = {"INVOKE_GITOPS_KUSTOMIZE_TIMEOUT": "2"}
TOOL_CASES = [
    Case("tool/missing", env={"KUSTOMIZE": "{case}/no/such/kustomize"}, exit=4,
         where="{case}/no/such/kustomize", message="is not an executable"),
    Case("tool/not-executable", tool="ok", tool_executable=False, exit=4,
         where="{bin}/kustomize", message="is not an executable"),
    Case("tool/too-old", tool="ok", version="v4.5.7", exit=4, where="{bin}/kustomize",
         message="is kustomize v4.5.7; v5 or newer is required"),
    Case("tool/kubectl-with-an-old-kustomize", tool="ok", tool_name="kubectl",
         version="Client Version: v1.20.0\nKustomize Version: v2.0.3", exit=4, where="{bin}/kubectl",
         message="is kustomize v2.0.3; v5 or newer is required"),
    Case("tool/version-unreadable", tool="ok", version="\x7fELF garbage", exit=4, where="{bin}/kustomize",
         message="could not read a kustomize version"),
    Case("tool/version-hangs", tool="version-hang", env=HANG, exit=4, where="{bin}/kustomize"),
    Case("tool/build-fails", tool="fail", exit=1, where=OVERLAY_K, message="KUSTOMIZE-BUILD"),
    Case("tool/panics", tool="crash", exit=4, where="overlays/prod/web", message="kustomize crashed"),
    Case("tool/killed-by-a-signal", tool="signal", exit=4, where="overlays/prod/web", message="killed by signal 11"),
    Case("tool/hangs", tool="hang", env=HANG, exit=4, where="overlays/prod/web", message="timed out after 2s"),
    Case("tool/hangs-in-a-child-process", tool="hang-child", env=HANG, exit=4, where="overlays/prod/web",
         message="timed out after 2s"),
    Case("tool/hangs-on-every-overlay-of-the-shipped-repo", repo="shipped", tool="hang", exit=4,
         env={"INVOKE_GITOPS_KUSTOMIZE_TIMEOUT": "1", "INVOKE_GITOPS_JOBS": "1"},
         where="overlays/", message="timed out after 1s"),
    Case("tool/prints-bytes-that-are-not-text", tool="binary", exit=4, where="overlays/prod/web", message="not UTF-8"),
    Case("tool/prints-something-that-is-not-yaml", tool="not-yaml", exit=4, where="overlays/prod/web"),
    Case("tool/prints-a-list", tool="not-mapping", exit=4, where="overlays/prod/web"),
    Case("tool/prints-nothing", tool="empty", exit=1, where=OVERLAY_K, message="renders no resources"),
    Case("tool/floods-stderr", tool="stderr-flood", exit=1, where=OVERLAY_K, max_output=64 * 1024),
    Case("tool/prints-a-1mib-line", tool="long-line", exit=1, where=OVERLAY_K, max_output=64 * 1024),
]

CASES = [*YAML_CASES, *K8S_CASES, *SECRET_CASES, *PATH_CASES, *REMOTE_CASES, *CROSS_ENV_CASES, *KIND_CASES,
         *ARG_CASES, *TOOL_CASES]


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: the fixture repos rendered once, and the table run ahead in background threads


@pytest.fixture(scope="session")
def rendered_repos(tmp_path_factory, kz) -> dict[str, Path]:
    """webapp, minimal and a copy of the shipped repo, each with `rendered/` and `clusters/` freshly rendered."""
    folder = tmp_path_factory.mktemp("rendered-repos")
    repos = {}
    for name in ("webapp", "minimal", "shipped"):
        root = folder / name
        if name == "shipped":
            for part in ("base", "overlays"):
                shutil.copytree(PROJECT / part, root / part)
            shutil.copy(PROJECT / "gitops.yaml", root / "gitops.yaml")
        else:
            shutil.copytree(FIXTURE_REPOS / name, root, symlinks=True)
        repo = Repo(root)
        result = rendering.render(repo, repo.select_envs("all"), kz)
        assert result.changed and not leftovers(root / "rendered"), f"{name} must render clean"
        repos[name] = root
    return repos


@dataclass
class Outcome:
    space: Workspace
    runs: list[Run]
    before: dict[str, bytes]
    after: dict[str, bytes]
    outside_before: dict[str, bytes]
    outside_after: dict[str, bytes]
    leftovers: list[str]


def play(case: Case, folder: Path, base: Path) -> Outcome:
    """Set up `case` in `folder` on a copy of the rendered `base` and run its commands."""
    space = workspace(folder, base)
    if case.tool:
        space.fake_kustomize(case.tool, case.version, case.tool_name, case.tool_executable)
    space.env.update({key: space.fill(value) for key, value in case.env.items()})
    space.apply(case.files)
    before, outside_before = space.outputs(), tree_bytes(space.outside)
    runs = [run(command, space.root, space.env) for command in case.commands]
    return Outcome(space, runs, before, space.outputs(), outside_before, tree_bytes(space.outside), space.leftovers())


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory, rendered_repos):
    """The selected table cases, started at once `WORKERS` at a time; `outcomes(case)` waits for one."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "function", None) is test_bad_input and hasattr(item, "callspec")]
    folders = {case.id: tmp_path_factory.mktemp(case.id.replace("/", "-")) for case in selected}
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures = {case.id: pool.submit(play, case, folders[case.id], rendered_repos[case.repo]) for case in selected}
    yield lambda case: futures[case.id].result()
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(autouse=True, scope="module")
def _start_the_table(outcomes):
    """Start the table's runs with the first test of the module, so that the tests before it overlap with them."""


# ---------------------------------------------------------------------------------------------------------------
# The contract


def assert_contract(case: Case, outcome: Outcome) -> None:
    space = outcome.space
    expected = case.exit
    if case.where is None:
        wheres = []
    elif isinstance(case.where, Where):
        wheres = [case.where.resolve(space.root)]
    else:
        wheres = [space.fill(w) for w in ((case.where,) if isinstance(case.where, str) else case.where)]
    for result in outcome.runs:
        assert result.code is not None, f"still running after {SECONDS:g}s (killed):\n{result}"
        assert result.code == expected, f"exit {result.code}, expected {expected}:\n{result}"
        assert "Traceback" not in result.output, str(result)
        assert result.seconds < SECONDS, str(result)
        for secret in case.secrets:
            assert secret not in result.output and b64(secret) not in result.output, f"{secret!r} echoed:\n{result}"
        if case.max_output is not None:
            assert len(result.output) < case.max_output, f"{len(result.output)} characters of output"
        if expected != 0:
            _assert_message(result, wheres, case.message)
    if expected != 0:
        assert outcome.after == outcome.before, "rendered/ or clusters/ changed"
    assert outcome.leftovers == [], "temp folders left behind"
    assert outcome.outside_after == outcome.outside_before, "a file outside the repository changed"
    if case.absent:
        assert not (space.root / case.absent).exists(), f"{case.absent} exists: code from the repo ran"


def _assert_message(result: Run, wheres: list[str], message: str) -> None:
    structured = "--format" in result.argv and result.argv[result.argv.index("--format") + 1] != "text"
    if structured:  # json, sarif, junit, github, markdown: the path is there, the line in its own field
        paths = [w.split(":")[0].split(" ")[0] for w in wheres]
        assert not paths or any(p in result.output for p in paths), f"none of {paths} in:\n{result}"
        return
    lines = result.output.splitlines()
    if wheres:
        hits = [line for line in lines if any(w in line for w in wheres)]
        assert hits, f"none of {wheres} in:\n{result}"
        assert not message or any(message in hit for hit in hits), f"{message!r} not on a line with {wheres}:\n{result}"
    else:
        assert message in result.output, f"{message!r} not in:\n{result}"


# ---------------------------------------------------------------------------------------------------------------
# Secrets in every form at once, through every output format


EVERY_SECRET = {
    "base/web/secret.yaml": secret_manifest("stringData:\n  password: hunter2-all-stringdata\n"),
    "base/web/secret-data.yaml": secret_manifest(f"data:\n  password: {b64('hunter2-all-data')}\n", name="web-data"),
    "base/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n"
                            "  DATABASE_PASSWORD: hunter2-all-configmap\n",
    BASE_K: with_resources("secret.yaml", "secret-data.yaml", "config.yaml"),
    ENV_PATCH: env_patch(("SECRET_KEY_BASE", "hunter2-all-keybase"),
                         ("DATABASE_URL", "ecto://app:hunter2-all-dburl@db.internal/web"))[ENV_PATCH],
    OVERLAY_K: edited(OVERLAY_K, "patches:\n", "patches:\n  - path: env-patch.yaml\n"
                      "  - patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/env/-\n"
                      "        value: {name: RELEASE_COOKIE, value: hunter2-all-inline}\n"
                      "    target:\n      kind: Deployment\n")
    + "secretGenerator:\n  - name: web-db\n    literals:\n      - DB_PASSWORD=hunter2-all-literal\n"
      "  - name: web-env\n    envs:\n      - db.env\n"
      "  - name: web-cookie\n    files:\n      - RELEASE_COOKIE=cookie.txt\n"
      "configMapGenerator:\n  - name: web-settings\n    literals:\n      - API_TOKEN=hunter2-all-cmgen\n",
    "overlays/prod/web/db.env": "DB_PASSWORD=hunter2-all-envfile\n",
    "overlays/prod/web/cookie.txt": "hunter2-all-cookie",
}
"""One repo with a secret in every form of SECRET_CASES that the secret rules are about."""


EVERY_SECRET_VALUE = ("hunter2-all-stringdata", "hunter2-all-data", "hunter2-all-configmap", "hunter2-all-keybase",
                      "hunter2-all-dburl", "hunter2-all-inline", "hunter2-all-literal", "hunter2-all-envfile",
                      "hunter2-all-cookie", "hunter2-all-cmgen")


@pytest.fixture(scope="module")
def every_secret_repo(tmp_path_factory, rendered_repos) -> Workspace:
    space = workspace(tmp_path_factory.mktemp("every-secret"), rendered_repos["webapp"])
    space.apply(EVERY_SECRET)
    return space


@pytest.mark.parametrize("command", [("check", "--format", fmt) for fmt in ("text", "json", "junit", "sarif",
                                                                            "github", "markdown")] + [RENDER],
                         ids=lambda command: " ".join(command))
def test_no_secret_of_any_form_is_printed_in_any_format(every_secret_repo, command):
    space = every_secret_repo
    result = run(command, space.root, space.env)
    assert result.code == 1, str(result)
    assert "Traceback" not in result.output and result.seconds < SECONDS
    for secret in EVERY_SECRET_VALUE:
        assert secret not in result.output and b64(secret) not in result.output, f"{secret!r} echoed:\n{result}"
    if command == RENDER and result.code:
        assert space.leftovers() == []


# ---------------------------------------------------------------------------------------------------------------
# Signals and concurrent renders: a fake kustomize that blocks until the test releases it keeps a render mid-way


@dataclass
class InFlight:
    proc: subprocess.Popen[str]
    args: tuple[str, ...]
    started: float
    space: Workspace

    def release(self) -> None:
        (self.space.bin / "release").touch()

    def finish(self, budget: float = SECONDS) -> Run:
        """Wait for the render, at most `budget` seconds from now (the time the test held it back aside)."""
        return finish(self.proc, self.args, self.started, budget + (time.monotonic() - self.started))


@contextmanager
def render_in_flight(space: Workspace, args: tuple[str, ...] = ("render", "prod")) -> Iterator[InFlight]:
    """A render whose kustomize build has started and waits for `release()` (then builds for real)."""
    space.fake_kustomize("block")
    started = time.monotonic()
    proc = launch(args, space.root, space.env)
    flight = InFlight(proc, args, started, space)
    try:
        deadline = started + SECONDS
        while not (space.bin / "started").exists():
            assert proc.poll() is None, f"the render ended before its build started:\n{flight.finish()}"
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.02)
        yield flight
    finally:
        flight.release()
        _kill_group(proc.pid)
        if not proc.stdout.closed:
            proc.communicate()


def changed_input(space: Workspace) -> None:
    """An input change, so that a completed render would write something."""
    space.apply({PATCH: edited(PATCH, "replicas: 3", "replicas: 4")})


def test_second_render_exits_5_naming_the_holder_and_the_first_completes(tmp_path, rendered_repos):
    space = workspace(tmp_path, rendered_repos["webapp"])
    changed_input(space)
    before = space.outputs()
    real = {k: v for k, v in space.env.items() if k != "KUSTOMIZE"}
    with render_in_flight(space) as first:
        second = run(("render", "prod"), space.root, space.env)
        checking = run(("render", "all", "--check"), space.root, space.env)
        reader = run(("check",), space.root, real)  # a check takes no lock and writes nothing
        assert space.outputs() == before
        first.release()
        done = first.finish()
    for busy in (second, checking):
        assert busy.code == 5, str(busy)
        assert f"rendered/.lock: another render is running (pid={first.proc.pid} " in busy.stderr, str(busy)
        assert busy.seconds < SECONDS and "Traceback" not in busy.output
    assert reader.code == 0, str(reader)
    assert done.code == 0, str(done)
    after = space.outputs()
    assert after != before and b"replicas: 4" in after["rendered/prod/web/release/manifest.yaml"]
    assert space.leftovers() == []


@pytest.mark.parametrize(
    ("how", "sig"),
    [("ctrl-c-to-the-process-group", signal.SIGINT), ("sigterm-to-the-process-group", signal.SIGTERM)],
)
def test_interrupt_mid_render_exits_130_and_changes_nothing(tmp_path, rendered_repos, how, sig):
    space = workspace(tmp_path, rendered_repos["webapp"])
    changed_input(space)
    before = space.outputs()
    with render_in_flight(space) as flight:
        os.killpg(flight.proc.pid, sig)
        stopped = time.monotonic()
        result = flight.finish()
    assert result.code == 130, str(result)
    assert "interrupted" in result.stderr and "Traceback" not in result.output
    assert time.monotonic() - stopped < 5
    assert space.outputs() == before
    assert space.leftovers() == []


def test_sigterm_to_the_render_alone_stops_a_hanging_build_promptly(tmp_path, rendered_repos):
    """`kill <pid>` (a CI runner cancelling, a supervisor stopping) reaches only the program: it stops its
    kustomize (in a process group of its own) and exits without waiting for the build."""
    space = workspace(tmp_path, rendered_repos["webapp"])
    before = space.outputs()
    with render_in_flight(space) as flight:
        flight.proc.send_signal(signal.SIGTERM)
        result = flight.finish(budget=2)
    assert result.code == 130, str(result)
    assert space.outputs() == before and space.leftovers() == []


def test_sigkill_mid_render_then_the_next_render_completes_and_cleans_up(tmp_path, rendered_repos):
    space = workspace(tmp_path, rendered_repos["webapp"])
    changed_input(space)
    before = space.outputs()
    with render_in_flight(space) as flight:
        flight.proc.kill()
        flight.proc.wait()
    assert space.outputs() == before
    assert [p for p in space.leftovers() if not p.startswith("$TMPDIR/")] == []
    del space.env["KUSTOMIZE"]
    result = run(("render", "prod"), space.root, space.env)
    assert result.code == 0, str(result)  # the kernel released the lock with the killed process
    assert b"replicas: 4" in space.outputs()["rendered/prod/web/release/manifest.yaml"]
    assert space.leftovers() == []  # what the killed process left in $TMPDIR is pruned


def test_render_killed_between_its_two_renames_is_restored_by_the_next(tmp_path, rendered_repos):
    """What SIGKILL leaves at the worst moment (`files.swap_folders`): the env folder moved aside, a temp folder
    half written."""
    space = workspace(tmp_path, rendered_repos["webapp"])
    before = space.outputs()
    os.rename(space.root / "rendered/prod", space.root / "rendered/.old.prod.k1ll3d")
    (space.root / "clusters/.tmp.prod.h4lf/argocd").mkdir(parents=True)
    (space.root / "clusters/.tmp.prod.h4lf/argocd/application-prod-web.yaml").write_text("# half written")
    result = run(("render", "prod"), space.root, space.env)
    assert result.code == 0, str(result)
    assert "up to date" in result.stdout
    assert space.outputs() == before
    assert space.leftovers() == []


# ---------------------------------------------------------------------------------------------------------------
# Determinism beyond tests/test_tasks.py (which varies PYTHONHASHSEED, TZ and LC_ALL on the minimal fixture):
# the shipped repo, every environment, other working directories, a repo path with spaces and non-ASCII letters,
# a random hash seed, exotic time zones, a strict umask and different parallelism.


@pytest.mark.parametrize(
    ("folder", "env", "cwd", "options", "umask"),
    [
        pytest.param("répertoire avec espaces",
                     {"PYTHONHASHSEED": "random", "TZ": "Pacific/Chatham", "LC_ALL": "POSIX", "LANG": "tr_TR.UTF-8"},
                     "/", ("--jobs", "1"), 0o077, id="from-slash"),
        pytest.param("z/deeper/still", {"PYTHONHASHSEED": "4242", "TZ": "America/St_Johns", "LC_ALL": "C.UTF-8"},
                     ".", ("--jobs", "3"), 0o022, id="from-elsewhere"),
    ],
)
def test_shipped_repo_renders_the_same_bytes_whatever_the_process_environment(
    tmp_path, rendered_repos, folder, env, cwd, options, umask
):
    """The CLI under another hash seed, time zone, locale, umask, parallelism, working directory and repo path
    writes exactly what the in-process render of the same sources wrote (`rendered_repos`, this test process)."""
    reference = rendered_repos["shipped"]
    root = tmp_path / folder
    for part in ("base", "overlays", "gitops.yaml"):
        (shutil.copytree if (reference / part).is_dir() else shutil.copy)(reference / part, root / part)
    env = {**env, "PHOENIX_GITOPS_CACHE": str(tmp_path / "cache")}
    result = run(("render", "all", *options), root, env, cwd=tmp_path / cwd, budget=60, umask=umask)
    assert result.code == 0, str(result)
    files = {f"{out}/{rel}": data for out in OUTPUTS for rel, data in tree_bytes(root / out).items()}
    expected = {f"{out}/{rel}": data for out in OUTPUTS for rel, data in tree_bytes(reference / out).items()}
    assert files and files == expected
    for rel, data in files.items():
        assert data.startswith(b"# Code generated by phoenix-gitops from "), rel
        assert str(tmp_path).encode() not in data and str(reference).encode() not in data, f"{rel}: absolute path"


# ---------------------------------------------------------------------------------------------------------------
# The table (last in the file: its runs start with the first test of the module and overlap with the tests above)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input(case, outcomes):
    assert_contract(case, outcomes(case))


def test_the_table_covers_every_category_with_at_least_40_cases():
    categories = {case.id.split("/")[0] for case in CASES}
    assert categories == {"yaml", "k8s", "secret", "path", "remote", "cross-env", "kinds", "args", "tool"}
    assert len(CASES) >= 40 and len({case.id for case in CASES}) == len(CASES)
