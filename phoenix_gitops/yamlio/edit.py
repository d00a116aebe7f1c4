"""Editing YAML in place: set or remove keys of one mapping, every other byte of the file unchanged.

What `set-image` and `promote` write with: comments, blank lines, quoting, key order, indentation and CRLF line
ends stay as they were; only the spans of the edited values (or removed/added entries) are rewritten, and the
result is read back before it is returned.

Usage:
    text = edit_mapping(text, ("images", 0), {"digest": "sha256:...", "newTag": DELETE}, name=rel,
                        quote_new=frozenset({"newTag"}))
"""
from __future__ import annotations

import copy
import re
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .dump import double_quoted, plain_or_quoted, single_quotable
from .load import JsonPath, capped_parser, load_text, scalar_value

__all__ = ["edit_mapping", "DELETE"]

DELETE = object()
"""A value for `edit_mapping`'s `changes`: remove that key."""


def edit_mapping(
    text: str, path: JsonPath, changes: dict[str, Any], name: str = "<text>", quote_new: frozenset[str] = frozenset()
) -> str:
    """`text` with scalar keys of the mapping at `path` set (or removed with DELETE), every other byte unchanged.
    A key the mapping does not have yet may also get a list or mapping of scalars, written in flow style
    (`billing: {namespaces: [billing]}`).

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
    rt = capped_parser("rt")  # the round-trip composer: exact start and end marks of every node
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
                      f"{plain_or_quoted(key)}: {_newplain_or_quoted(key, value, quote_new)}"))
    for key_node, value_node in removed:
        edits.append(_removal(work, mapping, key_node, value_node, name))
    if added:
        edits.append(_insertion(work, mapping, [(k, _newplain_or_quoted(k, v, quote_new)) for k, v in added]))
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
        elif isinstance(value, (dict, list, tuple)) and key in target:
            raise TypeError(f"edit_mapping: only a new key can get a {type(value).__name__}, not {key!r}")
        else:
            target[key] = list(value) if isinstance(value, tuple) else value
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
    return scalar_value(node, "<edit>")


def _styled(value: Any, style: str | None) -> str:
    """`value` as a scalar in the quoting style of the one it replaces, where that reads back as `value`."""
    if isinstance(value, str) and style == '"':
        return double_quoted(value)
    if isinstance(value, str) and style == "'" and single_quotable(value):
        return "'" + value.replace("'", "''") + "'"
    return plain_or_quoted(value)


def _newplain_or_quoted(key: str, value: Any, quote_new: frozenset[str]) -> str:
    if isinstance(value, (dict, list, tuple)):
        return _flow(value)
    return _styled(value, '"') if key in quote_new else plain_or_quoted(value)


def _flow(value: Any) -> str:
    """A list or mapping of scalars (nested) in flow style: `{namespaces: [billing]}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{plain_or_quoted(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return double_quoted(value) if isinstance(value, str) and any(c in value for c in ",[]{}") else \
        plain_or_quoted(value)


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
        raise ValueError(f"{name}: cannot remove {key_node.value!r} in place: "
                         "it shares its line with '-' or another key")
    if value_node.end_mark.column != 0 or end == start:
        newline = work.find("\n", end)
        end = len(work) if newline < 0 else newline + 1
    return (line_start, end, "")


def _insertion(work: str, mapping: MappingNode, entries: list[tuple[str, str]]) -> tuple[int, int, str]:
    """The span that adds `key: value` entries after the mapping's last one."""
    if mapping.flow_style:
        close = mapping.end_mark.index - 1
        body = ", ".join(f"{plain_or_quoted(k)}: {v}" for k, v in entries)
        return (close, close, (", " if mapping.value else "") + body)
    if not mapping.value:
        raise ValueError("cannot add keys to an empty block mapping in place")
    pad = " " * mapping.value[0][0].start_mark.column
    lines = "".join(f"{pad}{plain_or_quoted(k)}: {v}\n" for k, v in entries)
    end_node = mapping.value[-1][1]
    at = end_node.end_mark.index
    if end_node.end_mark.column != 0:
        newline = work.find("\n", at)
        if newline < 0:
            return (len(work), len(work), "\n" + lines.rstrip("\n"))
        at = newline + 1
    return (at, at, lines)

