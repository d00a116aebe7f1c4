"""What a pull request to an app overlay cannot do, through the real CLI: reach a namespace the platform did not
declare for the app, use a reserved one, hide an environment or leave unchecked output behind.

Each case is the hostile change, then `check` and `render` on it: the exit code, the finding at its source
file:line, and rendered/ and clusters/ unchanged.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, run_program, tree_bytes

from phoenix_gitops.yamlio import load_file

HOSTILE = {
    "kube-system namespace with relaxed pod security": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n  labels:\n"
        "    pod-security.kubernetes.io/enforce: privileged\n",
        "overlays/prod/api/extra.yaml:4:3: error ISO-NAMESPACE namespace 'kube-system' is reserved ('kube-*'): "
        "no app may use it [prod/api Namespace/kube-system]"),
    "the CoreDNS ConfigMap": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\n"
        "data:\n  Corefile: '.:53 {forward . 203.0.113.9}'\n",
        "overlays/prod/api/extra.yaml:5:3: error ISO-NAMESPACE namespace 'kube-system' is reserved ('kube-*'): "
        "no app may use it [prod/api ConfigMap/coredns]"),
    "another app's namespace": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: takeover\n  namespace: storefront\ndata:\n  a: b\n",
        "overlays/prod/api/extra.yaml:5:3: error ISO-NAMESPACE namespace 'storefront' is not one of app api's "
        "namespaces in overlays/prod/environment.yaml (api) [prod/api ConfigMap/takeover]"),
    "the Argo CD namespace": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n",
        "overlays/prod/api/extra.yaml:4:3: error ISO-NAMESPACE namespace 'argocd' is reserved ('argocd'): "
        "no app may use it [prod/api Namespace/argocd]"),
    "a new namespace of its own": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: api-extra\n",
        "overlays/prod/api/extra.yaml:4:3: error ISO-NAMESPACE namespace 'api-extra' is not one of app api's "
        "namespaces in overlays/prod/environment.yaml (api) [prod/api Namespace/api-extra]"),
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The shipped repository with both apps and its committed rendered/ and clusters/."""
    root = tmp_path / "repo"
    for name in ("base", "overlays", "rendered", "clusters"):
        shutil.copytree(PROJECT / name, root / name)
    shutil.copy2(PROJECT / "gitops.yaml", root / "gitops.yaml")
    return root


def outputs(root: Path) -> dict[str, bytes]:
    return {**{f"rendered/{k}": v for k, v in tree_bytes(root / "rendered").items()},
            **{f"clusters/{k}": v for k, v in tree_bytes(root / "clusters").items()}}


def add_to_overlay(root: Path, text: str) -> None:
    """Add `extra.yaml` to the prod api overlay, outside the reach of its `namespace:` (a kustomize component
    file listed as a resource keeps its own namespace)."""
    overlay = root / "overlays/prod/api"
    (overlay / "extra.yaml").write_text(text)
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("resources:\n", "resources:\n  - extra.yaml\n", 1))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_app_overlay_cannot_reach_beyond_its_declared_namespaces(repo, case):
    text, expected = HOSTILE[case]
    add_to_overlay(repo, text)
    before = outputs(repo)
    checked = run_program(["check", "prod", "--no-cache"], repo)
    assert checked.code == 1
    assert expected in checked.stdout.splitlines()
    rendered = run_program(["render", "all"], repo)
    assert rendered.code == 1 and expected in rendered.stderr.splitlines()
    assert outputs(repo) == before
    project = load_file(repo / "clusters/prod/argocd/appproject-phoenix-prod.yaml")[0].data["spec"]
    assert [d["namespace"] for d in project["destinations"]] == ["api", "storefront"]


