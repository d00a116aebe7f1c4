"""Benchmark: phoenix-gitops against the plain pipelines, side by side, on generated repos of N apps x 3 envs.

    python bench/run.py                          # N = 10, 50, 200; --jobs 2; 3 runs each
    python bench/run.py --apps 200,1000 --jobs 2,16 --runs 3 --skip-naive
    python bench/run.py --apps 10 --runs 1

Each generated repo copies the shipped repo (base/phoenix, the environment files, gitops.yaml) and clones the
`api` app N times (base/<app> and overlays/<env>/<app>, with the name replaced), so every overlay is shaped
like a shipped one. Measured, as whole commands in subprocesses, medians of --runs:
  floor serial      `kubectl kustomize` of every overlay, one after another
  floor J           the same, J at a time, for each J of --jobs
  naive             every overlay built, then checked with the `kubernetes-validate --strict` CLI (2 at a time)
  render            `invoke render all`, cache emptied before each run
  check J (full)    `phoenix-gitops check --jobs J`, cache emptied before each run, through bench/cpu_probe.py:
                    the CPU seconds of the check's main process (the serial part) and of its children (kustomize)
  check J (1 app)   the same after touching one app's overlay (cache warm otherwise)
  check J (warm)    the same again with nothing changed
A J larger than this machine's CPU count cannot be measured here: the table says so for that row.

Targets (at N >= 200, each checked where this machine can measure it; exit 1 when one is missed):
  full check <= 0.6 x the faster floor with J <= 2; <= 1.0 x the J-thread floor with J >= 16;
  naive >= 3 x the full check; one app <= 5 % of the full check at N = 200, <= 3 % at N = 1000;
  warm <= 1 s at N = 200, <= 0.5 s at N = 1000; main-process CPU <= 1/16 of the children's at N = 200;
  peak memory (the main process and every process it runs, together) <= 1.5 GiB at N = 1000.
Every command runs with the project's pinned kubectl; the machine and its load are printed.
"""
from __future__ import annotations

import argparse
import json
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
    names = [f"app{index:03d}" for index in range(apps)]
    declared = "apps:\n" + "".join(f"  {name}: {{namespaces: [{name}]}}\n" for name in names)
    for env in ENVS:
        (root / "overlays" / env).mkdir(parents=True)
        text = (PROJECT / "overlays" / env / "environment.yaml").read_text()
        # the generated apps are the environment's apps (the shipped ones are not there)
        text, count = re.subn(r"^apps:\n(?:  .*\n)+", lambda _: declared, text, flags=re.M)
        assert count == 1, f"overlays/{env}/environment.yaml has no apps: block"
        (root / "overlays" / env / "environment.yaml").write_text(text)
    for name in names:
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


def probed(argv: list[str], cwd: Path, env: dict[str, str], scratch: Path) -> dict[str, float]:
    """Run the command line through bench/cpu_probe.py: its wall time and where its CPU time went."""
    out = scratch / "probe.json"
    wall = timed([sys.executable, str(PROJECT / "bench" / "cpu_probe.py"), str(out), *argv], cwd, env)
    figures = json.loads(out.read_text())
    return {"wall": wall, **{key: float(value) for key, value in figures.items() if key != "code"}}


def measure(apps: int, jobs: list[int], runs: int, skip_naive: bool) -> dict[str, dict[str, float]]:
    """Medians of every figure, by row name (`floor serial`, `check 2 (full)`, ...) and figure (`wall`, ...)."""
    with tempfile.TemporaryDirectory(prefix="phoenix-gitops-bench-") as tmp:
        root, cache = Path(tmp) / "repo", Path(tmp) / "cache"
        overlays = generate(root, apps)
        # Python's bytecode cache stays on for the measured commands, as on any machine that does not opt out
        # (PYTHONDONTWRITEBYTECODE); one untimed start writes it, so no figure pays for compiling the package.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(INVOKE_GITOPS_REPO=str(root), PHOENIX_GITOPS_CACHE=str(cache))
        invoke = [str(BIN / "invoke"), "--search-root", str(PROJECT)]
        timed(invoke + ["--list"], root, env)
        samples: dict[str, dict[str, list[float]]] = {}

        def add(name: str, figures: dict[str, float]) -> None:
            for key, value in figures.items():
                samples.setdefault(name, {}).setdefault(key, []).append(value)

        touched = root / "overlays" / "prod" / "app000" / "kustomization.yaml"
        for run in range(runs):
            add("floor serial", {"wall": floor(overlays, 1)})
            for j in jobs:
                add(f"floor {j}", {"wall": floor(overlays, j)})
            if not skip_naive:
                scratch = Path(tmp) / "naive"
                scratch.mkdir(exist_ok=True)
                add("naive", {"wall": naive(overlays, 2, scratch)})
            shutil.rmtree(cache, ignore_errors=True)
            add("render", {"wall": timed(invoke + ["render", "all"], root, env)})
            for j in jobs:
                shutil.rmtree(cache, ignore_errors=True)
                check = ["check", "--jobs", str(j)]
                add(f"check {j} (full)", probed(check, root, env, Path(tmp)))
                touched.write_text(touched.read_text() + f"# touched {run} {j}\n")
                add(f"check {j} (1 app)", probed(check, root, env, Path(tmp)))
                add(f"check {j} (warm)", probed(check, root, env, Path(tmp)))
        return {name: {key: statistics.median(values) for key, values in figures.items()}
                for name, figures in samples.items()}


