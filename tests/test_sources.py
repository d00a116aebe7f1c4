"""sources: what an overlay reads, every finding collected, lines of inline patches shifted to the file."""
from __future__ import annotations

import pytest
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
        "validators:\n"
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


# Plugin configurations: kustomize's built-in ones are accepted, anything that runs code is not ----------------

BUILTIN_OVERLAY = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base/web
transformers:
  - namespace.yaml
  - |-
    apiVersion: builtin
    kind: LabelTransformer
    metadata:
      name: team
    labels:
      team: web
    fieldSpecs:
      - path: metadata/labels
        create: true
  - patch.yaml
generators:
  - settings.yaml
"""
BUILTIN_FILES = {
    "namespace.yaml": "apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n  namespace: web\n",
    "patch.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: replicas\n"
                  "path: deployment-patch.yaml\ntarget:\n  kind: Deployment\n",
    "settings.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: settings\nenvs:\n"
                     "  - settings.env\n",
    "settings.env": "POOL_SIZE=10\n",
}


def with_plugins(root, kustomization=BUILTIN_OVERLAY, **files):
    folder = root / "overlays/prod/web"
    (folder / "kustomization.yaml").write_text(kustomization)
    for name, text in {**BUILTIN_FILES, **files}.items():
        (folder / name).write_text(text)
    return graph_of(root)


def test_builtin_transformers_and_generators_are_accepted_and_their_files_read(fixture_repo):
    graph = with_plugins(fixture_repo("webapp"))
    assert graph.findings == [] and graph.ok
    assert {"overlays/prod/web/namespace.yaml", "overlays/prod/web/patch.yaml", "overlays/prod/web/settings.yaml",
            "overlays/prod/web/settings.env", "overlays/prod/web/deployment-patch.yaml"} <= graph.files
    assert [(p.doc.source, p.target_kind) for p in graph.patches] == [
        ("overlays/prod/web/deployment-patch.yaml", "Deployment")]


@pytest.mark.parametrize(("name", "text", "rule", "line", "message"), [
    ("exec.yaml", "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n",
     "SRC-PLUGIN", 1, "ChartInflator someteam.example.com/v1: only kustomize's built-in plugins"),
    ("function.yaml", "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: fn\n  annotations:\n"
     "    config.kubernetes.io/function: |\n      container:\n        image: example.org/fn\n",
     "SRC-PLUGIN", 6, "config.kubernetes.io/function: a KRM function plugin runs"),
    ("helm.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: chart\n",
     "SRC-HELM", 2, "HelmChartInflationGenerator: Helm charts are not rendered"),
    ("iam.yaml", "apiVersion: builtin\nkind: IAMPolicyGenerator\nmetadata:\n  name: iam\n",
     "SRC-PLUGIN", 2, "builtin IAMPolicyGenerator is not among the accepted built-in plugins"),
    ("list.yaml", "- apiVersion: builtin\n", "SRC-PLUGIN", 1, "a plugin configuration must be a mapping"),
    ("missing-input.yaml", "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: s\nfiles:\n"
     "  - key=nope.txt\n", "SRC-MISSING", 6, "'nope.txt' does not exist"),
    ("secret.yaml", "apiVersion: builtin\nkind: SecretGenerator\nmetadata:\n  name: s\nliterals:\n"
     "  - RELEASE_COOKIE=x\n", "SRC-PLUGIN", 2, "write it as the kustomization's `secretGenerator:` field"),
])
def test_a_plugin_that_runs_code_or_names_a_missing_file_is_refused_at_its_line(fixture_repo, name, text, rule,
                                                                                 line, message):
    graph = with_plugins(fixture_repo("webapp"), BUILTIN_OVERLAY + f"  - {name}\n", **{name: text})
    assert [(f.rule, f.path, f.line) for f in graph.findings] == [(rule, f"overlays/prod/web/{name}", line)]
    assert message in graph.findings[0].message and not graph.ok


def test_inline_plugin_configuration_is_checked_at_the_kustomization_s_lines(fixture_repo):
    kustomization = BUILTIN_OVERLAY.replace("    apiVersion: builtin\n    kind: LabelTransformer",
                                            "    apiVersion: example.com/v1\n    kind: LabelTransformer")
    graph = with_plugins(fixture_repo("webapp"), kustomization)
    assert [(f.rule, f.path, f.line) for f in graph.findings] == [
        ("SRC-PLUGIN", "overlays/prod/web/kustomization.yaml", 8)]


def test_a_folder_a_remote_or_a_non_string_plugin_entry_is_refused(fixture_repo):
    root = fixture_repo("webapp")
    (root / "overlays/prod/web/plugins").mkdir()
    graph = with_plugins(root, BUILTIN_OVERLAY + "  - plugins\n  - https://example.org/p.yaml\n  - {a: 1}\n")
    assert [(f.rule, f.line) for f in graph.findings] == [("SRC-PLUGIN", 20), ("SRC-REMOTE", 21),
                                                           ("SRC-PLUGIN", 22)]
    assert "is a folder" in graph.findings[0].message
