"""validation: jsonschema-rs never calls valid what jsonschema refuses; jsonschema words every error."""
from __future__ import annotations

import copy

import pytest
from support import PROJECT

from phoenix_gitops.own_schemas import schema_validator
from phoenix_gitops.validation import Validator
from phoenix_gitops.yamlio import YamlError, load_file

# Which of the tool's schemas checks which file of a repository (the shipped one and every fixture repo).
_SOURCES = {"environment": "overlays/*/environment.yaml", "gitops": "gitops.yaml",
            "kustomization": "**/kustomization.yaml", "policy": "**/schemas/policy.yaml"}


def _documents(schema: str) -> list:
    found = []
    for root in [PROJECT, *sorted((PROJECT / "tests/fixtures/repos").iterdir())]:
        for path in sorted(root.glob(_SOURCES[schema])):
            if ".venv" in path.parts or (root == PROJECT and "fixtures" in path.parts):
                continue
            try:
                found += [doc.data for doc in load_file(path)]
            except YamlError:
                continue
    return found


def _broken(data):
    """Variants of `data` with one value replaced at every path down to depth 3: wrong types, odd text."""
    def walk(node, path):
        if len(path) > 3:
            return
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            for replacement in (None, 7, "Not Valid!", "x\n", {"unknownField": 1}):
                broken = copy.deepcopy(data)
                target = broken
                for step in path:
                    target = target[step]
                target[key] = replacement
                yield broken
            yield from walk(value, (*path, key))
    yield from walk(data, ())
    if isinstance(data, dict):
        yield {**data, "unknownTopField": 1}


@pytest.mark.parametrize("schema", sorted(_SOURCES))
def test_both_engines_agree_on_the_repositories_sources_and_broken_variants(schema):
    validator = schema_validator(schema)
    assert validator.fast is not None
    compared = refused = 0
    for data in _documents(schema):
        variants = list(_broken(data))
        for candidate in [data, *variants[::max(1, len(variants) // 300)]]:  # (at most about 300 per document)
            valid = not any(True for _ in validator.slow.iter_errors(candidate))
            if validator.fast.is_valid(candidate):  # the only verdict of the fast engine that is taken
                assert valid, candidate
            else:  # (where jsonschema alone accepts it: `$` before a final newline in Python's patterns)
                assert not valid or any(isinstance(v, str) and v.endswith("\n") for v in _values(candidate))
            compared += 1
            refused += not valid
    assert compared > 40 and refused > 20, (compared, refused)


def _values(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    else:
        yield node


def test_errors_are_jsonschemas_and_a_valid_instance_has_none():
    validator = Validator({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False})
    assert list(validator.iter_errors({"a": 1})) == []
    errors = list(validator.iter_errors({"a": "x", "b": 1}))
    assert sorted(e.validator for e in errors) == ["additionalProperties", "type"]
    assert {type(e).__module__.split(".")[0] for e in errors} == {"jsonschema"}


def test_a_schema_the_fast_engine_cannot_take_is_validated_by_jsonschema_alone():
    from jsonschema import Draft202012Validator
    remote = Validator({"properties": {"a": {"$ref": "https://example.invalid/a.json"}}})  # never fetched
    assert remote.fast is None and list(remote.iter_errors({})) == []
    formats = Validator({"properties": {"when": {"format": "date"}}},
                        format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert formats.fast is None
    assert [e.validator for e in formats.iter_errors({"when": "yesterday"})] == ["format"]
    assert Validator({"properties": {"when": {"format": "date"}}}).fast is not None  # (formats not checked)


def _patterns(node, found):
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.add(node["pattern"])
        for value in node.values():
            _patterns(value, found)
    elif isinstance(node, list):
        for value in node:
            _patterns(value, found)
    return found


def test_no_value_passes_a_crd_pattern_in_the_fast_engine_that_jsonschema_refuses():
    """Rust's and Python's regular expressions differ at the edges (Unicode classes and digits, `$` before a final
    newline, case folding): hostile values against every pattern of the bundled CRD schemas."""
    import json

    from phoenix_gitops.own_schemas import CRD_SCHEMAS
    patterns: set[str] = set()
    for item in CRD_SCHEMAS.iterdir():
        if item.name.endswith(".json") and item.name != "index.json":
            _patterns(json.loads(item.read_text(encoding="utf-8")), patterns)
    values = ["abc", "abc\n", "\nabc", "ABC", "a.b", "١٢٣", "１２３", "ａｂｃ", "a b", "a\u00a0b", "ǅ", "ß", "İ", "K",
              "a-b", "*.example.com", "example.com\n", "1.2.3.4", "::1", "http://x", "/path", "/path\n", "5m",
              "5m\n", "10.0.0.0/8", "a" * 300, "", "-a", "a_b", "x:y", "é"]
    assert len(patterns) > 20
    for pattern in sorted(patterns):
        validator = Validator({"type": "string", "pattern": pattern})
        assert validator.fast is not None, pattern
        for value in values:
            if validator.fast.is_valid(value):
                assert not list(validator.slow.iter_errors(value)), (pattern, value)


def test_a_schema_is_checked_against_its_metaschema_with_jsonschemas_words():
    from jsonschema.exceptions import SchemaError

    from phoenix_gitops.validation import check_schema
    check_schema({"type": "object", "properties": {"a": {"minLength": 1}}})
    with pytest.raises(SchemaError, match="-1 is less than the minimum of 0"):
        check_schema({"properties": {"a": {"minLength": -1}}})
