"""JSON Schema checks of the project's own files (environment files, kustomization structure, ...).

The schemas live in the project's `schemas/` folder and ship with it; they are compiled once per process.

Usage:
    doc = yamlio.load_file(path, name="overlays/prod/environment.yaml")[0]
    for finding in check(doc, "environment", rule="SRC-ENVIRONMENT"):
        print(finding)   # overlays/prod/environment.yaml:4:1: error SRC-ENVIRONMENT $.kubernetesVersion: ...
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .findings import Finding, json_path
from .yamlio import Document

__all__ = ["SCHEMA_DIR", "schema_validator", "check"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""The project's schemas folder (next to the package)."""

_UNEXPECTED = re.compile(r"'([^']*)' (?:was|were) unexpected")


@functools.cache
def schema_validator(name: str) -> Draft202012Validator:
    """The compiled validator for `schemas/<name>.schema.json` (checked against its metaschema)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(doc: Document, schema: str, rule: str, severity: str = "error", **context: Any) -> list[Finding]:
    """Every schema violation of `doc`, each at the line of the offending key or value."""
    findings = []
    for error in schema_validator(schema).iter_errors(doc.data):
        path = tuple(error.absolute_path)
        extra = _unexpected_key(error)
        if extra is not None:
            path = path + (extra,)
        line, col = doc.position(path)
        findings.append(
            Finding(rule, severity, f"{json_path(path)}: {_message(error)}", doc.source, line, col, **context)
        )
    return findings


def _unexpected_key(error: ValidationError) -> str | None:
    if error.validator not in ("additionalProperties", "unevaluatedProperties"):
        return None
    match = _UNEXPECTED.search(error.message)
    return match.group(1) if match else None


def _message(error: ValidationError) -> str:
    hidden = isinstance(error.schema, dict) and error.schema.get("writeOnly") is True  # may be a secret
    if error.validator == "pattern":
        return f"{'the value (not shown)' if hidden else repr(error.instance)} does not match {error.validator_value!r}"
    if hidden:
        return f"the value (not shown) fails {error.validator} {error.validator_value!r}"
    return error.message

