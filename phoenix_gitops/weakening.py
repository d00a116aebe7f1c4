"""What a change to the platform-owned files loosens, compared with the merge-base: POLICY-WEAKENED findings.

In a git checkout, the policy (`schemas/policy.yaml`, else the tool's default), every `overlays/<env>/
environment.yaml` and `gitops.yaml` of the working tree are compared with the same files at the merge-base of HEAD
and the base branch (`base_branch`, else `origin/<base_branch>`). Each weakening is a finding at its line in the
working tree's file (the nearest line still there for something removed), saying what changed from what to what:
- policy: a severity lowered in a profile (error > warning > info > `-`; conditional severities per condition; a
  rule left out takes the catalogue's default), an entry removed from `unsuppressible`, an environment moved to a
  weaker profile (dev < staging < prod) or `defaultProfile` lowered, settings loosened (entries added to
  `clusterScopedKinds`, `preProvisionedSecrets`, `preProvisionedConfigMaps`, `ingressNamespaces`,
  `spreadTopologyKeys`; removed from `forbiddenKinds`, `secretNames`, `placeholderHosts`, `networkPolicyTypes`;
  `replicas.<profile>.min` lowered; an `entropy` limit raised);
- environment files: a namespace added to an app under `apps:` (a new app, or a new environment file, adds all of
  its namespaces), an entry removed from `reservedNamespaces`, `sync.branch` changed or removed, a notification
  removed, a sync setting loosened (`automated`, `prune`, `selfHeal` from false to true, or removed: their
  default is true), `server` or `cluster` changed, a new
  environment, an Argo CD sync window removed or opened to manual syncs, a role given more groups or actions (or
  a new role);
- `gitops.yaml`: `repoURL` or `revision` changed, `flux.secretName` removed, `argocd.lockDefaultProject` turned
  off, `argocd.namespace` or `flux.namespace` changed.

The findings are warnings unless the merge-base's policy gives POLICY-WEAKENED another severity (the
environment's profile for an environment file, `defaultProfile` for the rest): the policy of the change itself
cannot lower it. Outside a git checkout, or without a merge-base, a single `info` finding says nothing was compared.
Git runs once for the merge-base and once per file read at the merge-base.

Usage:
    for finding in find_weakenings(repo.root, "main"):
        print(finding)
    # schemas/policy.yaml:47:3: warning POLICY-WEAKENED $.rules.PHX-V28.prod: severity lowered from error to
    #   warning (merge-base abc1234)
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ToolError, UsageError
from .findings import Finding, json_path, sort_findings
from .gitrepo import GitRepo
from .layout import ENV_FILE, SETTINGS_FILE
from .rules import CATALOGUE, DEFAULT_POLICY, DEFAULT_POLICY_NAME, REPO_POLICY
from .rules.model import as_list
from .rules.policy import rules_named
from .rules.registry import PROFILES
from .yamlio import Document, JsonPath, YamlError, load_text

__all__ = ["find_weakenings", "RULE", "NOT_COMPARED"]

RULE = "POLICY-WEAKENED"
NOT_COMPARED = "weakening of platform files not compared"
"""The end of the `info` finding's message when no comparison ran."""
_SEVERITY_RANK = {"-": 0, "info": 1, "warning": 2, "error": 3}
_DEFAULT_SEVERITY = "warning"
_LISTED = 5
"""Rule IDs a message names before it says how many more."""
_SYNC_DEFAULT = True
"""`sync.automated`, `sync.prune` and `sync.selfHeal` when the environment file leaves them out."""
_ENGINE_NAMESPACES = {("argocd", "namespace"): "argocd", ("flux", "namespace"): "flux-system"}
"""gitops.yaml's namespaces of the sync engines and their defaults."""

