"""Suppressions: a resource may switch rules off for itself, with a reason that the report lists.

The annotation `phoenix-gitops/suppress` holds one or more clauses separated by `;` (or new lines); each clause
is `<rule IDs, comma-separated>: <reason>`. A rule ID is a catalogue ID (`SEC-ENTROPY`) or the reference number of
a Phoenix rule (`V28` for `PHX-V28`). The reason is mandatory (at least 8 characters): a clause without one, or
naming no known rule, suppresses nothing and is itself a finding (`POLICY-SUPPRESS`). So is naming a rule no
annotation may suppress (the catalogue's floor: `ISO-*`, `POLICY-*`, the `SEC-*` rules that find credentials; a
rule the policy lists under `unsuppressible`; a finding about no resource): that rule stays reported.

    metadata:
      annotations:
        phoenix-gitops/suppress: "V28: single-zone staging cluster; SEC-ENTROPY: public test key, not a secret"

Usage:
    clauses, problems = parse(resource_annotation_value, policy)
    clauses[0].rules, clauses[0].reason      # ('PHX-V28',), 'single-zone staging cluster'
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..findings import Finding, Located
from .model import Res, View
from .policy import Policy
from .registry import CATALOGUE, Hit, in_floor, resolve_id, rule

__all__ = ["ANNOTATION", "Clause", "Suppression", "parse", "MIN_REASON"]

ANNOTATION = "phoenix-gitops/suppress"
MIN_REASON = 8
_SPLIT = re.compile(r"[;\n]")


@dataclass(frozen=True)
class Clause:
    """One `IDS: reason` clause that parsed: the rules it names (catalogue IDs) and why."""

    rules: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Suppression(Located):
    """A suppression as the report lists it: which rules, why, where (the annotation), and the findings it hid."""

    rules: tuple[str, ...]
    reason: str
    path: str
    line: int | None = None
    col: int | None = None
    env: str | None = None
    app: str | None = None
    resource: str | None = None
    hidden: tuple[Finding, ...] = ()
    """The findings it hid in this environment, each where it would have been reported."""

    def __post_init__(self) -> None:
        # A cache keeps a suppression as plain data (`dataclasses.asdict`): its hidden findings come back as fields.
        hidden: tuple[Any, ...] = tuple(self.hidden)
        object.__setattr__(self, "hidden", tuple(f if isinstance(f, Finding) else Finding(**f) for f in hidden))
        object.__setattr__(self, "rules", tuple(self.rules))

    @property
    def suppressed(self) -> int:
        """How many findings it hid in this environment (0: nothing to suppress any more; consider removing it)."""
        return len(self.hidden)

    def __str__(self) -> str:
        return (f"{self.location}: suppressed {','.join(self.rules)} ({self.suppressed} finding(s)): "
                f"{self.reason}{self.context}")

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.col or 0, ",".join(self.rules), self.context)


def parse(value: object, policy: Policy) -> tuple[list[Clause], list[str]]:
    """The clauses of an annotation value under `policy`, and a message per clause that suppresses nothing, or not
    everything it names (never the value). A clause keeps only the rules an annotation may suppress."""
    if not isinstance(value, str):
        return [], ["the annotation must be a string: `<rule IDs>: <reason>`"]
    clauses, problems = [], []
    for number, text in enumerate((part.strip() for part in _SPLIT.split(value)), start=1):
        if not text:
            continue
        ids_text, sep, reason = text.partition(":")
        reason = " ".join(reason.split())
        names = [n.strip() for n in ids_text.split(",") if n.strip()]
        known = tuple(dict.fromkeys(r for r in (resolve_id(n) for n in names) if r))
        unknown = [n for n in names if resolve_id(n) is None]
        if not sep and names and all(resolve_id(n) is None and " " in n for n in names):
            problems.append(f"clause {number} names no rule: write `<rule IDs>: <why>`; a `;` inside a reason starts "
                            "a new clause, so use commas there")
            continue
        if not sep or len(reason) < MIN_REASON:
            problems.append(f"clause {number} ({', '.join(names) or 'no rule'}) has no reason: write "
                            f"`<rule IDs>: <why>` (at least {MIN_REASON} characters); nothing is suppressed")
            continue
        if unknown:
            problems.append(f"clause {number} names unknown rule(s) {', '.join(repr(n) for n in unknown)}")
        problems += [f"clause {number}: {problem}" for problem in _refusals(known, policy)]
        usable = tuple(r for r in known if policy.suppressible(CATALOGUE[r]))
        if usable:
            clauses.append(Clause(usable, reason))
    return clauses, problems


def _refusals(rule_ids: tuple[str, ...], policy: Policy) -> list[str]:
    """Why each rule of `rule_ids` that no annotation may suppress stays reported, one message per reason."""
    floor = [r for r in rule_ids if in_floor(r)]
    other = [r for r in rule_ids if not in_floor(r) and not CATALOGUE[r].suppressible]
    listed = [(r, entry) for r in rule_ids
              if CATALOGUE[r].suppressible and (entry := policy.unsuppressible_by(CATALOGUE[r])) is not None]
    refusals = []
    if floor:
        refusals.append(f"{', '.join(floor)} cannot be suppressed by any annotation (isolation, policy and "
                        "credential rules never can); the finding stays")
    if other:
        hint = ("; change its severity in the policy instead" if all(CATALOGUE[r].tunable for r in other)
                else "")
        refusals.append(f"{', '.join(other)} cannot be suppressed on a resource (it is not about one){hint}")
    for rule_id, entry in listed:
        named = "" if entry == rule_id else f" (as {entry})"
        refusals.append(f"{rule_id} cannot be suppressed: {policy.source} lists it under `unsuppressible`{named}; "
                        "the finding stays")
    return refusals


def annotated(view: View) -> Iterator[tuple[Res, object]]:
    """Every resource of the view that carries the annotation, with its raw value."""
    for res in view.resources:
        if ANNOTATION in res.annotations:
            yield res, res.annotations[ANNOTATION]


@rule(
    "POLICY-SUPPRESS", family="policy", defaults=("error", "error", "error"), suppressible=False,
    title="A suppression names known rules and gives a reason",
    why="""A suppression hides findings from every report. Without a reason a reviewer cannot tell a deliberate
    exception from a way to silence the check; a misspelt rule ID silently suppresses nothing. Some rules no
    resource may switch off for itself: the isolation rules (`ISO-*`) that keep an app inside its environment, the
    policy rules (`POLICY-*`), the secrets rules that find a credential value, and any rule the policy lists under
    `unsuppressible`. Naming one of them is an attempt to walk around the check, so it is reported, and the finding
    it aimed at stays.""",
    fix="""Write the annotation as `phoenix-gitops/suppress: "<rule IDs>: <reason>"` (clauses separated by `;`),
    name rules from this catalogue (or `Vnn` for a Phoenix rule), and give a reason of at least 8 characters. For a
    rule that cannot be suppressed, fix what it found; where the platform decides otherwise (a cluster-scoped kind
    an app may render, a rule off the `unsuppressible` list), that is a change to the policy, reviewed as such.""",
)
def check_suppressions(view: View) -> Iterator[Hit]:
    for res, value in annotated(view):
        for problem in parse(value, view.policy)[1]:
            yield Hit(res, ("metadata", "annotations", ANNOTATION), f"{ANNOTATION}: {problem}")

