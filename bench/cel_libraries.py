"""Compare the CEL libraries on PyPI for evaluating Kubernetes CEL (CRD validation rules, admission policies).

For each library that is installed it prints, side by side:
- which features of the CEL that Kubernetes offers it evaluates correctly as it ships (the standard macros,
  `has`, regex, and the extension libraries Kubernetes enables: strings, lists, sets, optional, two-variable
  comprehensions, bindings, and Kubernetes' own quantity, url, ip/cidr and semver libraries);
- whether an undeclared function is refused when the expression is compiled (rather than when it runs);
- the median time to compile and to evaluate every CEL rule of the bundled CRD schemas
  (`phoenix_gitops/data/schemas/crds/`), and to evaluate two typical expressions on typical data.

Candidates: `cel-expr-python` (the CEL project's own Python runtime, bindings to cel-cpp), `cel-python` (`celpy`,
pure Python), `common-expression-language` (`cel`, bindings to the Rust cel crate); the last column is what this
project builds on the first (`phoenix_gitops.admission.cel`: Kubernetes' own libraries added, and the cost
estimate run before each evaluation). The project depends on the first only; to compare, install the others
beside it in a scratch environment:

    python -m venv /tmp/celbench && /tmp/celbench/bin/pip install cel-expr-python==0.1.3 cel-python==0.5.0 \
        common-expression-language==0.10.0
    /tmp/celbench/bin/python bench/cel_libraries.py            # --runs N (default 5)
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

CRD_SCHEMAS = Path(__file__).resolve().parent.parent / "phoenix_gitops" / "data" / "schemas" / "crds"
RULES_KEY = "x-cel-validations"

FEATURES: list[tuple[str, str, Any]] = [
    # (feature, expression, expected value); `self` is bound to SELF below
    ("macros", "self.items.all(x, x > 0) && self.items.exists(x, x == 2) && self.items.exists_one(x, x == 3)", True),
    ("macros", "self.items.map(x, x * 2).filter(x, x > 2)", [4, 6]),
    ("has", "has(self.name) && !has(self.missing)", True),
    ("regex", "self.name.matches('^web-[0-9]+$')", True),
    ("regex", "'abc123'.find('[0-9]+')", "123"),
    ("regex", "'a1b2'.findAll('[0-9]')", ["1", "2"]),
    ("strings", "'A,b'.split(',')[0].lowerAscii() + 'x'.upperAscii()", "aX"),
    ("strings", "'hello'.indexOf('l') + 'hello'.lastIndexOf('l')", 5),
    ("strings", "['a', 'b'].join('-') + ' x '.trim() + 'abc'.substring(1) + 'abc'.replace('b', 'B')", "a-bxbcaBc"),
    ("strings", "'%s=%d'.format(['n', 3])", "n=3"),
    ("lists", "[1, 2, 3].isSorted() && [1, 2].sum() == 3 && [3, 1].min() == 1 && [3, 1].max() == 3", True),
    ("lists", "[1, 2, 2].indexOf(2) + [1, 2, 2].lastIndexOf(2)", 3),
    ("lists", "[3, 1, 2].sort() + [[1], [2]].flatten() + [1, 1].distinct() + [1, 2, 3].slice(1, 2)",
     [1, 2, 3, 1, 2, 1, 2]),
    ("sets", "sets.contains([1, 2], [1]) && sets.intersects([1], [1, 3]) && sets.equivalent([1, 2], [2, 1])", True),
    ("optional", "self.?missing.orValue('none')", "none"),
    ("optional", "optional.of(1).hasValue() && !optional.none().hasValue()", True),
    ("two-var comprehensions", "self.items.all(i, v, v > i)", True),
    ("bindings", "cel.bind(n, self.items.size(), n * n)", 9),
    ("quantity", "quantity('1Gi').isGreaterThan(quantity('500Mi'))", True),
    ("quantity", "isQuantity('250m') && quantity('1500m').asApproximateFloat() == 1.5", True),
    ("url", "url('https://example.com:8443/a?b=c').getHostname()", "example.com"),
    ("url", "isURL('https://example.com') && url('https://example.com:8443/').getPort() == '8443'", True),
    ("ip/cidr", "ip('10.0.0.1').family() == 4 && isIP('::1')", True),
    ("ip/cidr", "cidr('10.0.0.0/8').containsIP(ip('10.1.2.3')) && cidr('10.0.0.0/8').prefixLength() == 8", True),
    ("semver", "semver('1.2.3').major() == 1 && isSemver('1.2.3')", True),
    ("durations", "duration('1m') > duration('30s')", True),
]
SELF = {"name": "web-1", "items": [1, 2, 3]}
UNDECLARED = "nosuchfunction(self.name)"
TYPICAL = [
    ("Gateway listener names unique", "self.all(l1, self.exists_one(l2, l1.name == l2.name))",
     [{"name": f"listener-{i}", "port": 443, "protocol": "HTTPS"} for i in range(8)]),
    ("images from one registry", "self.spec.containers.all(c, c.image.startsWith('ghcr.io/acme/'))",
     {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/api@sha256:" + "0" * 64}] * 3}}),
]


class Library:
    """One candidate: compile(expression) -> program or raise; run(program, self value) -> Python value or raise."""

    name = ""
    compile_checks = False

    def compile(self, expression: str) -> Any:
        raise NotImplementedError

    def run(self, program: Any, value: Any) -> Any:
        raise NotImplementedError


class CelExprPython(Library):
    name = "cel-expr-python 0.1.3 (cel-cpp)"

    def __init__(self) -> None:
        from cel_expr_python import cel

        self.cel = cel
        extensions = "".join(f"  - name: {n}\n" for n in (
            "strings", "lists", "sets", "optional", "bindings", "math", "encoders", "two-var-comprehensions"))
        config = cel.NewEnvConfigFromYaml(f"name: bench\nextensions:\n{extensions}"
                                          "variables:\n  - name: self\n    type_name: dyn\n")
        self.env = cel.NewEnv(config=config)

    def compile(self, expression: str) -> Any:
        return self.env.compile(expression)

    def run(self, program: Any, value: Any) -> Any:
        result = program.eval(data={"self": value})
        if result.type() == self.cel.Type.ERROR:
            raise RuntimeError(str(result.value()))
        return result.plain_value()


class PhoenixGitops(Library):
    name = "phoenix-gitops: cel-expr-python + Kubernetes libraries (phoenix_gitops.admission.cel)"

    def __init__(self) -> None:
        import sys

        sys.path.insert(0, str(CRD_SCHEMAS.parents[3]))
        from phoenix_gitops.admission import cel  # needs cel-expr-python; ImportError without it

        self.cel = cel

    def compile(self, expression: str) -> Any:
        return self.cel._compile.__wrapped__(expression, ("self",))  # (past its cache, to time the compilation)

    def run(self, program: Any, value: Any) -> Any:
        return program.run({"self": value})


class CelPython(Library):
    name = "cel-python 0.5.0 (celpy, pure Python)"

    def __init__(self) -> None:
        import celpy

        self.celpy = celpy
        self.env = celpy.Environment()

    def compile(self, expression: str) -> Any:
        return self.env.program(self.env.compile(expression))

    def run(self, program: Any, value: Any) -> Any:
        result = program.evaluate({"self": self.celpy.json_to_cel(value)})
        if isinstance(result, Exception):
            raise RuntimeError(str(result))
        return _plain(result)


class CommonExpressionLanguage(Library):
    name = "common-expression-language 0.10.0 (Rust cel)"

    def __init__(self) -> None:
        import cel

        self.cel = cel

    def compile(self, expression: str) -> Any:
        return self.cel.compile(expression)

    def run(self, program: Any, value: Any) -> Any:
        return program.execute({"self": value})


def _plain(value: Any) -> Any:
    """celpy's typed values as plain Python values."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _libraries() -> tuple[list[Library], list[str]]:
    found, missing = [], []
    for cls, package in ((CelExprPython, "cel-expr-python"), (CelPython, "cel-python"),
                         (CommonExpressionLanguage, "common-expression-language"),
                         (PhoenixGitops, "phoenix-gitops (with cel-expr-python)")):
        try:
            found.append(cls())
        except ImportError:
            missing.append(package)
    return found, missing


