"""bench/: the benchmark's arguments, its targets, and the probe that splits the check's CPU time."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
from conftest import PROJECT, run_program

sys.path.insert(0, str(PROJECT / "bench"))
import run as bench  # noqa: E402  (bench/ is not a package)


def figures(full: float, one: float, warm: float, main_cpu: float, children_cpu: float) -> dict[str, float]:
    return {"wall": full, "main_cpu": main_cpu, "children_cpu": children_cpu, "main_rss_mib": 400.0,
            "peak_total_mib": 600.0, "one": one, "warm": warm}


def result(jobs: int, floor: float, full: float, one: float, warm: float, main_cpu: float = 1.0,
           children_cpu: float = 32.0) -> dict[str, dict[str, float]]:
    return {"floor serial": {"wall": floor * 2}, f"floor {jobs}": {"wall": floor},
            f"check {jobs} (full)": figures(full, one, warm, main_cpu, children_cpu),
            f"check {jobs} (1 app)": {"wall": one}, f"check {jobs} (warm)": {"wall": warm}}


def test_apps_and_jobs_take_comma_separated_numbers():
    assert bench._numbers("200,1000") == [200, 1000]
    assert bench._numbers("2") == [2]
    with pytest.raises(argparse.ArgumentTypeError, match="whole numbers separated by commas"):
        bench._numbers("2,many")


def test_the_targets_of_a_2_core_run_at_n_200():
    met = {name: (value, op, target)
           for name, value, op, target in bench.targets(200, 2, result(2, 60.0, 30.0, 1.2, 0.8))}
    assert sorted(met) == ["1-app check / full check", "full check / faster floor", "main CPU / children CPU",
                           "warm check (s)"]
    assert met["full check / faster floor"] == (0.5, "<=", 0.6)
    assert met["main CPU / children CPU"] == (1 / 32, "<=", 1 / 16)
    assert met["1-app check / full check"] == (pytest.approx(0.04), "<=", 0.05)


def test_16_jobs_compare_with_the_16_thread_floor_and_n_1000_adds_memory():
    found = {name: (value, target) for name, value, _, target in bench.targets(1000, 16, result(16, 50.0, 60.0,
                                                                                                2.0, 0.4))}
    assert found["full check / 16-thread floor"] == (1.2, 1.0)  # a miss the caller reports
    assert found["peak memory (GiB)"] == (pytest.approx(600 / 1024), 1.5)
    assert found["warm check (s)"] == (0.4, 0.5) and "full check / faster floor" not in found


def test_small_repos_have_no_targets():
    assert bench.targets(10, 2, result(2, 3.0, 2.9, 1.0, 0.5)) == []


def test_the_probe_splits_the_cpu_of_the_program_and_its_children(tmp_path):
    out = tmp_path / "probe.json"
    proc = subprocess.run([sys.executable, str(PROJECT / "bench" / "cpu_probe.py"), str(out), "--list"],
                          capture_output=True, text=True, cwd=PROJECT)
    assert proc.returncode == 0, proc.stderr
    assert "check" in proc.stdout
    probe = json.loads(out.read_text())
    assert probe["code"] == 0 and probe["main_cpu"] > 0 and probe["main_rss_mib"] > 10
    assert set(probe) == {"code", "main_cpu", "children_cpu", "main_rss_mib", "peak_total_mib"}
    assert probe["peak_total_mib"] >= probe["main_rss_mib"]


def test_the_probes_peak_memory_counts_kustomize_and_not_the_copies_of_itself(kz):
    import cpu_probe

    def peak(argv: list[str]) -> int:
        sampler = cpu_probe._PeakMemory()
        sampler.start()
        subprocess.run(argv, check=True, capture_output=True)
        sampler.done.set()
        sampler.join()
        return sampler.peak_kib - cpu_probe._rss_kib("self")

    assert peak([*kz.command, str(PROJECT / "overlays" / "prod" / "api")]) > 20 * 1024
    python = [sys.executable, "-c", "import time; block = bytearray(200 * 1024 * 1024); time.sleep(0.5)"]
    assert peak(python) < 20 * 1024  # (what runs our own executable is a copy of us on its way to exec)


def test_the_probe_refuses_a_missing_command(tmp_path):
    proc = subprocess.run([sys.executable, str(PROJECT / "bench" / "cpu_probe.py"), str(tmp_path / "o.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "usage: python bench/cpu_probe.py OUT.json COMMAND" in proc.stderr


GOLDEN = PROJECT / "tests" / "fixtures" / "bench-golden"


def test_the_bench_repo_renders_and_checks_byte_for_byte_as_before_the_speed_work(tmp_path):
    """The golden files were written by the check as it was before the C composer, the jsonschema-rs first verdict
    and the redaction's clean-file memo: what they changed is speed alone."""
    root = tmp_path / "repo"
    bench.generate(root, 1)
    env = {"PHOENIX_GITOPS_CACHE": str(tmp_path / "cache")}
    assert run_program(["render", "all"], root, **env).code == 0
    check = run_program(["check", "--format", "json"], root, **env)
    assert check.code == 0 and check.stdout == (GOLDEN / "check.json").read_text(encoding="utf-8")
    golden = sorted(p.relative_to(GOLDEN) for p in (GOLDEN / "rendered").rglob("*.yaml"))
    made = sorted(p.relative_to(root) for p in (root / "rendered").rglob("*.yaml"))
    assert made == golden and len(made) == 6
    for rel in made:
        assert (root / rel).read_bytes() == (GOLDEN / rel).read_bytes(), rel
