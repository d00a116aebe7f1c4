"""Where things are: the repo's environments (one cluster each) and the app overlays inside them.

The one module that knows the folder conventions:
    overlays/<env>/environment.yaml          which cluster <env> is, its apps and the namespaces each may use
                                             (data/schemas/environment.schema.json); every folder under
                                             overlays/ is an environment and must have one
    overlays/<env>/<app>/kustomization.yaml  one overlay per app, declared in the environment file
    rendered/<env>/<app>/<phase>/manifest.yaml  what `render` writes (phases.py)
    clusters/<env>/                          the Argo CD and Flux objects `render` generates per cluster
    gitops.yaml                              where Argo CD and Flux fetch the repo (data/schemas/gitops.schema.json)

Usage:
    repo = Repo(Path("."))
    for env in repo.select_envs("env=prod"):          # "prod", "env=prod" and "all" are accepted
        for overlay in env.overlays():
            print(overlay.id, overlay.rel)             # prod/api overlays/prod/api
    env.namespaces_of("api")                           # ('api',): declared in overlays/prod/environment.yaml
    env.reserved_by("kube-system")                     # 'kube-*'
    repo.orphans(repo.select_envs("all"))              # [Finding]: rendered/ or clusters/ folders of no env/app
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cron import cron_problem
from .errors import InputError, UsageError
from .findings import Finding, errors_in, sort_findings
from .own_schemas import check, shown
from .secret_detector import SecretDetector
from .yamlio import Document, load_file

__all__ = [
    "Repo",
    "Environment",
    "SyncPolicy",
    "Notification",
    "RepoSettings",
    "Overlay",
    "KUSTOMIZATION_FILES",
    "not_regular_kustomizations",
    "ENV_FILE",
    "SETTINGS_FILE",
    "ALL",
    "RENDERED",
    "CLUSTERS",
    "RESERVED_NAMESPACES",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""File names kustomize accepts for a kustomization, in its order of preference."""
ENV_FILE = "environment.yaml"
SETTINGS_FILE = "gitops.yaml"
"""The repo-level settings file at the repository root: the Git URL and branch the sync engines follow."""
ALL = "all"
"""The environment argument that selects every environment."""
RENDERED = "rendered"
"""The repo folder `render` writes the apps' manifests to, one folder per environment and app."""
CLUSTERS = "clusters"
"""The repo folder holding one bootstrap folder (Argo CD and Flux objects) per environment (cluster)."""
RESERVED_NAMESPACES = ("kube-*", "default")
"""Namespaces no app may use in any environment. The Argo CD and Flux namespaces of `gitops.yaml`, the
environment file's `reservedNamespaces` and the policy's `ingressNamespaces` are reserved too."""
_MISNAMED_ENV_FILES = ("environment.yml", "Environment.yaml", "env.yaml", "environment.json")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Overlay:
    """One app in one environment: `overlays/<env>/<app>`."""

    env: str
    app: str
    path: Path
    """Absolute path of the overlay folder."""
    rel: str
    """Repo-relative path, e.g. `overlays/prod/api`."""

    @property
    def id(self) -> str:
        """`prod/api`: used in messages, test ids and rendered paths."""
        return f"{self.env}/{self.app}"

    def kustomization(self) -> tuple[Path, str]:
        """The overlay's kustomization file (the first name kustomize accepts that exists): (absolute path,
        repo-relative path); UsageError when there is none."""
        for name in KUSTOMIZATION_FILES:
            path = self.path / name
            if path.is_file():
                return path, f"{self.rel}/{name}"
        broken = not_regular_kustomizations(self.path, self.rel)
        if broken:
            raise _not_regular(broken)
        raise UsageError(f"{self.rel}: no kustomization file")


