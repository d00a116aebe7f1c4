"""CEL as Kubernetes evaluates it: the cel-expr-python runtime (cel-cpp) with the extensions Kubernetes enables,
Kubernetes' own libraries where the runtime lacks them, and a cost limit.

The runtime brings the standard macros and functions, `has`, `matches`, and the `strings`, `lists`, `sets`,
`optional`, `bindings` (`cel.bind`), `math`, `encoders` and two-variable-comprehension extensions. Added here, in
Python: Kubernetes' regex (`find`, `findAll`), list (`isSorted`, `sum`, `min`, `max`), quantity, URL, IP, CIDR and
semver libraries. Not available: the list functions `indexOf`/`lastIndexOf` (the strings extension owns those
names), and `authorizer` (there is no cluster at pull-request time). Anything else a rule calls that does not
exist is refused when the expression is compiled, with the column, never passed over.

Quantities, URLs and semantic versions are maps tagged `{"@type": ...}` (cel-expr-python has no opaque types);
IP addresses and CIDRs are their canonical strings, so `string(ip(...))` works. `find`/`findAll` use Python's
`re`, which agrees with RE2 on the patterns rules use (`matches` is RE2 itself).

A runaway expression (comprehensions nested over big lists, strings doubled by `cel.bind`) is stopped before it
runs: `Program.run` bounds its cost from the compiled expression and the sizes of the values it gets (longest
list or map, longest string) and refuses to run it above `COST_LIMIT` (CostError). The bound is an upper bound,
like the API server's estimated cost: an expression under it never runs long.

Usage:
    program = compile_expression("self.all(l, l.port > 0)", ("self",))   # CelError(message, line, col)
    program.run({"self": [{"port": 80}]})                                   # True; EvalError, CostError
"""
from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from cel_expr_python import cel  # type: ignore[import-untyped]  # (stubs, no py.typed marker)

__all__ = ["CelError", "EvalError", "CostError", "Program", "compile_expression", "COST_LIMIT", "sizes",
           "LIBRARIES"]

COST_LIMIT = 10_000_000
"""Largest estimated cost of one evaluation (the API server's runtime budget for one admission request). The
estimate is a loose upper bound (a comparison of two fields counts the longest list of the input), so the limit
is the budget, not the API server's tighter per-expression one."""
LIBRARIES = ("strings", "lists", "sets", "optional", "bindings", "math", "encoders", "two-var-comprehensions")
"""The runtime's own extensions that are switched on (the ones Kubernetes enables)."""
_TAG = "@type"
_INFINITE = 10**18


class CelError(Exception):
    """An expression that does not compile: message, and the 1-based line and column inside the expression."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


class EvalError(Exception):
    """An expression that failed while it ran (no such key, a bad conversion, a function's error)."""


class CostError(EvalError):
    """An expression whose estimated cost on this input is over the limit: refused before it runs."""


# --- Kubernetes libraries ---------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {"Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
           "Pi": Decimal(2**50), "Ei": Decimal(2**60), "n": Decimal("1e-9"), "u": Decimal("1e-6"),
           "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
           "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")
_INT64 = (-(2**63), 2**63 - 1)


def _decimal(text: str) -> Decimal:
    found = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"quantities must match the regular expression '{_QUANTITY.pattern}'")
    number, exponent, suffix = found.groups()
    value = Decimal(number + (exponent or ""))
    return value * _SUFFIX[suffix] if suffix else value


def _quantity(value: Decimal) -> dict[str, str]:
    return {_TAG: "kubernetes.Quantity", "value": str(value.normalize())}


def _tagged(value: Any, kind: str) -> str:
    if not isinstance(value, dict) or value.get(_TAG) != kind:
        raise ValueError(f"expected a {kind}")
    return str(value["value"])


def _q(value: Any) -> Decimal:
    return Decimal(_tagged(value, "kubernetes.Quantity"))


def _q_or_int(value: Any) -> Decimal:
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else _q(value)


def _semver(text: str) -> dict[str, str]:
    if not isinstance(text, str) or not _SEMVER.match(text):
        raise ValueError("invalid semver: expected major.minor.patch")
    return {_TAG: "kubernetes.Semver", "value": text}


