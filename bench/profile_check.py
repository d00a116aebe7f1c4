"""Where the main process of a full check spends its time, stage by stage, on a generated repo of N apps x 3 envs
(the repo `bench/run.py` generates), with an empty cache.

    python bench/profile_check.py --apps 200 --jobs 2       # the table below; the raw profile in --out
    python bench/profile_check.py --apps 200 --out /tmp/check.prof && python -m pstats /tmp/check.prof

The check runs in this process under cProfile, so the figures are the main process's own (kustomize runs in child
processes and shows up only as waiting). Profiling slows Python down by about a third; compare stages with each
other, not with the benchmark's wall times. Cumulative times overlap (a stage contains the functions it calls).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import generate  # noqa: E402  (bench/ is not a package)

STAGES = [
    ("whole check", "check.py", "run_check"),
    ("read: cache lookups, policy", "check.py", "_read"),
    ("read: sources (safe YAML, own schemas)", "sources.py", "read_sources"),
    ("build + judge (includes waiting for kustomize)", "check.py", "_build_and_judge"),
    ("  waiting for kustomize results", "scheduler.py", "results"),
    ("  judge one build", "judge.py", "judge"),
    ("    parse kustomize's output", "judge.py", "parse"),
    ("    strict schema validation", "kube_schemas.py", "validate"),
    ("    workload classification", "workloads.py", "records"),
    ("    rules about one overlay", "engine.py", "check_view"),
    ("    locate findings (source map)", "sourcemap.py", "locate"),
    ("  store in the cache", "cache.py", "store"),
    ("locate: rebuild with origins", "check.py", "_locate"),
    ("rules across environments", "check.py", "_across"),
    ("summarise", "check.py", "_summarise"),
    ("report formatting", "report.py", "format_report"),
]
"""(label, file name, function name) of the stages and the functions inside them."""


def stage_times(stats: pstats.Stats) -> list[tuple[str, float, int]]:
    """(label, cumulative seconds, calls) for each of STAGES found in the profile (summed over same-named ones)."""
    table = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    found = []
    for label, file, name in STAGES:
        hits = [(ct, nc) for (path, _, func), (_, nc, _, ct, _) in table.items()
                if func == name and os.path.basename(path) == file]
        if hits:
            found.append((label, sum(ct for ct, _ in hits), sum(nc for _, nc in hits)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the raw profile here (for pstats or snakeviz)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phoenix-gitops-profile-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, args.apps)
        os.environ.update(INVOKE_GITOPS_REPO=str(root), PHOENIX_GITOPS_CACHE=str(Path(tmp) / "cache"))
        from phoenix_gitops_cli.program import main as program

        profile = cProfile.Profile()
        start, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        code = program(["check", "--jobs", str(args.jobs), "--format", "json"])
        profile.disable()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if args.out:
        profile.dump_stats(args.out)
    stats = pstats.Stats(profile, stream=sys.stderr)
    print(f"\nN = {args.apps} apps x 3 envs, --jobs {args.jobs}: exit {code}, {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU in this process (profiled)", file=sys.stderr)
    print(f"{'stage':<50} {'seconds':>8} {'calls':>7}", file=sys.stderr)
    for label, seconds, calls in stage_times(stats):
        print(f"{label:<50} {seconds:8.2f} {calls:7d}", file=sys.stderr)
    print("\nmost time of its own:", file=sys.stderr)
    stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
