"""Benchmark: phoenix-gitops against the plain pipelines, side by side, on generated repos of N apps x 3 envs.

    python bench/run.py                    # N = 10, 50, 200; 3 runs each; exits 1 if a target at N = 200 is missed
    python bench/run.py --apps 10 --runs 5

Each generated repo copies the shipped repo (base/phoenix, the environment files, gitops.yaml) and clones the
`api` app N times (base/<app> and overlays/<env>/<app>, with the name replaced), so every overlay is shaped
like a shipped one. Measured, as whole commands in subprocesses, medians of --runs:
  floor serial      `kubectl kustomize` of every overlay, one after another
  floor parallel    the same, 2 at a time
  naive             every overlay built, then checked with the `kubernetes-validate --strict` CLI (2 at a time)
  render            `invoke render all`, cache emptied before each run
  check (full)      `invoke check`, cache emptied before each run
  check (1 app)     `invoke check` after touching one app's overlay (cache warm otherwise)
  check (warm)      `invoke check` again with nothing changed
Targets (N = 200): full check <= 1.2 x the faster floor and >= 3 x faster than naive; one app <= 5 % of full;
warm <= 1 s. Every command runs with the project's pinned kubectl; the machine and its load are printed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENVS = ("dev", "staging", "prod")


def generate(root: Path, apps: int) -> list[Path]:
    """A repo of `apps` copies of the shipped `api` app; returns the overlay folders."""
    shutil.copytree(PROJECT / "base" / "phoenix", root / "base" / "phoenix")
    shutil.copytree(PROJECT / "base" / "components", root / "base" / "components")
    shutil.copy(PROJECT / "gitops.yaml", root / "gitops.yaml")
    overlays = []
    for env in ENVS:
        (root / "overlays" / env).mkdir(parents=True)
        shutil.copy(PROJECT / "overlays" / env / "environment.yaml", root / "overlays" / env / "environment.yaml")
    for index in range(apps):
        name = f"app{index:03d}"
        for source, target in [(PROJECT / "base" / "api", root / "base" / name)] + [
            (PROJECT / "overlays" / env / "api", root / "overlays" / env / name) for env in ENVS
        ]:
            target.mkdir(parents=True)
            for file in sorted(source.iterdir()):
                (target / file.name).write_text(re.sub(r"\bapi\b", name, file.read_text()))
            if target.parent.name in ENVS:
                overlays.append(target)
    return overlays


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def floor(overlays: list[Path], workers: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda o: subprocess.run([str(BIN / "kubectl"), "kustomize", str(o)],
                                               capture_output=True, check=True),
                      overlays))
    return time.perf_counter() - start


def naive(overlays: list[Path], workers: int, scratch: Path) -> float:
    def one(overlay: Path) -> None:
        out = scratch / f"{overlay.parent.name}-{overlay.name}.yaml"
        out.write_bytes(subprocess.run([str(BIN / "kubectl"), "kustomize", str(overlay)], capture_output=True,
                                       check=True).stdout)
        version = {"dev": "1.36", "staging": "1.35", "prod": "1.34"}[overlay.parent.name]
        subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version, str(out)],
                       capture_output=True)  # CRD kinds have no schema there: its exit code is not the point

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, overlays))
    return time.perf_counter() - start


def measure(apps: int, runs: int, skip_naive: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="phoenix-gitops-bench-") as tmp:
        root, cache = Path(tmp) / "repo", Path(tmp) / "cache"
        overlays = generate(root, apps)
        # Python's bytecode cache stays on for the measured commands, as on any machine that does not opt out
        # (PYTHONDONTWRITEBYTECODE); one untimed start writes it, so no figure pays for compiling the package.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(INVOKE_GITOPS_REPO=str(root), PHOENIX_GITOPS_CACHE=str(cache))
        invoke = [str(BIN / "invoke"), "--search-root", str(PROJECT)]
        timed(invoke + ["--list"], root, env)
        samples: dict[str, list[float]] = {}

        def add(name: str, value: float) -> None:
            samples.setdefault(name, []).append(value)

        touched = root / "overlays" / "prod" / "app000" / "kustomization.yaml"
        for run in range(runs):
            add("floor serial", floor(overlays, 1))
            add("floor parallel", floor(overlays, 2))
            if not skip_naive:
                scratch = Path(tmp) / "naive"
                scratch.mkdir(exist_ok=True)
                add("naive", naive(overlays, 2, scratch))
            shutil.rmtree(cache, ignore_errors=True)
            add("render", timed(invoke + ["render", "all"], root, env))
            shutil.rmtree(cache, ignore_errors=True)
            add("check (full)", timed(invoke + ["check"], root, env))
            touched.write_text(touched.read_text() + f"# touched {run}\n")
            add("check (1 app)", timed(invoke + ["check"], root, env))
            add("check (warm)", timed(invoke + ["check"], root, env))
        return {name: statistics.median(values) for name, values in samples.items()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true", help="leave out the slow naive pipeline")
    args = parser.parse_args()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, {sys.platform}, Python {sys.version.split()[0]}; "
          f"medians of {args.runs} runs; load average {os.getloadavg()[0]:.2f} at start")
    missed = []
    for apps in args.apps:
        result = measure(apps, args.runs, args.skip_naive)
        print(f"\nN = {apps} apps x 3 envs = {apps * 3} overlays")
        for name, value in result.items():
            print(f"  {name:<16} {value:8.2f} s")
        best_floor = min(result["floor serial"], result["floor parallel"])
        ratios = {
            "full check / faster floor": (result["check (full)"] / best_floor, "<=", 1.2),
            "1-app check / full check": (result["check (1 app)"] / result["check (full)"], "<=", 0.05),
            "warm check (s)": (result["check (warm)"], "<=", 1.0),
        }
        if "naive" in result:
            ratios["naive / full check"] = (result["naive"] / result["check (full)"], ">=", 3.0)
        for name, (value, op, target) in ratios.items():
            ok = value <= target if op == "<=" else value >= target
            print(f"  {name:<26} {value:7.3f}  (target {op} {target}) {'ok' if ok else 'MISSED'}")
            if apps == 200 and not ok:
                missed.append(name)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end (other work on the machine skews every figure)")
    if missed:
        print(f"\ntargets missed at N = 200: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
