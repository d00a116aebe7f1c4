"""cache: a file edited while a check or render runs makes that run a tool error (exit 4, naming the file) of which
nothing is stored, so the next cached run still finds what the edit introduced; a run with nothing changed still
comes from the cache.

The edits through the CLI land while a real build runs: a kustomize stand-in runs the real kustomize for the
overlay it holds, then waits (bounded) for the test to say the edit is made before it prints that build. The
build, like the sources the run had read, is then of the content from before the edit: exactly what a cache must
not keep under the hash of the content after it.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cli_env, program_argv, run_program, tree_bytes

from phoenix_gitops import sources
from phoenix_gitops.cache import FileHasher, RunCache, fingerprint
from phoenix_gitops.check import run_check
from phoenix_gitops.kustomize import Kustomize
from phoenix_gitops.layout import Repo

WAIT = 30.0
"""Longest wait for the held build to start, and for the run to end after it is let go (a slow CI machine)."""
PATCH = "overlays/prod/web/deployment-patch.yaml"
FINDING = f"{PATCH}:6:3: error K8S-SCHEMA $.spec.replicsa: unknown field 'replicsa' [prod/web Deployment/web]"
"""What the edit below introduces, at its source line."""
CHANGED = f"{PATCH}: changed during the check; run it again"

STAND_IN = """#!/bin/sh
# A kustomize for tests/test_cache_changes.py. The tool runs it with an empty PATH: builtins and absolute paths only.
here=${{0%/*}}
if [ "$1" = "version" ]; then echo "{version}"; exit 0; fi
shift  # `build`
echo "$*" >> "$here/calls"
text="$*"
for target; do :; done
if [ -f "$target/kustomization.yaml" ]; then
  while IFS= read -r line; do text="$text $line"; done < "$target/kustomization.yaml"
fi
hold=
[ -e "$here/hold" ] && read -r hold < "$here/hold"
case "$text" in
  *"$hold"*)
    if [ -n "$hold" ]; then
      {kustomize} "$@" > "$here/out" 2> "$here/err"
      code=$?
      : > "$here/started"
      tries=0
      while [ ! -e "$here/go" ] && [ $tries -lt 600 ]; do /bin/sleep 0.05; tries=$((tries + 1)); done
      while IFS= read -r line; do echo "$line"; done < "$here/out"
      while IFS= read -r line; do echo "$line" >&2; done < "$here/err"
      exit $code
    fi ;;
esac
exec {kustomize} "$@"
"""
"""Builds like the real kustomize; a build whose arguments or top kustomization contain the text in <bin>/hold is
built at once but printed only once <bin>/go exists (at most 30 s later), after creating <bin>/started. Every
build's arguments are appended to <bin>/calls."""


@dataclass
class Case:
    """A copy of the webapp fixture repo, its own cache folder, and the kustomize stand-in in `bin`."""

    root: Path
    cache: Path
    bin: Path

    @property
    def env(self) -> dict[str, str]:
        return {"PHOENIX_GITOPS_CACHE": str(self.cache), "KUSTOMIZE": str(self.bin / "kustomize")}

    def index(self) -> bytes | None:
        """The cache index of the repo (None before any run stored one)."""
        found = list(self.cache.glob("*/index.json"))
        return found[0].read_bytes() if found else None

    def stored(self) -> dict[str, bytes]:
        """Every file of the repo's results in the cache (index and outputs; not the tool's version memo, nor the
        redaction's clean files, which are known by their content alone)."""
        return {rel: data for rel, data in tree_bytes(self.cache).items()
                if "/" in rel and not rel.startswith("redaction/")}

    def outputs(self) -> dict[str, bytes]:
        return {f"{out}/{rel}": data for out in ("rendered", "clusters")
                for rel, data in tree_bytes(self.root / out).items()}

    def calls(self) -> list[str]:
        path = self.bin / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def run(self, *args: str, **env: str) -> tuple[int, str, str]:
        """`phoenix-gitops <args>` in this process with the case's cache (and the real kustomize unless `env`
    names another)."""
        result = run_program(list(args), self.root, **{"PHOENIX_GITOPS_CACHE": str(self.cache), **env})
        return result.code, result.stdout, result.stderr

    def edited_during_the_build(self, *args: str) -> tuple[int, str, str]:
        """`phoenix-gitops <args>` in a subprocess with the stand-in holding prod/web's build; the patch gets a
        misspelt field while that build runs. Returns (exit code, stdout, stderr)."""
        (self.bin / "hold").write_text("overlays/prod/web\n")
        proc = subprocess.Popen(program_argv(list(args)), cwd=self.root, env=cli_env(self.root, **self.env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + WAIT
            while not (self.bin / "started").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    out, err = proc.communicate()
                    pytest.fail(f"the held build did not start (exit {proc.returncode}):\n{out}\n{err}")
                time.sleep(0.01)
            patch = self.root / PATCH
            patch.write_text(patch.read_text().replace("  replicas: 3", "  replicsa: 3"))
            (self.bin / "go").touch()
            out, err = proc.communicate(timeout=WAIT)
        finally:
            (self.bin / "go").touch()  # (a failed case lets the held build go too)
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        (self.bin / "hold").unlink()
        return proc.returncode, out, err


@pytest.fixture
def case(fixture_repo, kz, tmp_path) -> Case:
    made = Case(fixture_repo("webapp"), tmp_path / "cache", tmp_path / "bin")
    made.bin.mkdir()
    stand_in = made.bin / "kustomize"
    stand_in.write_text(STAND_IN.format(version=kz.version, kustomize=shlex.join(kz.command)))
    stand_in.chmod(0o755)
    return made


def touch_patch(case: Case) -> None:
    """A change that does not alter the build: prod/web is built again by the next run."""
    patch = case.root / PATCH
    patch.write_text(patch.read_text() + "# reviewed\n")


@pytest.mark.parametrize("cache_state", ["cold", "warm"])
def test_a_file_edited_during_the_check_is_a_tool_error_and_the_next_cached_check_finds_the_edit(case, cache_state):
    if cache_state == "warm":
        assert case.run("check")[0] == 0
        touch_patch(case)
    stored = case.stored()
    code, out, err = case.edited_during_the_build("check")
    assert code == 4, (out, err)
    assert f"tool failure: {CHANGED}" in " ".join(err.split())  # (the console wraps long lines)
    assert "replicsa" not in out  # the run judged the content from before the edit...
    assert case.stored() == stored  # ...and kept nothing of it: no entry, no output, no record across environments
    code, out, _ = case.run("check")
    assert code == 1 and FINDING in out.splitlines()
    code, uncached, _ = case.run("check", "--no-cache")
    assert code == 1 and FINDING in uncached.splitlines()


def test_a_file_edited_during_a_render_writes_nothing_and_the_next_render_refuses_the_edit(case):
    assert case.run("render", "all")[0] == 0
    before, index = case.outputs(), case.index()
    assert before and index is not None
    touch_patch(case)
    code, out, err = case.edited_during_the_build("render", "all")
    assert code == 4, (out, err)
    assert CHANGED in " ".join(err.split())
    assert "wrote:" not in out
    assert case.outputs() == before
    assert case.index() == index
    code, out, err = case.run("render", "all")
    assert code == 1 and FINDING in err
    assert case.outputs() == before


def test_a_check_with_nothing_changed_still_comes_from_the_cache(case):
    assert case.run("check", **case.env)[0] == 0
    assert case.calls()  # the first run built prod/web through the stand-in
    (index,) = case.cache.glob("*/index.json")
    written = index.stat().st_mtime_ns
    (case.bin / "calls").unlink()
    assert case.run("check", **case.env)[0] == 0
    assert case.calls() == []  # no kustomize run at all
    assert index.stat().st_mtime_ns == written  # and the index was not rewritten


# The same comparison, in this process: each kind of input file, edited while the build runs


def edit_while_building(monkeypatch, edit) -> None:
    """Every kustomize build from now on runs `edit()` once its output is made, before it returns it."""
    build, batch = Kustomize.build, Kustomize.build_batch

    def edited_build(self, overlay, origins=False, sort_options=None):
        text = build(self, overlay, origins, sort_options)
        edit()
        return text

    def edited_batch(self, overlays, sort_options=None, origins=True):
        texts = batch(self, overlays, sort_options, origins)
        edit()
        return texts

    monkeypatch.setattr(Kustomize, "build", edited_build)
    monkeypatch.setattr(Kustomize, "build_batch", edited_batch)


def cached_check(root: Path, kz: Kustomize, folder: Path):
    repo = Repo(root)
    return run_check(repo, repo.select_envs("all"), kz, cache=RunCache.load(repo.root, fingerprint(kz.version), folder))


@pytest.mark.parametrize("rel", [
    "base/web/deployment.yaml",          # a resource the overlay's base reads
    "overlays/prod/web/kustomization.yaml",
    "overlays/prod/environment.yaml",
    "schemas/policy.yaml",
    "gitops.yaml",
])
def test_each_input_file_edited_during_the_build_is_named_and_nothing_is_stored(fixture_repo, kz, tmp_path,
                                                                                monkeypatch, rel):
    root, folder = fixture_repo("webapp"), tmp_path / "cache"
    assert cached_check(root, kz, folder).exit_code == 0
    touch = root / "overlays/prod/web/deployment-patch.yaml"
    touch.write_text(touch.read_text() + "# reviewed\n")
    stored = tree_bytes(folder)
    edit_while_building(monkeypatch, lambda: (root / rel).write_text((root / rel).read_text() + "# edited\n"))
    report = cached_check(root, kz, folder)
    assert report.exit_code == 4
    assert [e for e in report.tool_errors if "changed during the check" in e] == [
        f"{rel}: changed during the check; run it again"]
    assert tree_bytes(folder) == stored


def test_a_policy_created_during_the_build_is_a_change(fixture_repo, kz, tmp_path, monkeypatch):
    root = fixture_repo("minimal")
    policy = root / "schemas/policy.yaml"
    assert not policy.exists()

    def create() -> None:
        policy.parent.mkdir(exist_ok=True)
        policy.write_text("rules: {}\n")

    edit_while_building(monkeypatch, create)
    report = cached_check(root, kz, tmp_path)
    assert "schemas/policy.yaml: changed during the check; run it again" in report.tool_errors
    assert list(tmp_path.glob("*/index.json")) == []


def test_an_environment_changed_after_the_caller_loaded_it_fails_the_run(fixture_repo, kz, tmp_path):
    root = fixture_repo("webapp")
    repo = Repo(root)
    envs = repo.select_envs("all")
    env_file = root / "overlays/prod/environment.yaml"
    env_file.write_text(env_file.read_text().replace("prod-1", "prod-2"))
    report = run_check(repo, envs, kz, cache=RunCache.load(repo.root, fingerprint(kz.version), tmp_path))
    assert report.exit_code == 4
    assert "overlays/prod/environment.yaml: changed during the check; run it again" in report.tool_errors
    assert list(tmp_path.glob("*/index.json")) == []
    assert cached_check(root, kz, tmp_path).tool_errors == []  # loaded after the edit: a normal run


def test_a_discarded_run_leaves_the_cache_as_its_index_says(fixture_repo, kz, tmp_path):
    root = fixture_repo("minimal")
    assert cached_check(root, kz, tmp_path).exit_code == 0
    repo = Repo(root)
    saved = RunCache.load(repo.root, fingerprint(kz.version), tmp_path)
    cache = RunCache.load(repo.root, fingerprint(kz.version), tmp_path)
    cache.entries["prod/hello"].findings.append({"rule": "MADE-UP"})
    cache.store("prod/world", cache.entries["prod/world"], {"text": "made up", "resources": [], "origins": None})
    cache.keep("across dev,prod", {"key": "made up"})
    cache.discard()
    assert cache.entries == saved.entries and cache.records == saved.records
    assert not cache.dirty
    cache.save()  # nothing to write
    assert RunCache.load(repo.root, fingerprint(kz.version), tmp_path).entries == saved.entries
    assert len(list(tmp_path.glob("*/outputs/*.json"))) == len(saved.entries)


def test_every_file_a_finding_points_at_is_compared(fixture_repo, kz, tmp_path, monkeypatch):
    root = fixture_repo("five-rules")  # findings at lines of a patch, the HPA patch and the kustomization
    hashed: set[str] = set()
    hash_of = FileHasher.__call__

    def recorded(self, rel):
        hashed.add(rel)
        return hash_of(self, rel)

    monkeypatch.setattr(FileHasher, "__call__", recorded)
    report = cached_check(root, kz, tmp_path / "cache")
    located = {f.path for f in report.findings if f.line is not None}
    assert located >= {"overlays/prod/api/deployment-patch.yaml", "overlays/prod/api/hpa-patch.yaml",
                       "overlays/prod/api/kustomization.yaml"}
    assert located <= hashed
    assert {f.path for f in report.findings if (root / f.path).is_file()} <= hashed


# The hashes themselves


def test_the_hasher_names_every_file_that_differs_since_it_was_first_hashed(tmp_path):
    for name in ("same", "edited", "rewritten", "deleted"):
        (tmp_path / name).write_text("one\n")
    hasher = FileHasher(tmp_path)
    first = {name: hasher(name) for name in ("same", "edited", "rewritten", "deleted", "created")}
    assert first["created"] == "-" and first["same"] == first["edited"] != "-"
    (tmp_path / "edited").write_text("two\n")
    stamp = (tmp_path / "rewritten").stat().st_mtime_ns
    (tmp_path / "rewritten").write_text("one\n")  # the same bytes, written again...
    os.utime(tmp_path / "rewritten", ns=(stamp + 10**9, stamp + 10**9))  # ...a second later
    (tmp_path / "deleted").unlink()
    (tmp_path / "created").write_text("new\n")
    assert hasher.changed() == ["created", "deleted", "edited", "rewritten"]
    assert hasher("edited") == first["edited"]  # a run keeps the hash it started from


def test_read_sources_tells_of_every_file_before_it_is_parsed(fixture_repo, monkeypatch):
    root = fixture_repo("webapp")
    events: list[tuple[str, str]] = []
    load = sources.load_file

    def recorded(path, name=None, **kwargs):
        events.append(("parse", name))
        return load(path, name=name, **kwargs)

    monkeypatch.setattr(sources, "load_file", recorded)
    overlay = Repo(root).environment("prod").overlays()[0]
    graph = sources.read_sources(root, overlay, on_file=lambda rel: events.append(("hash", rel)))
    assert {rel for what, rel in events if what == "hash"} == graph.files
    parsed = [rel for what, rel in events if what == "parse"]
    assert parsed and set(parsed) <= graph.files
    for rel in parsed:
        assert events.index(("hash", rel)) < events.index(("parse", rel))
