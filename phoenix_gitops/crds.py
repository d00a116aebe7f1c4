"""Strict JSON Schemas (draft 2020-12) derived from Kubernetes CustomResourceDefinition manifests.

The committed schemas are package data, `phoenix_gitops/data/schemas/crds/` (`own_schemas.CRD_SCHEMAS`); in a
source checkout `own_schemas.crd_schemas_to_write()` is that folder, ready to be written.

Usage:
    target = own_schemas.crd_schemas_to_write()
    changed = write(Path("/path/to/crds"), target)   # regenerate the committed schemas
    if stale(Path("/path/to/crds"), target):          # CI: are they out of date?
        ...
    add(Path("cert-manager.crds.yaml"), target)       # one more CRD's schemas, recorded in added.json; the
                                                      # others untouched, and kept by write/stale
    index = json.loads((own_schemas.CRD_SCHEMAS / "index.json").read_text(encoding="utf-8"))
    index["kinds"]["argoproj.io/v1alpha1|Application"]   # {"file": "argoproj.io_application_v1alpha1.json", ...}

Each served version with an `openAPIV3Schema` becomes one schema:
- the root requires `apiVersion` (const), `kind` (const) and `metadata` (a permissive ObjectMeta);
- `x-kubernetes-int-or-string` -> `anyOf` integer/string; `nullable` -> the type also admits null;
- `x-kubernetes-preserve-unknown-fields` -> unknown properties allowed at that level;
- `x-kubernetes-embedded-resource` -> `apiVersion` and `kind` required, as the API server requires them
  (metadata is typed but optional there too); unknown fields allowed unless the CRD lists properties;
- strictness: every object with `properties`, no `additionalProperties` and no preserve-unknown-fields
  gets `additionalProperties: false`, except inside allOf/anyOf/oneOf/not (in Kubernetes those branches
  only constrain fields declared beside them);
- defaults, which the API server applies before validating: a property with a `default` is dropped from
  `required`, and allOf/anyOf/oneOf/not branches see an absent defaulted property as its default;
- `x-kubernetes-list-type: set` -> `uniqueItems: true`; boolean `exclusiveMinimum`/`exclusiveMaximum`
  (OpenAPI 3.0) -> the numeric form;
- `description`, `example` and `externalDocs` are dropped: smaller files, quieter diffs (the CRDs keep
  the docs); every other `x-kubernetes-*` key is dropped after use. The CEL rules (`x-kubernetes-validations`)
  are kept as `x-cel-validations`, a key JSON Schema ignores, for `admission.crd_rules` to evaluate. Not
  checked: list-map key uniqueness; `format` is kept, not asserted. Stricter than
  the API server: null on a non-nullable field is an error here (the server silently drops it);
- sub-schemas repeated verbatim go to `$defs` once and are referenced by `$ref` (same meaning).

Output is `json.dumps(schema, sort_keys=True, indent=1, ensure_ascii=False) + "\\n"` as UTF-8: the same
bytes on every run and machine. Parsing dominates the cost (the project's pure-Python safe loader), so
`jobs=None` parses big inputs in worker processes, one per CPU; the output does not depend on it.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import InputError
from .files import replace_file, swap_folders
from .findings import json_path
from .yamlio import YamlError, load_file

__all__ = [
    "ADDED_NAME",
    "INDEX_NAME",
    "MAX_CRD_BYTES",
    "SCHEMA_DIALECT",
    "schemas_from_crd",
    "add",
    "added_kinds",
    "generate",
    "stale",
    "write",
]

INDEX_NAME = "index.json"
"""The generated file mapping `<apiVersion>|<Kind>` to its schema file, scope and CRD file."""
ADDED_NAME = "added.json"
"""In the schema folder, committed: the kinds added with `add` from CRDs outside the upstream folder (same entries
as `index.json`); `write` keeps them and `stale` expects them."""
MAX_CRD_BYTES = 4 * 1024 * 1024
"""Largest CRD file accepted (bytes); upstream CRDs reach 1.4 MB (Argo CD ApplicationSet)."""
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

JsonPath = tuple[str | int, ...]
Position = Callable[[JsonPath], tuple[int, int]]
Visit = Callable[[str, str | int | None, dict[str, Any]], dict[str, Any]]

_CRD_API_VERSION = "apiextensions.k8s.io/v1"
_CRD_KIND = "CustomResourceDefinition"
_SCOPES = ("Namespaced", "Cluster")
_TYPES = ("object", "array", "string", "integer", "number", "boolean")
_EMBEDDED_REQUIRED = ("apiVersion", "kind")
# These end up in file names: keep them to what Kubernetes allows (nothing like `../`).
_GROUP_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_VERSION_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_KIND_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_COPIED = (
    "format", "title", "enum", "pattern", "minimum", "maximum", "multipleOf", "minLength", "maxLength",
    "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
)
"""Keywords with the same meaning in OpenAPI 3.0 and JSON Schema 2020-12: copied as they are."""
_HANDLED = (
    "type", "nullable", "default", "required", "properties", "additionalProperties", "items",
    "allOf", "anyOf", "oneOf", "not", "exclusiveMinimum", "exclusiveMaximum",
)
_DROPPED = ("description", "example", "externalDocs")
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_SHARE_MIN_CHARS = 256
"""Repeated sub-schemas shorter than this (as compact JSON) stay where they are."""
_PARALLEL_MIN_BYTES = 512 * 1024
"""Below this much YAML in total, parsing in-process is quicker than starting worker processes."""


class _Fail(Exception):
    """A problem at a JSON path of a CRD document; becomes an InputError naming the file."""

    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def _input_error(source: str, fail: _Fail, position: Position | None) -> InputError:
    where = source if position is None else "{}:{}:{}".format(source, *position(fail.path))
    return InputError(f"{where}: {json_path(fail.path)}: {fail.message}")


def _object_meta() -> dict[str, Any]:
    """ObjectMeta as written in manifests: the usual fields typed, every other field allowed."""
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "generateName": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def _string(data: dict[str, Any], path: JsonPath, key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _Fail(path + (key,), f"expected a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise _Fail(path + (key,), f"{value!r} is not a valid {key}")
    return value


def _mapping(data: Any, path: JsonPath) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Fail(path, f"expected a mapping, got {type(data).__name__}")
    return data


class _Converter:
    """Converts one openAPIV3Schema; `base` is its JSON path in the CRD document (for error messages)."""

    def __init__(self, base: JsonPath) -> None:
        self.base = base

    def node(self, schema: Any, path: JsonPath, structural: bool = True) -> dict[str, Any]:
        """The JSON Schema of one node; `structural` is False inside allOf/anyOf/oneOf/not."""
        where = self.base + path
        schema = _mapping(schema, where)
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _COPIED:
                out[key] = value
            elif key not in _HANDLED and key not in _DROPPED and not key.startswith("x-kubernetes-"):
                raise _Fail(where + (key,), f"unsupported schema keyword {key!r}")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        int_or_string = schema.get("x-kubernetes-int-or-string") is True
        nullable = schema.get("nullable") is True

        if "type" in schema and not int_or_string:  # int-or-string overrides a conflicting type
            if schema["type"] not in _TYPES:
                raise _Fail(where + ("type",), f"unknown type {schema['type']!r}")
            out["type"] = [schema["type"], "null"] if nullable else schema["type"]
        if "pattern" in out:
            _check_pattern(out["pattern"], where + ("pattern",))
        if nullable and isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "default" in schema:
            out["default"] = schema["default"]
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if bound in schema:
                _exclusive(schema[bound], limit, out, where + (bound,))
        if schema.get("x-kubernetes-list-type") == "set":
            out["uniqueItems"] = True
        if "x-kubernetes-validations" in schema:  # CEL rules, for `admission.crd_rules` (JSON Schema ignores the key)
            out["x-cel-validations"] = schema["x-kubernetes-validations"]

        if "properties" in schema:
            props = _mapping(schema["properties"], where + ("properties",))
            out["properties"] = {
                name: self.node(sub, path + ("properties", name), structural) for name, sub in props.items()
            }
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            out["additionalProperties"] = (
                extra if isinstance(extra, bool) else self.node(extra, path + ("additionalProperties",), structural)
            )
        if "items" in schema:
            if isinstance(schema["items"], list):
                raise _Fail(where + ("items",), "a list of item schemas is not allowed in a CRD")
            out["items"] = self.node(schema["items"], path + ("items",), structural)
        if "required" in schema:
            required = schema["required"]
            if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
                raise _Fail(where + ("required",), "expected a list of property names")
            if structural:  # the API server fills defaults in before it validates
                required = [r for r in required if "default" not in out.get("properties", {}).get(r, {})]
            if required:
                out["required"] = required
        for junctor in _JUNCTORS:
            if junctor in schema:
                branches = schema[junctor]
                if not isinstance(branches, list) or not branches:
                    raise _Fail(where + (junctor,), "expected a non-empty list of schemas")
                out[junctor] = [self.node(b, path + (junctor, i), False) for i, b in enumerate(branches)]
        if "not" in schema:
            out["not"] = self.node(schema["not"], path + ("not",), False)
        if structural:
            _defaults_into_branches(out, where)

        if int_or_string:
            choice = [{"type": "integer"}, {"type": "string"}, *([{"type": "null"}] if nullable else [])]
            if "anyOf" in out and out["anyOf"] != choice:
                out["allOf"] = [*out.get("allOf", []), {"anyOf": out["anyOf"]}]
            out["anyOf"] = choice
        listed = "properties" in out
        if embedded:
            _embedded(out, where)
        if structural and listed and "additionalProperties" not in out and not preserve:
            out["additionalProperties"] = False
        return out

    def root(self, schema: Any, group: str, version: str, kind: str) -> dict[str, Any]:
        """The converted root: apiVersion and kind pinned, metadata a permissive ObjectMeta."""
        out = self.node(schema, ())
        if out.get("type", "object") != "object":
            raise _Fail(self.base + ("type",), "the root schema must be of type object")
        meta = _object_meta()
        if "metadata" in _mapping(schema, self.base).get("properties", {}):
            # Kubernetes lets a CRD restrict metadata.name; keep such rules, never the strictness.
            given = self.node(schema["properties"]["metadata"], ("properties", "metadata"), False)
            given.pop("type", None)
            if given:
                meta["allOf"] = [given]
        pinned = {
            "apiVersion": {"type": "string", "const": f"{group}/{version}"},
            "kind": {"type": "string", "const": kind},
            "metadata": meta,
        }
        out["properties"] = {**pinned, **{k: v for k, v in out.get("properties", {}).items() if k not in pinned}}
        out["type"] = "object"
        out["required"] = ["apiVersion", "kind", "metadata"] + [
            r for r in out.get("required", []) if r not in ("apiVersion", "kind", "metadata")
        ]
        if schema.get("x-kubernetes-preserve-unknown-fields") is not True:
            out.setdefault("additionalProperties", False)
        return {**out, "$schema": SCHEMA_DIALECT, "title": f"{kind} {group}/{version}"}


def _check_pattern(pattern: Any, where: JsonPath) -> None:
    """Patterns are Go RE2 syntax; refuse one that Python's `re` (used by jsonschema) cannot compile."""
    if not isinstance(pattern, str):
        raise _Fail(where, "expected a string")
    try:
        re.compile(pattern)
    except re.error as err:
        raise _Fail(where, f"{pattern!r} is not a regular expression Python can use: {err}") from None


