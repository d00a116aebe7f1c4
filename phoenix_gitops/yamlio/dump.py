"""Writing YAML: deterministic block-style text for plain JSON data, quoted where any YAML reader could misread it.

What `render` writes and `diff` compares: block style, 2-space indent with sequences flush under their key (as
kustomize writes), every string that a YAML 1.1 reader (kubectl, Argo CD, Flux) or a YAML 1.2 reader would read as
something else double-quoted. The scalar helpers are shared with the round-trip editor (`yamlio.edit`).

Usage:
    text = dump_yaml({"kind": "ConfigMap", "data": {"FLAG": "on"}})   # 'kind: ConfigMap\ndata:\n  FLAG: "on"\n'
"""
from __future__ import annotations

import math
import re
from typing import Any

from .load import MAX_DEPTH

__all__ = ["dump_yaml", "plain_or_quoted", "double_quoted", "single_quotable"]

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
            prefix = (first if number == 0 and first is not None else pad) + plain_or_quoted(key) + ":"
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
        lines.append(prefix + plain_or_quoted(value))
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


def plain_or_quoted(value: Any) -> str:
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
    return double_quoted(value)


def double_quoted(text: str) -> str:
    """`text` as a double-quoted scalar: quotes, backslashes and unprintable characters escaped."""
    return '"' + _DQ_SPECIAL.sub(_dq_escape, text) + '"'


def single_quotable(text: str) -> bool:
    """Whether `text` can be written single-quoted on one line (no line breaks or unprintable characters)."""
    return _BLOCK_LINE.fullmatch(text) is not None


def _dq_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _DQ_ESCAPES:
        return _DQ_ESCAPES[char]
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


