"""Run the phoenix-gitops command line in this process, then write where its CPU time went: the process itself
(the serial part: everything Python does on the main process) and all its children (kustomize, and any worker
process), and the peak memory of all of them together.

    python bench/cpu_probe.py OUT.json check --jobs 2     # exit code of the command; OUT.json:
    {"code": 0, "main_cpu": 21.4, "children_cpu": 60.2, "main_rss_mib": 412.0, "peak_total_mib": 655.3}

`peak_total_mib` is the largest sum, over samples taken every 20 ms, of the resident memory of this process and
of every process it started (read from /proc: a thread lists each thread's children). A child that still runs
this program's executable is not counted: it is a fork or vfork on its way to exec kustomize, whose /proc entry
shows the main process's memory again (the check starts no Python process of its own). The kernel's own figure
for children (`RUSAGE_CHILDREN`) is no use here for the same reason: a child started by fork or vfork counts the
parent's memory it saw before exec. `bench/run.py` uses this probe; it is not part of the package, so the tool
itself never measures or reports its own CPU.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import threading
from pathlib import Path

from phoenix_gitops_cli.program import run

SAMPLE_SECONDS = 0.02


def _rss_kib(pid: int | str) -> int:
    """The resident memory of process `pid` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _child_kib(pid: int, executable: str) -> int:
    """What a child adds: its resident memory, nothing while it still runs our executable (before its exec)."""
    try:
        same = os.readlink(f"/proc/{pid}/exe") == executable
    except OSError:
        return 0
    return 0 if same else _rss_kib(pid)


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through /proc/<pid>/task/<tid>/children."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


class _PeakMemory(threading.Thread):
    """Samples the memory of this process and its descendants until stopped; `peak_kib` is the largest sum."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self.done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        executable = os.readlink("/proc/self/exe")
        while not self.done.wait(SAMPLE_SECONDS):
            children = sum(_child_kib(child, executable) for child in _descendants(me))
            self.peak_kib = max(self.peak_kib, _rss_kib(me) + children)


def _probe(out: Path, argv: list[str]) -> int:
    sys.argv = ["phoenix-gitops", *argv]
    sampler = _PeakMemory()
    sampler.start()
    try:
        code = run()
    finally:
        sampler.done.set()
        sampler.join()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out.write_text(json.dumps({
        "code": code,
        "main_cpu": own.ru_utime + own.ru_stime,
        "children_cpu": children.ru_utime + children.ru_stime,
        "main_rss_mib": own.ru_maxrss / 1024,  # Linux reports KiB
        "peak_total_mib": max(sampler.peak_kib, own.ru_maxrss) / 1024,
    }))
    return code


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: python bench/cpu_probe.py OUT.json COMMAND [ARGS...]")
    sys.exit(_probe(Path(sys.argv[1]), sys.argv[2:]))
