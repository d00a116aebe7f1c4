"""The policy: which rule applies at which severity in which environment, and the data the rules read.

It is data, so a team tunes the catalogue without touching code: change a severity, switch a rule off for an
environment (`-`), allow a cluster-scoped kind, list a Secret that is provisioned outside the repo. The tool's
default is package data (`phoenix_gitops/data/policy.yaml`); a checked repository's own `schemas/policy.yaml`,
when it has one, replaces it whole. Either is checked against the tool's `policy.schema.json` and the catalogue.
Each environment uses one severity column (a *profile*: `dev`, `staging` or `prod`); an environment the file does
not map uses `defaultProfile`. Findings that stop their stage keep severity error: a policy that sets one is
refused (POLICY-FILE). `unsuppressible` lists rules (IDs, `Vnn` or glob patterns such as `K8S-*`) that no
annotation may suppress, on top of the catalogue's floor (`registry.in_floor`); an entry naming no rule is refused.

Usage:
    policy, problems = load_policy()              # the default; problems: [Finding] (POLICY-FILE), empty when sound
    policy, problems = load_policy(*policy_file(repo.root))   # the repository's own policy, else the default
    policy.severity(CATALOGUE["PHX-V04"], "staging")          # 'warning'
    policy.severity(CATALOGUE["PHX-V18"], "prod", "cpu-hpa")  # 'error'
    policy.setting("clusterScopedKinds", "prod")              # ['Namespace']
    policy.suppressible(CATALOGUE["K8S-PRIVILEGED"])          # False: the default policy lists it
    findings = retune(stage_findings, policy)                 # a tunable stage finding at the policy's severity
    rules_named("K8S-P*")                                     # {'K8S-PRIVILEGED', 'K8S-PROBES', 'K8S-PDB-SELECTOR'}
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..findings import Finding
from ..own_schemas import check
from ..yamlio import Document, YamlError, load_text
from .registry import CATALOGUE, PROFILES, Rule, Severity

__all__ = ["Policy", "load_policy", "policy_file", "retune", "rules_named", "DEFAULT_POLICY", "DEFAULT_POLICY_NAME",
           "REPO_POLICY", "SKIP"]

DEFAULT_POLICY: Traversable = resources.files("phoenix_gitops") / "data" / "policy.yaml"
"""The tool's default policy, package data."""
DEFAULT_POLICY_NAME = "phoenix_gitops/data/policy.yaml"
"""How findings name the default policy: its place inside the package, the same in every install."""
REPO_POLICY = "schemas/policy.yaml"
"""A checked repository's own policy, relative to its root; it replaces the default when present."""
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
    source: str = DEFAULT_POLICY_NAME
    doc: Document | None = None
    unsuppressible: tuple[str, ...] = ()
    """Rule IDs, `Vnn` or glob patterns no annotation may suppress, besides the catalogue's floor."""

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
        if not rule.tunable:
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

    def suppressible(self, rule: Rule) -> bool:
        """Whether a `phoenix-gitops/suppress` annotation may hide findings of `rule`: the catalogue allows it
        (a rule about a resource, outside the floor) and no `unsuppressible` entry names it."""
        return rule.suppressible and self.unsuppressible_by(rule) is None

    def unsuppressible_by(self, rule: Rule) -> str | None:
        """The first `unsuppressible` entry that names `rule`, if any."""
        return next((entry for entry in self.unsuppressible if _names(entry, rule)), None)

    def setting(self, key: str, profile: str | None = None) -> Any:
        """A setting; one given per profile (a mapping with `dev`/`staging`/`prod` keys) resolves to `profile`."""
        value = self.settings.get(key)
        if isinstance(value, dict) and profile is not None and set(value) <= set(PROFILES) and value:
            return value.get(profile)
        return value


def policy_file(repo_root: Path) -> tuple[Traversable, str]:
    """The policy of the repository at `repo_root` and its display name: its own `schemas/policy.yaml`, else the
    tool's default."""
    own = repo_root / REPO_POLICY
    if own.is_file():
        return own, REPO_POLICY
    return DEFAULT_POLICY, DEFAULT_POLICY_NAME