def _semver_key(value: Any) -> tuple[Any, ...]:
    major, minor, patch, pre, _ = _SEMVER.match(_tagged(value, "kubernetes.Semver")).groups()  # type: ignore[union-attr]
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in (pre or "").split(".") if p)
    return (int(major), int(minor), int(patch), 1 if pre is None else 0, parts)


def _compare(a: Any, b: Any) -> int:
    """compareTo of quantities or of semantic versions: -1, 0 or 1."""
    if isinstance(a, dict) and a.get(_TAG) == "kubernetes.Semver":
        left, right = _semver_key(a), _semver_key(b)
        return (left > right) - (left < right)
    x, y = _q(a), _q(b)
    return (x > y) - (x < y)


def _url(text: str) -> dict[str, str]:
    if not _is_url(text):
        raise ValueError("URL must be an absolute URI or an absolute path")
    return {_TAG: "kubernetes.URL", "value": text}


def _is_url(text: Any) -> bool:
    if not isinstance(text, str) or not text or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    return bool(parts.scheme and (parts.netloc or parts.path)) or text.startswith("/")


def _url_parts(value: Any) -> Any:
    return urlsplit(_tagged(value, "kubernetes.URL"))


def _query(value: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    from urllib.parse import parse_qsl

    for key, item in parse_qsl(_url_parts(value).query, keep_blank_values=True):
        found.setdefault(key, []).append(item)
    return found


def _ip_address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(text, str) or "%" in text:
        raise ValueError("IP address with zone value is not allowed" if isinstance(text, str) else "not an IP")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError("IPv4-mapped IPv6 address is not allowed")
    return address


def _ip(text: str) -> str:
    return str(_ip_address(text))


def _is(parse: Callable[[Any], Any]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        try:
            parse(value)
        except (ValueError, TypeError, InvalidOperation):
            return False
        return True
    return check


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(text, str) or "/" not in text:
        raise ValueError("network address must be in CIDR notation")
    address, _, _ = text.partition("/")
    _ip_address(address)
    return ipaddress.ip_network(text, strict=False)


def _cidr(text: str) -> str:
    network = _network(text)
    return f"{ipaddress.ip_address(text.partition('/')[0])}/{network.prefixlen}"


def _contains_ip(cidr: str, address: str) -> bool:
    return _ip_address(address) in _network(cidr)


def _contains_cidr(cidr: str, other: str) -> bool:
    inner, outer = _network(other), _network(cidr)
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _sorted(items: list[Any]) -> bool:
    return all(a <= b for a, b in zip(items, items[1:], strict=False))


def _least(items: list[Any], pick: Callable[..., Any]) -> Any:
    if not items:
        raise ValueError("min/max of an empty list")
    return pick(items)


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in re.finditer(pattern, text)]
    return found if limit < 0 else found[:limit]


def _find(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return found.group(0) if found else ""


def _as_int(value: Any) -> int:
    number = _q(value)
    if number != number.to_integral_value() or not _INT64[0] <= number <= _INT64[1]:
        raise ValueError("cannot convert value to integer")
    return int(number)


_S, _B, _I, _D = cel.Type.STRING, cel.Type.BOOL, cel.Type.INT, cel.Type.DOUBLE
_M = cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
_L = cel.Type.List(cel.Type.DYN)
_DYN = cel.Type.DYN
_LS = cel.Type.List(cel.Type.STRING)

# name -> [(overload id, return type, parameter types, member?, implementation)]
_FUNCTIONS: dict[str, list[tuple[str, Any, list[Any], bool, Callable[..., Any]]]] = {
    "find": [("string_find_string", _S, [_S, _S], True, _find)],
    "findAll": [("string_find_all_string", _LS, [_S, _S], True, _find_all),
                ("string_find_all_string_int", _LS, [_S, _S, _I], True, _find_all)],
    "isSorted": [("list_is_sorted", _B, [_L], True, _sorted)],
    "sum": [("list_sum", _DYN, [_L], True, lambda items: sum(items) if items else 0)],
    "min": [("list_min", _DYN, [_L], True, lambda items: _least(items, min))],
    "max": [("list_max", _DYN, [_L], True, lambda items: _least(items, max))],
    "quantity": [("string_to_quantity", _M, [_S], False, lambda s: _quantity(_decimal(s)))],
    "isQuantity": [("is_quantity_string", _B, [_S], False, _is(_decimal))],
    "sign": [("quantity_sign", _I, [_M], True, lambda q: (_q(q) > 0) - (_q(q) < 0))],
    "isInteger": [("quantity_is_integer", _B, [_M], True, _is(_as_int))],
    "asInteger": [("quantity_as_integer", _I, [_M], True, _as_int)],
    "asApproximateFloat": [("quantity_as_float", _D, [_M], True, lambda q: float(_q(q)))],
    "add": [("quantity_add", _M, [_M, _M], True, lambda a, b: _quantity(_q(a) + _q(b))),
            ("quantity_add_int", _M, [_M, _I], True, lambda a, b: _quantity(_q(a) + _q_or_int(b)))],
    "sub": [("quantity_sub", _M, [_M, _M], True, lambda a, b: _quantity(_q(a) - _q(b))),
            ("quantity_sub_int", _M, [_M, _I], True, lambda a, b: _quantity(_q(a) - _q_or_int(b)))],
    "compareTo": [("tagged_compare_to", _I, [_M, _M], True, _compare)],
    "isGreaterThan": [("tagged_is_greater_than", _B, [_M, _M], True, lambda a, b: _compare(a, b) > 0)],
    "isLessThan": [("tagged_is_less_than", _B, [_M, _M], True, lambda a, b: _compare(a, b) < 0)],
    "semver": [("string_to_semver", _M, [_S], False, _semver)],
    "isSemver": [("is_semver_string", _B, [_S], False, _is(_semver))],
    "major": [("semver_major", _I, [_M], True, lambda v: _semver_key(v)[0])],
    "minor": [("semver_minor", _I, [_M], True, lambda v: _semver_key(v)[1])],
    "patch": [("semver_patch", _I, [_M], True, lambda v: _semver_key(v)[2])],
    "url": [("string_to_url", _M, [_S], False, _url)],
    "isURL": [("is_url_string", _B, [_S], False, _is_url)],
    "getScheme": [("url_get_scheme", _S, [_M], True, lambda u: _url_parts(u).scheme)],
    "getHost": [("url_get_host", _S, [_M], True, lambda u: _url_parts(u).netloc.rpartition("@")[2])],
    "getHostname": [("url_get_hostname", _S, [_M], True, lambda u: _url_parts(u).hostname or "")],
    "getPort": [("url_get_port", _S, [_M], True,
                 lambda u: str(_url_parts(u).port) if _url_parts(u).port is not None else "")],
    "getEscapedPath": [("url_get_escaped_path", _S, [_M], True, lambda u: _url_parts(u).path)],
    "getQuery": [("url_get_query", cel.Type.Map(_S, _LS), [_M], True, _query)],
    "ip": [("string_to_ip", _S, [_S], False, _ip),
           ("cidr_ip", _S, [_S], True, lambda c: str(ipaddress.ip_address(_cidr(c).partition("/")[0])))],
    "isIP": [("is_ip", _B, [_S], False, _is(_ip))],
    "ip.isCanonical": [("ip_is_canonical", _B, [_S], False, lambda s: _ip(s) == s)],
    "family": [("ip_family", _I, [_S], True, lambda a: _ip_address(a).version)],
    "isUnspecified": [("ip_is_unspecified", _B, [_S], True, lambda a: _ip_address(a).is_unspecified)],
    "isLoopback": [("ip_is_loopback", _B, [_S], True, lambda a: _ip_address(a).is_loopback)],
    "isLinkLocalMulticast": [("ip_is_link_local_multicast", _B, [_S], True,
                              lambda a: _ip_address(a).is_multicast and _ip_address(a).is_link_local
                              or str(_ip_address(a)).startswith("224.0.0."))],
    "isLinkLocalUnicast": [("ip_is_link_local_unicast", _B, [_S], True,
                            lambda a: _ip_address(a).is_link_local and not _ip_address(a).is_multicast)],
    "isGlobalUnicast": [("ip_is_global_unicast", _B, [_S], True,
                         lambda a: not (_ip_address(a).is_unspecified or _ip_address(a).is_loopback
                                        or _ip_address(a).is_multicast or _ip_address(a).is_link_local
                                        or str(_ip_address(a)) == "255.255.255.255"))],
    "cidr": [("string_to_cidr", _S, [_S], False, _cidr)],
    "isCIDR": [("is_cidr", _B, [_S], False, _is(_cidr))],
    "containsIP": [("cidr_contains_ip", _B, [_S, _S], True, _contains_ip)],
    "containsCIDR": [("cidr_contains_cidr", _B, [_S, _S], True, _contains_cidr)],
    "masked": [("cidr_masked", _S, [_S], True, lambda c: str(_network(c)))],
    "prefixLength": [("cidr_prefix_length", _I, [_S], True, lambda c: _network(c).prefixlen)],
}
KUBERNETES_FUNCTIONS = tuple(sorted(_FUNCTIONS))
"""The Kubernetes library functions implemented here."""


@functools.lru_cache(maxsize=8)
def _environment(variables: tuple[str, ...]) -> Any:
    extensions = "".join(f"  - name: {name}\n" for name in LIBRARIES)
    declared = "".join(f"  - name: {name}\n    type_name: dyn\n" for name in variables)
    config = cel.NewEnvConfigFromYaml(f"name: kubernetes\nextensions:\n{extensions}variables:\n{declared}")
    functions = [cel.FunctionDecl(name, [cel.Overload(oid, result, params, is_member=member, impl=_guarded(impl))
                                         for oid, result, params, member, impl in overloads])
                 for name, overloads in _FUNCTIONS.items()]
    return cel.NewEnv(config=config, functions=functions)


def _guarded(impl: Callable[..., Any]) -> Callable[..., Any]:
    """The implementation with its errors as plain messages (the runtime turns an exception into an error value)."""

    def call(*args: Any) -> Any:
        try:
            return impl(*args)
        except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation, re.error) as err:
            raise ValueError(str(err) or type(err).__name__) from None

    return call


# --- compiling -----------------------------------------------------------------------------------------------

_POSITION = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_HINTS = {
    "authorizer": "`authorizer` is not available at pull-request time (there is no cluster to ask)",
    "indexOf": "the list functions indexOf/lastIndexOf of the Kubernetes list library are not available here",
    "lastIndexOf": "the list functions indexOf/lastIndexOf of the Kubernetes list library are not available here",
}


@dataclass
class Program:
    """A compiled expression: `run` it with values for its variables."""

    source: str
    expression: Any = field(repr=False)
    variables: tuple[str, ...] = ()
    _tree: Any = field(default=None, repr=False)
    _costs: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict, repr=False)

    def run(self, values: Mapping[str, Any], limit: int = COST_LIMIT,
            bounds: tuple[int, int] | None = None) -> Any:
        """The value of the expression (plain Python data). Raises EvalError when it fails and CostError, before
        running it, when its estimated cost on `values` is over `limit`. `bounds` are the (longest list or map,
        longest string) of `values`, when the caller already knows them."""
        length, text = bounds if bounds is not None else _max_sizes(values.values())
        cost = self.cost(length, text)
        if cost > limit:
            raise CostError(f"estimated cost {_big(cost)} is over the limit of {_big(limit)} on this input "
                            f"(lists of up to {length} items, strings of up to {text} characters); simplify the "
                            "expression (fewer nested comprehensions over lists)")
        try:  # (an activation converts only the fields the expression reads: a tenth of the time of `data=`)
            result = self.expression.eval(_environment(self.variables).Activation(dict(values)))
            if result.type() == cel.Type.ERROR:
                raise EvalError(_status(str(result.value())))
            return result.plain_value()
        except EvalError:
            raise
        except (RuntimeError, ValueError, TypeError, OverflowError) as err:
            raise EvalError(_status(str(err))) from None

    def cost(self, length: int, text: int) -> int:
        """An upper bound of the cost of one evaluation when no list or map in the input is longer than `length`
        and no string longer than `text`."""
        return _estimate(self, max(length, 0), max(text, 0))[0]

    def result_sizes(self, length: int, text: int) -> tuple[int, int]:
        """An upper bound of (longest list or map, longest string) in the value of the expression, on such an
        input (what a later expression that reads the value gets, without walking it)."""
        _, longest, chars = _estimate(self, max(length, 0), max(text, 0))
        return longest, chars

    @property
    def tree(self) -> Any:
        if self._tree is None:
            self._tree = _decode_checked(self.expression.serialize())
        return self._tree


