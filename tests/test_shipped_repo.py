"""The repository as shipped: its environments, its apps, and its committed rendered/ output."""
from __future__ import annotations

import shutil

import pytest
from conftest import PROJECT, run_cli, tree_bytes

from phoenix_gitops import render as rendering
from phoenix_gitops.layout import Repo


def test_three_environments_each_its_own_cluster():
    envs = Repo(PROJECT).select_envs("all")
    assert [e.name for e in envs] == ["dev", "prod", "staging"]
    assert len({e.cluster for e in envs}) == len({e.server for e in envs}) == 3
    for env in envs:
        assert [o.app for o in env.overlays()] == ["api", "storefront"]


def test_committed_rendered_output_is_current(kz):
    repo = Repo(PROJECT)
    result = rendering.render(repo, repo.select_envs("all"), kz, check=True)
    assert result.changed == (), "rendered/ is stale: run `invoke render all` and commit the result"
    assert result.files == 12 + 55  # manifests (2 phases x 2 apps x 3 envs), then the bootstrap files of clusters/


@pytest.mark.slow  # runs kustomize, in two subprocesses
def test_render_prod_twice_from_scratch_gives_identical_bytes(tmp_path):
    # each render in its own `invoke` process on purpose: its own hash seed, nothing kept from the other run
    copies = []
    for name in ("first", "second"):
        root = tmp_path / name
        for folder in ("base", "overlays"):
            shutil.copytree(PROJECT / folder, root / folder)
        shutil.copy(PROJECT / "gitops.yaml", root / "gitops.yaml")
        proc = run_cli(["render", "env=prod"], root)
        assert proc.returncode == 0, proc.stderr
        copies.append(tree_bytes(root / "rendered"))
    assert copies[0] == copies[1]
    assert sorted(copies[0]) == [f"prod/{app}/{phase}/manifest.yaml" for app in ("api", "storefront")
                                 for phase in ("prepare", "release")]
    assert copies[0] == {k: v for k, v in tree_bytes(PROJECT / "rendered").items() if k.startswith("prod/")}