def _exclusive(flag: Any, limit: str, out: dict[str, Any], where: JsonPath) -> None:
    """OpenAPI 3.0 writes `exclusiveMinimum: true` beside `minimum`; JSON Schema wants the number itself."""
    bound = str(where[-1])
    if isinstance(flag, bool):
        if flag:
            if limit not in out:
                raise _Fail(where, f"{bound}: true needs {limit!r} beside it")
            out[bound] = out.pop(limit)
    elif isinstance(flag, (int, float)):
        out[bound] = flag
    else:
        raise _Fail(where, "expected a boolean")


def _defaults_into_branches(out: dict[str, Any], where: JsonPath) -> None:
    """Let allOf/anyOf/oneOf/not branches see defaulted properties the way the API server does.

    A property `k` with default `d` beside the branches is never absent when Kubernetes validates: a
    branch's `required: [k]` always holds (dropped), and when `d` fails the branch's schema for `k`, the
    branch can only hold if `k` is given (`k` becomes required in that branch).
    """
    defaults = {k: v["default"] for k, v in out.get("properties", {}).items() if "default" in v}
    if not defaults:
        return
    branches = [b for j in _JUNCTORS for b in out.get(j, [])] + ([out["not"]] if "not" in out else [])
    for branch in branches:
        required = [r for r in branch.get("required", []) if r not in defaults]
        for name, sub in branch.get("properties", {}).items():
            if name in defaults and not _accepts(sub, defaults[name], where):
                required.append(name)
        if required:
            branch["required"] = required
        else:
            branch.pop("required", None)