# Policy settings whose loosening is clear, and what the loosening means.
_ADDED_LOOSENS = {
    "clusterScopedKinds": "apps may now render this cluster-scoped kind",
    "preProvisionedSecrets": "a Secret of this name is now taken to exist outside the repository",
    "preProvisionedConfigMaps": "a ConfigMap of this name is now taken to exist outside the repository",
    "ingressNamespaces": "port http of every app may now be opened to this namespace",
}
_REMOVED_LOOSENS = {
    "forbiddenKinds": "apps may now render this kind",
    "secretNames": "values under this name are no longer treated as secrets",
    "placeholderHosts": "PHX_HOST may now be this placeholder",
}
_ADDED_PER_PROFILE_LOOSENS = {"spreadTopologyKeys": "spreading over this topology key now suffices"}
_REMOVED_PER_PROFILE_LOOSENS = {"networkPolicyTypes": "NetworkPolicies no longer need to cover these policy types"}
_RAISED_ENTROPY_LOOSENS = {
    "base64Limit": "fewer base64 strings count as secrets",
    "hexLimit": "fewer hex strings count as secrets",
    "minLength": "shorter strings are no longer examined",
}
_SYNC_LOOSENS = {
    "automated": "every merged commit now syncs without a person starting it",
    "prune": "objects that leave the rendered output are now deleted from the cluster",
    "selfHeal": "changes made on the cluster are now reverted without a person",
}


@dataclass(frozen=True)
class _Weakening:
    """One loosened entry: where it is in the working tree's file and what happened to it."""

    path: JsonPath
    text: str


@dataclass(frozen=True)
class _Version:
    """A file's mapping at the merge-base or in the working tree; `doc` None for the tool's default policy."""

    data: dict[str, Any]
    doc: Document | None


class _Unreadable(Exception):
    """A file could not be compared (not YAML, not one mapping): the reason, for an `info` finding."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.path, self.line, self.reason = path, line, reason


def find_weakenings(root: Path, base_branch: str) -> list[Finding]:
    """The POLICY-WEAKENED findings of the config repository at `root` against its merge-base with `base_branch`,
    sorted; a single `info` finding when there is no git checkout or no merge-base (see the module docstring)."""
    try:
        git = GitRepo.of(root)
    except UsageError:
        return [_notice(f"not a git checkout: {NOT_COMPARED}")]
    except ToolError as err:
        return [_notice(f"{err}: {NOT_COMPARED}")]
    try:
        base = git.merge_base(base_branch)
        return _Comparison(root, git, base).findings()
    except (UsageError, ToolError) as err:
        return [_notice(f"{str(err).split('; ')[0]}: {NOT_COMPARED}")]


def _notice(message: str, path: str = ".", line: int | None = None) -> Finding:
    return Finding(RULE, "info", message, path, line)


class _Comparison:
    """The platform-owned files of one working tree against one merge-base commit."""

    def __init__(self, root: Path, git: GitRepo, base: str) -> None:
        self.root, self.git, self.base = root, git, base
        self.short = base[:7]
        self.base_policy_raw: bytes | None = None
        """The merge-base's `schemas/policy.yaml` (None: it had none, the tool default applied)."""
        self._base_policy: dict[str, Any] | None = None

    def findings(self) -> list[Finding]:
        found = self._policy()
        for env_file in sorted((self.root / "overlays").glob(f"*/{ENV_FILE}")):
            folder = env_file.parent
            if not folder.name.startswith(".") and not folder.is_symlink() and env_file.is_file() \
                    and not env_file.is_symlink():
                found += self._environment(folder.name)
        found += self._settings()
        return sort_findings(found)

    def base_policy(self) -> dict[str, Any]:
        """The merge-base's policy as data, read once (empty when unreadable): it sets POLICY-WEAKENED's own
        severity."""
        if self._base_policy is None:
            try:
                raw = self.base_policy_raw
                self._base_policy = (self._old(raw, REPO_POLICY) if raw is not None else _default_policy()).data
            except _Unreadable:
                self._base_policy = {}
        return self._base_policy

    # reading ------------------------------------------------------------------------------------------------

    def _read(self, rel: str) -> tuple[bytes | None, bytes | None]:
        """The bytes of `rel` at the merge-base and in the working tree (None where it does not exist)."""
        path = self.root / rel
        try:
            new = path.read_bytes() if path.is_file() else None
        except OSError as err:
            raise _Unreadable(rel, None, f"cannot read file: {err.strerror}") from None
        return self.git.show(self.base, rel), new

    def _old(self, raw: bytes, rel: str) -> _Version:
        return _version(raw, rel, f"{rel} at the merge-base {self.short}")

    def _compare(self, rel: str, env: str | None, weakenings: Iterator[_Weakening], new: _Version,
                 note: str = "") -> list[Finding]:
        found = list(weakenings)
        severity = _own_severity(self.base_policy(), env) if found else "-"
        if severity == "-":
            return []
        located = [new.doc.position(w.path) if new.doc is not None else (None, None) for w in found]
        return [Finding(RULE, severity, f"{json_path(w.path)}: {w.text} (merge-base {self.short}{note})", rel,
                        line, col) for w, (line, col) in zip(found, located, strict=True)]

    # the three kinds of file (each compared only when its bytes changed) ------------------------------------

    def _policy(self) -> list[Finding]:
        rel = REPO_POLICY
        try:
            old_raw, new_raw = self._read(rel)
            self.base_policy_raw = old_raw
            if old_raw == new_raw:
                return []
            old = self._old(old_raw, rel) if old_raw is not None else _default_policy()
            new = _version(new_raw, rel, rel) if new_raw is not None else _Version(_default_policy().data, None)
        except _Unreadable as err:
            return [_notice(f"{err.reason}: {NOT_COMPARED}", err.path, err.line)]
        self._base_policy = old.data
        note = "" if new_raw is not None else f"; {rel} deleted: the tool default {DEFAULT_POLICY_NAME} applies"
        return self._compare(rel, None, _policy_weakenings(old.data, new.data), new, note)

    def _environment(self, env: str) -> list[Finding]:
        rel = f"overlays/{env}/{ENV_FILE}"
        try:
            old_raw, new_raw = self._read(rel)
            if old_raw == new_raw or new_raw is None:
                return []
            old, new = (self._old(old_raw, rel) if old_raw is not None else None), _version(new_raw, rel, rel)
        except _Unreadable as err:
            return [_notice(f"{err.reason}: {NOT_COMPARED}", err.path, err.line)]
        return self._compare(rel, env, _environment_weakenings(old.data if old else None, new.data), new)

    def _settings(self) -> list[Finding]:
        rel = SETTINGS_FILE
        try:
            old_raw, new_raw = self._read(rel)
            if old_raw == new_raw or old_raw is None or new_raw is None:
                return []
            old, new = self._old(old_raw, rel), _version(new_raw, rel, rel)
        except _Unreadable as err:
            return [_notice(f"{err.reason}: {NOT_COMPARED}", err.path, err.line)]
        return self._compare(rel, None, _settings_weakenings(old.data, new.data), new)


