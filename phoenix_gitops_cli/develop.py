"""Tasks for working on phoenix-gitops itself, in its source checkout: `crd-schemas`, `rules-doc` and `test`.

Usage:
    invoke crd-schemas --crds-dir ../shared/crds      # regenerate the CRD schemas (--check: compare only)
    invoke crd-schemas --add cert-manager.crds.yaml   # add one more CRD's schemas (kept by regeneration)
    invoke rules-doc --check                          # docs/rules.md up to date?
    invoke test --args "-k render -x"
"""
from __future__ import annotations

import shlex
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from phoenix_gitops import crds, errors, own_schemas, rules

from .display import spinner
from .exits import exits
from .flags import task

__all__ = ["CHECKOUT", "crd_schemas", "rules_doc", "test"]

CHECKOUT = Path(__file__).resolve().parent.parent
"""The source checkout holding this package (its docs/ and tests/)."""


@task(
    help={
        "crds_dir": "Folder of upstream CustomResourceDefinition manifests, e.g. ../shared/crds.",
        "check": "Write nothing; exit 3 if the CRD schemas differ from a fresh generation.",
        "add": "A CRD manifest (or a folder of them) whose schemas to add, leaving the others as they are.",
    },
)
@exits(interrupted="the CRD schemas are unchanged or completely written")
def crd_schemas(c: Context, crds_dir: str = "", check: bool = False, add: str = "") -> None:
    """Regenerate the CRD schemas (strict JSON Schemas of CRD kinds) from upstream CRD manifests, or --add more."""
    if add:
        if crds_dir or check:
            raise errors.UsageError("--add adds CRDs on its own; leave out --crds-dir and --check")
        _add_crds(add)
        return
    if not crds_dir:
        raise errors.UsageError("name the folder of upstream CRD manifests: --crds-dir DIR (or add CRDs with "
                                "--add FILE_OR_DIR)")
    source = Path(crds_dir).resolve()
    if not source.is_dir():
        raise errors.UsageError(f"{crds_dir}: not a folder of CRD manifests")
    target = own_schemas.crd_schemas_to_write()
    with spinner("converting CRDs (the large ones take a few seconds)"):
        changed = (crds.stale if check else crds.write)(source, target, jobs=None)
    for name in changed:
        print(f"{'stale' if check else 'wrote'}: {own_schemas.SHOWN}/crds/{name}")
    if check and changed:
        raise Exit(f"the CRD schemas are stale; run `invoke crd-schemas --crds-dir {crds_dir}`",
                   code=errors.EXIT_STALE)
    print(f"{own_schemas.SHOWN}/crds: {'up to date' if not changed else f'{len(changed)} file(s) changed'}")


def _add_crds(add: str) -> None:
    source = Path(add)
    if not source.exists():
        raise errors.UsageError(f"{add}: no such file or folder")
    target = own_schemas.crd_schemas_to_write()
    with spinner("converting CRDs"):
        changed = crds.add(source.resolve(), target, jobs=None)
    for name in changed:
        print(f"wrote: {own_schemas.SHOWN}/crds/{name}")
    kinds = sorted(key.replace("|", " ") for key in crds.added_kinds(target))
    state = "already up to date" if not changed else f"{len(changed)} file(s) changed"
    print(f"{own_schemas.SHOWN}/crds: {state}; added kinds: {', '.join(kinds)}")


@task(help={"check": "Write nothing; exit 3 if docs/rules.md differs from a fresh generation."})
@exits(interrupted="docs/rules.md is unchanged or completely written")
def rules_doc(c: Context, check: bool = False) -> None:
    """Regenerate docs/rules.md (every rule: what, why, how to fix, severity per env, how to suppress)."""
    policy, problems = rules.load_policy()
    if policy is None:
        raise Exit("\n".join(str(p) for p in problems), code=errors.EXIT_FINDINGS)
    target, text = CHECKOUT / "docs" / "rules.md", rules.rules_markdown(policy)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if check:
        if current != text:
            print("stale: docs/rules.md")
            raise Exit("docs/rules.md is stale; run `invoke rules-doc`", code=errors.EXIT_STALE)
        print("docs/rules.md: up to date")
        return
    if current != text:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print("wrote: docs/rules.md")
    print(f"docs/rules.md: {len(rules.CATALOGUE)} rules")


@task(help={"args": "Extra pytest arguments, e.g. `-k render -x`.",
            "fast": "Only the tests that start no kustomize and no subprocess (under half a minute)."})
def test(c: Context, args: str = "", fast: bool = False) -> None:
    """Run the test suite (pytest, one worker per CPU), from any folder."""
    import pytest  # a test dependency: only this task needs it

    only = ["-m", "not slow"] if fast else []
    raise Exit(code=pytest.main(["-q", "--rootdir", str(CHECKOUT), "-n", "auto", "--dist", "loadfile", *only,
                                 str(CHECKOUT / "tests"), *shlex.split(args)]))