def _accepts(schema: dict[str, Any], value: Any, where: JsonPath) -> bool:
    """Whether `value` is valid under `schema` (itself a valid schema, else the CRD is refused)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        raise _Fail(where, f"a branch is not a valid schema: {err.message}") from None
    return Draft202012Validator(schema).is_valid(value)


def _embedded(out: dict[str, Any], where: JsonPath) -> None:
    """An embedded resource: apiVersion and kind non-empty and required, metadata an ObjectMeta."""
    if out.get("type") not in ("object", ["object", "null"]):
        raise _Fail(where, "x-kubernetes-embedded-resource needs type: object")
    props = out.setdefault("properties", {})
    for name in _EMBEDDED_REQUIRED:
        props.setdefault(name, {"type": "string", "minLength": 1})
    props.setdefault("metadata", _object_meta())
    given = out.get("required", [])
    out["required"] = [*given, *(n for n in _EMBEDDED_REQUIRED if n not in given)]


def _schema_children(node: dict[str, Any]) -> Iterator[tuple[str, str | int | None, dict[str, Any]]]:
    """(keyword, key or index, sub-schema) of every direct sub-schema of a converted node."""
    for name, sub in node.get("properties", {}).items():
        yield "properties", name, sub
    if isinstance(node.get("additionalProperties"), dict):
        yield "additionalProperties", None, node["additionalProperties"]
    if isinstance(node.get("items"), dict):
        yield "items", None, node["items"]
    for junctor in _JUNCTORS:
        for i, sub in enumerate(node.get(junctor, [])):
            yield junctor, i, sub
    if "not" in node:
        yield "not", None, node["not"]


def _with_children(node: dict[str, Any], visit: Visit) -> dict[str, Any]:
    """A shallow copy of `node` whose direct sub-schemas are replaced by `visit(keyword, key, sub)`."""
    out = dict(node)
    if "properties" in node:
        out["properties"] = {name: visit("properties", name, sub) for name, sub in node["properties"].items()}
    for keyword in ("additionalProperties", "items", "not"):
        if isinstance(node.get(keyword), dict):
            out[keyword] = visit(keyword, None, node[keyword])
    for junctor in _JUNCTORS:
        if junctor in node:
            out[junctor] = [visit(junctor, i, sub) for i, sub in enumerate(node[junctor])]
    return out


def _share(root: dict[str, Any]) -> dict[str, Any]:
    """Move sub-schemas that occur more than once (and are not tiny) into `$defs`, referenced by `$ref`.

    Argo CD repeats the Application template in every ApplicationSet generator: sharing shrinks that
    schema about twentyfold and makes it quick to check and compile. A definition is named after the
    first place it occurs (`spec.generators.items.list.template`), so the result is deterministic.
    """
    counts: Counter[str] = Counter()
    canon: dict[int, str] = {}

    def count(node: dict[str, Any]) -> None:
        text = canon[id(node)] = json.dumps(node, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        counts[text] += 1
        for _, _, sub in _schema_children(node):
            count(sub)

    count(root)
    names: dict[str, str] = {}
    defs: dict[str, dict[str, Any]] = {}

    def visit(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        text = canon[id(node)]
        if counts[text] < 2 or len(text) < _SHARE_MIN_CHARS:
            return _with_children(node, lambda kw, key, sub: visit(sub, path + _name_part(kw, key)))
        if text not in names:
            name = base = re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(path))
            suffix = 1
            while name in defs:
                suffix += 1
                name = f"{base}-{suffix}"
            names[text] = name
            defs[name] = _with_children(node, lambda kw, key, sub: visit(sub, path + _name_part(kw, key)))
        return {"$ref": f"#/$defs/{names[text]}"}

    shared = _with_children(root, lambda kw, key, sub: visit(sub, _name_part(kw, key)))
    if not defs:
        return root
    # A definition used once (inside another definition that was shared) goes back in place.
    uses: Counter[str] = Counter()

    def count_refs(node: dict[str, Any]) -> None:
        if "$ref" in node:
            uses[node["$ref"].removeprefix("#/$defs/")] += 1
        for _, _, sub in _schema_children(node):
            count_refs(sub)

    for node in (shared, *defs.values()):
        count_refs(node)

    def inline(node: dict[str, Any]) -> dict[str, Any]:
        name = node.get("$ref", "").removeprefix("#/$defs/")
        if name in defs and uses[name] == 1:
            return inline(defs[name])
        return _with_children(node, lambda kw, key, sub: inline(sub))

    kept = {name: inline(d) for name, d in defs.items() if uses[name] > 1}
    return {**inline(shared), "$defs": kept} if kept else inline(shared)


def _name_part(keyword: str, key: str | int | None) -> tuple[str, ...]:
    if keyword == "properties":
        return (str(key),)
    if keyword in _JUNCTORS:
        return (f"{keyword}{key}",)
    return ({"additionalProperties": "values"}.get(keyword, keyword),)


def _convert(data: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The schemas of one CRD document by file name, and their index entries by `<apiVersion>|<Kind>`."""
    doc = _mapping(data, ())
    if doc.get("apiVersion") != _CRD_API_VERSION or doc.get("kind") != _CRD_KIND:
        raise _Fail(
            ("kind",) if "kind" in doc else (),
            f"expected apiVersion {_CRD_API_VERSION} and kind {_CRD_KIND}, "
            f"got {doc.get('apiVersion')!r} and {doc.get('kind')!r}",
        )
    spec = _mapping(doc.get("spec"), ("spec",))
    group = _string(spec, ("spec",), "group", _GROUP_RE)
    kind = _string(_mapping(spec.get("names"), ("spec", "names")), ("spec", "names"), "kind", _KIND_RE)
    scope = _string(spec, ("spec",), "scope")
    if scope not in _SCOPES:
        raise _Fail(("spec", "scope"), f"expected Namespaced or Cluster, got {scope!r}")
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        raise _Fail(("spec", "versions"), "expected a non-empty list")
    schemas: dict[str, dict[str, Any]] = {}
    index: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(versions):
        at: JsonPath = ("spec", "versions", i)
        entry = _mapping(entry, at)
        version = _string(entry, at, "name", _VERSION_RE)
        if not isinstance(entry.get("served"), bool):
            raise _Fail(at + ("served",), "expected true or false")
        raw = entry.get("schema", {}).get("openAPIV3Schema") if isinstance(entry.get("schema"), dict) else None
        if not entry["served"] or raw is None:
            continue
        name = f"{group}_{kind.lower()}_{version}.json"
        if name in schemas:
            raise _Fail(at + ("name",), f"version {version!r} is listed twice")
        schema = _share(_Converter(at + ("schema", "openAPIV3Schema")).root(raw, group, version, kind))
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            where = at + ("schema", "openAPIV3Schema", *err.absolute_path)
            raise _Fail(where, f"not a valid schema: {err.message}") from None
        schemas[name] = schema
        entry_index = {"file": name, "scope": scope, "storage": entry.get("storage") is True}
        if entry.get("deprecated") is True:
            entry_index["deprecated"] = True
        index[f"{group}/{version}|{kind}"] = entry_index
    return schemas, index


