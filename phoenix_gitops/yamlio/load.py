"""Reading YAML: the safe, capped loader for sources and the fast C loader for kustomize's output.

Sources are composed from libyaml's C event stream by a loop in Python (a C composer would crash on deep
nesting; this one stops at the depth cap), into the nodes ruamel.yaml's pure-Python composer makes, which is
the reference: anything out of the ordinary (a syntax error, a directive, an explicit tag, an anchor or alias,
a complex key, nesting near the cap) and every refused value is read again by the reference composer, so what
a source means and how an error is worded never depend on the fast path (a test compares both on every YAML
file of the repository). Both read sources with a size cap, a depth cap, aliases and anchors refused, only
core-schema tags (YAML 1.2), duplicate keys refused, and strict UTF-8 without BOM or control characters.
Nodes are converted to plain JSON types (dict, list, str, int, float, bool, None) and every node's position is
kept in a line map. Text kustomize printed goes through libyaml's C safe loader instead (`load_rendered`): its
input already passed these caps.

Usage:
    docs = load_file(Path("overlays/prod/environment.yaml"), name="overlays/prod/environment.yaml")
    env = docs[0].data                      # plain dict
    line, col = docs[0].position(("kubernetesVersion",))
    resources = load_rendered(kustomize_output, "overlays/prod/api")   # [dict, ...], no line map
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from ..errors import InputError

__all__ = [
    "Document",
    "YamlError",
    "Ambiguity",
    "JsonPath",
    "load_text",
    "load_rendered",
    "load_file",
    "iter_paths",
    "scalar_documents",
    "ScalarPath",
    "yaml11_meaning",
    "scalar_value",
    "capped_parser",
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
_STR_TAG = f"{_CORE}str"
_MERGE_TAG = f"{_CORE}merge"
_REMEMBERED = 64
"""Longest scalar whose resolved tag is remembered (names, numbers, booleans and ports repeat; long text does not)."""
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


def capped_parser(typ: str = "safe") -> YAML:
    """A pure-Python ruamel.yaml parser of type `typ` that refuses aliases and anchors and nesting beyond MAX_DEPTH.

    `safe` (the default) keeps no comment bookkeeping; the round-trip editor asks for `rt`, whose nodes carry
    exact start and end marks."""
    parser = YAML(typ=typ, pure=True)  # pure: C loaders crash on deep nesting
    parser.Composer = _NoAliasComposer
    parser.max_depth = MAX_DEPTH
    return parser


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
        return _documents(_fast_nodes(text), name)
    except (_Unusual, YamlError):  # the reference composer decides what is out of the ordinary, and words it
        return _documents(_reference_nodes(text, name), name)


def _documents(nodes: list[_Composed], name: str) -> list[Document]:
    docs: list[Document] = []
    for node in nodes:
        converter = _Converter(name)
        data = converter.convert(node, ())
        if data is not None:  # empty documents (a lone `---`, comments only) carry nothing
            docs.append(Document(name, len(docs), data, converter.lines, tuple(converter.ambiguities)))
    return docs


def _reference_nodes(text: str, name: str) -> list[_Composed]:
    """The documents of `text` composed by ruamel.yaml's pure-Python parser: the reference for what a source
    means, and for the wording of every syntax, depth and alias error."""
    try:
        return list(capped_parser().compose_all(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = " ".join(str(part) for part in (err.context, err.problem) if part)
        rule = "YAML-SYNTAX"
        if "maximum depth" in message:
            rule, message = "YAML-DEPTH", f"nesting deeper than {MAX_DEPTH} levels"
        elif "alias" in message or "anchor" in message:
            rule = "YAML-ALIAS"
        raise YamlError(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None, rule,
                        message) from None
    except (YAMLError, RecursionError, ValueError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise YamlError(name, None, None, "YAML-SYNTAX", first_line) from None


_LEFT_TO_REFERENCE = re.compile(r"\t|[|>][-+0-9]*#|\r(?!\n)|(?m:^\.\.\.)")
"""Where libyaml and the reference composer part ways (found by fuzzing both), left to the reference: tabs
(`a` and a tab), a comment right after a block scalar's indicator (`|-# c`), a carriage return alone as a line
break, and document end markers (`...`, which libyaml takes more of)."""


class _Unusual(Exception):
    """Text the fast composer leaves to the reference one."""


_RESOLVER = VersionedResolver()  # YAML 1.2 core schema, as the reference composer resolves without a directive


def _plain_tag_of(value: str) -> str:
    """The tag of a plain scalar."""
    return str(_RESOLVER.resolve(ScalarNode, value, (True, False)))


_remembered_plain_tag = functools.lru_cache(maxsize=1 << 14)(_plain_tag_of)


def _plain_tag(value: str) -> str:
    """`_plain_tag_of`, remembered for the short scalars."""
    return _remembered_plain_tag(value) if len(value) <= _REMEMBERED else _plain_tag_of(value)


@dataclass(slots=True)
class _Light:
    """A node composed from libyaml's events: what the converter reads of ruamel's Node (whose `tag` property
    costs more than the whole parse), nothing else."""

    id: str
    """`scalar`, `mapping` or `sequence`, as ruamel's Node.id."""
    tag: str
    value: Any
    start_mark: Any
    style: str | None = None