def compile_expression(source: str, variables: Sequence[str]) -> Program:
    """Compile `source` with `variables` declared (each of any type); raises CelError with its position."""
    return _compile(source, tuple(variables))


@functools.lru_cache(maxsize=4096)
def _compile(source: str, variables: tuple[str, ...]) -> Program:
    if not isinstance(source, str) or not source.strip():
        raise CelError("the expression is empty")
    try:
        expression = _environment(variables).compile(source)
    except (RuntimeError, ValueError) as err:
        raise _compile_error(str(err)) from None
    return Program(source, expression, variables)


def _compile_error(text: str) -> CelError:
    found = _POSITION.search(text)
    if not found:
        return CelError(_status(text))
    line, col, message = int(found.group(1)), int(found.group(2)), found.group(3).strip()
    for name, hint in _HINTS.items():
        if f"'{name}'" in message:
            message += f" ({hint})"
    return CelError(message, line, col)


def _status(text: str) -> str:
    """A runtime status without its code and trailer: `NOT_FOUND: no such key: x [NOT_FOUND]` -> `no such key: x`."""
    text = re.sub(r"\s*\[[A-Z_]+\]\s*$", "", text.strip())
    return re.sub(r"^[A-Z_]+: ", "", text)


def _big(number: int) -> str:
    return f"{number:,}" if number < _INFINITE else "unbounded"