@cache
def _default_policy() -> _Version:
    """The tool's default policy (package data, read once per process)."""
    return _version(DEFAULT_POLICY.read_bytes(), DEFAULT_POLICY_NAME, DEFAULT_POLICY_NAME)


def _version(raw: bytes, rel: str, name: str) -> _Version:
    """The one mapping of `raw`, with its line map; _Unreadable naming `rel` otherwise."""
    try:
        docs = load_text(raw, name)
    except YamlError as err:
        raise _Unreadable(rel, err.line if name == rel else None, f"{name}: {err.detail}") from None
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise _Unreadable(rel, None, f"{name}: not one YAML mapping")
    return _Version(docs[0].data, docs[0])


# the policy ----------------------------------------------------------------------------------------------------


def _policy_weakenings(old: dict[str, Any], new: dict[str, Any]) -> Iterator[_Weakening]:
    yield from _severities(_mapping(old.get("rules")), _mapping(new.get("rules")))
    yield from _suppressible(_strings(old.get("unsuppressible")), _strings(new.get("unsuppressible")))
    yield from _profiles(old, new)
    old_settings, new_settings = _mapping(old.get("settings")), _mapping(new.get("settings"))
    for key, meaning in _ADDED_LOOSENS.items():
        yield from _added(("settings", key), _strings(old_settings.get(key)), _strings(new_settings.get(key)),
                          meaning)
    for key, meaning in _REMOVED_LOOSENS.items():
        yield from _removed(("settings", key), _strings(old_settings.get(key)), _strings(new_settings.get(key)),
                            meaning)
    for profile in PROFILES:
        for key, meaning in _ADDED_PER_PROFILE_LOOSENS.items():
            yield from _added(("settings", key, profile), _strings(_mapping(old_settings.get(key)).get(profile)),
                              _strings(_mapping(new_settings.get(key)).get(profile)), meaning)
        for key, meaning in _REMOVED_PER_PROFILE_LOOSENS.items():
            yield from _removed(("settings", key, profile), _strings(_mapping(old_settings.get(key)).get(profile)),
                                _strings(_mapping(new_settings.get(key)).get(profile)), meaning)
        before = _number(_mapping(_mapping(old_settings.get("replicas")).get(profile)).get("min"))
        after = _number(_mapping(_mapping(new_settings.get("replicas")).get(profile)).get("min"))
        if before is not None and (after is None or after < before):
            yield _Weakening(("settings", "replicas", profile, "min"),
                             f"minimum replica count lowered from {before} to {'none' if after is None else after}")
    old_entropy, new_entropy = _mapping(old_settings.get("entropy")), _mapping(new_settings.get("entropy"))
    for key, meaning in _RAISED_ENTROPY_LOOSENS.items():
        before, after = _number(old_entropy.get(key)), _number(new_entropy.get(key))
        if before is not None and after is not None and after > before:
            yield _Weakening(("settings", "entropy", key), f"raised from {before} to {after}: {meaning}")


