"""The only module that reads YAML: a safe, capped loader that keeps a line for every node.

Sources are parsed with ruamel.yaml's pure-Python composer (never a C loader: those segfault on deep
nesting), with a size cap, a depth cap, aliases and anchors refused, only core-schema tags, duplicate keys
refused, and strict UTF-8 without BOM or control characters. Nodes are converted to plain JSON types
(dict, list, str, int, float, bool, None) and every node's position is kept in a line map.

Usage:
    docs = load_file(Path("overlays/prod/environment.yaml"), name="overlays/prod/environment.yaml")
    env = docs[0].data                      # plain dict
    line, col = docs[0].position(("kubernetesVersion",))
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import InputError

__all__ = [
    "Document",
    "YamlError",
    "Ambiguity",
    "load_text",
    "load_rendered",
    "load_file",
    "MAX_BYTES",
    "MAX_DEPTH",
]

MAX_BYTES = 1024 * 1024
"""Largest source file accepted (bytes)."""
MAX_DEPTH = 100
"""Deepest nesting accepted; deeper input is refused before Python's recursion limit is near."""
MAX_SAFE_INT = 2**53
"""Integers beyond this lose precision in Kubernetes' JSON decoding."""

JsonPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP_TAG = f"{_CORE}map"
_SEQ_TAG = f"{_CORE}seq"

# Characters refused anywhere in a source: C0 controls except tab/LF/CR, DEL, C1 controls (incl. NEL),
# line/paragraph separators, bidi controls (Trojan Source) and a BOM in the middle of the text.
_FORBIDDEN_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)

# Plain scalars that a YAML 1.1 reader (go-yaml v2 in kubectl, Argo CD, Flux) reads as something other
# than the YAML 1.2 value we see: booleans like `on`/`yes`/`y`, legacy octals `0755`, sexagesimals.
_YAML11_BOOL = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
}
_YAML11_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_YAML11_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_YAML11_BINARY = re.compile(r"^[-+]?0b[01_]+$")


class YamlError(InputError):
    """A YAML file is unsafe or malformed; str() is `path:line:col: error RULE message`."""

    def __init__(self, path: str, line: int | None, col: int | None, rule: str, message: str) -> None:
        self.path, self.line, self.col, self.rule, self.detail = path, line, col, rule, message
        where = path if line is None else f"{path}:{line}:{col or 1}"
        super().__init__(f"{where}: error {rule} {message}")


@dataclass(frozen=True)
class Ambiguity:
    """A plain scalar that YAML 1.1 readers would read differently than we do."""

    path: JsonPath
    line: int
    col: int
    text: str
    yaml11: str
    """What a YAML 1.1 reader makes of it, e.g. `boolean true` or `integer 493`."""


@dataclass(frozen=True)
class Document:
    """One YAML document of a file, as plain data plus where each node stands."""

    source: str
    """Repo-relative path of the file (or another display name)."""
    index: int
    """0-based position of the document in its file."""
    data: Any
    lines: dict[JsonPath, tuple[int, int]] = field(repr=False)
    """JSON path -> 1-based (line, col) of the key (for mapping entries) or item (for sequences)."""
    ambiguities: tuple[Ambiguity, ...] = ()

    def position(self, path: JsonPath) -> tuple[int, int]:
        """The line and column of `path`, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return (1, 1)


class _NoAliasComposer(Composer):
    """A composer that refuses aliases (the root of billion-laughs documents) and anchors."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.get_event()
            raise ComposerError(None, None, "aliases are not allowed", event.start_mark)
        event = self.parser.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, "anchors are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def _parser() -> YAML:
    yaml = YAML(typ="safe", pure=True)  # pure: C loaders crash on deep nesting; safe: no comment bookkeeping
    yaml.Composer = _NoAliasComposer
    yaml.max_depth = MAX_DEPTH
    return yaml


def load_file(path: Path, name: str | None = None, max_bytes: int = MAX_BYTES) -> list[Document]:
    """Load every document of the file at `path`; errors name `name` (default: the path)."""
    display = name or str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise YamlError(display, None, None, "YAML-SIZE", f"file is {size} bytes, over the {max_bytes}-byte limit")
        raw = path.read_bytes()
    except OSError as err:
        raise YamlError(display, None, None, "YAML-READ", f"cannot read file: {err.strerror}") from None
    return load_text(raw, display, max_bytes)


