"""Faults are errors, not tracebacks: a write that fails (no permission, read-only or full disk, file-size limit,
quota) exits 4 with one line naming the path and the cause; a render writes every folder of every environment or
none; replaced folders keep their permissions; a kustomization that is not a file is an error; the cache lives
only where the README says and never fails a run."""
from __future__ import annotations

import ctypes
import errno
import os
import resource
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import cli_env, leftovers, program_argv, run_program, tree_bytes

from phoenix_gitops import files
from phoenix_gitops.cache import Entry, RunCache, cache_location

OUTPUTS = ("rendered", "clusters")
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SETPCAP = 1, 2, 3, 8
PR_CAPBSET_DROP = 24


def outputs(root: Path) -> dict[str, dict[str, bytes]]:
    return {name: tree_bytes(root / name) for name in OUTPUTS}


def inputs(root: Path) -> set[Path]:
    """Every path in the repository but the output folders."""
    return {p for p in root.rglob("*") if p.relative_to(root).parts[0] not in OUTPUTS}


def no_leftovers(root: Path) -> bool:
    return all(leftovers(root / name) == [] for name in OUTPUTS)


@pytest.fixture
def stale_repo(fixture_repo) -> Path:
    """The minimal repo rendered, then with a file missing from each of its four output folders (rendered/ and
    clusters/ of dev and prod), so a render must replace all four."""
    root = fixture_repo("minimal")
    assert run_program(["render", "all"], root).code == 0
    for rel in ("rendered/dev/hello/prepare/manifest.yaml", "rendered/prod/world/prepare/manifest.yaml",
                "clusters/dev/argocd/application-dev-hello.yaml",
                "clusters/prod/flux/kustomization-world-prepare.yaml"):
        (root / rel).unlink()
    return root


def _may_drop_capabilities() -> bool:
    status = Path("/proc/self/status").read_text()
    effective = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), 16)
    return bool(effective & (1 << CAP_SETPCAP))


