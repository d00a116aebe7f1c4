"""Signals during work that must clean up after itself (renders, temporary git worktrees).

Usage:
    with signals_as_interrupts():       # SIGTERM/SIGHUP raise KeyboardInterrupt, so `finally` blocks run
        with signals_held():            # ...and are held back for a step that must not be cut in half
            os.rename(a, b); os.rename(c, d)
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["signals_as_interrupts", "signals_held"]


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back for the duration of the block; they are delivered after it."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt for the block (main thread only), like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