def load_text(raw: bytes | str, name: str, max_bytes: int = MAX_BYTES) -> list[Document]:
    """Load every non-empty document of `raw`; raises YamlError with file:line:col on any hazard."""
    text = _decode(raw, name, max_bytes)
    try:
        nodes = list(_parser().compose_all(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = " ".join(str(part) for part in (err.context, err.problem) if part)
        rule = "YAML-SYNTAX"
        if "maximum depth" in message:
            rule, message = "YAML-DEPTH", f"nesting deeper than {MAX_DEPTH} levels"
        elif "alias" in message or "anchor" in message:
            rule = "YAML-ALIAS"
        raise YamlError(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None, rule, message) from None
    except (YAMLError, RecursionError, ValueError) as err:
        raise YamlError(name, None, None, "YAML-SYNTAX", str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    docs = []
    for node in nodes:
        converter = _Converter(name)
        data = converter.convert(node, ())
        if data is not None:  # empty documents (a lone `---`, comments only) carry nothing
            docs.append(Document(name, len(docs), data, converter.lines, tuple(converter.ambiguities)))
    return docs


class _RenderedLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
    """libyaml's safe loader, timestamps left as strings (JSON has no dates). For kustomize's output only."""


_RenderedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_CORE}timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def load_rendered(text: str, name: str, max_bytes: int = MAX_BYTES) -> list[Any]:
    """The resources of kustomize's output, fast: libyaml's C safe loader, no line map.

    Only for text kustomize printed: its input passed `load_file`'s caps (depth, aliases, tags), and kustomize
    writes plain block YAML quoting every string a YAML 1.1 reader could misread, so the C loader reads exactly
    what kubectl and Argo CD read. Sources must never come here (C loaders crash on deep nesting).
    """
    if len(text.encode("utf-8")) > max_bytes:
        raise YamlError(name, None, None, "YAML-SIZE", f"output is over the {max_bytes}-byte limit")
    try:
        return [doc for doc in yaml.load_all(text, Loader=_RenderedLoader) if doc is not None]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        raise YamlError(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "YAML-SYNTAX",
                        str(err.problem)) from None
    except (yaml.YAMLError, RecursionError) as err:
        raise YamlError(name, None, None, "YAML-SYNTAX", type(err).__name__) from None


def _decode(raw: bytes | str, name: str, max_bytes: int) -> str:
    if isinstance(raw, bytes):
        if len(raw) > max_bytes:
            raise YamlError(name, None, None, "YAML-SIZE", f"file is {len(raw)} bytes, over the {max_bytes}-byte limit")
        if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            raise YamlError(name, 1, 1, "YAML-ENCODING", "byte order mark found; save the file as UTF-8 without BOM")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
            raise YamlError(name, line, col, "YAML-ENCODING", f"invalid UTF-8 at byte {err.start}") from None
    else:
        text = raw
    match = _FORBIDDEN_CHARS.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        raise YamlError(name, line, col, "YAML-CONTROL-CHAR", f"forbidden character U+{ord(match.group()):04X}")
    return text


class _Converter:
    """Turns a composed node tree into plain JSON types, recording positions and YAML 1.1 ambiguities."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[JsonPath, tuple[int, int]] = {}
        self.ambiguities: list[Ambiguity] = []

    def fail(self, node: Node, rule: str, message: str) -> YamlError:
        return YamlError(self.name, node.start_mark.line + 1, node.start_mark.column + 1, rule, message)

    def convert(self, node: Node, path: JsonPath) -> Any:
        self.lines.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self.fail(node, "YAML-TAG", f"tag {node.tag!r} is not allowed; use plain YAML")
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            raise self.fail(node, "YAML-TAG", f"tag {node.tag!r} is not allowed; use plain YAML")
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "YAML-KEY", "mapping keys must be plain strings")
            if key_node.tag == f"{_CORE}merge" or (key_node.value == "<<" and key_node.style is None):
                raise self.fail(key_node, "YAML-MERGE-KEY", "merge keys (<<) are not allowed")
            key = self._scalar(key_node, path + ("<key>",), record=False)
            if not isinstance(key, str):
                raise self.fail(key_node, "YAML-KEY", f"mapping key {key_node.value!r} must be a string; quote it")
            if key in result:
                raise self.fail(
                    key_node, "YAML-DUPLICATE-KEY",
                    f"duplicate key {key!r} (first defined at line {first_line[key]})",
                )
            first_line[key] = key_node.start_mark.line + 1
            child = path + (key,)
            self.lines[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            self._check_ambiguous(key_node, child)
            result[key] = self.convert(value_node, child)
        return result

    def _scalar(self, node: ScalarNode, path: JsonPath, record: bool = True) -> Any:
        tag, text = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            raise self.fail(node, "YAML-TAG", f"tag {tag!r} is not allowed; use plain YAML")
        if record:
            self._check_ambiguous(node, path)
        kind = tag[len(_CORE):]
        if kind in ("str", "timestamp"):
            return text
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            value = _parse_int(text)
            if value is None:
                raise self.fail(node, "YAML-NUMBER", "cannot read this value as an integer (value not shown); quote it")
            if abs(value) > MAX_SAFE_INT:
                raise self.fail(node, "YAML-NUMBER", "integer beyond ±2^53 loses precision (value not shown); quote it")
            return value
        try:
            number = float(text.replace("_", ""))
        except ValueError:
            raise self.fail(node, "YAML-NUMBER", "not a finite number (value not shown); quote it") from None
        if not math.isfinite(number):
            raise self.fail(node, "YAML-NUMBER", "not a finite number (value not shown); quote it")
        return number

    def _check_ambiguous(self, node: ScalarNode, path: JsonPath) -> None:
        if node.style is not None:  # quoted or block scalars are unambiguous
            return
        meaning = yaml11_meaning(node.value, node.tag[len(_CORE):])
        if meaning:
            self.ambiguities.append(
                Ambiguity(path, node.start_mark.line + 1, node.start_mark.column + 1, node.value, meaning)
            )


def yaml11_meaning(text: str, yaml12_kind: str) -> str | None:
    """What a YAML 1.1 reader makes of plain `text` when that differs from YAML 1.2, else None.

    >>> yaml11_meaning("on", "str")
    'boolean true'
    """
    if text in _YAML11_BOOL:
        truthy = text.lower() in ("y", "yes", "on")
        return f"boolean {'true' if truthy else 'false'}"
    if _YAML11_SEXAGESIMAL.match(text):
        return "a base-60 number"
    if yaml12_kind == "int" and _YAML11_OCTAL.match(text) and text.lstrip("+-") not in ("0",):
        return f"octal integer {int(text.replace('_', ''), 8)}"
    if yaml12_kind == "str" and _YAML11_BINARY.match(text):
        return "a binary integer"
    if yaml12_kind == "float" and re.fullmatch(r"[-+]?[0-9]+\.[0-9]*0", text):
        return f"the number {float(text)!r} (a string field gets {float(text)!r}, not {text!r})"
    if yaml12_kind == "timestamp":
        return "a timestamp"
    return None


def _parse_int(text: str) -> int | None:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    digits = clean.lstrip("+-")
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if digits.lower().startswith(prefix):
            try:
                return sign * int(digits[2:], base)
            except ValueError:
                return None
    try:
        return sign * int(digits, 10)
    except ValueError:
        return None


def iter_paths(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every (path, value) pair of plain data, depth first, parents before children."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_paths(value, path + (index,))



# Emitting. Appended here so that this module stays the only one that reads or writes YAML.

_QUOTE_WORDS = {"", "~", "y", "n", "yes", "no", "on", "off", "true", "false", "null"}
"""Plain scalars (compared lowercased) that some YAML reader takes for a boolean or null."""
_NUMERIC_LOOKING = re.compile(r"[-+]?(?:\.?[0-9][0-9a-fox_.:+-]*|\.(?:inf|nan))", re.IGNORECASE)
"""Strings a YAML 1.1 or 1.2 reader could take for a number, octal, base-60 value or date: quoted on dump."""
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
                        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?")
"""Timestamps with a time (`2024-01-01T10:00:00Z`, `2024-1-1 1:2:3`), which YAML readers take for dates: quoted."""
_UNPRINTABLE = r"\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ufeff\ufffe\uffff"
"""Characters written only as escapes: controls, line/paragraph separators, bidi controls, BOM, non-characters.
(Written as the complement of the printable set: a class up to U+10FFFF takes milliseconds to compile.)"""
_PLAIN_SAFE = re.compile(rf"[A-Za-z0-9_/.(+$][^{_UNPRINTABLE}]*")
"""Strings that may be written unquoted (after the checks for `: `, ` #` and a trailing `:` or space)."""
_BLOCK_LINE = re.compile(rf"[^{_UNPRINTABLE}]*")
_DQ_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_DQ_SPECIAL = re.compile(rf'["\\]|[{_UNPRINTABLE}]')


def dump_yaml(data: Any) -> str:
    """One YAML document for plain JSON data: deterministic text, keys in the caller's insertion order.

    Block style, 2-space indent with sequences flush under their key (as kustomize writes), no line folding,
    LF line ends, no `---` or `%YAML` header, exactly one trailing newline, no trailing spaces. Every string
    that a YAML 1.1 reader (go-yaml v2 in kubectl, Argo CD, Flux) or a YAML 1.2 reader would read as anything
    but that string is double-quoted: `y`/`n`/`yes`/`no`/`on`/`off`/`true`/`false`/`null`/`~` in any case,
    numeric-looking strings such as `1.34`, `0755`, `1:30`, `1e3`, `.inf` or `2026-01-01`, and strings with
    YAML syntax in them. Multi-line strings become literal blocks (`|`, `|-`) where that reads back exactly.
    `load_text(dump_yaml(x))[0].data == x` for every JSON value x except None.

    >>> dump_yaml({"kind": "ConfigMap", "data": {"FLAG": "on", "VERSION": "1.34", "PORT": 4000}})
    'kind: ConfigMap\\ndata:\\n  FLAG: "on"\\n  VERSION: "1.34"\\n  PORT: 4000\\n'
    """
    lines: list[str] = []
    if _is_collection(data):
        _emit_block(data, 0, lines, None, 0)
    else:
        _emit_value(data, "", 0, lines, 0)
    return "\n".join(lines) + "\n"


def _is_collection(value: Any) -> bool:
    """A non-empty mapping or sequence (empty ones are written inline as {} and [])."""
    return isinstance(value, (dict, list, tuple)) and len(value) > 0


def _emit_block(value: Any, indent: int, lines: list[str], first: str | None, depth: int) -> None:
    """The lines of a non-empty mapping or sequence at `indent`; `first` replaces the first line's indent."""
    if depth > MAX_DEPTH:
        raise ValueError(f"dump_yaml: nesting deeper than {MAX_DEPTH} levels")
    pad = " " * indent
    if isinstance(value, dict):
        for number, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"dump_yaml: mapping key {key!r} is not a string")
            prefix = (first if number == 0 and first is not None else pad) + _scalar(key) + ":"
            if _is_collection(item):
                lines.append(prefix)
                _emit_block(item, indent + 2 if isinstance(item, dict) else indent, lines, None, depth + 1)
            else:
                _emit_value(item, prefix + " ", indent, lines, depth)
        return
    for number, item in enumerate(value):
        prefix = (first if number == 0 and first is not None else pad) + "- "
        if _is_collection(item):
            _emit_block(item, indent + 2, lines, prefix, depth + 1)
        else:
            _emit_value(item, prefix, indent, lines, depth)


def _emit_value(value: Any, prefix: str, indent: int, lines: list[str], depth: int) -> None:
    """A scalar (or empty collection) after `prefix`; a multi-line string as a literal block under it."""
    block = _literal(value, indent + 2) if isinstance(value, str) else None
    if block is None:
        lines.append(prefix + _scalar(value))
    else:
        lines.append(prefix + block[0])
        lines.extend(block[1:])


def _literal(text: str, indent: int) -> list[str] | None:
    """A literal block (`|` or `|-`, then the indented lines) that reads back as exactly `text`, or None."""
    if "\n" not in text:
        return None
    body = text[:-1] if text.endswith("\n") else text
    parts = body.split("\n")
    if text.endswith("\n\n") or not parts[0] or parts[0][0] == " ":
        return None
    if any(part != part.rstrip(" ") or not _BLOCK_LINE.fullmatch(part) for part in parts):
        return None
    pad = " " * indent
    return ["|" if text.endswith("\n") else "|-", *(pad + part if part else "" for part in parts)]


def _scalar(value: Any) -> str:
    """One scalar on one line: plain where every YAML reader agrees on it, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"dump_yaml: {value!r} is not a finite number")
        mantissa, _, exponent = repr(value).partition("e")
        if "." not in mantissa:  # YAML 1.1 floats need a dot: 1e+20 -> 1.0e+20
            mantissa += ".0"
        return mantissa + (f"e{exponent}" if exponent else "")
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    if not isinstance(value, str):
        raise TypeError(f"dump_yaml: cannot emit {type(value).__name__} value {value!r}")
    if (
        value.lower() not in _QUOTE_WORDS
        and not _NUMERIC_LOOKING.fullmatch(value)
        and not _TIMESTAMP.fullmatch(value)
        and _PLAIN_SAFE.fullmatch(value)
        and ": " not in value
        and " #" not in value
        and not value.endswith((":", " "))
        and not value.startswith("...")  # a document end marker at column 0
    ):
        return value
    return '"' + _DQ_SPECIAL.sub(_dq_escape, value) + '"'


def _dq_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _DQ_ESCAPES:
        return _DQ_ESCAPES[char]
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


__all__.append("dump_yaml")


# Round-trip editing. Appended here so that this module stays the only one that reads or writes YAML.

DELETE = object()
"""A value for `edit_mapping`'s `changes`: remove that key."""


def edit_mapping(
    text: str, path: JsonPath, changes: dict[str, Any], name: str = "<text>", quote_new: frozenset[str] = frozenset()
) -> str:
    """`text` with scalar keys of the mapping at `path` set (or removed with DELETE), every other byte unchanged.

    The single document is composed with ruamel.yaml's round-trip composer, which gives the exact span of every
    node; only those spans are rewritten: a changed value in place (in its own quoting style: double, single,
    or plain where that reads back the same, else double-quoted), a removed key's line(s), a new key as one
    line after the mapping's last entry at its indentation (or `, key: value` in a flow mapping). A removed
    and an added key in the same call share the removed key's place, so `digest` -> `newTag` edits one line.
    Comments, blank lines, quoting, key order, indentation and CRLF line ends elsewhere stay as they were.
    The result is read back (`load_text`) and must equal the original data with `changes` applied.
    Raises YamlError on unsafe YAML, ValueError when `path` is missing or the edit cannot be made in place.

    >>> edit_mapping("a:  1  # one\\nb: 'x'\\n", (), {"b": "y", "c": "3"}, quote_new=frozenset({"c"}))
    'a:  1  # one\\nb: \\'y\\'\\nc: "3"\\n'
    """
    crlf = "\r\n" in text
    work = text.replace("\r\n", "\n") if crlf else text
    docs = load_text(work, name)
    if len(docs) != 1:
        raise ValueError(f"{name}: expected exactly one YAML document, found {len(docs)}")
    expected = _apply(docs[0].data, path, changes, name)
    rt = YAML(typ="rt", pure=True)  # the round-trip composer: exact start and end marks of every node
    rt.Composer = _NoAliasComposer
    rt.max_depth = MAX_DEPTH
    nodes = [node for node in rt.compose_all(work) if node is not None]
    mapping = _node_at(nodes[0], path, name)
    if not isinstance(mapping, MappingNode):
        raise ValueError(f"{name}: {_where(path)} is not a mapping")
    present = {key.value: (key, value) for key, value in mapping.value}
    edits: list[tuple[int, int, str]] = []
    removed: list[tuple[Node, Node]] = []
    added: list[tuple[str, Any]] = []
    for key, value in changes.items():
        if key in present:
            key_node, value_node = present[key]
            if value is DELETE:
                removed.append((key_node, value_node))
            elif not isinstance(value_node, ScalarNode):
                raise ValueError(f"{name}: {_where(path + (key,))} is not a scalar; it cannot be replaced in place")
            elif _plain_value(value_node) != value or type(_plain_value(value_node)) is not type(value):
                edits.append((value_node.start_mark.index, value_node.end_mark.index, _styled(value, value_node.style)))
        elif value is not DELETE:
            added.append((key, value))
    while removed and added:  # the new key takes the old one's place (and its line's comment)
        (key_node, value_node), (key, value) = removed.pop(0), added.pop(0)
        edits.append((key_node.start_mark.index, value_node.end_mark.index,
                      f"{_scalar(key)}: {_new_scalar(key, value, quote_new)}"))
    for key_node, value_node in removed:
        edits.append(_removal(work, mapping, key_node, value_node, name))
    if added:
        edits.append(_insertion(work, mapping, [(k, _new_scalar(k, v, quote_new)) for k, v in added]))
    result = work
    for start, end, new in sorted(edits, reverse=True):
        result = result[:start] + new + result[end:]
    check = load_text(result, name)
    if len(check) != 1 or check[0].data != expected:
        raise ValueError(f"{name}: the edit of {_where(path)} did not read back as intended; file left unchanged")
    return result.replace("\n", "\r\n") if crlf else result


def _where(path: JsonPath) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _apply(data: Any, path: JsonPath, changes: dict[str, Any], name: str) -> Any:
    """A copy of plain `data` with `changes` made to the mapping at `path`."""
    import copy

    result = copy.deepcopy(data)
    target = result
    for part in path:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{name}: {_where(path)} not found") from None
    if not isinstance(target, dict):
        raise ValueError(f"{name}: {_where(path)} is not a mapping")
    for key, value in changes.items():
        if value is DELETE:
            target.pop(key, None)
        elif isinstance(value, (dict, list, tuple)):
            raise TypeError(f"edit_mapping: only scalar values can be set, not {type(value).__name__}")
        else:
            target[key] = value
    return result


def _node_at(node: Node, path: JsonPath, name: str) -> Node:
    for part in path:
        if isinstance(part, int) and isinstance(node, SequenceNode) and 0 <= part < len(node.value):
            node = node.value[part]
            continue
        if isinstance(part, str) and isinstance(node, MappingNode):
            match = [value for key, value in node.value if isinstance(key, ScalarNode) and key.value == part]
            if match:
                node = match[0]
                continue
        raise ValueError(f"{name}: {_where(path)} not found")
    return node


def _plain_value(node: ScalarNode) -> Any:
    return _Converter("<edit>")._scalar(node, (), record=False)


def _styled(value: Any, style: str | None) -> str:
    """`value` as a scalar in the quoting style of the one it replaces, where that reads back as `value`."""
    if isinstance(value, str) and style == '"':
        return '"' + _DQ_SPECIAL.sub(_dq_escape, value) + '"'
    if isinstance(value, str) and style == "'" and _BLOCK_LINE.fullmatch(value):
        return "'" + value.replace("'", "''") + "'"
    return _scalar(value)


def _new_scalar(key: str, value: Any, quote_new: frozenset[str]) -> str:
    return _styled(value, '"') if key in quote_new else _scalar(value)


def _removal(work: str, mapping: MappingNode, key_node: Node, value_node: Node, name: str) -> tuple[int, int, str]:
    """The span that removes one entry: its whole line(s) in a block mapping, `key: value, ` in a flow one."""
    start, end = key_node.start_mark.index, value_node.end_mark.index
    if mapping.flow_style:
        after = re.compile(r"\s*,\s*").match(work, end)
        if after:
            return (start, after.end(), "")
        before = work.rfind(",", mapping.start_mark.index, start)
        return (before if before >= 0 else start, end, "")
    line_start = work.rfind("\n", 0, start) + 1
    if work[line_start:start].strip():
        raise ValueError(f"{name}: cannot remove {key_node.value!r} in place: it shares its line with '-' or another key")
    if value_node.end_mark.column != 0 or end == start:
        newline = work.find("\n", end)
        end = len(work) if newline < 0 else newline + 1
    return (line_start, end, "")


def _insertion(work: str, mapping: MappingNode, entries: list[tuple[str, str]]) -> tuple[int, int, str]:
    """The span that adds `key: value` entries after the mapping's last one."""
    if mapping.flow_style:
        close = mapping.end_mark.index - 1
        body = ", ".join(f"{_scalar(k)}: {v}" for k, v in entries)
        return (close, close, (", " if mapping.value else "") + body)
    if not mapping.value:
        raise ValueError("cannot add keys to an empty block mapping in place")
    pad = " " * mapping.value[0][0].start_mark.column
    lines = "".join(f"{pad}{_scalar(k)}: {v}\n" for k, v in entries)
    end_node = mapping.value[-1][1]
    at = end_node.end_mark.index
    if end_node.end_mark.column != 0:
        newline = work.find("\n", at)
        if newline < 0:
            return (len(work), len(work), "\n" + lines.rstrip("\n"))
        at = newline + 1
    return (at, at, lines)


__all__ += ["edit_mapping", "DELETE"]