# --- sizes and cost --------------------------------------------------------------------------------------------


def sizes(value: Any, memo: dict[int, tuple[int, int]] | None = None) -> tuple[int, int]:
    """(longest list or map, longest string) anywhere inside `value`; with `memo`, every container's pair is kept
    there by `id`, so the sizes of all the parts of one value cost one walk."""
    if isinstance(value, str):
        return 0, len(value)
    if isinstance(value, (bytes, bytearray)):
        return 0, len(value)
    if not isinstance(value, (dict, list)):
        return 0, 0
    if memo is not None and id(value) in memo:
        return memo[id(value)]
    length, text = len(value), 0
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str):
            text = max(text, len(key))
        inner, chars = sizes(item, memo)
        length, text = max(length, inner), max(text, chars)
    if memo is not None:
        memo[id(value)] = (length, text)
    return length, text


def _max_sizes(values: Any) -> tuple[int, int]:
    length, text = 0, 0
    for value in values:
        a, b = sizes(value)
        length, text = max(length, a), max(text, b)
    return length, text


@dataclass(frozen=True)
class _Node:
    kind: str
    """ident, const, select, call, list, map, comprehension."""
    name: str = ""
    """The identifier, the selected field or the function."""
    children: tuple[_Node, ...] = ()
    text: int = 0
    """For a string constant: its length; for an int constant: its value."""
    iter_vars: tuple[str, ...] = ()
    accu: str = ""
    overloads: tuple[str, ...] = ()
    """For a call: the overloads the type checker left possible."""


