"""The CEL validation rules of CRDs (`x-kubernetes-validations`), evaluated on rendered resources as the API
server does when the resource is created.

`crds.py` keeps each schema node's rules in the generated schema files, under `x-cel-validations` (a key JSON
Schema ignores). A rule is evaluated with `self` bound to the value of the field it sits on, after the schema's
defaults are filled in (the API server defaults before it validates), with property names escaped the way
Kubernetes escapes them for CEL (`namespace` -> `__namespace__`, `a-b` -> `a__dash__b`, ...); at the root,
`self.metadata` holds only `name` and `generateName`. A failing rule reports the result of its
`messageExpression`, else its `message`, else `failed rule: <rule>`, at the field or at its `fieldPath`. Transition
rules (they read `oldSelf`) only apply to updates: they are not evaluated, and counted (`Outcome.transition`).

Usage:
    schema = CrdSchema.find("gateway.networking.k8s.io/v1", "HTTPRoute")     # None: no CRD or no rules
    outcome = schema.check(resource_dict)
    for problem in outcome.problems:
        problem.path, problem.message          # ('spec', 'rules', 0, 'backendRefs', 0), 'Must have port for ...'
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from ..own_schemas import CRD_SCHEMAS
from .cel import CelError, EvalError, Program, compile_expression, sizes

__all__ = ["CrdRule", "CrdSchema", "Problem", "Outcome", "RULES_KEY", "escape", "bundled_rules", "field_path"]

RULES_KEY = "x-cel-validations"
"""Where `crds.py` keeps a schema node's `x-kubernetes-validations`."""
_RESERVED = frozenset({"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
                       "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"})
_ACCESSIBLE = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")
_OLD_SELF = re.compile(r"\boldSelf\b")
_FIELD_PATH = re.compile(r"\.([A-Za-z0-9_\-/]+)|\['([^']*)'\]|\[(\d+)\]")

JsonPath = tuple[str | int, ...]


def escape(name: str) -> str | None:
    """The CEL name of property `name` (Kubernetes' escaping), or None when CEL cannot reach it."""
    if name in _RESERVED:
        return f"__{name}__"
    if not _ACCESSIBLE.match(name):
        return None
    return (name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__")
            .replace("/", "__slash__"))


def field_path(text: str) -> JsonPath | None:
    """`.spec.ports['http'][0]` -> ('spec', 'ports', 'http', 0); None when it is not such a path."""
    out: list[str | int] = []
    at = 0
    while at < len(text):
        found = _FIELD_PATH.match(text, at)
        if not found:
            return None
        name, key, index = found.groups()
        out.append(int(index) if index is not None else (name if name is not None else key))
        at = found.end()
    return tuple(out)