def _severities(old: dict[str, Any], new: dict[str, Any]) -> Iterator[_Weakening]:
    """Every (rule, profile, condition) whose severity is lower in `new` than in `old` (`rules:` mappings)."""
    for rule_id in sorted(set(old) | set(new)):
        for profile in PROFILES:
            before, _ = _severity_entry(old, rule_id, profile)
            after, listed = _severity_entry(new, rule_id, profile)
            plain = isinstance(before, str) and isinstance(after, str)
            was, now = _by_condition(before), _by_condition(after)
            for condition in sorted(set(was) | set(now), key=lambda c: (c != "default", c)):
                old_value, new_value = was.get(condition, was.get("default")), now.get(condition, now.get("default"))
                if (old_value in _SEVERITY_RANK and new_value in _SEVERITY_RANK
                        and _SEVERITY_RANK[str(new_value)] < _SEVERITY_RANK[str(old_value)]):
                    where: JsonPath = ("rules", rule_id, profile) if plain else ("rules", rule_id, profile, condition)
                    default = "" if listed else " (not listed: the catalogue's default applies)"
                    yield _Weakening(where, f"severity lowered from {old_value} to {new_value}{default}")


def _severity_entry(rules: dict[str, Any], rule_id: str, profile: str) -> tuple[Any, bool]:
    """The severity entry of `rule_id` in `profile` and whether the policy lists it (else the catalogue's default;
    None for an ID the catalogue does not know)."""
    entry = _mapping(rules.get(rule_id))
    if profile in entry:
        return entry[profile], True
    known = CATALOGUE.get(rule_id)
    return (known.defaults[PROFILES.index(profile)] if known is not None else None), False


def _by_condition(value: Any) -> dict[str, Any]:
    """{condition: severity} of a severity entry; a plain severity is the `default` condition."""
    if isinstance(value, dict):
        return {str(condition): severity for condition, severity in value.items()}
    return {"default": value} if value is not None else {}


def _suppressible(old: list[str], new: list[str]) -> Iterator[_Weakening]:
    """Entries gone from `unsuppressible` (IDs, `Vnn` or glob patterns) with the rules that only they named and that
    an annotation may now suppress (rules the catalogue never lets an annotation suppress are left out)."""
    still = {rule_id for entry in new for rule_id in rules_named(entry)}
    for entry in old:
        freed = sorted(rule_id for rule_id in rules_named(entry) - still if CATALOGUE[rule_id].suppressible)
        if freed:
            shown = ", ".join(freed[:_LISTED]) + (f" and {len(freed) - _LISTED} more" if len(freed) > _LISTED else "")
            yield _Weakening(("unsuppressible",), f"{entry!r} removed: an annotation may now suppress {shown}")