@dataclass(frozen=True)
class SyncPolicy:
    """How the engines sync an environment's apps (`sync:` of the environment file).

    Both follow `branch` (None: gitops.yaml's `revision`). `automated` false means every Argo CD sync is started
    by a person (no `syncPolicy.automated`); such an environment must follow a branch of its own, which is moved
    to a reviewed commit to promote it: Flux, which has no manual sync, applies what that branch points at.
    `prune` also sets the Flux Kustomizations' `prune`.
    """

    automated: bool = True
    """Sync every new commit without a person (Argo CD `syncPolicy.automated`)."""
    prune: bool = True
    """Delete cluster objects that left the rendered output."""
    self_heal: bool = True
    """Argo CD reverts changes made on the cluster outside Git (with automated sync only)."""
    branch: str | None = None
    """The branch this environment follows instead of the repository's `revision` (`sync.branch`)."""


@dataclass(frozen=True)
class Notification:
    """Where an environment's failed syncs, failed health and failed migrations are reported (`notifications:`)."""

    name: str
    provider: str
    """One of the environment schema's providers: slack, msteams, googlechat, ..."""
    channel: str
    """The provider's recipient: a channel, room, chat ID, team or service."""
    secret_name: str
    """Flux: the Secret (in the Flux namespace) with the provider's address or token."""


@dataclass(frozen=True)
class RepoSettings:
    """The repo-level settings file (`gitops.yaml`): where the sync engines fetch this repository from."""

    repo_url: str
    """The Git URL Argo CD and Flux clone (https:// or ssh://, no credentials)."""
    revision: str
    """The branch both engines follow."""
    argocd_namespace: str = "argocd"
    """The namespace Argo CD runs in (its AppProjects and Applications live there)."""
    flux_namespace: str = "flux-system"
    """The namespace of the Flux GitRepository and Kustomizations."""
    flux_interval: str = "10m"
    """How often each Flux Kustomization re-applies (drift correction)."""
    flux_timeout: str = "15m"
    """How long a Flux Kustomization waits for its resources (migration Job included) to become ready."""
    flux_secret_name: str | None = None
    """The Secret (in the Flux namespace) holding Git credentials, for a private repository."""
    source: str = SETTINGS_FILE
    """Repo-relative path of the settings file."""
    name_prefix: str = ""
    """Prefix of the generated engine objects' names (`namePrefix`; default `prefix_of(repo_url)`)."""
    lock_default_project: bool = False
    """Whether to generate Argo CD's `default` AppProject, locked (`argocd.lockDefaultProject`)."""

    @property
    def prefix(self) -> str:
        """The prefix the generated objects' names start with: `name_prefix`, else `prefix_of(repo_url)`."""
        return self.name_prefix or prefix_of(self.repo_url)


def prefix_of(repo_url: str) -> str:
    """The default name prefix: the repository's name from its URL, as a DNS label, and a dash.

        prefix_of("https://github.com/acme/Phoenix_Config.git")   # 'phoenix-config-'
    """
    name = repo_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git").lower()
    label = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")[:31].strip("-")
    return f"{label or 'phoenix-gitops'}-"