class _Composed(Protocol):
    """A composed node as the converter reads it: ruamel's (from the reference composer) or a `_Light` one."""

    id: str
    tag: Any
    value: Any
    start_mark: Any
    style: Any


def _fast_nodes(text: str) -> list[_Composed]:
    """The documents of `text` composed from libyaml's C event stream into the nodes the reference composer
    makes (the same tags, values, styles and start marks), over ten times faster. Only for ordinary text:
    raises _Unusual on a syntax error, a directive, an explicit tag, an anchor or alias, a key that is not a
    scalar, or nesting near MAX_DEPTH (the reference composer then reads it). C composers crash on deep
    nesting; this one is a loop over events and stops at the depth cap."""
    if _LEFT_TO_REFERENCE.search(text):
        raise _Unusual
    roots: list[_Composed] = []
    open_: list[tuple[_Light, list[_Composed]]] = []  # the collections being read, and the nodes read into each
    events: Iterator[Any] = yaml.parse(text, Loader=yaml.CSafeLoader)
    try:
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag not in (None, "!"):
                    raise _Unusual
                tag = _plain_tag(event.value) if event.implicit[0] else _STR_TAG
                node = _Light("scalar", tag, event.value, event.start_mark, event.style or None)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag not in (None, "!") or len(open_) >= MAX_DEPTH - 1:
                    raise _Unusual
                if kind is yaml.MappingStartEvent:
                    node = _Light("mapping", _MAP_TAG, [], event.start_mark)
                else:
                    node = _Light("sequence", _SEQ_TAG, [], event.start_mark)
                _place(node, open_, roots)
                open_.append((node, []))
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                node, items = open_.pop()
                pairs = kind is yaml.MappingEndEvent
                node.value = list(zip(items[::2], items[1::2], strict=True)) if pairs else items
                continue
            elif kind is yaml.DocumentStartEvent:
                if event.version is not None or event.tags:
                    raise _Unusual
                continue
            elif kind is yaml.AliasEvent:
                raise _Unusual
            else:
                continue
            _place(node, open_, roots)
    except yaml.YAMLError:
        raise _Unusual from None
    return roots


def _place(node: _Light, open_: list[tuple[_Light, list[_Composed]]], roots: list[_Composed]) -> None:
    """Put `node` into the collection being read (a mapping's key must be a scalar), or make it a document."""
    if not open_:
        roots.append(node)
        return
    parent, items = open_[-1]
    if parent.id == "mapping" and len(items) % 2 == 0 and node.id != "scalar":
        raise _Unusual
    items.append(node)


class _RenderedLoader(yaml.CSafeLoader):
    """libyaml's safe loader, timestamps left as strings (JSON has no dates), each scalar's tag remembered (names,
    labels, ports and booleans repeat in every resource). For kustomize's output only."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and len(value) <= _REMEMBERED:
            return _rendered_tag(kind, value, implicit)
        return _RESOLVE(self, kind, value, implicit)


_RenderedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_CORE}timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_RESOLVE: Callable[..., Any] = yaml.resolver.Resolver.resolve
_RENDERED_RESOLVER = yaml.resolver.Resolver()
_RENDERED_RESOLVER.yaml_implicit_resolvers = _RenderedLoader.yaml_implicit_resolvers


@functools.lru_cache(maxsize=1 << 14)
def _rendered_tag(kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
    return str(_RESOLVE(_RENDERED_RESOLVER, kind, value, implicit))


def _rendered_documents(text: str) -> list[Any]:
    """Every non-empty document of `text`: libyaml composes the nodes, `_plain` turns them into data; what PyYAML's
    constructor makes of them, twice as fast (a test compares both on every rendered file). A merge key or a node
    that contains itself is left to PyYAML's constructor (`_Unusual`)."""
    loader = _RenderedLoader(text)
    try:
        documents = []
        while loader.check_node():
            documents.append(_plain(loader.get_node(), loader))
        return [doc for doc in documents if doc is not None]
    finally:
        loader.dispose()


def _plain(node: Any, loader: _RenderedLoader) -> Any:
    kind = node.__class__
    if kind is yaml.ScalarNode:
        return node.value if node.tag == _STR_TAG else loader.yaml_constructors[node.tag](loader, node)
    if kind is yaml.MappingNode:
        mapping = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG or key.__class__ is not yaml.ScalarNode:
                raise _Unusual
            mapping[_plain(key, loader)] = _plain(value, loader)
        return mapping
    return [_plain(item, loader) for item in node.value]