def _profiles(old: dict[str, Any], new: dict[str, Any]) -> Iterator[_Weakening]:
    """Environments whose profile (severity column) is weaker in `new`, and a weaker `defaultProfile`."""
    old_default, new_default = old.get("defaultProfile"), new.get("defaultProfile")
    if _profile_rank(new_default) < _profile_rank(old_default):
        yield _Weakening(("defaultProfile",), f"lowered from {old_default} to {new_default}: every environment "
                         "not listed under environments uses it")
    old_envs, new_envs = _mapping(old.get("environments")), _mapping(new.get("environments"))
    for env in sorted(set(old_envs) | set(new_envs)):
        before, after = old_envs.get(env, old_default), new_envs.get(env, new_default)
        if _profile_rank(after) < _profile_rank(before):
            default = "" if env in new_envs else " (not listed: defaultProfile applies)"
            yield _Weakening(("environments", env), f"environment {env} moved from profile {before} to the weaker "
                             f"{after}{default}")


def _profile_rank(profile: Any) -> int:
    """dev < staging < prod; anything else ranks as prod (the policy loader refuses it)."""
    return PROFILES.index(profile) if profile in PROFILES else len(PROFILES) - 1


def _own_severity(policy: dict[str, Any], env: str | None) -> str:
    """The severity `policy` (the merge-base's) gives POLICY-WEAKENED for a file of `env` (None: of the whole
    repository, the `defaultProfile`)."""
    default_profile = policy.get("defaultProfile")
    profile = _mapping(policy.get("environments")).get(env, default_profile) if env else default_profile
    value, _ = _severity_entry(_mapping(policy.get("rules")), RULE, profile if profile in PROFILES else PROFILES[-1])
    value = _by_condition(value).get("default")
    return str(value) if value in _SEVERITY_RANK else _DEFAULT_SEVERITY


# environment files ---------------------------------------------------------------------------------------------


def _environment_weakenings(old: dict[str, Any] | None, new: dict[str, Any]) -> Iterator[_Weakening]:
    if old is None:
        yield _Weakening(("server",), f"a new environment: cluster {new.get('cluster')} at {new.get('server')}")
    else:
        for key in ("server", "cluster"):
            if key in old and key in new and old[key] != new[key]:
                yield _Weakening((key,), f"changed from {old[key]} to {new[key]}: the environment now points at "
                                 "another cluster")
        old_sync, new_sync = _mapping(old.get("sync")), _mapping(new.get("sync"))
        for key, meaning in _SYNC_LOOSENS.items():
            before, after = old_sync.get(key, _SYNC_DEFAULT), new_sync.get(key, _SYNC_DEFAULT)
            if before is False and after is True:
                change = ("loosened from false to true" if key in new_sync
                          else "removed (was false; the default is true)")
                yield _Weakening(("sync", key), f"{change}: {meaning}")
        if "branch" in old_sync and old_sync.get("branch") != new_sync.get("branch"):
            after = f"changed to {new_sync['branch']}" if "branch" in new_sync else "removed"
            yield _Weakening(("sync", "branch") if "branch" in new_sync else ("sync",),
                             f"{after} (was {old_sync['branch']}): the environment now deploys commits that were "
                             "not promoted to it")
        for entry in (_mapping(n) for n in as_list(old.get("notifications"))):
            if not any(_mapping(n).get("name") == entry.get("name") for n in as_list(new.get("notifications"))):
                yield _Weakening(("notifications",), f"notification {entry.get('name')!r} removed: failed syncs "
                                 f"and migrations no longer reach {entry.get('channel')}")
        yield from _removed(("reservedNamespaces",), _strings(old.get("reservedNamespaces")),
                            _strings(new.get("reservedNamespaces")), "apps may now use it")
        yield from _argocd_weakenings(_mapping(old.get("argocd")), _mapping(new.get("argocd")))
    old_apps = _mapping((old or {}).get("apps"))
    for app, entry in _mapping(new.get("apps")).items():
        had = _strings(_mapping(old_apps.get(app)).get("namespaces"))
        where = f"which had [{', '.join(had)}]" if app in old_apps else (
            "a new app" if old is not None else "a new app in a new environment")
        for index, namespace in enumerate(_strings(_mapping(entry).get("namespaces"))):
            if namespace not in had:
                yield _Weakening(("apps", str(app), "namespaces", index),
                                 f"namespace {namespace!r} added for app {app}, {where}")


