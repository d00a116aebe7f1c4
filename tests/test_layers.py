"""The package's layers (README "Architecture"): every import points to the same floor or one below it.

A module on a floor may import modules of its own floor and of the floors listed before it, never one after it:
the data flows one way (read -> build -> judge -> pipeline -> report -> deliver / review), and the library never
imports the command line (or invoke).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import PROJECT

PACKAGE = PROJECT / "phoenix_gitops"
FLOORS: list[tuple[str, set[str]]] = [
    ("ground", {"errors", "findings", "signals", "tempdirs", "secret_detector", "merge_keys", "images", "files",
                "lock", "cron", "validation"}),
    ("read", {"yamlio", "redaction", "own_schemas", "layout", "sources", "model"}),
    ("build", {"cache", "kustomize", "scheduler"}),
    ("judge", {"kube_schemas", "crds", "sourcemap", "admission", "rules", "cluster_isolation", "judge"}),
    ("pipeline", {"check", "lint"}),
    ("report", {"report"}),
    ("deliver", {"render", "phases", "bootstrap"}),
    ("review", {"diff", "edit", "history", "gitrepo", "scaffold", "weakening"}),
]
FLOOR_OF = {module: index for index, (_, modules) in enumerate(FLOORS) for module in modules}


def top_module(path: Path) -> str:
    """`phoenix_gitops/rules/engine.py` -> `rules`; `phoenix_gitops/check.py` -> `check`."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_modules(source: str, depth: int) -> set[str]:
    """The package's top-level modules that `source` imports (relative imports resolved); `depth` is 0 for a
    module at the top of the package, 1 for one inside rules/ or yamlio/."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level - 1 < depth:  # inside its own sub-package (rules/, yamlio/): the same module
                continue
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(name.split(".")[1] for name in names if name.startswith("phoenix_gitops."))
    return found - {"__init__"}


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_floor():
    modules = {top_module(p) for p in SOURCES}
    assert modules - set(FLOOR_OF) == set(), "add the new module to FLOORS (and to README 'Architecture')"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_point_down(path):
    mine = FLOOR_OF[top_module(path)]
    depth = len(path.relative_to(PACKAGE).parts) - 1
    upward = {m for m in imported_modules(path.read_text(encoding="utf-8"), depth)
              if m != "__version__" and FLOOR_OF.get(m, -1) > mine}
    assert upward == set(), f"{path.name} ({FLOORS[mine][0]}) imports from a later floor: {sorted(upward)}"


def test_the_library_never_imports_the_command_line_or_invoke():
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not [n for n in names if n.split(".")[0] in {"invoke", "phoenix_gitops_cli"}], path


def test_an_upward_import_is_caught():
    """The check itself can fail: a ground-floor module that imports the pipeline is seen doing so."""
    source = (PACKAGE / "errors.py").read_text(encoding="utf-8") + "\nfrom .check import run_check\n"
    assert "check" in imported_modules(source, 0) and FLOOR_OF["check"] > FLOOR_OF["errors"]
    assert imported_modules("from ..check import run_check\nfrom .model import View\n", 1) == {"check"}