def test_an_overlay_namespace_field_is_found_at_that_line_for_every_resource_it_moves(repo):
    kustomization = repo / "overlays/prod/api/kustomization.yaml"
    text = kustomization.read_text()
    kustomization.write_text(text.replace("resources:\n", "namespace: kube-system\nresources:\n", 1))
    line = kustomization.read_text().splitlines().index("namespace: kube-system") + 1
    before = outputs(repo)
    checked = run_program(["check", "prod", "--no-cache"], repo)
    assert checked.code == 1
    hits = [text for text in checked.stdout.splitlines() if " ISO-NAMESPACE " in text]
    assert len(hits) >= 10 and any(hit.endswith("[prod/api Namespace/kube-system]") for hit in hits)
    assert {hit.split(" error ")[0] for hit in hits} == {f"overlays/prod/api/kustomization.yaml:{line}:1:"}
    assert run_program(["render", "all"], repo).code == 1
    assert outputs(repo) == before


RELAX = ("  - target: {kind: Namespace}\n    patch: |-\n      - op: replace\n"
         "        path: /metadata/labels/pod-security.kubernetes.io~1enforce\n        value: privileged\n")


@pytest.mark.parametrize("suppress", [False, True])
def test_an_overlay_cannot_relax_its_namespace_pod_security_even_with_a_suppression(repo, suppress):
    kustomization = repo / "overlays/prod/api/kustomization.yaml"
    patch = RELAX
    if suppress:
        patch += ("  - target: {kind: Namespace}\n    patch: |-\n      - op: add\n"
                  "        path: /metadata/annotations/phoenix-gitops~1suppress\n"
                  "        value: 'K8S-POD-SECURITY: we need privileged pods'\n")
    kustomization.write_text(kustomization.read_text().replace("patches:\n", "patches:\n" + patch, 1))
    line = kustomization.read_text().splitlines().index("        value: privileged") + 1  # (the value it set)
    before = outputs(repo)
    checked = run_program(["check", "prod", "--no-cache"], repo)
    assert checked.code == 1
    assert (f"overlays/prod/api/kustomization.yaml:{line}:9: error K8S-POD-SECURITY pod-security.kubernetes.io/"
            "enforce is 'privileged': the cluster would admit pods that are not hardened; keep it 'restricted' "
            "[prod/api Namespace/api]") in checked.stdout.splitlines()
    assert (" error POLICY-SUPPRESS " in checked.stdout) is suppress
    assert run_program(["render", "all"], repo).code == 1
    assert outputs(repo) == before


def test_the_reach_comes_from_the_environment_file_and_grows_only_there(repo):
    labels = "".join(f"    app.kubernetes.io/{key}: {value}\n" for key, value in (
        ("name", "api"), ("instance", "api"), ("part-of", "api"), ("managed-by", "kustomize")))
    labels += "    pod-security.kubernetes.io/enforce: restricted\n"
    add_to_overlay(repo, HOSTILE["a new namespace of its own"][0] + "  labels:\n" + labels)
    assert run_program(["render", "prod"], repo).code == 1
    env_file = repo / "overlays/prod/environment.yaml"
    env_file.write_text(env_file.read_text().replace("api: {namespaces: [api]}", "api: {namespaces: [api, api-extra]}"))
    result = run_program(["render", "prod"], repo)
    assert result.code == 0, result.stderr
    project = load_file(repo / "clusters/prod/argocd/appproject-phoenix-prod.yaml")[0].data["spec"]
    assert [d["namespace"] for d in project["destinations"]] == ["api", "api-extra", "storefront"]
    assert {"group": "", "kind": "Namespace", "name": "api-extra"} in project["clusterResourceWhitelist"]
    flux = repo / "clusters/prod/flux"
    assert (flux / "rolebinding-api-api-extra.yaml").is_file()
    kustomization = load_file(flux / "kustomization-api-release.yaml")[0].data["spec"]
    assert "targetNamespace" not in kustomization  # two namespaces: the objects carry theirs
    application = load_file(repo / "clusters/prod/argocd/application-prod-api.yaml")[0].data["spec"]
    assert application["destination"] == {"server": "https://prod-1.k8s.example.org:6443"}


