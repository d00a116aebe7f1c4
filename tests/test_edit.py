"""edit: set-image, promote and new-app on a copy of the shipped repo, what they write and their refusals."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PROJECT, rendered_text, run_program, tree_bytes

from phoenix_gitops import edit, layout, scaffold
from phoenix_gitops import render as rendering
from phoenix_gitops.errors import InputError, UsageError
from phoenix_gitops.yamlio import load_text

D1 = "sha256:845d43849227f852e92db5b04691c549be0cb359835b1e35d90d64fcd13fd12c"  # staging's api digest
D2 = "sha256:" + "ab" * 32
DIGEST_ENVS = ("staging", "prod")

# set-image, promote, new-app on a copy of the shipped config repo.

@pytest.fixture
def shipped(shipped_repo: Path) -> layout.Repo:
    """The shipped config without rendered output and with the api app only (one kustomize build per environment
    keeps these tests fast)."""
    return layout.Repo(shipped_repo)


def kustomization(repo: layout.Repo, env: str, app: str) -> Path:
    return repo.root / "overlays" / env / app / "kustomization.yaml"


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    a, b = before.decode().splitlines(), after.decode().splitlines()
    assert len(a) == len(b), "lines were added or removed"
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_set_image_digest_in_prod_changes_one_line_and_renders(shipped, kz):
    path = kustomization(shipped, "prod", "api")
    before = path.read_bytes()
    result = edit.set_image(shipped, kz, "prod", "api", D2, DIGEST_ENVS)
    assert result.changed and result.after == f"ghcr.io/acme/api@{D2}"
    assert changed_lines(before, path.read_bytes()) == [
        ("    digest: sha256:b92bf84fd9398018372e09c5a3b5cc552672f4c26e2e6029b28f5a45c7e9b3bc", f"    digest: {D2}")
    ]
    assert "rendered/prod/api/release/manifest.yaml" in result.rendered
    manifest = rendered_text(shipped.root, "prod", "api")
    assert f"image: ghcr.io/acme/api@{D2}" in manifest
    assert not (shipped.rendered / "staging").exists()  # only the target env is rendered
    assert not list(path.parent.glob(".*.tmp"))
    assert load_text(path.read_bytes(), "k")[0].data["images"] == [{"name": "ghcr.io/acme/api", "digest": D2}]
    again = edit.set_image(shipped, kz, "prod", "api", D2, DIGEST_ENVS)
    assert not again.changed and again.rendered == ()


def test_set_image_tag_in_dev_keeps_the_quoting_and_names_the_build_in_the_label_and_comment(shipped, kz):
    path = kustomization(shipped, "dev", "api")
    before = path.read_bytes()
    result = edit.set_image(shipped, kz, "dev", "api", "ghcr.io/acme/api:c0ffee1", DIGEST_ENVS)
    assert changed_lines(before, path.read_bytes()) == [
        ('      app.kubernetes.io/version: "b82f0c3"', '      app.kubernetes.io/version: "c0ffee1"'),
        ("  # Immutable git-SHA tag of build b82f0c3; never reused.",
         "  # Immutable git-SHA tag of build c0ffee1; never reused."),
        ('    newTag: "b82f0c3"', '    newTag: "c0ffee1"'),
    ]
    assert result.notes == ("overlays/dev/api/kustomization.yaml:14: app.kubernetes.io/version b82f0c3 -> c0ffee1",)


@pytest.mark.parametrize(("env", "app", "image", "error", "message"), [
    ("prod", "api", "c0ffee1", UsageError, "prod takes only images pinned by digest"),
    ("prod", "api", "sha256:1234", UsageError, "bad digest"),
    ("qa", "api", D2, UsageError, "unknown environment 'qa'"),
    ("all", "api", D2, UsageError, "name one environment"),
    ("prod", "billing", D2, UsageError, "unknown app 'billing' in prod; known: api"),
    ("prod", "api", f"ghcr.io/acme/other@{D2}", UsageError, "is not in the images: of overlays/prod/api"),
])
def test_set_image_refusals_write_nothing(shipped, kz, env, app, image, error, message):
    before = tree_bytes(shipped.root)
    with pytest.raises(error, match=message):
        edit.set_image(shipped, kz, env, app, image, DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before


def test_set_image_refuses_when_the_env_would_fail_check(shipped, kz):
    hpa = shipped.root / "overlays" / "prod" / "api" / "hpa-patch.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 6", "maxReplicas: six"))
    before = tree_bytes(shipped.root)
    with pytest.raises(InputError, match=r"(?s)refused: .* would make `invoke check` fail in prod.*K8S-SCHEMA"):
        edit.set_image(shipped, kz, "prod", "api", D2, DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before


def test_set_image_without_an_images_entry(shipped, kz):
    path = kustomization(shipped, "dev", "api")
    text = path.read_text()
    start, end = text.index("images:"), text.index("configMapGenerator:")
    path.write_text(text[:start] + text[end:])
    with pytest.raises(InputError, match="no images: entry to edit"):
        edit.set_image(shipped, kz, "dev", "api", "c0ffee1", DIGEST_ENVS)


def test_promote_resolves_a_tag_only_through_a_recorded_digest(shipped, kz):
    dev = kustomization(shipped, "dev", "api")
    with pytest.raises(InputError, match="without a recorded digest"):
        edit.promote(shipped, kz, "api", "dev", "staging", DIGEST_ENVS)
    dev.write_text(dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "b82f0c3"  # digest: {D2}'))
    result = edit.promote(shipped, kz, "api", "dev", "staging", DIGEST_ENVS)
    assert result.after == f"ghcr.io/acme/api@{D2}"
    assert result.notes == (f"resolved tag b82f0c3 to {D2} (recorded in overlays/dev/api/kustomization.yaml:20)",
                            "overlays/staging/api/kustomization.yaml:11: app.kubernetes.io/version 5d3a6e1 -> b82f0c3")


def test_promote_into_a_tag_env_copies_the_tag(shipped, kz):
    staging = kustomization(shipped, "staging", "api")
    before = staging.read_bytes()
    edit.promote(shipped, kz, "api", "dev", "staging", digest_envs=("prod",))
    assert changed_lines(before, staging.read_bytes()) == [
        ('      app.kubernetes.io/version: "5d3a6e1"', '      app.kubernetes.io/version: "b82f0c3"'),
        ("  # Build 5d3a6e1, pinned by digest.", "  # Immutable tag b82f0c3; never reused."),
        (f"    digest: {D1}", '    newTag: "b82f0c3"'),
    ]


@pytest.mark.parametrize(("args", "message"), [
    (("api", "prod", "prod"), "to itself"),
    (("api", "qa", "prod"), "unknown environment 'qa'"),
    (("nope", "staging", "prod"), "unknown app 'nope' in staging"),
])
def test_promote_refusals(shipped, kz, args, message):
    with pytest.raises(UsageError, match=message):
        edit.promote(shipped, kz, *args, digest_envs=DIGEST_ENVS)


def test_new_app_scaffolds_checks_and_renders(shipped, kz):
    result = edit.new_app(shipped, kz, "billing", f"1a2b3c4@{D2}", DIGEST_ENVS)
    assert "base/billing/kustomization.yaml" in result.files
    base = (shipped.root / "base/billing/kustomization.yaml").read_text()
    assert base == re.sub(r"\bapi\b", "billing", (PROJECT / "base/api/kustomization.yaml").read_text()).replace(
        "billing (the JSON API service)", "billing")
    for env, host in (("dev", "billing.dev.example.org"), ("staging", "billing.staging.example.org"),
                      ("prod", "billing.example.org")):
        manifest = rendered_text(shipped.root, env, "billing")
        assert f"PHX_HOST: {host}" in manifest and f"key: phoenix/{env}/billing" in manifest
    prod = rendered_text(shipped.root, "prod", "billing")
    assert f"image: ghcr.io/acme/billing@{D2}" in prod and "minReplicas: 3" in prod
    dev = rendered_text(shipped.root, "dev", "billing")
    assert "image: ghcr.io/acme/billing:1a2b3c4" in dev and "kind: HorizontalPodAutoscaler" not in dev
    # the digest is written down on dev's tag line, so `promote billing dev staging` can pin it
    assert f'    newTag: "1a2b3c4"  # digest: {D2}\n' in kustomization(shipped, "dev", "billing").read_text()
    # declared in every environment file, with its own namespace: the only reach its project and account get
    assert result.declared == tuple(f"overlays/{env}/environment.yaml" for env in ("dev", "prod", "staging"))
    for env in ("dev", "staging", "prod"):
        text = (shipped.root / f"overlays/{env}/environment.yaml").read_text()
        assert "  storefront: {namespaces: [storefront]}\n  billing: {namespaces: [billing]}\n" in text
        assert shipped.environment(env).namespaces_of("billing") == ("billing",)
    project = (shipped.root / "clusters/prod/argocd/appproject-phoenix-prod.yaml").read_text()
    assert "    namespace: billing\n" in project and "    name: billing\n" in project


@pytest.mark.parametrize(("name", "message"), [
    ("kube-system", "app name 'kube-system' is a reserved namespace in dev \\('kube-\\*'\\)"),
    ("kube-public", "is a reserved namespace in dev \\('kube-\\*'\\)"),
    ("default", "app name 'default' is a reserved namespace in dev \\('default'\\)"),
    ("argocd", "app name 'argocd' is a reserved namespace in dev"),
    ("flux-system", "app name 'flux-system' is a reserved namespace in dev"),
    ("gateway-system", "app name 'gateway-system' is a reserved namespace in dev"),
    ("monitoring", "app name 'monitoring' is a reserved namespace in staging \\('monitoring'\\)"),
    ("legacy", "namespace 'legacy' already belongs to app storefront in overlays/prod/environment.yaml"),
])
def test_new_app_refuses_a_reserved_or_taken_namespace_and_writes_nothing(shipped, kz, name, message):
    staging = shipped.root / "overlays/staging/environment.yaml"
    staging.write_text(staging.read_text() + "reservedNamespaces: [monitoring]\n")
    prod = shipped.root / "overlays/prod/environment.yaml"
    prod.write_text(prod.read_text().replace("storefront: {namespaces: [storefront]}",
                                             "storefront: {namespaces: [storefront, legacy]}"))
    before = tree_bytes(shipped.root)
    with pytest.raises(UsageError, match=message):
        edit.new_app(shipped, kz, name, f"1a2b3c4@{D2}", DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before


@pytest.mark.parametrize(("name", "message"), [
    ("Billing", "invalid app name"), ("1billing", "invalid app name"), ("bill_ing", "invalid app name"),
    ("billing-", "invalid app name"), ("b" * 41, "invalid app name"), ("../x", "invalid app name"),
    ("api", "app 'api' exists: base/api, overlays/dev/api"), ("phoenix", "app 'phoenix' exists: base/phoenix"),
])
def test_new_app_refuses_bad_and_existing_names(shipped, kz, name, message):
    before = tree_bytes(shipped.root)
    with pytest.raises(UsageError, match=message):
        edit.new_app(shipped, kz, name, None, DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before


def test_new_app_needs_a_digest_where_digests_are_required(shipped, kz):
    for image, digest_envs in ((None, DIGEST_ENVS), ("1a2b3c4", DIGEST_ENVS), ("1a2b3c4", ())):  # () : PHX-V04
        with pytest.raises(UsageError, match="take only images pinned by digest"):
            edit.new_app(shipped, kz, "billing", image, digest_envs)
    assert not (shipped.root / "base" / "billing").exists()


def test_new_app_leaves_nothing_behind_when_check_or_render_fails(shipped, kz, monkeypatch):
    before = tree_bytes(shipped.root)
    real = scaffold.template
    monkeypatch.setattr(scaffold, "template",
                        lambda name: real(name).replace("maxReplicas: {high}", "maxReplicas: lots"))
    with pytest.raises(InputError, match="refused: the scaffold of billing would make `invoke check` fail"):
        edit.new_app(shipped, kz, "billing", f"1a2b3c4@{D2}", DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before
    monkeypatch.undo()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(edit, "_check_with", lambda *args: None)  # checked above; now the render is cut short
    monkeypatch.setattr(rendering, "render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        edit.new_app(shipped, kz, "billing", f"1a2b3c4@{D2}", DIGEST_ENVS)
    assert tree_bytes(shipped.root) == before
    assert sorted(p.name for p in (shipped.root / "base").iterdir()) == ["api", "components", "phoenix"]


# Through the real CLI.

def test_cli_set_image_promote_and_errors(shipped):
    root = shipped.root
    before = kustomization(shipped, "prod", "api").read_bytes()
    result = run_program(["set-image", "prod", "api", "c0ffee1"], root)
    assert result.code == 2 and "takes only images pinned by digest" in result.stderr
    result = run_program(["set-image", "prod", "nope", D2], root)
    assert result.code == 2 and "unknown app 'nope'" in result.stderr and "Traceback" not in result.stderr
    result = run_program(["promote", "api", "staging", "prod"], root)
    assert result.code == 0, result.stderr
    assert f"-> ghcr.io/acme/api@{D1}" in result.stdout
    assert "wrote: rendered/prod/api/release/manifest.yaml" in result.stdout
    assert changed_lines(before, kustomization(shipped, "prod", "api").read_bytes()) == [
        ('      app.kubernetes.io/version: "2e8b4f6"', '      app.kubernetes.io/version: "5d3a6e1"'),
        ("  # Build 2e8b4f6, pinned by digest.", "  # Build 5d3a6e1, pinned by digest."),
        ("    digest: sha256:b92bf84fd9398018372e09c5a3b5cc552672f4c26e2e6029b28f5a45c7e9b3bc", f"    digest: {D1}"),
    ]
    assert "overlays/prod/api/kustomization.yaml:11: app.kubernetes.io/version 2e8b4f6 -> 5d3a6e1" in result.stdout
    assert f"image: ghcr.io/acme/api@{D1}" in rendered_text(root, "prod", "api")
    result = run_program(["new-app", "Bad"], root)
    assert result.code == 2 and "invalid app name" in result.stderr and "Traceback" not in result.stderr


def test_cli_promote_refusal_when_no_digest_is_recorded(shipped):
    result = run_program(["promote", "--app", "api", "--from", "dev", "--to", "prod"], shipped.root)
    assert result.code == 1 and "without a recorded digest" in result.stderr
    assert "Traceback" not in result.stderr

