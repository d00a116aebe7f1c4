"""sources: what an overlay reads, every finding collected, lines of inline patches shifted to the file."""
from __future__ import annotations

from conftest import FIXTURE_REPOS

from phoenix_gitops.layout import Repo
from phoenix_gitops.sources import read_sources


def graph_of(root, env="prod", app="web"):
    overlay = next(o for o in Repo(root).environment(env).overlays() if o.app == app)
    return read_sources(root, overlay)


def test_graph_lists_kustomizations_outermost_first_and_every_file():
    graph = graph_of(FIXTURE_REPOS / "webapp")
    assert graph.kustomizations == ["overlays/prod/web/kustomization.yaml", "base/web/kustomization.yaml"]
    assert graph.files == {
        "overlays/prod/web/kustomization.yaml", "overlays/prod/web/deployment-patch.yaml",
        "base/web/kustomization.yaml", "base/web/deployment.yaml", "base/web/service.yaml",
        "base/web/externalsecret.yaml",
    }
    assert [(p.doc.source, p.target_kind, p.target_name) for p in graph.patches] == [
        ("overlays/prod/web/deployment-patch.yaml", "Deployment", "web"),
    ]
    assert graph.findings == [] and graph.ok


def test_inline_patch_positions_are_lines_of_the_kustomization(fixture_repo):
    root = fixture_repo("webapp")
    (root / "overlays/prod/web/kustomization.yaml").write_text(
        "resources:\n"
        "  - ../../../base/web\n"
        "patches:\n"
        "  - target:\n"
        "      kind: Deployment\n"
        "    patch: |-\n"
        "      apiVersion: apps/v1\n"
        "      kind: Deployment\n"
        "      metadata:\n"
        "        name: web\n"
        "      spec:\n"
        "        replicas: 2\n"
    )
    graph = graph_of(root)
    (patch,) = graph.patches
    assert patch.target_kind == "Deployment" and patch.doc.source == "overlays/prod/web/kustomization.yaml"
    assert patch.doc.position(("spec", "replicas")) == (12, 9)


def test_all_problems_of_a_kustomization_are_collected(fixture_repo):
    root = fixture_repo("webapp")
    (root / "overlays/prod/web/kustomization.yaml").write_text(
        "resources:\n"
        "  - ../../../base/web\n"
        "  - https://example.org/remote.yaml\n"
        "  - /etc/passwd\n"
        "  - missing.yaml\n"
        "transformers:\n"
        "  - plugin.yaml\n"
    )
    found = [(f.rule, f.line) for f in graph_of(root).findings]
    assert found == [("SRC-PLUGIN", 6), ("SRC-REMOTE", 3), ("SRC-PATH", 4), ("SRC-MISSING", 5)]


def test_a_base_shared_by_two_paths_is_read_once_and_cycles_end(fixture_repo):
    root = fixture_repo("webapp")
    (root / "base/web/kustomization.yaml").write_text(
        "resources:\n  - deployment.yaml\n  - ../web\n  - ../../base/web\n"
    )
    graph = graph_of(root)
    assert graph.kustomizations.count("base/web/kustomization.yaml") == 1


def test_generator_files_and_env_files_are_resolved(fixture_repo):
    root = fixture_repo("webapp")
    (root / "overlays/prod/web/app.env").write_text("A=1\n")
    (root / "overlays/prod/web/kustomization.yaml").write_text(
        "resources:\n  - ../../../base/web\nconfigMapGenerator:\n  - name: extra\n    envs:\n      - app.env\n"
        "    files:\n      - key=nope.txt\n"
    )
    graph = graph_of(root)
    assert "overlays/prod/web/app.env" in graph.files
    assert [(f.rule, f.line, f.message) for f in graph.findings] == [("SRC-MISSING", 8, "'nope.txt' does not exist")]