def targets(apps: int, jobs: int, result: dict[str, dict[str, float]]) -> list[tuple[str, float, str, float]]:
    """(what, measured, "<=" or ">=", target) for every target that applies at N = `apps` with `jobs` jobs."""
    full, one, warm = (result[f"check {jobs} ({what})"] for what in ("full", "1 app", "warm"))
    found: list[tuple[str, float, str, float]] = []
    if apps < 200:  # small repos show start-up, not the pipeline: no targets
        return found
    if jobs <= 2:
        faster = min(result["floor serial"]["wall"], result[f"floor {jobs}"]["wall"])
        found.append(("full check / faster floor", full["wall"] / faster, "<=", 0.6))
    if jobs >= 16:
        found.append((f"full check / {jobs}-thread floor", full["wall"] / result[f"floor {jobs}"]["wall"], "<=", 1.0))
    if "naive" in result and jobs == 2:
        found.append(("naive / full check", result["naive"]["wall"] / full["wall"], ">=", 3.0))
    if apps in LIMITS:
        share, seconds = LIMITS[apps]
        found.append(("1-app check / full check", one["wall"] / full["wall"], "<=", share))
        found.append(("warm check (s)", warm["wall"], "<=", seconds))
    if apps == 200:
        found.append(("main CPU / children CPU", full["main_cpu"] / max(full["children_cpu"], 1e-9), "<=", 1 / 16))
    if apps == 1000:
        found.append(("peak memory (GiB)", full["peak_total_mib"] / 1024, "<=", 1.5))
    return found


LIMITS = {200: (0.05, 1.0), 1000: (0.03, 0.5)}
"""N: (one app's check as a share of the full check, warm check in seconds)."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _numbers(text: str) -> list[int]:
    """`200,1000` -> [200, 1000]."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=_numbers, default=[10, 50, 200], help="N values, e.g. 200,1000")
    parser.add_argument("--jobs", type=_numbers, default=[2], help="parallel builds to measure, e.g. 2,16")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true", help="leave out the slow naive pipeline")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    print(f"machine: {_cpu_model()}, {cpus} CPUs, {sys.platform}, Python {sys.version.split()[0]}; "
          f"medians of {args.runs} runs; load average {os.getloadavg()[0]:.2f} at start")
    measurable = [j for j in args.jobs if j <= cpus]
    for j in args.jobs:
        if j > cpus:
            print(f"--jobs {j}: cannot be measured on this machine ({cpus} CPUs); its rows and targets are left out")
    missed = []
    for apps in args.apps:
        result = measure(apps, measurable, args.runs, args.skip_naive)
        print(f"\nN = {apps} apps x 3 envs = {apps * 3} overlays")
        for name in ("floor serial", "naive", "render"):
            if name in result:
                print(f"  {name:<16} {result[name]['wall']:8.2f} s")
        print("  | J | floor, J threads | full check, empty cache | warm | one app touched "
              "| main CPU | children CPU | main / children | peak memory |")
        for j in measurable:
            floor_j, full = result[f"floor {j}"]["wall"], result[f"check {j} (full)"]
            one, warm = result[f"check {j} (1 app)"]["wall"], result[f"check {j} (warm)"]["wall"]
            peak = full["peak_total_mib"] / 1024
            print(f"  | {j} | {floor_j:.2f} s | {full['wall']:.2f} s ({full['wall'] / floor_j:.2f}x floor) "
                  f"| {warm:.2f} s | {one:.2f} s ({one / full['wall']:.1%} of full) | {full['main_cpu']:.1f} s "
                  f"| {full['children_cpu']:.1f} s | {full['main_cpu'] / max(full['children_cpu'], 1e-9):.3f} "
                  f"| {peak:.2f} GiB |")
        for j in measurable:
            for name, value, op, target in targets(apps, j, result):
                ok = value <= target if op == "<=" else value >= target
                print(f"  J={j} {name:<28} {value:8.3f}  (target {op} {target:.3g}) {'ok' if ok else 'MISSED'}")
                if not ok:
                    missed.append(f"{name} (N = {apps}, J = {j})")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end (other work on the machine skews every figure)")
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
