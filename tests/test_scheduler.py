"""scheduler: overlays built in batches of one environment, every overlay attempted, failures attributed to theirs."""
from __future__ import annotations

import pytest
from conftest import PROJECT
from support import fake_kustomize, fake_overlay

from phoenix_gitops.errors import KustomizeError, ToolError
from phoenix_gitops.kustomize import find_kustomize
from phoenix_gitops.layout import Overlay, Repo
from phoenix_gitops.scheduler import BATCH_SIZE, BuildQueue, plan, workers_for


def overlays(env: str, count: int) -> list[Overlay]:
    return [Overlay(env, f"app{i:02d}", PROJECT / env / f"app{i:02d}", f"overlays/{env}/app{i:02d}")
            for i in range(count)]


def no_options(overlay: Overlay) -> None:
    return None


def test_plan_keeps_environments_and_sort_orders_apart_and_batches_small():
    todo = overlays("dev", 20) + overlays("prod", 3)
    legacy = {o for o in todo[:5]}
    units = plan(todo, 2, lambda o: {"order": "legacy"} if o in legacy else None)
    assert sorted(o.id for unit in units for o in unit) == sorted(o.id for o in todo)
    for unit in units:
        assert len({o.env for o in unit}) == 1 and len({o in legacy for o in unit}) == 1
        assert len(unit) <= BATCH_SIZE
    assert [len(unit) for unit in units] == [5, 8, 7, 3]  # dev legacy, dev (over BATCH_SIZE), prod


def test_plan_gives_every_worker_a_unit_when_there_are_enough_overlays():
    assert [len(unit) for unit in plan(overlays("prod", 3), 4, no_options)] == [1, 1, 1]
    assert plan([], 2, no_options) == []


@pytest.mark.parametrize(("jobs", "tasks", "workers"), [(3, 10, 3), (8, 2, 2), (1, 0, 1)])
def test_workers_never_outnumber_the_tasks(jobs, tasks, workers):
    assert workers_for(jobs, tasks) == workers


def test_every_overlay_is_attempted_and_a_failure_is_returned_as_its_own(tmp_path):
    kz = find_kustomize({"KUSTOMIZE": str(fake_kustomize(tmp_path / "bin"))}, timeout=2)
    todo = [fake_overlay(tmp_path, mode) for mode in ("ok", "fail", "empty")]
    with BuildQueue(kz, 2, no_options) as queue:
        queue.build(todo, origins=False)
        results = {built.overlay.app: built for built in queue.results()}
    assert sorted(results) == ["empty", "fail", "ok"]
    assert results["ok"].result == "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
    assert isinstance(results["fail"].result, KustomizeError) and results["fail"].result.overlay == "overlays/prod/fail"
    assert isinstance(results["empty"].result, KustomizeError)
    assert {built.origins for built in results.values()} == {False}


def test_a_timed_out_batch_fails_every_overlay_of_it_without_building_them_again(tmp_path):
    runs, hanging = tmp_path / "runs", tmp_path / "bin" / "kustomize"
    hanging.parent.mkdir()
    hanging.write_text(f'#!/bin/sh\nif [ "$1" = version ]; then echo v5.9.0; exit 0; fi\necho run >> {runs}\n'
                       "exec /bin/sleep 30\n")
    hanging.chmod(0o755)
    kz = find_kustomize({"KUSTOMIZE": str(hanging)}, timeout=1)
    todo = [fake_overlay(tmp_path, "hang"), fake_overlay(tmp_path, "ok")]
    with BuildQueue(kz, 1, no_options) as queue:
        queue.build(todo, origins=False)
        results = {built.overlay.app: built.result for built in queue.results()}
    assert sorted(results) == ["hang", "ok"]
    assert [str(results[app]) for app in ("hang", "ok")] == [
        "overlays/prod/hang: 2 overlays of prod: kustomize timed out after 1s",
        "overlays/prod/ok: 2 overlays of prod: kustomize timed out after 1s"]
    assert all(isinstance(error, ToolError) for error in results.values())
    assert runs.read_text() == "run\n"  # the batch, and no overlay of it on its own


def test_a_failing_batch_is_rebuilt_one_by_one_and_the_failure_attributed(kz, fixture_repo):
    root = fixture_repo("minimal")
    (root / "overlays/prod/world/kustomization.yaml").write_text("resources:\n  - nothing.yaml\n")
    hello, world = Repo(root).environment("prod").overlays()
    with BuildQueue(kz, 1, no_options) as queue:
        queue.build([hello, world], origins=True)
        results = {built.overlay: built.result for built in queue.results()}
    assert isinstance(results[hello], str) and "config.kubernetes.io/origin" in results[hello]
    assert isinstance(results[world], KustomizeError) and results[world].overlay == "overlays/prod/world"


def test_overlays_asked_for_later_are_built_with_origins_in_one_batch(kz, fixture_repo, builds):
    repo = Repo(fixture_repo("minimal"))
    todo = [o for env in repo.select_envs("all") for o in env.overlays()]
    seen = []
    with BuildQueue(kz, 1, no_options) as queue:
        queue.build(todo, origins=False)
        for built in queue.results():
            seen.append((built.overlay.id, built.origins))
            if not built.origins and built.overlay.env == "prod":
                queue.later(built.overlay)
    assert sorted(seen) == [("dev/hello", False), ("prod/hello", False), ("prod/hello", True),
                            ("prod/world", False), ("prod/world", True)]
    assert sorted(builds[-2:]) == [("prod/hello", True), ("prod/world", True)]  # one batch, after the rest