def schemas_from_crd(doc_data: Any, source: str = "<crd>") -> dict[str, dict[str, Any]]:
    """The JSON Schemas of a CRD document (plain data), keyed `<group>_<kind>_<version>.json`.

    Only served versions with `schema.openAPIV3Schema` yield one. Raises InputError starting `source: `.
    """
    try:
        return _convert(doc_data)[0]
    except _Fail as fail:
        raise _input_error(source, fail, None) from None


def _dump(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


_FileResult = tuple[dict[str, bytes], dict[str, dict[str, Any]]]


def _file(path: Path) -> _FileResult:
    """Every CRD of one file, as schema bytes by name and index entries; raises InputError naming it."""
    source = str(path)
    docs = load_file(path, name=source, max_bytes=MAX_CRD_BYTES)
    if not docs:
        raise InputError(f"{source}: no {_CRD_KIND} in the file")
    files: dict[str, bytes] = {}
    index: dict[str, dict[str, Any]] = {}
    for doc in docs:
        try:
            schemas, entries = _convert(doc.data)
        except _Fail as fail:
            raise _input_error(source, fail, doc.position) from None
        for name, schema in schemas.items():
            if name in files:
                raise InputError(f"{source}: {name} is defined by two documents of the file")
            files[name] = _dump(schema)
        for key, entry in entries.items():
            index[key] = {**entry, "crd": path.name}
    return files, index


_Outcome = (tuple[Literal["ok"], _FileResult]
            | tuple[Literal["yaml"], tuple[str, int | None, int | None, str, str]]
            | tuple[Literal["input"], str])


def _worker(path: str) -> _Outcome:
    """`_file` in a worker process, with errors turned into picklable values."""
    try:
        return "ok", _file(Path(path))
    except YamlError as err:
        return "yaml", (err.path, err.line, err.col, err.rule, err.detail)
    except InputError as err:
        return "input", str(err)


def _unpack(outcome: _Outcome) -> _FileResult:
    if outcome[0] == "yaml":
        raise YamlError(*outcome[1])
    if outcome[0] == "input":
        raise InputError(outcome[1])
    return outcome[1]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # `_file` reports it
        return 0


def _load_all(paths: list[Path], jobs: int | None) -> list[_FileResult]:
    """`_file` of every path, in order; big inputs go to `jobs` worker processes (None: one per CPU)."""
    workers = min(jobs or _cpus(), len(paths))
    sizes = {p: _size(p) for p in paths}
    if workers <= 1 or sum(sizes.values()) < _PARALLEL_MIN_BYTES:
        return [_file(p) for p in paths]
    biggest_first = sorted(paths, key=lambda p: (-sizes[p], p))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {p: pool.submit(_worker, str(p)) for p in biggest_first}
        outcomes = {p: f.result() for p, f in futures.items()}
    return [_unpack(outcomes[p]) for p in paths]  # the first failing file in name order, as in-process


def generate(crd_dir: Path, jobs: int | None = 1, out_dir: Path | None = None) -> dict[str, bytes]:
    """Every schema of the CRDs in `crd_dir` (`*.yaml`/`*.yml`, other files ignored) plus `index.json`; with
    `out_dir`, also the kinds added there with `add` (their schema files as they are, `added.json`, and their
    entries in `index.json`).

    Returns {file name: bytes}, identical on every run. Raises InputError naming the offending file, or an added
    kind that `crd_dir` now defines too.
    `jobs` > 1 (None: one per CPU) parses big inputs in that many spawned worker processes; a calling
    script must then keep its work under `if __name__ == "__main__":`, as multiprocessing requires.
    """
    if not crd_dir.is_dir():
        raise InputError(f"{crd_dir}: not a folder")
    paths = sorted(p for p in crd_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise InputError(f"{crd_dir}: no *.yaml or *.yml files")
    files: dict[str, bytes] = {}
    kinds: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for path, (schemas, index) in zip(paths, _load_all(paths, jobs), strict=True):
        for name, data in schemas.items():
            if name in files:
                raise InputError(f"{path}: {name} is also defined by {origin[name]}")
            files[name], origin[name] = data, path.name
        kinds.update(index)
    if out_dir is not None:
        extra = added_kinds(out_dir)
        for key, entry in extra.items():
            same = next((k for k in kinds if _group_kind(k) == _group_kind(key)), None)
            if same is not None:
                raise InputError(f"{crd_dir / kinds[same]['crd']}: defines {same.replace('|', ' ')}, which was added "
                                 f"with `crd-schemas --add` from {entry['crd']}; remove it from {out_dir / ADDED_NAME}")
            try:
                files[entry["file"]] = (out_dir / entry["file"]).read_bytes()
            except OSError as err:
                raise InputError(f"{out_dir / entry['file']}: listed in {ADDED_NAME} but cannot be read "
                                 f"({err.strerror}); add its CRD again with `crd-schemas --add`") from None
        kinds.update(extra)
        if extra:
            files[ADDED_NAME] = _dump({"kinds": dict(sorted(extra.items()))})
    files[INDEX_NAME] = _dump({"kinds": dict(sorted(kinds.items()))})
    return dict(sorted(files.items()))


def added_kinds(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The kinds `add` put into `out_dir` (its `added.json`), by `<apiVersion>|<Kind>`; {} when none were added.
    Raises InputError when the record is unreadable or malformed."""
    record = out_dir / ADDED_NAME
    if not record.exists():
        return {}
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{record}: cannot be read as JSON: {err}") from None
    kinds = data.get("kinds") if isinstance(data, dict) else None
    if not isinstance(kinds, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("crd"), str)
            and "/" not in e["file"] and e["file"].endswith(".json") for e in kinds.values()):
        raise InputError(f"{record}: expected {{\"kinds\": {{\"<apiVersion>|<Kind>\": "
                         f"{{\"file\": ..., \"crd\": ...}}}}}}")
    return kinds


def add(source: Path, out_dir: Path, jobs: int | None = 1) -> list[str]:
    """Add the schemas of the CRDs in `source` (a file, or a folder's `*.yaml`/`*.yml`) to `out_dir`, leaving
    every other schema as it is; returns the names written. The kinds are recorded in `out_dir/added.json`, so
    `write` and `stale` keep them. Adding a kind that was added before replaces it (every version).

    Nothing is written unless every file converts: raises InputError (or YamlError) at the file and line of the
    first problem: not a CRD, YAML that does not load, a kind `out_dir` already has from upstream CRDs. The folder
    is replaced all at once (`files.swap_folders`).
    """
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not paths:
            raise InputError(f"{source}: no *.yaml or *.yml files")
    elif source.is_file():
        paths = [source]
    else:
        raise InputError(f"{source}: no such file or folder")
    if not (out_dir / INDEX_NAME).is_file():
        raise InputError(f"{out_dir}: no {INDEX_NAME}; generate the bundled schemas first (crd-schemas --crds-dir)")
    current = _current(out_dir)
    index = json.loads(current[INDEX_NAME])["kinds"]
    before = added_kinds(out_dir)
    bundled = {_group_kind(key): entry for key, entry in index.items() if key not in before}
    new_files: dict[str, tuple[bytes, Path]] = {}
    new_kinds: dict[str, dict[str, Any]] = {}
    for path, (schemas, entries) in zip(paths, _load_all(paths, jobs), strict=True):
        for key in entries:
            if _group_kind(key) in bundled:
                raise InputError(f"{_kind_position(path, key)}: {key.split('|')[1]} of "
                                 f"{_group_kind(key)[0]} is bundled already (from "
                                 f"{bundled[_group_kind(key)]['crd']}); refresh it with `crd-schemas --crds-dir`")
        for name, data in schemas.items():
            if name in new_files:
                raise InputError(f"{path}: {name} is also defined by {new_files[name][1]}")
            new_files[name] = (data, path)
        new_kinds.update(entries)
    replaced = {_group_kind(key) for key in new_kinds}
    dropped = {entry["file"] for key, entry in before.items() if _group_kind(key) in replaced}
    kept = {key: entry for key, entry in before.items() if _group_kind(key) not in replaced}
    added = dict(sorted({**kept, **new_kinds}.items()))
    files = {name: data for name, data in current.items() if name not in dropped}
    files.update({name: data for name, (data, _) in new_files.items()})
    files[ADDED_NAME] = _dump({"kinds": added})
    files[INDEX_NAME] = _dump({"kinds": dict(sorted(
        {**{k: e for k, e in index.items() if k not in before}, **added}.items()))})
    changed = _changes(files, out_dir)
    if changed:
        swap_folders({out_dir: {name: files[name] for name in sorted(files)}})
    return changed


def _current(out_dir: Path) -> dict[str, bytes]:
    """Every file of the schema folder (no sub-folders expected there)."""
    found = {}
    for entry in sorted(out_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            raise InputError(f"{entry}: unexpected folder among the generated schemas; remove it")
        found[entry.name] = entry.read_bytes()
    return found


def _group_kind(key: str) -> tuple[str, str]:
    """(group, Kind) of an index key `<group>/<version>|<Kind>`."""
    api_version, _, kind = key.partition("|")
    return api_version.rpartition("/")[0], kind


def _kind_position(path: Path, key: str) -> str:
    """`file:line:col` of the CRD document in `path` that defines the kind of `key` (`file` alone if not found)."""
    group, kind = _group_kind(key)
    for doc in load_file(path, name=str(path), max_bytes=MAX_CRD_BYTES):
        spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
        if not isinstance(spec, dict):
            continue
        names = spec.get("names")
        if isinstance(names, dict) and names.get("kind") == kind and spec.get("group") == group:
            return "{}:{}:{}".format(path, *doc.position(("spec", "names", "kind")))
    return str(path)


def _changes(files: dict[str, bytes], out_dir: Path) -> list[str]:
    """Names under `out_dir` to add, rewrite or remove so that it holds exactly `files`."""
    if not out_dir.exists():
        return sorted(files)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: not a folder")
    on_disk = set()
    for entry in out_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            raise InputError(f"{entry}: unexpected folder among the generated schemas; remove it")
        on_disk.add(entry.name)
    differ = {
        name for name, data in files.items()
        if name not in on_disk or (out_dir / name).is_symlink() or (out_dir / name).read_bytes() != data
    }
    return sorted(differ | (on_disk - files.keys()))


def stale(crd_dir: Path, out_dir: Path, jobs: int | None = 1) -> list[str]:
    """The file names `write` would add, change or remove in `out_dir`; writes nothing."""
    return _changes(generate(crd_dir, jobs, out_dir), out_dir)


def write(crd_dir: Path, out_dir: Path, jobs: int | None = 1) -> list[str]:
    """Make `out_dir` hold exactly the generated files (the kinds added with `add` kept); returns the names added,
    changed or removed."""
    files = generate(crd_dir, jobs, out_dir)
    changed = _changes(files, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in changed:
        if name in files:
            replace_file(out_dir / name, files[name], mode=0o644)
        else:
            (out_dir / name).unlink()
    return changed
