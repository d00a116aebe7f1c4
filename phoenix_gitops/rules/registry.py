"""The rule catalogue: one `Rule` per finding ID (what, why, how to fix, default severities), and the check behind it.

A check is a function registered with `@rule(...)`. Per-overlay checks (`scope="rendered"` or `"source"`)
take a `View` and yield `Hit`s; cross-environment checks (`scope="cross-env"`) take the list of views of every
environment and yield `(view, hit)` pairs. Severities live in the policy (`phoenix_gitops/data/policy.yaml` or a
repository's own `schemas/policy.yaml`); the `defaults` here are the reference's (phoenix-on-kubernetes §2) and
apply to a rule the policy file does not list.

Some rules no annotation may suppress, whatever the policy says (`in_floor`): every `ISO-*` and `POLICY-*` rule
(a resource must not be able to switch off the checks that keep it inside its environment, or the checks of its
own suppression) and the `SEC-*` rules that find a credential value (`CREDENTIAL_RULES`); a policy may add more
(`Policy.suppressible`).

Findings that a pipeline stage raises (the YAML loader, the source reader, kustomize, schema validation, the
bootstrap check) are catalogued with `document(...)`: documented and listed here, run there. Most of them stop
their stage and are errors whatever the policy says (`tunable=False`); the policy may tune the others
(`policy.retune` applies it to a stage's findings).

Usage:
    @rule("PHX-V14", v="V14", family="phoenix", title="...", why="...", fix="...",
          defaults=("warning", "warning", "error"))
    def v14(view: View) -> Iterator[Hit]:
        if view.app and view.app.annotations.get(HEALTH) != "true":
            yield Hit(view.app, ("metadata", "annotations"), "APP does not declare ...")

    document("YAML-SYNTAX", family="yaml", stage="the YAML loader", title="...", why="...", fix="...")
    CATALOGUE["PHX-V14"].title
    in_floor("ISO-CLUSTER-SCOPED")       # True: never suppressible
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..sourcemap import Location
from .model import JsonPath, Res

__all__ = ["Rule", "Hit", "CATALOGUE", "rule", "document", "PROFILES", "FAMILIES", "resolve_id", "in_floor",
           "FLOOR_PREFIXES", "CREDENTIAL_RULES"]

PROFILES = ("dev", "staging", "prod")
"""The severity columns of the reference; the policy maps each environment to one of them."""
FAMILIES = {
    "phoenix": "Phoenix reference rules (V01–V38)",
    "general": "General Kubernetes rules",
    "secrets": "Secrets",
    "isolation": "Isolation",
    "policy": "Policy and suppressions",
    "yaml": "YAML files",
    "sources": "Sources and repository layout",
    "build": "Builds and schemas",
    "bootstrap": "Bootstrap manifests (clusters/<env>/)",
}
"""Documentation sections, in order: the rules first, then what the stages before and after them report."""
Severity = str | dict[str, str]
"""`error`, `warning`, `info` or `-` (not checked); or {"default": ..., <condition>: ...}."""
FLOOR_PREFIXES = ("ISO-", "POLICY-")
"""Rule families no annotation may suppress: isolation, and the policy and suppressions themselves."""
CREDENTIAL_RULES = frozenset({
    "SEC-SECRET-NAME", "SEC-URL-CREDENTIALS", "SEC-PRIVATE-KEY", "SEC-TOKEN-FORMAT", "SEC-SOPS", "SEC-LAST-APPLIED",
})
"""The `SEC-*` rules that find a credential value in git (a literal, a URL password, a key, a token, a value left
out of SOPS encryption, a pasted last-applied object): no annotation may suppress them. `SEC-ENTROPY` is a
heuristic (a checksum or a public key looks random too) and the SealedSecret rules are about ciphertexts, so those
stay suppressible."""


@dataclass(frozen=True)
class Hit:
    """One violation seen by a check: about `res` (None for a source file), at `path` inside it.

    `location` overrides where the finding points (a source document position, or a ConfigMap literal);
    `condition` selects a conditional severity of the policy (e.g. `cpu-hpa` for V18).
    """

    res: Res | None
    path: JsonPath
    message: str
    condition: str | None = None
    location: Location | None = None
    at: tuple[Res, JsonPath] | None = None
    """Point at this (resource, path) instead of (res, path), e.g. the ConfigMap key that set a value."""
    rule: str | None = None
    """The finding's ID when it is a member of the rule's family rather than the rule's own (`VAP/<policy>` for
    `K8S-VAP`); severity, suppression and documentation stay the rule's."""


