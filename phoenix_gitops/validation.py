"""JSON Schema validation with two engines: jsonschema-rs gives the first verdict, jsonschema words the errors.

jsonschema-rs (Rust) tells whether an instance is valid about fifty times faster than jsonschema; most resources
and sources are valid, so most never reach the slow engine. Only its "valid" is taken: an instance it finds
invalid is validated again by jsonschema, whose errors (paths, messages) are what every finding is made of, so the
findings do not depend on the fast engine. What the fast engine cannot compile (a recursive reference of a CRD
schema), and a schema with a `format` when formats are checked (the engines know different formats), go to
jsonschema alone. Neither engine fetches a schema from the network. Tests hold the fast engine's "valid" to
jsonschema's on every resource and source of the repository and on thousands of broken variants of them.

Usage:
    validator = Validator(schema)                         # Draft 2020-12
    errors = list(validator.iter_errors(instance))        # jsonschema's ValidationErrors; [] when valid
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry

__all__ = ["Validator", "check_schema", "fast_registry"]


def fast_registry(uri: str, contents: Mapping[str, Any]) -> jsonschema_rs.Registry:
    """A registry for the fast engine holding one schema document (e.g. Kubernetes' shared definitions)."""
    return jsonschema_rs.Registry([(uri, dict(contents))])


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise jsonschema's SchemaError when `schema` is not a valid Draft 2020-12 schema (the fast engine's metaschema
    check first: thirty times faster, and jsonschema only words what it refuses)."""
    if not jsonschema_rs.meta.is_valid(dict(schema)):
        Draft202012Validator.check_schema(schema)


class Validator:
    """One compiled schema, in both engines."""

    def __init__(self, schema: Mapping[str, Any], registry: Registry | None = None,
                 fast_registry: jsonschema_rs.Registry | None = None,
                 format_checker: FormatChecker | None = None) -> None:
        options: dict[str, Any] = {"format_checker": format_checker}
        if registry is not None:
            options["registry"] = registry
        self.slow = Draft202012Validator(schema, **options)
        self.fast: jsonschema_rs.Validator | None = None
        if format_checker is None or not _mentions_format(schema):
            try:
                self.fast = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=False,
                                                               registry=fast_registry, offline=True)
            except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError):
                self.fast = None

    @property
    def schema(self) -> Any:
        return self.slow.schema

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Every error of `instance` (jsonschema's), none when the fast engine finds it valid."""
        if self.fast is not None and self.fast.is_valid(instance):
            return iter(())
        return self.slow.iter_errors(instance)


def _mentions_format(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "format" in node or any(_mentions_format(value) for value in node.values())
    if isinstance(node, list):
        return any(_mentions_format(item) for item in node)
    return False