def _argocd_weakenings(old: dict[str, Any], new: dict[str, Any]) -> Iterator[_Weakening]:
    """A sync window removed or opened to manual syncs; a role given more groups or actions, or a new role."""
    new_windows = [_mapping(w) for w in as_list(new.get("syncWindows"))]
    for window in (_mapping(w) for w in as_list(old.get("syncWindows"))):
        what = f"{window.get('kind')} window {window.get('schedule')!r} for {window.get('duration')}"
        same = [(i, w) for i, w in enumerate(new_windows)
                if all(w.get(k) == window.get(k) for k in ("kind", "schedule", "duration", "timeZone"))]
        if not same:
            yield _Weakening(("argocd", "syncWindows"), f"{what} removed: Argo CD syncs at times it did not")
        elif window.get("manualSync") is not True and same[0][1].get("manualSync") is True:
            yield _Weakening(("argocd", "syncWindows", same[0][0], "manualSync"),
                             f"{what} now allows manual syncs")
    old_roles = {_mapping(r).get("name"): _mapping(r) for r in as_list(old.get("roles"))}
    for index, role in enumerate(_mapping(r) for r in as_list(new.get("roles"))):
        had = old_roles.get(role.get("name"))
        if had is None:
            yield _Weakening(("argocd", "roles", index), f"a new role {role.get('name')!r}: its groups may "
                             f"{', '.join(_strings(role.get('actions')))} the environment's Applications")
            continue
        for key in ("groups", "actions"):
            for added in [x for x in _strings(role.get(key)) if x not in _strings(had.get(key))]:
                yield _Weakening(("argocd", "roles", index, key), f"{added!r} added to role {role.get('name')!r}")


# gitops.yaml ---------------------------------------------------------------------------------------------------


def _settings_weakenings(old: dict[str, Any], new: dict[str, Any]) -> Iterator[_Weakening]:
    meanings = {"repoURL": "Argo CD and Flux now sync another repository",
                "revision": "the clusters now follow another branch"}
    for key, meaning in meanings.items():
        if key in old and key in new and old[key] != new[key]:
            yield _Weakening((key,), f"changed from {old[key]} to {new[key]}: {meaning}")
    secret = _mapping(old.get("flux")).get("secretName")
    if secret is not None and "secretName" not in _mapping(new.get("flux")):
        yield _Weakening(("flux", "secretName"), f"removed (was {secret}): Flux now fetches the repository without "
                         "credentials")
    if _mapping(old.get("argocd")).get("lockDefaultProject") is True and \
            _mapping(new.get("argocd")).get("lockDefaultProject") is not True:
        yield _Weakening(("argocd", "lockDefaultProject"), "the lock of Argo CD's `default` project is no longer "
                         "generated: Applications may land in it")
    for (engine, key), default in _ENGINE_NAMESPACES.items():
        before = _mapping(old.get(engine)).get(key, default)
        after = _mapping(new.get(engine)).get(key, default)
        if before != after:
            yield _Weakening((engine, key), f"changed from {before} to {after}: the sync engine's objects move to "
                             "another namespace")


# shared --------------------------------------------------------------------------------------------------------


def _added(where: JsonPath, old: list[str], new: list[str], meaning: str) -> Iterator[_Weakening]:
    """The entries of list `new` (at `where`) that no entry of `old` covers (entries may be glob patterns)."""
    for index, entry in enumerate(new):
        if not _covered(entry, old):
            yield _Weakening((*where, index), f"{entry!r} added: {meaning}")


def _removed(where: JsonPath, old: list[str], new: list[str], meaning: str) -> Iterator[_Weakening]:
    """The entries of list `old` that no entry of `new` (at `where`) covers (entries may be glob patterns:
    `*_TOKEN` replaced by `*TOKEN` is no loss)."""
    for entry in old:
        if not _covered(entry, new):
            yield _Weakening(where, f"{entry!r} removed: {meaning}")


def _covered(entry: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(entry, pattern) for pattern in patterns)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