def test_an_undeclared_app_and_a_reserved_declaration_are_errors_at_the_environment_file(repo):
    env_file = repo / "overlays/staging/environment.yaml"
    text = env_file.read_text()
    env_file.write_text(text.replace("  api: {namespaces: [api]}\n", "").replace(
        "storefront: {namespaces: [storefront]}", "storefront: {namespaces: [storefront, flux-system]}"))
    before = outputs(repo)
    result = run_program(["check", "staging", "--no-cache"], repo)
    assert result.code == 1
    lines = [line for line in result.stdout.splitlines() if "ISO-NAMESPACE" in line]
    assert lines == [
        "overlays/staging/environment.yaml:15:1: error ISO-NAMESPACE app api is not declared in "
        "overlays/staging/environment.yaml: the platform lists it under `apps:` with the namespaces it may use "
        "(`api: {namespaces: [api]}`) [staging/api]",
        "overlays/staging/environment.yaml:16:41: error ISO-NAMESPACE $.apps.storefront.namespaces[1]: namespace "
        "'flux-system' is reserved ('flux-system'); no app may use it [staging/storefront]",
    ]
    assert run_program(["render", "all"], repo).code == 1
    assert outputs(repo) == before


@pytest.mark.parametrize("name", ["kube-system", "default", "argocd", "flux-system", "gateway-system"])
def test_new_app_refuses_a_reserved_namespace_with_exit_2(repo, name):
    before = tree_bytes(repo)
    result = run_program(["new-app", name, "--image", "1a2b3c4@sha256:" + "a" * 64], repo)
    assert result.code == 2
    assert f"app name {name!r} is a reserved namespace in dev" in result.stderr
    assert tree_bytes(repo) == before


@pytest.mark.parametrize("misnamed", ["environment.yml", "env.yaml", None])
def test_a_misnamed_or_missing_environment_file_never_makes_an_environment_vanish(repo, misnamed):
    env_file = repo / "overlays/prod/environment.yaml"
    if misnamed:
        env_file.rename(env_file.with_name(misnamed))
    else:
        env_file.unlink()
    (repo / "rendered/prod/api/release/manifest.yaml").write_text("# edited by hand\n")
    found = f" (found {misnamed}: rename it)" if misnamed else ""
    expected = (f"overlays/prod: error LAYOUT-ENV-FILE no overlays/prod/environment.yaml{found}; every folder under "
                "overlays/ is an environment and needs its environment file")
    before = outputs(repo)
    for args in (["check"], ["render", "all", "--check"], ["render", "all"], ["check", "dev"]):
        result = run_program(args, repo)
        assert result.code == 1, args
        assert expected in result.stderr.splitlines(), args
    assert outputs(repo) == before


def test_orphaned_output_folders_are_errors_and_render_removes_only_an_orphaned_app(repo):
    for folder in ("rendered/qa", "clusters/qa", "rendered/prod/billing"):
        (repo / folder).mkdir()
        (repo / folder / "manifest.yaml").write_text("kind: ConfigMap\n")
    before = outputs(repo)
    expected = [
        "clusters/qa: error LAYOUT-ORPHAN belongs to no environment (no overlays/qa/environment.yaml); a cluster "
        "may still sync it: delete it, or restore the environment",
        "rendered/prod/billing: error LAYOUT-ORPHAN belongs to no app (no overlays/prod/billing); `invoke render "
        "prod` removes it [prod]",
        "rendered/qa: error LAYOUT-ORPHAN belongs to no environment (no overlays/qa/environment.yaml); a cluster "
        "may still sync it: delete it, or restore the environment",
    ]
    checked = run_program(["check", "--no-cache"], repo)
    assert checked.code == 1
    assert [line for line in checked.stdout.splitlines() if "LAYOUT-ORPHAN" in line] == expected
    stale = run_program(["render", "all", "--check"], repo)
    assert stale.code == 1
    assert [line for line in stale.stderr.splitlines() if "LAYOUT-ORPHAN" in line] == expected
    assert run_program(["render", "all"], repo).code == 1  # an orphaned environment: a person decides
    assert outputs(repo) == before
    for folder in ("rendered/qa", "clusters/qa"):
        for path in (repo / folder).iterdir():
            path.unlink()
        (repo / folder).rmdir()
    result = run_program(["render", "prod"], repo)
    assert result.code == 0, result.stderr
    assert not (repo / "rendered/prod/billing").exists()
    assert run_program(["render", "all", "--check"], repo).code == 0
