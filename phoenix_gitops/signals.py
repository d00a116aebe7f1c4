"""Stopping on a signal: SIGTERM/SIGHUP as Ctrl-C, steps that must not be cut in half, and child processes that
stop with the run.

- `signals_as_interrupts` turns SIGTERM and SIGHUP into KeyboardInterrupt (as Ctrl-C is), so `finally` blocks
  run and remove what the run made; `install_interrupts` does it for the rest of the process. An interrupt that
  lands in a finalizer or weakref callback, where Python ignores exceptions, is raised again at once where the
  run can stop (`sys.unraisablehook`), so no signal is ever lost.
- `signals_held` holds SIGINT/SIGTERM/SIGHUP back for a step that must not be cut in half (swapping folders in,
  replacing a file); they are delivered after it. `steps_done` counts the held steps completed, so code that is
  interrupted can tell whether its step happened, and raise `Interrupted` saying what was written.
- `run_child` runs a tool (kustomize, git) in its own process group. When the run is interrupted, the child is
  stopped with its whole group (SIGTERM, then SIGKILL after GRACE seconds): by `run_child` itself when it runs
  in the interrupted thread, by `stop_children` for children of worker threads (the build pool calls it).
  Once `stop_children` has been called, `run_child` starts nothing until `children_may_start`.

Usage:
    with signals_as_interrupts():                   # SIGTERM/SIGHUP raise KeyboardInterrupt, `finally` runs
        proc = run_child(["git", "status"], timeout=60, env=env)   # a CompletedProcess; stopped on Ctrl-C
        with signals_held():                        # delivered after the block
            os.rename(a, b); os.rename(c, d)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .errors import ToolError

__all__ = ["GRACE", "Interrupted", "Stopped", "children_may_start", "install_interrupts", "interrupts_received",
           "run_child", "signals_as_interrupts", "signals_held", "steps_done", "stop_children"]

GRACE = 0.5
"""Seconds a stopped child's process group has between SIGTERM and SIGKILL."""
_INTERRUPTS = (signal.SIGTERM, signal.SIGHUP)
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM after part of the work was written: `written` says what, and what was not."""

    def __init__(self, written: str) -> None:
        super().__init__(written)
        self.written = written


class Stopped(ToolError):
    """A child process was not started (or was stopped) because the run is being interrupted."""


_received: list[int] = []


def _interrupt(signum: int, frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def _raise_again(unraisable: Any) -> None:
    """`sys.unraisablehook`: Python ignores an exception raised in a finalizer or weakref callback (such as
    importlib's module-lock cleanup), and so would lose an interrupt whose handler ran there. Send that signal
    again once this hook has returned (an exception in the hook itself would be lost too), so that its handler
    runs on in the code that was interrupted. Anything else goes to the previous hook."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        if not sys.is_finalizing():  # (while Python shuts down, the run is over: nothing to stop)
            signum = _received[-1] if _received else signal.SIGINT
            threading.Thread(target=_send_after_hook, args=(signum,), daemon=True).start()
        return
    _previous_hook(unraisable)


def _send_after_hook(signum: int) -> None:
    """Send `signum` to this process once the main thread has left `_raise_again` (at most a second later)."""
    main = threading.main_thread().ident
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main) if main is not None else None
        while frame is not None and frame.f_code is not _raise_again.__code__:
            frame = frame.f_back
        if frame is None:
            break
        time.sleep(0.001)
    os.kill(os.getpid(), signum)


_previous_hook = sys.unraisablehook


def _keep_interrupts() -> None:
    """Install `_raise_again` (once)."""
    if sys.unraisablehook is not _raise_again:
        global _previous_hook
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _raise_again


def interrupts_received() -> bool:
    """Whether a signal reached the handlers installed here (`install_interrupts`, `signals_as_interrupts`): a
    program tells by it that an exit was caused by an interrupt that something else turned into an exit code."""
    return bool(_received)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install_interrupts() -> None:
    """For the rest of the process, SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does (and Ctrl-C does,
    even where a parent left SIGINT ignored). Main thread only; a program calls it first thing."""
    if _in_main_thread():
        _keep_interrupts()
        for sig in (signal.SIGINT, *_INTERRUPTS):
            signal.signal(sig, _interrupt)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt for the block (main thread only), like Ctrl-C."""
    if not _in_main_thread():
        yield
        return
    _keep_interrupts()
    previous = {sig: signal.signal(sig, _interrupt) for sig in _INTERRUPTS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_completed_steps = 0


@contextmanager
def signals_held(step: bool = True) -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back for the duration of the block; they are delivered after it (a
    KeyboardInterrupt, then, means the step completed: `steps_done` counts it, unless `step` is False, as for
    removing a temp folder, which writes nothing of the user's).

    The handlers are swapped for ones that only record the signal, and the first recorded one is handed to the
    previous handler after the block. (Blocking the signals with a thread mask is not enough: the kernel hands a
    process-directed signal to any thread that does not block it, such as an idle pool thread, and Python then
    raises in the main thread at once.) Outside the main thread, where handlers cannot be set, nothing is held."""
    global _completed_steps
    if not _in_main_thread():
        yield
        if step:
            _completed_steps += 1
        return
    held: list[int] = []
    previous = {int(sig): signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in _HELD}
    try:
        yield
        if step:
            _completed_steps += 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            _deliver(held[0], previous[held[0]])


def _deliver(signum: int, handler: Any) -> None:
    """Hand a held signal to the handler that was in place: call a Python one, or re-send it to this process for
    the default action (an ignored one stays ignored)."""
    if callable(handler):
        handler(signum, None)
    elif handler != signal.SIG_IGN:
        os.kill(os.getpid(), signum)


def steps_done() -> int:
    """How many `signals_held` steps have completed in this process so far (compare before and after a call)."""
    return _completed_steps


# Child processes.

_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()
_stopping = False


def run_child(argv: Sequence[str], timeout: float, env: Mapping[str, str],
              cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` (stdin empty, output captured) in a process group of its own and wait at most `timeout` seconds.

    Raises subprocess.TimeoutExpired (the group stopped), OSError when it cannot start, Stopped when the run is
    being interrupted; an interrupt while it runs stops the group and propagates.
    """
    with _children_lock:
        if _stopping:
            raise Stopped(f"{Path(argv[0]).name} was not started: the run is being interrupted")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(env), cwd=cwd, process_group=0)
        _children.add(proc)
    try:
        with signals_as_interrupts():
            stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:  # a timeout, an interrupt: nothing of the group may outlive it
        _stop([proc])
        proc.communicate()
        raise
    finally:
        with _children_lock:
            _children.discard(proc)
    return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)


def stop_children() -> None:
    """Stop every child `run_child` is running (in any thread) with its process group, and start no new ones
    until `children_may_start`. Returns within about GRACE seconds."""
    global _stopping
    with _children_lock:
        _stopping = True
        running = list(_children)
    _stop(running)


def children_may_start() -> None:
    """End what `stop_children` began: `run_child` starts processes again."""
    global _stopping
    with _children_lock:
        _stopping = False


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process group, SIGKILL to each after GRACE seconds (to the whole group: a child of the
    tool may still hold the output open after the tool itself ended)."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