def _without_privileges() -> None:
    """In the child, before exec: a root process loses the capabilities that ignore file permissions, so a
    folder without write permission refuses it as it refuses any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_limited(args: list[str], root: Path, preexec) -> subprocess.CompletedProcess[str]:
    return subprocess.run(program_argv(args), capture_output=True, text=True, timeout=120, env=cli_env(root),
                          cwd=root, preexec_fn=preexec, check=False)


def assert_one_line_error(result, *expected: str) -> None:
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


# Real faults, in a subprocess: a folder without write permission, a file-size limit ------------------------------


@pytest.mark.parametrize("folder", OUTPUTS)
def test_an_output_folder_without_write_permission_writes_nothing_anywhere(stale_repo, folder):
    if os.geteuid() == 0 and not _may_drop_capabilities():
        pytest.skip("running as root without CAP_SETPCAP: file permissions cannot be made to apply")
    before = outputs(stale_repo)
    (stale_repo / folder).chmod(0o555)
    try:
        result = run_limited(["render", "all"], stale_repo, _without_privileges)
    finally:
        (stale_repo / folder).chmod(0o755)
    assert_one_line_error(result, f"{stale_repo / folder}/dev", "Permission denied (EACCES)", "nothing was changed")
    assert outputs(stale_repo) == before  # rendered/dev was ready too, but nothing was swapped in
    assert no_leftovers(stale_repo)


def test_a_file_size_limit_is_an_error_naming_the_file_and_writes_nothing(stale_repo):
    before = outputs(stale_repo)

    def limit() -> None:  # the manifests fit (about 200 bytes), the Argo CD Applications (about 700) do not
        resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))

    result = run_limited(["render", "all", "--no-cache"], stale_repo, limit)  # (the cache index would not fit)
    assert_one_line_error(result, f"{stale_repo}/clusters/dev/argocd/application-dev-hello.yaml",
                          "File too large (EFBIG)")
    assert outputs(stale_repo) == before
    assert no_leftovers(stale_repo)


# Faults that need a full disk, a quota or a read-only mount, raised where the writing happens -----------------


@pytest.mark.parametrize(("code", "named"), [
    (errno.ENOSPC, False), (errno.EDQUOT, False), (errno.EROFS, True), (errno.EACCES, True)])
def test_a_write_fault_in_the_last_folder_leaves_every_folder_as_it_was(stale_repo, monkeypatch, code, named):
    before = outputs(stale_repo)
    real_open = open

    def failing_open(path, *args, **kwargs):
        if f"{os.sep}clusters{os.sep}.tmp.prod." in str(path):  # the last folder to prepare
            raise OSError(code, os.strerror(code), *([str(path)] if named else []))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", failing_open, raising=False)
    result = run_program(["render", "all"], stale_repo)
    assert result.code == 4, result
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"{stale_repo}/clusters/prod/argocd/application-prod-hello.yaml: cannot write: "
                                     f"{os.strerror(code)} ({errno.errorcode[code]}); nothing was changed")
    assert outputs(stale_repo) == before
    assert no_leftovers(stale_repo)


def test_a_swap_that_fails_undoes_the_swaps_made_before_it(stale_repo, monkeypatch):
    before = outputs(stale_repo)
    real_rename, swapped = os.rename, []

    def rename(source, target):
        if ".tmp." in str(source) and Path(target) == stale_repo / "clusters" / "prod":  # the last of four swaps
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(source), str(target))
        if ".tmp." in str(source):
            swapped.append(Path(target).relative_to(stale_repo).as_posix())
        real_rename(source, target)

    monkeypatch.setattr(files.os, "rename", rename)
    result = run_program(["render", "all"], stale_repo)
    monkeypatch.undo()
    assert swapped == ["rendered/dev", "clusters/dev", "rendered/prod"]  # made, then undone
    assert result.code == 4, result
    assert result.stderr.strip() == (f"{stale_repo}/clusters/prod: cannot replace it: "
                                     "Device or resource busy (EBUSY); nothing was changed")
    assert outputs(stale_repo) == before
    assert no_leftovers(stale_repo)
    assert run_program(["render", "all"], stale_repo).code == 0  # and the next render writes all four


def test_a_lock_file_that_cannot_be_created_is_an_error_naming_it(fixture_repo, monkeypatch):
    root = fixture_repo("minimal")
    real_open = os.open

    def refusing_open(path, flags, *args):
        if str(path).endswith(f"rendered{os.sep}.lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    result = run_program(["render", "all"], root)
    monkeypatch.undo()
    assert result.code == 4
    assert result.stderr.strip() == (f"{root}/rendered/.lock: cannot create the lock file: Read-only file system "
                                     "(EROFS); nothing was changed")
    assert not (root / "clusters").exists() and not (root / "rendered" / "prod").exists()


# Permissions, leftovers -----------------------------------------------------------------------------------------


def test_replaced_folders_and_files_keep_their_permissions(stale_repo):
    (stale_repo / "rendered/prod").chmod(0o750)
    (stale_repo / "clusters/prod/argocd").chmod(0o700)
    (stale_repo / "rendered/prod/hello/prepare/manifest.yaml").chmod(0o600)
    shutil.rmtree(stale_repo / "rendered/dev")  # a folder that replaces nothing gets the default 0755
    assert run_program(["render", "all"], stale_repo).code == 0
    mode = {rel: stat.S_IMODE((stale_repo / rel).stat().st_mode) for rel in (
        "rendered/prod", "clusters/prod/argocd", "rendered/prod/hello/prepare/manifest.yaml", "rendered/dev",
        "rendered/dev/hello", "clusters/prod")}
    assert mode == {"rendered/prod": 0o750, "clusters/prod/argocd": 0o700,
                    "rendered/prod/hello/prepare/manifest.yaml": 0o600,
                    "rendered/dev": 0o755, "rendered/dev/hello": 0o755, "clusters/prod": 0o755}
    assert (stale_repo / "rendered/prod/world/prepare/manifest.yaml").is_file()


def test_a_read_only_folder_inside_the_replaced_output_is_removed_with_it(stale_repo):
    (stale_repo / "rendered/prod/hello").chmod(0o555)
    assert run_program(["render", "all"], stale_repo).code == 0
    assert no_leftovers(stale_repo)
    assert stat.S_IMODE((stale_repo / "rendered/prod/hello").stat().st_mode) == 0o555


# A kustomization that is not a regular file ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["folder", "dangling link"])
def test_a_kustomization_that_is_not_a_file_is_an_error_and_keeps_the_app_s_output(stale_repo, shape):
    before = outputs(stale_repo)
    kustomization = stale_repo / "overlays/prod/world/kustomization.yaml"
    kustomization.unlink()
    if shape == "folder":
        kustomization.mkdir()
    else:
        kustomization.symlink_to("missing.yaml")
    for task in ("render", "check"):
        result = run_program([task, "all"], stale_repo)
        assert result.code == 1, result
        what = "a folder" if shape == "folder" else "a link to nothing"
        assert result.stderr.strip() == (f"overlays/prod/world/kustomization.yaml: error SRC-MISSING is {what}, not "
                                         "a file; kustomize cannot read it: replace it by the kustomization file")
    assert outputs(stale_repo) == before  # rendered/prod/world is still there
    assert no_leftovers(stale_repo)


def test_a_base_whose_kustomization_is_a_folder_is_a_finding_at_that_path(stale_repo):
    kustomization = stale_repo / "base/hello/kustomization.yaml"
    kustomization.unlink()
    kustomization.mkdir()
    result = run_program(["check", "all"], stale_repo)
    assert result.code == 1
    assert "base/hello/kustomization.yaml: error SRC-MISSING is a folder, not a file" in result.stdout
    assert "no kustomization.yaml in this folder" not in result.stdout


# Where the cache lives ----------------------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A clean environment for `cache_location`: no cache variable set; a home and a config repository."""
    for variable in ("PHOENIX_GITOPS_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "repo" / "overlays").mkdir(parents=True)
    return tmp_path


TEMP = Path(tempfile.gettempdir()) / f"phoenix-gitops-{os.getuid()}"


@pytest.mark.parametrize(("env", "where", "refused"), [
    ({"PHOENIX_GITOPS_CACHE": "{tmp}/explicit", "HOME": "{tmp}/home"}, "{tmp}/explicit", []),
    ({"XDG_CACHE_HOME": "{tmp}/xdg", "HOME": "{tmp}/home"}, "{tmp}/xdg/phoenix-gitops", []),
    ({"HOME": "{tmp}/home"}, "{tmp}/home/.cache/phoenix-gitops", []),
    ({"XDG_CACHE_HOME": "relative/cache", "HOME": "{tmp}/home"}, "{tmp}/home/.cache/phoenix-gitops",
     ["XDG_CACHE_HOME"]),
    ({"XDG_CACHE_HOME": "{tmp}/repo/cache", "HOME": "{tmp}/home"}, "{tmp}/home/.cache/phoenix-gitops",
     ["XDG_CACHE_HOME"]),
    ({"PHOENIX_GITOPS_CACHE": "cache", "XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/phoenix-gitops",
     ["PHOENIX_GITOPS_CACHE"]),
    ({"HOME": ""}, str(TEMP), []),
    ({}, str(TEMP), []),
    ({"HOME": "/"}, str(TEMP), ["HOME"]),
    ({"HOME": "home"}, str(TEMP), ["HOME"]),
    ({"HOME": "{tmp}/repo/overlays/prod"}, str(TEMP), ["HOME"]),
], ids=["explicit", "xdg", "home", "relative-xdg", "xdg-in-repo", "relative-explicit", "empty-home", "no-home",
        "home-is-root", "relative-home", "home-in-repo"])
def test_the_cache_lives_only_where_the_readme_says(places, monkeypatch, env, where, refused):
    for variable, value in env.items():
        monkeypatch.setenv(variable, value.format(tmp=places))
    folder, reasons = cache_location()
    assert folder == Path(where.format(tmp=places))
    assert folder.is_absolute() and folder.parent != Path("/")
    assert [reason.split("=", 1)[0] for reason in reasons] == refused


def test_a_cache_variable_inside_the_repository_writes_nothing_there(stale_repo, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    sources = inputs(stale_repo)
    result = run_program(["check", "all"], stale_repo, PHOENIX_GITOPS_CACHE="", HOME=str(home),
                         XDG_CACHE_HOME=str(stale_repo / ".cache"))
    assert result.code == 0, result
    assert inputs(stale_repo) == sources
    assert list((home / ".cache" / "phoenix-gitops").glob("*/index.json"))  # the cache went to HOME instead


def test_a_cache_that_cannot_be_written_is_a_warning_and_the_check_goes_on(stale_repo, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder of the cache should be\n")
    result = run_program(["check", "all"], stale_repo, PHOENIX_GITOPS_CACHE=str(blocker / "cache"))
    uncached = run_program(["check", "all", "--no-cache"], stale_repo)
    assert (result.code, result.stdout) == (0, uncached.stdout)
    assert "warning: cache not written:" in result.stderr and "warning:" not in uncached.stderr
    assert blocker.read_text() == "a file where a folder of the cache should be\n"

    cache = RunCache.load(stale_repo, "tool", blocker / "cache")
    cache.store("prod/hello", Entry(deps={}, context={}, findings=[], resource_count=0), {"text": ""})
    cache.save()  # never raises
    assert len(cache.warnings) == 1 and cache.warnings[0].startswith(f"cache not written: {blocker}")
    assert cache.warnings[0].endswith("Not a directory (ENOTDIR); this run's results are not kept")


def test_a_cache_path_that_is_a_file_is_never_read_or_written(stale_repo, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x\n")
    cache = RunCache.load(stale_repo, "tool", blocker)
    assert cache.warnings == [f"cache not used: {blocker} is not a folder"]
    cache.store("prod/hello", Entry(deps={}, context={}, findings=[], resource_count=0), {"text": ""})
    cache.save()
    assert blocker.read_text() == "x\n"


def test_a_cache_folder_everyone_may_write_is_never_read_or_written(stale_repo, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    cache = RunCache.load(stale_repo, "tool", shared)
    assert cache.warnings == [f"cache not used: {shared} is writable by everyone"]
    cache.store("prod/hello", Entry(deps={}, context={}, findings=[], resource_count=0), {"text": ""})
    cache.save()
    assert list(shared.iterdir()) == []