def _bundled_rules() -> list[str]:
    """Every CEL rule of the bundled CRD schemas (each served version, as the API server has them)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(entry["rule"] for entry in node.get(RULES_KEY, []))
            for key, value in node.items():
                if key != RULES_KEY:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(CRD_SCHEMAS.glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def _supported(library: Library, expression: str, expected: Any) -> tuple[bool, str]:
    try:
        program = library.compile(expression)
    except Exception as err:  # each library raises its own types
        return False, f"compile: {_first_line(err)}"
    try:
        value = library.run(program, SELF)
    except Exception as err:
        return False, f"run: {_first_line(err)}"
    return (value == expected, "" if value == expected else f"got {value!r}")


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:70]


def _median(fn: Callable[[], Any], runs: int, repeat: int = 1) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timing runs (the median is printed)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    libraries, missing = _libraries()
    if missing:
        print(f"not installed (left out): {', '.join(missing)}")
    if not libraries:
        return 1
    print(f"{'feature':<24} {'expression':<60} " + " ".join(f"{lib.name.split()[0]:<27}" for lib in libraries))
    totals = {lib.name: 0 for lib in libraries}
    for feature, expression, expected in FEATURES:
        cells = []
        for lib in libraries:
            ok, why = _supported(lib, expression, expected)
            totals[lib.name] += ok
            cells.append(f"{'yes' if ok else 'NO ' + why[:23]:<27}")
        print(f"{feature:<24} {expression[:58]:<60} " + " ".join(cells))
    print(f"\n{'supported':<85} " + " ".join(f"{totals[lib.name]:>2}/{len(FEATURES):<24}" for lib in libraries))
    cells = []
    for lib in libraries:
        try:
            lib.compile(UNDECLARED)
            cells.append(f"{'no (fails when run)':<27}")
        except Exception:
            cells.append(f"{'yes':<27}")
    print(f"{'undeclared function refused at compile time':<85} " + " ".join(cells))

    rules = _bundled_rules()
    print(f"\ntimings, median of {args.runs} runs (µs per expression)")
    for lib in libraries:
        compiled = []
        failures = 0
        for rule in rules:
            try:
                compiled.append(lib.compile(rule))
            except Exception:
                failures += 1
        compile_us = _median(lambda lib=lib: [_try(lib.compile, r) for r in rules], args.runs) / len(rules) * 1e6
        line = (f"  {lib.name:<46} compile {len(rules)} bundled CRD rules: {compile_us:8.1f}"
                f"  ({failures} do not compile)")
        for title, expression, value in TYPICAL:
            program = lib.compile(expression)
            eval_us = _median(lambda p=program, v=value, lib=lib: lib.run(p, v), args.runs, repeat=200) * 1e6
            line += f" | eval {title}: {eval_us:8.1f}"
        print(line)
    return 0


def _try(fn: Callable[[str], Any], arg: str) -> Any:
    try:
        return fn(arg)
    except Exception:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