@dataclass(frozen=True)
class CrdRule:
    """One `x-kubernetes-validations` entry, with its expressions compiled."""

    rule: str
    message: str | None = None
    message_expression: str | None = None
    field_path: JsonPath | None = None
    reason: str | None = None
    transition: bool = False
    """It reads `oldSelf`: an update rule, not evaluated here."""
    program: Program | None = field(default=None, compare=False, repr=False)
    message_program: Program | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, entry: Any) -> CrdRule:
        """The rule of an `x-kubernetes-validations` entry; raises CelError when it is malformed or does not
        compile (a transition rule is only checked for its shape)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
            raise CelError("a validation entry needs a `rule` string")
        rule = entry["rule"]
        transition = bool(_OLD_SELF.search(rule))
        path = None
        if isinstance(entry.get("fieldPath"), str):
            path = field_path(entry["fieldPath"])
            if path is None:
                raise CelError(f"fieldPath {entry['fieldPath']!r} is not a field path")
        expression = entry.get("messageExpression") if isinstance(entry.get("messageExpression"), str) else None
        if transition:
            return cls(rule, entry.get("message"), expression, path, entry.get("reason"), True)
        return cls(rule, entry.get("message"), expression, path, entry.get("reason"), False,
                   compile_expression(rule, ("self",)),
                   compile_expression(expression, ("self",)) if expression else None)


@dataclass(frozen=True)
class Problem:
    """A rule that failed, or could not be evaluated, on the value at `path` of the resource."""

    path: JsonPath
    message: str
    rule: str
    evaluated: bool = True
    """False when the rule could not be evaluated (an error or the cost limit) rather than returned false."""


@dataclass
class Outcome:
    """What the rules of one resource found, and how many transition rules were left out."""

    problems: list[Problem] = field(default_factory=list)
    transition: int = 0
    evaluated: int = 0


class CrdSchema:
    """A CRD kind's generated schema with its CEL rules; `check` runs them on a resource."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self._compiled: dict[int, list[CrdRule | Problem]] = {}

    @staticmethod
    def find(api_version: str, kind: str, crd_dir: Traversable = CRD_SCHEMAS) -> CrdSchema | None:
        """The schema of a CRD kind when it has CEL rules; None for other kinds."""
        return _find(api_version, kind, crd_dir)  # type: ignore[arg-type]  # (a Path or package data: hashable)

    def check(self, resource: dict[str, Any]) -> Outcome:
        outcome = Outcome()
        for path, node, value in self._nodes(self.schema, resource, ()):
            converted = self._cel_value(node, value, root=not path)
            bounds = sizes(converted)
            for rule in self.rules_of(node):
                if isinstance(rule, Problem):
                    outcome.problems.append(Problem(path, rule.message, rule.rule, evaluated=False))
                    continue
                if rule.transition:
                    outcome.transition += 1
                    continue
                outcome.evaluated += 1
                problem = self._run(rule, path, converted, bounds)
                if problem is not None:
                    outcome.problems.append(problem)
        return outcome

    def rules_of(self, node: dict[str, Any]) -> list[CrdRule | Problem]:
        """The node's rules, compiled once; a rule that does not compile is a Problem (without a path) instead."""
        key = id(node)
        if key not in self._compiled:
            found: list[CrdRule | Problem] = []
            for entry in node.get(RULES_KEY, []):
                try:
                    found.append(CrdRule.of(entry))
                except CelError as err:
                    rule = entry.get("rule") if isinstance(entry, dict) else None
                    found.append(Problem((), f"the CRD's rule does not compile: {err.message} (rule: "
                                         f"{_short(str(rule))})", str(rule), evaluated=False))
            self._compiled[key] = found
        return self._compiled[key]

    def _run(self, rule: CrdRule, path: JsonPath, value: Any, bounds: tuple[int, int]) -> Problem | None:
        assert rule.program is not None
        where = path + (rule.field_path or ())
        try:
            result = rule.program.run({"self": value}, bounds=bounds)
        except EvalError as err:
            return Problem(where, f"the rule could not be evaluated: {err} (rule: {_short(rule.rule)})", rule.rule,
                           evaluated=False)
        if result is True:
            return None
        if result is not False:
            return Problem(where, f"the rule does not return a bool (rule: {_short(rule.rule)})", rule.rule,
                           evaluated=False)
        message = None
        if rule.message_program is not None:
            try:
                text = rule.message_program.run({"self": value}, bounds=bounds)
                message = text.strip() if isinstance(text, str) and text.strip() else None
            except EvalError:
                message = None
        message = message or (rule.message if isinstance(rule.message, str) and rule.message else None)
        reason = f" ({rule.reason})" if isinstance(rule.reason, str) and rule.reason else ""
        return Problem(where, (message or f"failed rule: {_short(rule.rule)}") + reason, rule.rule)

    def _resolve(self, node: Any) -> dict[str, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            node = self.defs.get(node["$ref"].removeprefix("#/$defs/"), {})
        return node if isinstance(node, dict) else {}

    def _nodes(self, node: Any, value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, dict[str, Any], Any]]:
        """(path, schema node, value) of every value that has a schema node with rules, outermost first."""
        node = self._resolve(node)
        if value is None:
            return
        if RULES_KEY in node:
            yield path, node, value
        props = node.get("properties", {})
        if isinstance(value, dict):
            for name, item in value.items():
                if name in props:
                    yield from self._nodes(props[name], item, path + (name,))
                elif isinstance(node.get("additionalProperties"), dict):
                    yield from self._nodes(node["additionalProperties"], item, path + (name,))
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._nodes(node["items"], item, path + (index,))

    def _cel_value(self, node: Any, value: Any, root: bool = False) -> Any:
        """`value` as a rule sees it: defaults filled in, property names escaped (maps keep their keys)."""
        node = self._resolve(node)
        if isinstance(value, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                out: dict[str, Any] = {}
                for name, sub in props.items():
                    sub = self._resolve(sub)
                    item = value.get(name, sub.get("default"))
                    if name in value or "default" in sub:
                        cel_name = escape(name)
                        if cel_name is not None:
                            out[cel_name] = self._cel_value(sub, item)
                if root and isinstance(out.get("metadata"), dict):
                    out["metadata"] = {k: v for k, v in out["metadata"].items() if k in ("name", "generateName")}
                extra = node.get("additionalProperties")
                for name, item in value.items():
                    if name not in props and name not in out:
                        out[name] = self._cel_value(extra, item) if isinstance(extra, dict) else item
                return out
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return {k: self._cel_value(extra, v) for k, v in value.items()}
            return value
        if isinstance(value, list) and isinstance(node.get("items"), dict):
            return [self._cel_value(node["items"], item) for item in value]
        return value


def _short(rule: str, limit: int = 100) -> str:
    text = " ".join(rule.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=64)
def _find(api_version: str, kind: str, crd_dir: Any) -> CrdSchema | None:
    index_file = crd_dir / "index.json"
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))["kinds"]
        entry = index.get(f"{api_version}|{kind}")
        if entry is None:
            return None
        text = (crd_dir / entry["file"]).read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if RULES_KEY not in text:
        return None
    return CrdSchema(json.loads(text))


def bundled_rules(crd_dir: Traversable = CRD_SCHEMAS) -> Iterator[tuple[str, JsonPath, Any]]:
    """(schema file, JSON path in it, raw entry) of every CEL rule of the CRD schemas in `crd_dir`."""
    for item in sorted(crd_dir.iterdir(), key=lambda t: t.name):
        if not item.name.endswith(".json") or item.name == "index.json":
            continue
        data = json.loads(item.read_text(encoding="utf-8"))
        for path, entries in _walk(data, ()):
            for index, entry in enumerate(entries):
                yield item.name, path + (RULES_KEY, index), entry


def _walk(node: Any, path: JsonPath) -> Iterator[tuple[JsonPath, list[Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get(RULES_KEY), list):
            yield path, node[RULES_KEY]
        for key, value in node.items():
            if key != RULES_KEY:
                yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))