def load_rendered(text: str, name: str, max_bytes: int = MAX_BYTES) -> list[Any]:
    """The resources of kustomize's output, fast: libyaml's C safe loader, no line map.

    Only for text kustomize printed: its input passed `load_file`'s caps (depth, aliases, tags), and kustomize
    writes plain block YAML quoting every string a YAML 1.1 reader could misread, so the C loader reads exactly
    what kubectl and Argo CD read. Sources must never come here (C loaders crash on deep nesting).
    """
    if len(text.encode("utf-8")) > max_bytes:
        raise YamlError(name, None, None, "YAML-SIZE", f"output is over the {max_bytes}-byte limit")
    try:
        try:
            return _rendered_documents(text)
        except (_Unusual, RecursionError):
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

    def fail(self, node: _Composed, rule: str, message: str) -> YamlError:
        return YamlError(self.name, node.start_mark.line + 1, node.start_mark.column + 1, rule, message)

    def convert(self, node: _Composed, path: JsonPath) -> Any:
        self.lines.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.id == "mapping":
            return self._mapping(node, path)
        if node.id == "sequence":
            if node.tag != _SEQ_TAG:
                raise self.fail(node, "YAML-TAG", f"tag {node.tag!r} is not allowed; use plain YAML")
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.id == "scalar":
            return self._scalar(node, path)
        raise self.fail(node, "YAML-SYNTAX", f"unexpected {type(node).__name__}")

    def _mapping(self, node: _Composed, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            raise self.fail(node, "YAML-TAG", f"tag {node.tag!r} is not allowed; use plain YAML")
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar":
                raise self.fail(key_node, "YAML-KEY", "mapping keys must be plain strings")
            if key_node.tag == _MERGE_TAG or (key_node.value == "<<" and key_node.style is None):
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

    def _scalar(self, node: _Composed, path: JsonPath, record: bool = True) -> Any:
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

    def _check_ambiguous(self, node: _Composed, path: JsonPath) -> None:
        if node.style is not None:  # quoted or block scalars are unambiguous
            return
        meaning = yaml11_meaning(node.value, str(node.tag)[len(_CORE):])
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


def scalar_value(node: ScalarNode, name: str = "<text>") -> Any:
    """The plain value of one composed scalar node, read as `load_text` reads it (YamlError naming `name`)."""
    return _Converter(name)._scalar(node, (), record=False)


ScalarPath = tuple[str | int, ...]
"""Where a scalar sits in a document: mapping keys and sequence indexes (`?` for an unnamed slot)."""


@dataclass
class _Frame:
    """An open mapping or sequence while reading events: its path and where the next value goes."""

    path: ScalarPath
    slot: str | int | None
    """A mapping's current key (None: a key comes next), a sequence's next index."""

    def value_path(self) -> ScalarPath:
        return (*self.path, self.slot if self.slot is not None else "?")

    def advance(self) -> None:
        self.slot = self.slot + 1 if isinstance(self.slot, int) else None


def scalar_documents(text: str) -> Iterator[dict[ScalarPath, str]]:
    """Each YAML document of `text` as {path: scalar text}, from libyaml's event stream: no document is built,
    aliases and complex keys are skipped, and reading stops at MAX_DEPTH, so no text costs more than its length.
    A document cut short by a syntax error or by its depth gives what was read before; never raises."""
    doc: dict[ScalarPath, str] = {}
    frames: list[_Frame] = []
    in_key = 0  # depth inside a complex (collection) key, whose contents are skipped
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                doc, frames, in_key = {}, [], 0
            elif isinstance(event, yaml.DocumentEndEvent):
                yield doc
                doc = {}
            elif in_key:
                in_key += 1 if isinstance(event, yaml.CollectionStartEvent) else (
                    -1 if isinstance(event, yaml.CollectionEndEvent) else 0)
                if not in_key:
                    frames[-1].slot = "?"
                elif in_key > MAX_DEPTH:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                frames.pop()
                if frames:
                    frames[-1].advance()
            elif isinstance(event, yaml.NodeEvent):
                top = frames[-1] if frames else None
                if top is not None and top.slot is None:  # a mapping's key
                    if isinstance(event, yaml.CollectionStartEvent):
                        in_key = 1
                    else:
                        top.slot = event.value if isinstance(event, yaml.ScalarEvent) else "?"
                    continue
                path = top.value_path() if top is not None else ()
                if isinstance(event, yaml.CollectionStartEvent) and len(frames) >= MAX_DEPTH:
                    break  # deeper than the check reads (YAML-DEPTH); libyaml slows down quadratically there
                if isinstance(event, yaml.MappingStartEvent):
                    frames.append(_Frame(path, None))
                elif isinstance(event, yaml.SequenceStartEvent):
                    frames.append(_Frame(path, 0))
                else:
                    if isinstance(event, yaml.ScalarEvent):
                        doc[path] = event.value
                    if top is not None:
                        top.advance()
    except yaml.YAMLError:
        pass
    if doc:  # a document cut short by an error or by its depth: what was read before
        yield doc
