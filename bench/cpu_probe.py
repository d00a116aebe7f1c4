"""Run the phoenix-gitops command line in this process, then write where its CPU time went: the process itself
(the serial part: everything Python does on the main process) and all its children (kustomize, and any worker
process), with their peak memory.

    python bench/cpu_probe.py OUT.json check --jobs 2     # exit code of the command; OUT.json:
    {"code": 0, "main_cpu": 21.4, "children_cpu": 60.2, "main_rss_mib": 412.0, "child_rss_mib": 95.1}

`child_rss_mib` is the largest single child (what the kernel keeps), not a sum. `bench/run.py` uses it; it is not
part of the package, so the tool itself never measures or reports its own CPU.
"""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from phoenix_gitops_cli.program import run


def _probe(out: Path, argv: list[str]) -> int:
    sys.argv = ["phoenix-gitops", *argv]
    code = run()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out.write_text(json.dumps({
        "code": code,
        "main_cpu": own.ru_utime + own.ru_stime,
        "children_cpu": children.ru_utime + children.ru_stime,
        "main_rss_mib": own.ru_maxrss / 1024,  # Linux reports KiB
        "child_rss_mib": children.ru_maxrss / 1024,
    }))
    return code


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: python bench/cpu_probe.py OUT.json COMMAND [ARGS...]")
    sys.exit(_probe(Path(sys.argv[1]), sys.argv[2:]))
