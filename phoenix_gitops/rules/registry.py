"""The rule catalogue: one `Rule` per ID (what, why, how to fix, default severities), and the check behind it.

A check is a function registered with `@rule(...)`. Per-overlay checks (`scope="rendered"` or `"source"`)
take a `View` and yield `Hit`s; cross-environment checks (`scope="cross-env"`) take the list of views of every
environment and yield `(view, hit)` pairs. Severities live in `schemas/policy.yaml`; the `defaults` here are the
reference's (phoenix-on-kubernetes §2) and apply to a rule the policy file does not list.

Usage:
    @rule("PHX-V14", v="V14", family="phoenix", title="...", why="...", fix="...", defaults=("warning", "warning", "error"))
    def v14(view: View) -> Iterator[Hit]:
        if view.app and view.app.annotations.get(HEALTH) != "true":
            yield Hit(view.app, ("metadata", "annotations"), "APP does not declare ...")

    CATALOGUE["PHX-V14"].title
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..sourcemap import Location
from .model import JsonPath, Res

__all__ = ["Rule", "Hit", "CATALOGUE", "rule", "document", "PROFILES", "FAMILIES", "resolve_id"]

PROFILES = ("dev", "staging", "prod")
"""The severity columns of the reference; the policy maps each environment to one of them."""
FAMILIES = {
    "phoenix": "Phoenix reference rules (V01–V38)",
    "general": "General Kubernetes rules",
    "secrets": "Secrets",
    "isolation": "Isolation",
    "policy": "Suppressions",
}
Severity = str | dict[str, str]
"""`error`, `warning`, `info` or `-` (not checked); or {"default": ..., <condition>: ...}."""


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
    stage: str = ""
    """For `scope="stage"`: the module that reports it (the policy does not change its severity)."""
    check: Callable[..., Iterable[Any]] | None = field(default=None, compare=False, repr=False)


CATALOGUE: dict[str, Rule] = {}
"""Every rule, by ID, in registration order."""

_V_ALIAS = re.compile(r"^V(\d{2})$")


def rule(id: str, *, title: str, why: str, fix: str, family: str, defaults: tuple[Severity, Severity, Severity],
         v: str | None = None, scope: str = "rendered", conditions: tuple[str, ...] = (), interpretation: str = "",
         suppressible: bool = True) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
    """Register the decorated function as the check of rule `id`."""

    def register(check: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        if id in CATALOGUE:
            raise ValueError(f"rule {id} registered twice")
        CATALOGUE[id] = Rule(id, title.strip(), _text(why), _text(fix), family, defaults, v, scope, conditions,
                             _text(interpretation), suppressible and scope in ("rendered", "cross-env"), "", check)
        return check

    return register


def document(id: str, *, title: str, why: str, fix: str, family: str, stage: str, v: str | None = None,
             interpretation: str = "") -> None:
    """Catalogue a rule that another stage reports (always an error there): documented, not run here."""
    CATALOGUE[id] = Rule(id, title.strip(), _text(why), _text(fix), family, ("error", "error", "error"), v, "stage",
                         (), _text(interpretation), False, stage)


def resolve_id(name: str) -> str | None:
    """The catalogue ID for `name`: an ID itself, or the `Vnn` shorthand of a reference rule."""
    name = name.strip()
    if name in CATALOGUE:
        return name
    if _V_ALIAS.match(name):
        return next((r.id for r in CATALOGUE.values() if r.v == name), None)
    return None


def _text(text: str) -> str:
    """Docstring-like text on one line per paragraph."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)
