"""Signals: SIGINT or SIGTERM at any moment exits 130 within 2 s, saying exactly what was and was not written; the
kustomize processes stop with their process groups; temp folders and git worktrees are removed, and what a killed
run left is pruned by the next run.

Each case runs the `phoenix-gitops` program in a subprocess against its own copy of a fixture repo, with its own
$TMPDIR, and a fake kustomize (tests/fixtures/signals/fake-kustomize) that hangs on the builds a case chooses, so
the signal lands while a build runs. The cases wait on conditions (the build has started, the program has
installed its signal handlers), each within a bounded time, never for a fixed time. The swap itself is too short
to aim a signal at from outside: those cases send the signal from inside the held step, in this process.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURE_REPOS, PROJECT, cli_env, commit_all, git, program_argv, run_program, tree_bytes

from phoenix_gitops import files, signals, tempdirs
from phoenix_gitops import render as rendering
from phoenix_gitops.kustomize import find_kustomize
from phoenix_gitops.layout import Repo

STOPPED_WITHIN = 2.0
"""Seconds from the signal to the program's exit."""
WAIT = 30.0
"""Longest wait for a condition (a build started, handlers installed): generous for a slow CI machine."""
FAKE_KUSTOMIZE = PROJECT / "tests" / "fixtures" / "signals" / "fake-kustomize"
OVERLAY = "overlays/prod/web/kustomization.yaml"
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Case:
    """A repo copy with rendered output, a private $TMPDIR, and the fake kustomize in `bin`."""

    root: Path
    tmp: Path
    bin: Path
    env: dict[str, str]

    def hang_on(self, text: str) -> None:
        """Builds whose arguments contain `text` hang (with a child) until they are stopped."""
        (self.bin / "hang-on").write_text(text + "\n")

    def outputs(self) -> dict[str, bytes]:
        return {f"{out}/{rel}": data for out in ("rendered", "clusters")
                for rel, data in tree_bytes(self.root / out).items()}

    def temp_folders(self) -> list[str]:
        return sorted(p.name for p in self.tmp.iterdir() if p.name.startswith(tempdirs.PREFIX))

    def hanging_groups(self) -> list[int]:
        path = self.bin / "hanging"
        return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def rendered_webapp(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signals") / "webapp"
    shutil.copytree(FIXTURE_REPOS / "webapp", root, symlinks=True)
    repo = Repo(root)
    assert rendering.render(repo, repo.select_envs("all"), find_kustomize()).changed
    return root


@pytest.fixture
def case(tmp_path, rendered_webapp) -> Iterator[Case]:
    root = tmp_path / "repo"
    shutil.copytree(rendered_webapp, root, symlinks=True)
    made = Case(root, tmp_path / "tmp", tmp_path / "bin", {})
    made.tmp.mkdir()
    made.bin.mkdir()
    shutil.copy(FAKE_KUSTOMIZE, made.bin / "kustomize")
    (made.bin / "kustomize").chmod(0o755)
    real = find_kustomize({})
    (made.bin / "version").write_text(real.version + "\n")
    (made.bin / "real-kubectl").symlink_to(real.command[0])
    made.env.update(TMPDIR=str(made.tmp), PHOENIX_GITOPS_CACHE=str(tmp_path / "cache"),
                    KUSTOMIZE=str(made.bin / "kustomize"))
    yield made
    for group in made.hanging_groups():  # whatever a failed case left running
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


# Running the program, waiting for conditions


def start(case: Case, *args: str) -> subprocess.Popen[str]:
    """`phoenix-gitops <args>` in a session of its own: a signal sent to its pid reaches it alone."""
    return subprocess.Popen(program_argv(list(args)), cwd=case.root, env=cli_env(case.root, **case.env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the program ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what}: not within {WAIT:g}s")
        time.sleep(0.01)


def build_started(case: Case) -> Callable[[], bool]:
    return lambda: (case.bin / "started").exists()


def handlers_installed(proc: subprocess.Popen[str]) -> Callable[[], bool]:
    """True once the program catches SIGTERM (its handler is installed: from then on it must exit 130). Until the
    child has exec'd the program it is a copy of this process, whose handlers say nothing about the program's."""
    def caught() -> bool:
        with suppress(OSError):
            if b"phoenix_gitops_cli" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                return False
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        return False
    return caught


@dataclass
class Stopped:
    code: int
    stdout: str
    stderr: str
    seconds: float


def interrupt(proc: subprocess.Popen[str], sig: int) -> Stopped:
    """Send `sig` to the program alone; wait (bounded) for its exit."""
    proc.send_signal(sig)
    sent = time.monotonic()
    try:
        out, err = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {WAIT:g}s after the signal:\n{out}\n{err}")
    return Stopped(proc.returncode, out, err, time.monotonic() - sent)


def group_alive(group: int) -> bool:
    """Whether a process of the process group `group` still runs (zombies, waiting for their parent to reap
    them, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False


def assert_stopped(result: Stopped, message: str, case: Case) -> None:
    assert result.code == 130, result
    assert result.seconds < STOPPED_WITHIN, result
    assert result.stderr.strip().splitlines() == [f"interrupted: {message}"], result
    assert "Traceback" not in result.stdout + result.stderr
    assert [g for g in case.hanging_groups() if group_alive(g)] == [], "a kustomize outlived the program"
    assert case.temp_folders() == []


SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


# Any moment


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_while_the_program_starts_exits_130_saying_nothing_was_written(case, sig):
    case.hang_on("overlays/prod/web")  # (so that a loaded machine cannot let the check finish before the signal)
    proc = start(case, "check")
    wait_for(handlers_installed(proc), proc, "the program installed its signal handlers")
    result = interrupt(proc, sig)
    assert_stopped(result, "nothing was written", case)


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_during_a_check_build_stops_kustomize_with_its_group(case, sig):
    case.hang_on("overlays/prod/web")
    proc = start(case, "check")
    wait_for(build_started(case), proc, "the build started")
    assert all(group_alive(g) for g in case.hanging_groups())
    result = interrupt(proc, sig)
    assert_stopped(result, "nothing was written", case)


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_during_a_render_build_stops_it_and_changes_nothing(case, sig):
    case.hang_on("overlays/prod/web")
    before = case.outputs()
    proc = start(case, "render", "all")
    wait_for(build_started(case), proc, "the build started")
    result = interrupt(proc, sig)
    assert_stopped(result, "rendered/ and clusters/ are unchanged", case)
    assert case.outputs() == before
    assert sorted(p.name for p in (case.root / "rendered").iterdir()) == [".lock", "prod"]


# The swap (signals held back during it): the signal is sent from inside the held step, in this process


def test_a_signal_during_the_swap_is_delivered_after_it_and_the_message_says_it_was_written(case, monkeypatch):
    (case.root / "overlays/prod/web/deployment-patch.yaml").write_text(
        (case.root / "overlays/prod/web/deployment-patch.yaml").read_text().replace("replicas: 3", "replicas: 4"))
    swap_all = files._swap_all

    def swap_interrupted(ready):  # inside signals_held: the signal waits until the swap is complete
        os.kill(os.getpid(), signal.SIGINT)
        return swap_all(ready)

    monkeypatch.setattr(files, "_swap_all", swap_interrupted)
    env = {k: v for k, v in case.env.items() if k != "KUSTOMIZE"}
    try:
        result = run_program(["render", "all"], case.root, **env)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped the program")
    assert result.code == 130, result
    assert result.stderr.strip().splitlines()[-1] == "interrupted: rendered/ and clusters/ hold the new render of prod"
    assert b"replicas: 4" in (case.root / "rendered/prod/web/release/manifest.yaml").read_bytes()


# set-image, new-app: the scratch check, the write, the render


def _set_image(case: Case) -> subprocess.Popen[str]:
    return start(case, "set-image", "prod", "web", f"1.2.4@{DIGEST}")


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_during_the_scratch_check_of_set_image_writes_nothing_and_removes_the_copy(case, sig):
    case.hang_on(f"{tempdirs.PREFIX}edit-")
    before = tree_bytes(case.root)
    proc = _set_image(case)
    wait_for(build_started(case), proc, "the scratch check's build started")
    assert [name for name in case.temp_folders() if name.startswith(f"{tempdirs.PREFIX}edit-{proc.pid}-")]
    result = interrupt(proc, sig)
    assert_stopped(result, "nothing was written", case)
    assert tree_bytes(case.root) == before


def test_a_signal_after_set_image_wrote_the_overlay_says_so(case):
    case.hang_on(str(case.root / "overlays"))
    before = case.outputs()
    proc = _set_image(case)
    wait_for(build_started(case), proc, "the render's build started")
    result = interrupt(proc, signal.SIGTERM)
    assert_stopped(result, f"{OVERLAY} was written, prod was not re-rendered (rendered/ and clusters/ unchanged); "
                           "run `invoke render env=prod`", case)
    assert DIGEST in (case.root / OVERLAY).read_text()
    assert case.outputs() == before


def test_a_signal_during_the_scratch_check_of_new_app_writes_nothing(case, shipped_repo):
    root = case.root
    shutil.rmtree(root)
    shutil.copytree(shipped_repo, root)
    case.hang_on(f"{tempdirs.PREFIX}edit-")
    before = tree_bytes(root)
    proc = start(case, "new-app", "billing", "--image", f"1.0.0@{DIGEST}")
    wait_for(build_started(case), proc, "the scratch check's build started")
    result = interrupt(proc, signal.SIGTERM)
    assert_stopped(result, "nothing was written (the new folders are removed again)", case)
    assert tree_bytes(root) == before


# diff: the temporary worktree


def _committed(case: Case) -> None:
    commit_all(case.root, "rendered")
    patch = case.root / "overlays/prod/web/deployment-patch.yaml"
    patch.write_text(patch.read_text().replace("replicas: 3", "replicas: 4"))


def _worktrees(case: Case) -> list[str]:
    return [line for line in git(case.root, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_during_the_worktree_build_of_diff_removes_the_worktree(case, sig):
    _committed(case)
    case.hang_on(f"{tempdirs.PREFIX}base-")
    proc = start(case, "diff", "prod")
    wait_for(build_started(case), proc, "the base revision's build started")
    assert len(_worktrees(case)) == 2
    result = interrupt(proc, sig)
    assert_stopped(result, "nothing was written (the temporary worktree is removed)", case)
    assert _worktrees(case) == [f"worktree {case.root}"]


def test_what_a_killed_diff_left_is_pruned_by_the_next_run(case):
    _committed(case)
    case.hang_on(f"{tempdirs.PREFIX}base-")
    proc = start(case, "diff", "prod")
    wait_for(build_started(case), proc, "the base revision's build started")
    proc.kill()
    proc.communicate()
    for group in case.hanging_groups():  # a killed program cannot stop its children
        os.killpg(group, signal.SIGKILL)
    assert len(_worktrees(case)) == 2
    assert [name for name in case.temp_folders() if name.startswith(f"{tempdirs.PREFIX}base-{proc.pid}-")]
    (case.bin / "hang-on").unlink()
    again = subprocess.run(program_argv(["diff", "prod"]), cwd=case.root, env=cli_env(case.root, **case.env),
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "replicas" in again.stdout
    assert _worktrees(case) == [f"worktree {case.root}"]
    assert case.temp_folders() == []


def test_what_a_killed_set_image_left_in_tmpdir_is_pruned_by_the_next_run_of_any_task(case):
    case.hang_on(f"{tempdirs.PREFIX}edit-")
    proc = _set_image(case)
    wait_for(build_started(case), proc, "the scratch check's build started")
    proc.kill()
    proc.communicate()
    for group in case.hanging_groups():
        os.killpg(group, signal.SIGKILL)
    alive = tempdirs.temp_folder("edit")  # a live run's folder (this process) is left alone
    with alive as mine:
        assert len(case.temp_folders()) == 1  # (this process's TMPDIR is another one)
        (case.tmp / mine.name).mkdir()
        (case.tmp / f"{tempdirs.PREFIX}{os.getuid()}").mkdir()  # not ours to prune: no pid in the name
        real = {k: v for k, v in case.env.items() if k != "KUSTOMIZE"}
        again = subprocess.run(program_argv(["check"]), cwd=case.root, env=cli_env(case.root, **real),
                               capture_output=True, text=True, timeout=60, check=False)
        assert again.returncode == 0, again.stderr
        assert case.temp_folders() == sorted([mine.name, f"{tempdirs.PREFIX}{os.getuid()}"])


# The module's own pieces


def test_prune_removes_only_folders_of_ended_processes(tmp_path):
    ended = subprocess.run(["true"], check=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {
        f"{tempdirs.PREFIX}edit-{dead.pid}-abc123": False,
        f"{tempdirs.PREFIX}base-{os.getpid()}-abc123": True,
        f"{tempdirs.PREFIX}{os.getuid()}": True,
        f"{tempdirs.PREFIX}edit-x-abc": True,
        "unrelated-1-abc": True,
    }
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / f"{tempdirs.PREFIX}build-{dead.pid}-file").write_text("a file, not a folder")
    removed = tempdirs.prune(tmp_path)
    assert ended.returncode == 0
    assert [p.name for p in removed] == [f"{tempdirs.PREFIX}edit-{dead.pid}-abc123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name for name, kept in names.items() if kept] + [f"{tempdirs.PREFIX}build-{dead.pid}-file"])


def test_run_child_stops_the_whole_group_on_timeout(tmp_path):
    script = tmp_path / "tool"
    script.write_text(f"#!/bin/sh\n/bin/sleep 60 &\necho $! > {tmp_path}/child\nwait\n")
    script.chmod(0o755)
    with pytest.raises(subprocess.TimeoutExpired):
        signals.run_child([str(script)], timeout=1.0, env={})
    child = int((tmp_path / "child").read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_run_child_starts_nothing_while_children_are_being_stopped():
    signals.stop_children()
    try:
        with pytest.raises(signals.Stopped):
            signals.run_child(["true"], timeout=5, env={})
    finally:
        signals.children_may_start()
    assert signals.run_child(["/bin/echo", "ok"], timeout=5, env={}).stdout == b"ok\n"


def test_signals_held_counts_only_completed_steps():
    before = signals.steps_done()
    with signals.signals_held():
        pass
    with pytest.raises(ValueError), signals.signals_held():
        raise ValueError("the step failed")
    with signals.signals_held(step=False):
        pass
    assert signals.steps_done() == before + 1


def test_a_held_signal_waits_even_when_the_kernel_hands_it_to_another_thread():
    """A held signal waits for the end of the step whichever thread the kernel hands it to: here the main thread
    blocks SIGINT, so another (idle) thread must take it, as a pool or I/O thread may in a real run."""
    idle, stop = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (idle.set(), stop.wait(10)))
    other.start()
    idle.wait(10)
    before, reached = signals.steps_done(), []
    try:
        with pytest.raises(KeyboardInterrupt), signals.signals_held():
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # bytecodes on which Python would run a pending handler
                    reached.append(None)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            reached.append("end of the step")
    finally:
        stop.set()
        other.join(10)
    assert reached[-1] == "end of the step" and signals.steps_done() == before + 1


def test_an_interrupt_that_lands_in_a_weakref_callback_is_raised_again_where_the_run_is(monkeypatch):
    """Python ignores an exception raised in a finalizer or weakref callback (importlib's module-lock cleanup is
    one, run while modules load): the handler's KeyboardInterrupt would be lost there, and the run go on."""
    class Thing:
        pass

    monkeypatch.setattr(signals, "_received", [])  # (what this process received is the other tests' business)

    reached = []
    with pytest.raises(KeyboardInterrupt, match="signal 15"), signals.signals_as_interrupts():
        thing = Thing()
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGTERM))
        del thing  # the callback runs now: the handler raises inside it, and Python ignores that
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            time.sleep(0.01)
        reached.append("the deadline")
    assert ref() is None and reached == []


def test_an_interrupt_caught_after_it_landed_in_eval_still_exits_130(tmp_path):
    """An interrupt raised inside eval() of a string (namedtuple and dataclasses do that while modules load) leaves
    CPython's unhandled-interrupt flag set even when it is caught; run with `python -m`, as the program is, a normal
    exit would then end by SIGINT (-2)."""
    (tmp_path / "interrupted_in_eval.py").write_text(
        "import sys, phoenix_gitops_cli.program as p, phoenix_gitops_cli.__main__ as m\n"
        "p.run = lambda: eval('exec(\"raise KeyboardInterrupt\")')\n"
        "sys.exit(m.run())\n")
    result = subprocess.run([sys.executable, "-m", "interrupted_in_eval"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=WAIT)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "interrupted: nothing was written\n")