@dataclass(frozen=True)
class Rule:
    """A catalogue entry. `check` is None for rules another stage implements (documented here, run there)."""

    id: str
    title: str
    why: str
    fix: str
    family: str
    defaults: tuple[Severity, Severity, Severity]
    """Reference severities for dev, staging, prod."""
    v: str | None = None
    """The reference rule (`V08`) this one implements."""
    scope: str = "rendered"
    """`rendered` (each overlay's output), `source` (its kustomization files), `cross-env` or `stage`."""
    conditions: tuple[str, ...] = ()
    """Named conditions that may carry their own severity in the policy."""
    interpretation: str = ""
    """How the rule reads the reference where it needs reading (documented in docs/rules.md)."""
    suppressible: bool = True
    """Whether a resource's `phoenix-gitops/suppress` annotation may hide it: only findings about a resource, and
    never a rule of the floor (`in_floor`); the policy may take it away from more (`Policy.suppressible`)."""
    stage: str = ""
    """For `scope="stage"`: the part of the pipeline that reports it."""
    tunable: bool = True
    """Whether the policy may set its severity; False for findings that stop their stage (always errors)."""
    check: Callable[..., Iterable[Any]] | None = field(default=None, compare=False, repr=False)


CATALOGUE: dict[str, Rule] = {}
"""Every rule, by ID, in registration order."""

_V_ALIAS = re.compile(r"^V(\d{2})$")


def rule(id: str, *, title: str, why: str, fix: str, family: str, defaults: tuple[Severity, Severity, Severity],
         v: str | None = None, scope: str = "rendered", conditions: tuple[str, ...] = (), interpretation: str = "",
         suppressible: bool = True) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
    """Register the decorated function as the check of rule `id`."""

    def register(check: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        _add(Rule(id, title.strip(), _text(why), _text(fix), family, defaults, v=v, scope=scope,
                  conditions=conditions, interpretation=_text(interpretation),
                  suppressible=suppressible and scope in ("rendered", "cross-env") and not in_floor(id),
                  check=check))
        return check

    return register


def document(id: str, *, title: str, why: str, fix: str, family: str, stage: str, v: str | None = None,
             interpretation: str = "", tunable: bool = False,
             defaults: tuple[Severity, Severity, Severity] = ("error", "error", "error")) -> None:
    """Catalogue a finding that a pipeline stage reports: documented here, raised there, never suppressible (it is
    about a file or a build, not a resource). With `tunable=False` (a finding that stops its stage) it is an error
    in every environment and a policy that sets its severity is refused."""
    if not tunable and defaults != ("error", "error", "error"):
        raise ValueError(f"{id}: a finding that stops its stage is an error in every environment")
    _add(Rule(id, title.strip(), _text(why), _text(fix), family, defaults, v=v, scope="stage",
              interpretation=_text(interpretation), suppressible=False, stage=stage, tunable=tunable))


def _add(entry: Rule) -> None:
    if entry.id in CATALOGUE:
        raise ValueError(f"rule {entry.id} registered twice")
    if entry.family not in FAMILIES:
        raise ValueError(f"rule {entry.id}: unknown family {entry.family!r}")
    CATALOGUE[entry.id] = entry


def resolve_id(name: str) -> str | None:
    """The catalogue ID for `name`: an ID itself, or the `Vnn` shorthand of a reference rule."""
    name = name.strip()
    if name in CATALOGUE:
        return name
    if _V_ALIAS.match(name):
        return next((r.id for r in CATALOGUE.values() if r.v == name), None)
    return None


def in_floor(rule_id: str) -> bool:
    """Whether `rule_id` belongs to the floor no annotation and no policy can make suppressible."""
    return rule_id.startswith(FLOOR_PREFIXES) or rule_id in CREDENTIAL_RULES


def _text(text: str) -> str:
    """Docstring-like text on one line per paragraph."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)