@dataclass(frozen=True)
class Environment:
    """One environment = one cluster, as its environment file declares it."""

    name: str
    cluster: str
    server: str
    kubernetes_version: str
    argocd_project: str
    base_domain: str
    path: Path
    """Absolute path of `overlays/<env>`."""
    repo_root: Path
    sync: SyncPolicy = SyncPolicy()
    """How Argo CD (and, for `prune`, Flux) syncs this environment."""
    apps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The declared apps and the namespaces each may use (`apps:` of the environment file)."""
    reserved_namespaces: tuple[str, ...] = (*RESERVED_NAMESPACES, RepoSettings.argocd_namespace,
                                            RepoSettings.flux_namespace)
    """Namespace patterns no app may use here: RESERVED_NAMESPACES, the sync engines' namespaces and the
    environment file's `reservedNamespaces`."""
    sync_windows: tuple[Mapping[str, Any], ...] = ()
    """`argocd.syncWindows` of the environment file: when Argo CD may (allow) or must not (deny) sync."""
    roles: tuple[Mapping[str, Any], ...] = ()
    """`argocd.roles` of the environment file: who may do what with the environment's Applications."""
    notifications: tuple[Notification, ...] = ()
    """`notifications:` of the environment file, in file order."""
    doc: Document | None = field(default=None, compare=False, repr=False)
    """The environment file as loaded (for the lines of its entries)."""

    def namespaces_of(self, app: str) -> tuple[str, ...] | None:
        """The namespaces the environment file declares for `app`; None when it does not declare the app."""
        return self.apps.get(app)

    def declared_namespaces(self) -> tuple[str, ...]:
        """Every namespace some app of this environment may use, sorted."""
        return tuple(sorted({ns for namespaces in self.apps.values() for ns in namespaces}))

    def reserved_by(self, namespace: str, extra: tuple[str, ...] = ()) -> str | None:
        """The pattern (of `reserved_namespaces` or `extra`) that reserves `namespace`, or None."""
        return next((p for p in (*self.reserved_namespaces, *extra) if fnmatch.fnmatchcase(namespace, p)), None)

    def position(self, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        """Line and column of `path` in the environment file (of its nearest existing parent); (None, None)
        for an environment not loaded from a file."""
        return self.doc.position(path) if self.doc is not None else (None, None)

    @property
    def file(self) -> str:
        """Repo-relative path of the environment file, e.g. `overlays/prod/environment.yaml`."""
        return f"overlays/{self.name}/{ENV_FILE}"

    def overlays(self) -> list[Overlay]:
        """The app overlays of this environment, sorted by app name.

        A folder whose kustomization file is not a regular file (a folder, a link to nothing, a pipe) is an
        InputError naming every one: skipping it would make `render` delete that app's output."""
        found: list[Overlay] = []
        broken: list[tuple[str, str]] = []
        with os.scandir(self.path) as entries:  # os.scandir: one listing, no stat per entry (hundreds of apps)
            folders = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        for name in folders:
            rel = f"overlays/{self.name}/{name}"
            if any(os.path.isfile(os.path.join(self.path, name, f)) for f in KUSTOMIZATION_FILES):
                if not _NAME.match(name):
                    raise InputError(f"{rel}: error LAYOUT-NAME app folder name {name!r} must be lowercase letters, "
                                     "digits and dashes")
                found.append(Overlay(self.name, name, self.path / name, rel))
            else:
                broken += not_regular_kustomizations(self.path / name, rel)
        if broken:
            raise _not_regular(broken)
        return found


class Repo:
    """A config repository rooted at `root` (the folder holding `overlays/` and `base/`)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not (self.root / "overlays").is_dir():
            raise UsageError(f"{self.root}: not a config repository (no overlays/ folder)")

    @property
    def rendered(self) -> Path:
        """The folder `render` writes to."""
        return self.root / "rendered"

    def env_names(self) -> list[str]:
        """Names of the folders under overlays/, sorted: each is an environment.

        A folder without `environment.yaml` (misnamed, missing, a link) is an InputError naming every such
        folder: skipping it would make that environment pass every check unchecked."""
        overlays = self.root / "overlays"
        folders = sorted(p for p in overlays.iterdir() if p.is_dir() and not p.name.startswith("."))
        problems = [_no_env_file(p) for p in folders if p.is_symlink() or not (p / ENV_FILE).is_file()]
        if problems:
            raise InputError("\n".join(problems))
        return [p.name for p in folders]

    def orphans(self, envs: list[Environment]) -> list[Finding]:
        """Error findings (LAYOUT-ORPHAN) for every entry under `rendered/` and `clusters/` that belongs to no
        environment or is not a plain folder, and every `rendered/<env>/<app>` of the environments `envs` with no
        overlay: what is there is still what a cluster syncs, though nothing renders or checks it. Those that a
        render of their environment replaces carry its name as `env`."""
        names = set(self.env_names())
        found: list[Finding] = []
        for top in (RENDERED, CLUSTERS):
            root = self.root / top
            entries = sorted(root.iterdir()) if root.is_dir() else []
            for path in entries:
                if path.name.startswith(".") or (path.is_dir() and path.name in names and not path.is_symlink()):
                    continue
                if path.name in names:
                    found.append(Finding("LAYOUT-ORPHAN", "error", "is not a folder (a symbolic link or a file), so "
                                         f"nothing checks what it holds; `invoke render {path.name}` replaces it",
                                         f"{top}/{path.name}", env=path.name))
                    continue
                found.append(Finding("LAYOUT-ORPHAN", "error", f"belongs to no environment (no overlays/{path.name}/"
                                     f"{ENV_FILE}); a cluster may still sync it: delete it, or restore the "
                                     "environment", f"{top}/{path.name}"))
        for env in envs:
            folder = self.root / RENDERED / env.name
            apps = {o.app for o in env.overlays()}
            entries = sorted(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
            for path in entries:
                if path.name not in apps and not path.name.startswith("."):
                    found.append(Finding("LAYOUT-ORPHAN", "error", f"belongs to no app (no overlays/{env.name}/"
                                         f"{path.name}); `invoke render {env.name}` removes it",
                                         f"{RENDERED}/{env.name}/{path.name}", env=env.name))
        return found

    def environments(self, names: Iterable[str]) -> list[Environment]:
        """`environment` of each of `names`, reading `gitops.yaml` once."""
        engines = self.engine_namespaces()
        return [self.environment(name, engines) for name in names]

    def environment(self, name: str, engines: tuple[str, ...] | None = None) -> Environment:
        """Load and schema-check `overlays/<name>/environment.yaml`; raises InputError listing every problem.
        `engines` are the `engine_namespaces()` when the caller has them already."""
        rel = f"overlays/{name}/{ENV_FILE}"

        def specific(doc: Document) -> list[Finding]:
            """The name equals the folder's; every sync window's schedule is a valid cron expression."""
            found = []
            data = doc.data if isinstance(doc.data, dict) else {}
            value = data.get("name")
            if isinstance(value, str) and value != name:
                found.append(Finding("SRC-ENVIRONMENT", "error", f"$.name: {value!r} must equal the folder name "
                                     f"{name!r}", rel, *doc.position(("name",)), env=name))
            sync = data.get("sync")
            if isinstance(sync, dict) and sync.get("automated") is False and "branch" not in sync:
                found.append(Finding("SRC-ENVIRONMENT", "error", "$.sync.automated: false, but no sync.branch: "
                                     "an environment synced by hand must follow a branch of its own (e.g. deploy/"
                                     f"{name}) that is moved to a reviewed commit to promote it; Flux, which has no "
                                     "manual sync, would otherwise apply every commit of the main branch", rel,
                                     *doc.position(("sync", "automated")), env=name))
            seen: set[str] = set()
            notifications = data.get("notifications")
            for index, entry in enumerate(notifications if isinstance(notifications, list) else []):
                label = entry.get("name") if isinstance(entry, dict) else None
                if not isinstance(label, str):
                    continue
                if label in seen:
                    found.append(Finding("SRC-ENVIRONMENT", "error", f"$.notifications[{index}].name: {label!r} "
                                         "is used twice; each entry names its own Flux Provider and Alert", rel,
                                         *doc.position(("notifications", index, "name")), env=name))
                seen.add(label)
                if "://" in str(entry.get("channel", "")):  # a webhook address is a credential: never in git
                    found.append(Finding("SRC-ENVIRONMENT", "error", f"$.notifications[{index}].channel: a URL "
                                         "(****) is the provider's address, a credential that must not be in git; "
                                         "name the channel here and put the address in the Secret secretName "
                                         "(Flux) and argocd-notifications-secret (Argo CD)", rel,
                                         *doc.position(("notifications", index, "channel")), env=name))
            windows = data.get("argocd", {}).get("syncWindows") if isinstance(data.get("argocd"), dict) else None
            for index, window in enumerate(windows if isinstance(windows, list) else []):
                schedule = window.get("schedule") if isinstance(window, dict) else None
                problem = cron_problem(schedule) if isinstance(schedule, str) else None
                if problem:
                    path = ("argocd", "syncWindows", index, "schedule")
                    found.append(Finding("SRC-ENVIRONMENT", "error", f"$.argocd.syncWindows[{index}].schedule: "
                                         f"{problem}", rel, *doc.position(path), env=name))
            return found

        doc = self._checked(rel, "environment", "SRC-ENVIRONMENT", specific, env=name)
        data = doc.data
        sync = data.get("sync", {})
        return Environment(
            name=name,
            cluster=data["cluster"],
            server=data["server"],
            kubernetes_version=data["kubernetesVersion"],
            argocd_project=data["argocdProject"],
            base_domain=data["baseDomain"],
            path=self.root / "overlays" / name,
            repo_root=self.root,
            sync=SyncPolicy(
                automated=sync.get("automated", True),
                prune=sync.get("prune", True),
                self_heal=sync.get("selfHeal", True),
                branch=sync.get("branch"),
            ),
            notifications=tuple(Notification(n["name"], n["provider"], n["channel"], n["secretName"])
                                for n in data.get("notifications", [])),
            apps={app: tuple(entry["namespaces"]) for app, entry in data.get("apps", {}).items()},
            sync_windows=tuple(data.get("argocd", {}).get("syncWindows", [])),
            roles=tuple(data.get("argocd", {}).get("roles", [])),
            reserved_namespaces=(*RESERVED_NAMESPACES, *(self.engine_namespaces() if engines is None else engines),
                                 *data.get("reservedNamespaces", [])),
            doc=doc,
        )

    def engine_namespaces(self) -> tuple[str, ...]:
        """The namespaces Argo CD and Flux run in (gitops.yaml's, else their defaults): no app may use them."""
        try:
            settings = self.settings()
        except InputError:  # reported by whatever needs the settings (render); the defaults still hold
            settings = RepoSettings(repo_url="", revision="")
        return tuple(dict.fromkeys((settings.argocd_namespace, settings.flux_namespace)))

    def settings(self) -> RepoSettings:
        """Load and schema-check `gitops.yaml` at the repo root; raises InputError listing every problem."""
        rel = SETTINGS_FILE
        if not (self.root / rel).is_file():
            raise InputError(
                f"{rel}: error SRC-SETTINGS file not found: the repository settings file (repoURL, revision) "
                f"must exist at the repository root; see {shown(Path(rel).stem)}"
            )

        def no_credentials(doc: Document) -> list[Finding]:
            url = doc.data.get("repoURL") if isinstance(doc.data, dict) else None
            if not (isinstance(url, str) and SecretDetector.url_credentials(url, bare_user=True)):  # never echo a token
                return []
            line, col = doc.position(("repoURL",))
            return [Finding("SRC-SETTINGS", "error", "$.repoURL: contains credentials before '@' (value not shown); "
                            "remove them and give Argo CD a repository secret and Flux flux.secretName",
                            rel, line, col)]

        data = self._checked(rel, "gitops", "SRC-SETTINGS", no_credentials).data
        argocd, flux = data.get("argocd", {}), data.get("flux", {})
        defaults = RepoSettings(repo_url="", revision="")
        return RepoSettings(
            repo_url=data["repoURL"],
            revision=data["revision"],
            argocd_namespace=argocd.get("namespace", defaults.argocd_namespace),
            flux_namespace=flux.get("namespace", defaults.flux_namespace),
            flux_interval=flux.get("interval", defaults.flux_interval),
            flux_timeout=flux.get("timeout", defaults.flux_timeout),
            flux_secret_name=flux.get("secretName"),
            source=rel,
            name_prefix=data.get("namePrefix", ""),
            lock_default_project=argocd.get("lockDefaultProject", False),
        )

    def _checked(self, rel: str, schema: str, rule: str, specific: Callable[[Document], list[Finding]],
                 **context: str) -> Document:
        """The single document of `rel`, checked against the tool's `<schema>.schema.json` and by `specific`;
        raises InputError listing every problem. A specific finding replaces the schema's for the same field."""
        try:
            inside = (self.root / rel).resolve().is_relative_to(self.root)
        except (OSError, RuntimeError):  # a symlink loop
            inside = False
        if not inside:
            raise InputError(f"{rel}: error SRC-PATH leads through a symlink outside the repository; "
                             "keep the file in it")
        docs = load_file(self.root / rel, name=rel)
        if len(docs) != 1:
            raise InputError(f"{rel}: error {rule} expected exactly one YAML document, found {len(docs)}")
        doc = docs[0]
        special = specific(doc)
        fields = {f.message.split(":", 1)[0] for f in special}
        findings = [f for f in check(doc, schema, rule=rule, **context) if f.message.split(":", 1)[0] not in fields]
        if errors_in(findings + special):
            raise InputError("\n".join(str(f) for f in sort_findings(findings + special)))
        return doc

    def select_env(self, selector: str) -> Environment:
        """The one environment `selector` names (`prod`, `env=prod`); `all` or an unknown name is a UsageError."""
        if env_name(selector) == ALL:
            raise UsageError(f"name one environment, not {ALL!r}")
        return self.select_envs(selector)[0]

    def select_envs(self, selector: str) -> list[Environment]:
        """The environments `selector` names: an env name, `env=<name>`, or `all`.

        Only names of existing environment folders are accepted, so `env=../prod` can never become a path.
        """
        value = env_name(selector)
        known = self.env_names()
        if not known:
            raise UsageError(f"{self.root / 'overlays'}: no environments (no overlays/<env>/{ENV_FILE})")
        if value == ALL:
            names = known
        elif value in known:
            names = [value]
        else:
            raise UsageError(f"unknown environment {value!r}; known: {', '.join(known)} (or {ALL})")
        return self.environments(names)


def not_regular_kustomizations(folder: Path, rel: str) -> list[tuple[str, str]]:
    """(repo-relative path, message) for each kustomization file name in `folder` (repo-relative `rel`) that
    exists but is not a regular file (a folder, a link to nothing, a pipe): kustomize cannot read it.

    Usage:
        not_regular_kustomizations(repo.root / "overlays/prod/api", "overlays/prod/api")
        # [('overlays/prod/api/kustomization.yaml', 'is a folder, not a file; kustomize cannot read it ...')]
    """
    found = []
    for name in KUSTOMIZATION_FILES:
        path = folder / name
        if not os.path.lexists(path) or path.is_file():
            continue
        what = "a folder" if path.is_dir() else "a link to nothing" if path.is_symlink() else "not a regular file"
        found.append((f"{rel}/{name}", f"is {what}, not a file; kustomize cannot read it: replace it by the "
                      "kustomization file"))
    return found


def _no_env_file(folder: Path) -> str:
    rel = f"overlays/{folder.name}"
    if folder.is_symlink():
        return f"{rel}: error LAYOUT-ENV-FILE is a link; an environment is a folder of its own with {ENV_FILE}"
    near = [n for n in _MISNAMED_ENV_FILES if (folder / n).exists()]
    found = f" (found {', '.join(near)}: rename it)" if near else ""
    return (f"{rel}: error LAYOUT-ENV-FILE no {rel}/{ENV_FILE}{found}; every folder under overlays/ is an "
            "environment and needs its environment file")


def _not_regular(broken: list[tuple[str, str]]) -> InputError:
    return InputError("\n".join(f"{path}: error SRC-MISSING {message}" for path, message in broken))


def env_name(selector: str) -> str:
    """The environment a command-line selector names: `prod`, `env=prod` -> `prod`; `all` stays `all`.

    An empty selector (`env=`, often an unset shell variable) is a UsageError, never "every environment":
    commands that cover every environment by default pass `all` themselves.

    Usage:
        env_name("env=staging")   # 'staging'
    """
    value = selector.removeprefix("env=").strip()
    if not value:
        raise UsageError(f"empty environment {selector!r}; name one (e.g. env=prod) or {ALL}")
    return value