def _estimate(program: Program, length: int, text: int) -> _Bound:
    key = (length, text)
    if key not in program._costs:
        if len(program._costs) > 4096:
            program._costs.clear()
        cost, longest, chars = _bound(program.tree, {}, key)
        program._costs[key] = (min(cost, _INFINITE), min(longest, _INFINITE), min(chars, _INFINITE))
    return program._costs[key]


_Bound = tuple[int, int, int]
"""(cost, longest list or map, longest string) of a sub-expression."""
_SCAN = {"contains", "startsWith", "endsWith", "matches", "find", "findAll", "lowerAscii", "upperAscii", "trim",
         "charAt", "substring", "quote", "reverse", "size", "string", "int", "double", "uint", "bytes", "timestamp",
         "duration", "quantity", "url", "ip", "cidr", "semver", "isQuantity", "isURL", "isIP", "isCIDR", "isSemver",
         "base64.encode", "base64.decode", "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "@in", "_in_"}
_QUADRATIC = {"sets.contains", "sets.intersects", "sets.equivalent", "distinct", "sort", "sortBy",
              "@sortByAssociatedKeys"}


def _bound(node: _Node, scope: dict[str, tuple[int, int]], data: tuple[int, int]) -> _Bound:
    """An upper bound of the cost of `node` and of the sizes of its value; free variables (the input) have the
    sizes `data`, names bound by comprehensions those in `scope`."""
    if node.kind == "ident":
        length, text = scope.get(node.name, data)
        return 1, length, text
    if node.kind == "const":
        return 1, 0, node.text
    parts = [_bound(child, scope, data) for child in node.children if node.kind != "comprehension"]
    cost = 1 + sum(p[0] for p in parts)
    length = max((p[1] for p in parts), default=0)
    text = max((p[2] for p in parts), default=0)
    if node.kind == "select":
        return cost, length, text
    if node.kind in ("list", "map"):
        return cost, max(length, len(node.children)), text
    if node.kind == "comprehension":
        return _comprehension(node, scope, data)
    name = node.name
    if name == "_+_":
        (_, la, ta), (_, lb, tb) = parts[0], parts[-1]
        if node.overloads and all(o.startswith("add_list") for o in node.overloads):
            return cost, la + lb, max(ta, tb)
        if node.overloads and all(o.startswith(("add_string", "add_bytes")) for o in node.overloads):
            return cost + (ta + tb) // 64, max(la, lb), ta + tb
        return cost + (ta + tb) // 64, la + lb, ta + tb
    if name in ("flatten",):
        return cost + length * length, length * max(length, 1), text
    if name in ("lists.range", "range"):
        if node.children and node.children[-1].kind == "const":
            count = node.children[-1].text
            return cost + count, max(length, count), text
        return _INFINITE, _INFINITE, text
    if name == "split":
        return cost + text // 64 + length, max(length, text), text
    if name in ("join", "format"):
        grown = text * (max(length, 1) + 1)
        return cost + grown // 64 + length, length, grown
    if name == "replace":
        grown = text * max(text, 1)
        return cost + grown // 64, length, grown
    if name in _QUADRATIC:
        cost += length * max(length, 1) + (text * max(length, 1)) // 64
    elif name in _SCAN:
        cost += length + text // 64 + (text * text // 4096 if name in ("matches", "find", "findAll") else 0)
    return cost, length, text


def _appended(step: _Node, accu: str) -> int | None:
    """How many items a macro's step adds to the accumulator `accu` (`accu + [x]`, `@mapInsert(accu, k, v)`), or
    None when the step is not such an append."""
    if step.kind == "call" and step.children and step.children[0].kind == "ident" and step.children[0].name == accu:
        if step.name == "_+_" and len(step.children) == 2 and step.children[1].kind == "list":
            return len(step.children[1].children)
        if step.name == "cel.@mapInsert":
            return 1
    found = [n for n in (_appended(child, accu) for child in step.children if child.kind != "comprehension")
             if n is not None]
    return max(found) if found else None


def _comprehension(node: _Node, scope: dict[str, tuple[int, int]], data: tuple[int, int]) -> _Bound:
    range_, init, condition, step, result = node.children
    range_cost, range_length, range_text = _bound(range_, scope, data)
    init_cost, init_length, init_text = _bound(init, scope, data)
    inner = dict(scope)
    for var in node.iter_vars:
        inner[var] = (range_length, range_text)
    inner[node.accu] = (init_length, init_text)
    _, step_length, step_text = _bound(step, inner, data)
    count = range_length
    appended = _appended(step, node.accu)
    if appended is not None:  # map, filter, transformList/Map: the accumulator gets `appended` items a round
        grown = (max(init_length + count * appended, step_length), max(init_text, step_text))
    else:
        grown = (init_length + count * max(0, step_length - init_length),
                 init_text + count * max(0, step_text - init_text))
    inner[node.accu] = (min(grown[0], _INFINITE), min(grown[1], _INFINITE))
    condition_cost = _bound(condition, inner, data)[0]
    step_cost = _bound(step, inner, data)[0]
    result_cost, result_length, result_text = _bound(result, inner, data)
    cost = range_cost + init_cost + count * (condition_cost + step_cost) + result_cost
    return min(cost, _INFINITE), result_length, result_text


# --- the compiled expression (cel.expr.CheckedExpr, protobuf wire format) --------------------------------------


def _fields(buffer: bytes) -> list[tuple[int, Any]]:
    """The (field number, value) pairs of a protobuf message: ints for varints, bytes for length-delimited."""
    out: list[tuple[int, Any]] = []
    at, end = 0, len(buffer)
    while at < end:
        key, at = _varint(buffer, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(buffer, at)
        elif wire == 1:
            value, at = buffer[at:at + 8], at + 8
        elif wire == 2:
            size, at = _varint(buffer, at)
            value, at = buffer[at:at + size], at + size
        elif wire == 5:
            value, at = buffer[at:at + 4], at + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _varint(buffer: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _decode_checked(serialized: bytes) -> _Node:
    message = dict(_fields(serialized))
    checked = message.get(2, serialized) if 1 in message else serialized  # a google.protobuf.Any around it
    overloads: dict[int, tuple[str, ...]] = {}
    for number, value in _fields(checked):
        if number == 2:  # reference_map entry: expression id -> Reference (overload_id = 3)
            entry = dict(_fields(value))
            overloads[entry.get(1, 0)] = tuple(v.decode() for n, v in _fields(entry.get(2, b"")) if n == 3)
    expr = next((value for number, value in _fields(checked) if number == 4), b"")
    return _expr(expr, overloads)


def _expr(buffer: bytes, overloads: Mapping[int, tuple[str, ...]]) -> _Node:
    node = _expr_kind(buffer, overloads)
    if node.kind == "call":
        key = next((v for n, v in _fields(buffer) if n == 2), None)
        if key is not None and key in overloads:
            return _Node(node.kind, node.name, node.children, overloads=overloads[key])
    return node


def _expr_kind(buffer: bytes, overloads: Mapping[int, tuple[str, ...]]) -> _Node:
    def sub(value: bytes) -> _Node:
        return _expr(value, overloads)

    for number, value in _fields(buffer):
        if number == 3:
            return _constant(value)
        if number == 4:
            return _Node("ident", _string(value, 1))
        if number == 5:
            select = _fields(value)
            operand = [sub(v) for n, v in select if n == 1]
            return _Node("select", _string(value, 2), tuple(operand))
        if number == 6:
            call = _fields(value)
            target = [sub(v) for n, v in call if n == 1]
            args = [sub(v) for n, v in call if n == 3]
            function = next((v.decode() for n, v in call if n == 2), "")
            if target and target[0].kind == "ident" and f"{target[0].name}.{function}" in ("lists.range",):
                return _Node("call", f"{target[0].name}.{function}", tuple(args))
            return _Node("call", function, tuple(target + args))
        if number == 7:
            return _Node("list", "", tuple(sub(v) for n, v in _fields(value) if n == 1))
        if number == 8:
            children: list[_Node] = []
            for n, entry in _fields(value):
                if n == 2:
                    children += [sub(v) for k, v in _fields(entry) if k in (3, 4)]
            return _Node("map", "", tuple(children))
        if number == 9:
            parts = dict(_fields(value))
            iter_vars = tuple(parts[k].decode() for k in (1, 8) if k in parts)
            loop = tuple(sub(parts.get(k, b"")) for k in (2, 4, 5, 6, 7))
            return _Node("comprehension", "", loop, iter_vars=iter_vars, accu=parts.get(3, b"").decode())
    return _Node("const")


def _constant(buffer: bytes) -> _Node:
    for number, value in _fields(buffer):
        if number in (6, 7):
            return _Node("const", text=len(value))
        if number == 3:
            return _Node("const", text=value - (1 << 64) if value >= 1 << 63 else value)
        if number == 4:
            return _Node("const", text=value)
    return _Node("const")


def _string(buffer: bytes, number: int) -> str:
    return next((v.decode() for n, v in _fields(buffer) if n == number), "")