def load_policy(path: Traversable = DEFAULT_POLICY, name: str | None = None) -> tuple[Policy | None, list[Finding]]:
    """Load and check the policy file; returns (policy, []) or (None, [POLICY-FILE findings]).

    Loaded once per process and file version (path, size, modification time; package data does not change)."""
    display = name or (DEFAULT_POLICY_NAME if path == DEFAULT_POLICY else str(path))
    version: tuple[int, int] | None = None
    if isinstance(path, Path):
        try:
            stat = path.stat()
        except OSError:
            policy, problems = _read(path, display)
            return policy, problems
        version = (stat.st_size, stat.st_mtime_ns)
    key = (str(path), display, version)
    if key not in _LOADED:
        if len(_LOADED) >= _LOADED_MAX:
            del _LOADED[next(iter(_LOADED))]
        policy, problems = _read(path, display)
        _LOADED[key] = (policy, tuple(problems))
    policy, kept = _LOADED[key]
    return policy, list(kept)


_LOADED: dict[tuple[str, str, tuple[int, int] | None], tuple[Policy | None, tuple[Finding, ...]]] = {}
"""Policies loaded in this process, by (path, display name, file version), oldest first."""
_LOADED_MAX = 8


def retune(findings: Iterable[Finding], policy: Policy) -> list[Finding]:
    """`findings` with the policy applied to those of tunable stage rules: each takes the severity the policy gives
    its rule in its environment, `-` drops it. Every other finding (a rule the engine already judged, a finding
    that stops its stage, an ID outside the catalogue) is kept as it is. Applying it twice changes nothing.

    Call it on a stage's findings before they decide anything (e.g. whether an overlay's sources let it build)."""
    kept = []
    for finding in findings:
        rule = CATALOGUE.get(finding.rule)
        if rule is None or rule.check is not None or not rule.tunable:
            kept.append(finding)
            continue
        severity = policy.severity(rule, finding.env or "")
        if severity == SKIP:
            continue
        kept.append(finding if severity == finding.severity else replace(finding, severity=severity))
    return kept


def _read(path: Traversable, display: str) -> tuple[Policy | None, list[Finding]]:
    try:
        docs = load_text(path.read_bytes(), display)
    except OSError as err:
        return None, [Finding("POLICY-FILE", "error", f"cannot read file: {err.strerror}", display)]
    except YamlError as err:
        return None, [Finding("POLICY-FILE", "error", err.detail, display, err.line, err.col)]
    if len(docs) != 1:
        return None, [Finding("POLICY-FILE", "error", f"expected exactly one YAML document, found {len(docs)}",
                              display)]
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
        if not known.tunable:
            problems.append(Finding("POLICY-FILE", "error", f"$.rules.{rule_id}: its severity cannot be set here: "
                                    f"reported by {known.stage}, it stops that stage and is always an error; leave "
                                    "it out", display, line, col))
            continue
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
    unsuppressible = tuple(data.get("unsuppressible", ()))
    for index, entry in enumerate(unsuppressible):
        if not rules_named(entry):
            problems.append(Finding("POLICY-FILE", "error", f"$.unsuppressible[{index}]: {entry!r} names no rule in "
                                    "the catalogue", display, *doc.position(("unsuppressible", index))))
    if problems:
        return None, problems
    policy = Policy(
        environments=dict(data["environments"]),
        default_profile=data["defaultProfile"],
        rules={k: dict(v) for k, v in data["rules"].items()},
        settings=dict(data["settings"]),
        source=display,
        doc=doc,
        unsuppressible=unsuppressible,
    )
    return policy, []


def rules_named(entry: str) -> set[str]:
    """The catalogue IDs an `unsuppressible` entry names (empty for an entry that names no rule)."""
    return {rule.id for rule in CATALOGUE.values() if _names(entry, rule)}


def _names(entry: str, rule: Rule) -> bool:
    """Whether an `unsuppressible` entry names `rule`: its ID, a glob pattern matching it, or its `Vnn`."""
    return fnmatchcase(rule.id, entry) or entry == rule.v
