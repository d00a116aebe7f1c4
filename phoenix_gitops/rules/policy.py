"""The policy: which rule applies at which severity in which environment, and the data the rules read.

It is data, in `schemas/policy.yaml` (checked against the tool's `schemas/policy.schema.json`), so a team tunes the
catalogue without touching code (a checked repository's own `schemas/policy.yaml` wins over the tool's): change a severity, switch a rule off for an environment (`-`), allow a cluster-scoped kind,
list a Secret that is provisioned outside the repo. Each environment uses one severity column (a *profile*:
`dev`, `staging` or `prod`); an environment the file does not map uses `defaultProfile`.

Usage:
    policy, problems = load_policy()              # problems: [Finding] (POLICY-FILE), empty when the file is sound
    policy.severity(CATALOGUE["PHX-V04"], "staging")          # 'warning'
    policy.severity(CATALOGUE["PHX-V18"], "prod", "cpu-hpa")  # 'error'
    policy.setting("clusterScopedKinds", "prod")              # ['Namespace']
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..findings import Finding
from ..own_schemas import SCHEMA_DIR, check
from ..yamlio import Document, YamlError, load_file
from .registry import CATALOGUE, PROFILES, Rule, Severity

__all__ = ["Policy", "load_policy", "policy_file", "POLICY_FILE", "SKIP"]

POLICY_FILE = SCHEMA_DIR / "policy.yaml"
SKIP = "-"
"""The severity that means "not checked in this environment"."""


@dataclass(frozen=True)
class Policy:
    """A loaded, checked policy file."""

    environments: dict[str, str]
    """Environment name -> profile."""
    default_profile: str
    rules: dict[str, dict[str, Severity]]
    """Rule ID -> {profile: severity}."""
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = "schemas/policy.yaml"
    doc: Document | None = None

    def profile(self, env: str) -> str:
        """The severity column environment `env` uses."""
        return self.environments.get(env, self.default_profile)

    def severity_of(self, rule: Rule, profile: str) -> Severity:
        """The policy's severity entry for `rule` in `profile` (the rule's default when the file has none)."""
        entry = self.rules.get(rule.id)
        if entry is not None and profile in entry:
            return entry[profile]
        return rule.defaults[PROFILES.index(profile)] if profile in PROFILES else rule.defaults[-1]

    def severity(self, rule: Rule, env: str, condition: str | None = None) -> str:
        """`error`, `warning`, `info` or `-` for a finding of `rule` in environment `env` under `condition`."""
        if rule.scope == "stage":
            return "error"
        value = self.severity_of(rule, self.profile(env))
        if isinstance(value, dict):
            return str(value.get(condition or "default", value.get("default", SKIP)))
        return value

    def enabled(self, rule: Rule, env: str) -> bool:
        """False only when every severity of `rule` in `env` (all conditions) is `-`."""
        value = self.severity_of(rule, self.profile(env))
        values = value.values() if isinstance(value, dict) else [value]
        return any(v != SKIP for v in values)

    def setting(self, key: str, profile: str | None = None) -> Any:
        """A setting; one given per profile (a mapping with `dev`/`staging`/`prod` keys) resolves to `profile`."""
        value = self.settings.get(key)
        if isinstance(value, dict) and profile is not None and set(value) <= set(PROFILES) and value:
            return value.get(profile)
        return value


def policy_file(repo_root: Path) -> tuple[Path, str]:
    """The policy of the repository at `repo_root`: its own `schemas/policy.yaml`, else the one shipped with the
    tool (a repo copied without `schemas/` still gets the full catalogue). Returns (path, display name)."""
    own = repo_root / "schemas" / "policy.yaml"
    if own.is_file():
        return own, "schemas/policy.yaml"
    return POLICY_FILE, _display(POLICY_FILE)


def load_policy(path: Path = POLICY_FILE, name: str | None = None) -> tuple[Policy | None, list[Finding]]:
    """Load and check the policy file; returns (policy, []) or (None, [POLICY-FILE findings]).

    Loaded once per process and file version (path, size, modification time)."""
    display = name or _display(path)
    try:
        stat = path.stat()
        version: tuple[int, int] | None = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        version = None
    policy, problems = _load(path, display, version)
    return policy, list(problems)


@functools.lru_cache(maxsize=8)
def _load(path: Path, display: str, version: tuple[int, int] | None) -> tuple[Policy | None, tuple[Finding, ...]]:
    policy, problems = _read(path, display)
    return policy, tuple(problems)


def _read(path: Path, display: str) -> tuple[Policy | None, list[Finding]]:
    try:
        docs = load_file(path, name=display)
    except YamlError as err:
        return None, [Finding("POLICY-FILE", "error", err.detail, display, err.line, err.col)]
    if len(docs) != 1:
        return None, [Finding("POLICY-FILE", "error", f"expected exactly one YAML document, found {len(docs)}", display)]
    doc = docs[0]
    problems = check(doc, "policy", rule="POLICY-FILE")
    if problems:
        return None, problems
    data = doc.data
    for rule_id, entry in data["rules"].items():
        known = CATALOGUE.get(rule_id)
        line, col = doc.position(("rules", rule_id))
        if known is None:
            problems.append(Finding("POLICY-FILE", "error", f"$.rules.{rule_id}: no such rule in the catalogue",
                                    display, line, col))
            continue
        if known.scope == "stage":
            problems.append(Finding("POLICY-FILE", "error", f"$.rules.{rule_id}: reported by {known.stage}, always "
                                    "an error; its severity cannot be set here", display, line, col))
        for profile, value in entry.items():
            if isinstance(value, dict):
                for condition in value:
                    if condition != "default" and condition not in known.conditions:
                        where = doc.position(("rules", rule_id, profile, condition))
                        problems.append(Finding(
                            "POLICY-FILE", "error",
                            f"$.rules.{rule_id}.{profile}.{condition}: {rule_id} has no condition {condition!r}"
                            + (f" (it has {', '.join(known.conditions)})" if known.conditions else ""),
                            display, *where))
    if problems:
        return None, problems
    policy = Policy(
        environments=dict(data["environments"]),
        default_profile=data["defaultProfile"],
        rules={k: dict(v) for k, v in data["rules"].items()},
        settings=dict(data["settings"]),
        source=display,
        doc=doc,
    )
    return policy, []


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(SCHEMA_DIR.parent).as_posix()
    except ValueError:
        return str(path)
