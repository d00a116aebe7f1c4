"""set-image and promote keep an image entry in step through the real CLI: the tag, the digest and the digest
recorded on the `newTag:` line, the `app.kubernetes.io/version` label and the comment above the entry; promote
refuses a recorded digest that belongs to another build."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, commit_all, rendered_text, run_program, tree_bytes

pytestmark = pytest.mark.slow  # kustomize builds through the CLI (the billing fixture asks for no slow fixture)

D1 = "sha256:" + "1" * 64  # build 1a2b3c4, billing's first release
D5 = "sha256:" + "5" * 64  # build 5e5e5e5
D9 = "sha256:" + "9" * 64  # build 9a9a9a9
STAGING_D1 = "sha256:845d43849227f852e92db5b04691c549be0cb359835b1e35d90d64fcd13fd12c"  # the shipped staging api


def overlay(root: Path, env: str, app: str) -> Path:
    return root / "overlays" / env / app / "kustomization.yaml"


def image_lines(path: Path) -> list[str]:
    """The version label line and the lines of the `images:` block of an overlay."""
    lines = path.read_text().splitlines()
    start = lines.index("images:") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith(" "))
    return [line for line in lines if "app.kubernetes.io/version" in line] + lines[start:end]


def cli(root: Path, *args: str, ok: bool = True):
    result = run_program(list(args), root)
    assert (result.code == 0) == ok, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="session")
def billing_made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped config (api only) as a git repo with app billing (first release 1a2b3c4@D1) committed, and
    staging since moved on to build 5e5e5e5: the state in which `promote billing dev staging` used to roll
    staging back. Made once (the scaffold renders every environment); `billing` gives each test a copy."""
    root = tmp_path_factory.mktemp("billing") / "shipped"
    for name in ("base", "overlays"):
        shutil.copytree(PROJECT / name, root / name, ignore=shutil.ignore_patterns("storefront"))
    shutil.copy2(PROJECT / "gitops.yaml", root / "gitops.yaml")
    cli(root, "new-app", "billing", "--image", f"1a2b3c4@{D1}")
    cli(root, "set-image", "staging", "billing", f"5e5e5e5@{D5}")
    commit_all(root, "billing 1a2b3c4, staging on 5e5e5e5")
    return root


@pytest.fixture
def billing(billing_made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(billing_made, tmp_path / "shipped", symlinks=True))


def test_set_image_then_promote_never_rolls_staging_back_to_the_old_digest(billing):
    dev, staging = overlay(billing, "dev", "billing"), overlay(billing, "staging", "billing")
    assert f'    newTag: "1a2b3c4"  # digest: {D1}' in dev.read_text()
    result = cli(billing, "set-image", "dev", "billing", "9a9a9a9")
    # the digest recorded for 1a2b3c4 does not stay next to 9a9a9a9: it is removed, and the output says so
    assert image_lines(dev) == ['      app.kubernetes.io/version: "9a9a9a9"',
                                "  # Immutable tag 9a9a9a9; never reused.",
                                "  - name: ghcr.io/acme/billing", '    newTag: "9a9a9a9"']
    assert f"overlays/dev/billing/kustomization.yaml:20: removed the digest recorded there ({D1})" in result.stdout
    before = tree_bytes(billing)
    result = cli(billing, "promote", "billing", "dev", "staging", ok=False)
    assert result.code == 1 and "runs billing by tag '9a9a9a9' without a recorded digest" in result.stderr
    assert "resolved" not in result.stdout + result.stderr
    assert tree_bytes(billing) == before  # staging still runs 5e5e5e5, never the old D1
    # with the digest of 9a9a9a9 given, promote carries it to staging, with its label and comment
    cli(billing, "set-image", "dev", "billing", f"9a9a9a9@{D9}")
    result = cli(billing, "promote", "billing", "dev", "staging")
    assert f"ghcr.io/acme/billing:5e5e5e5@{D5} -> ghcr.io/acme/billing@{D9}" in result.stdout
    assert "staging/billing/kustomization.yaml:11: app.kubernetes.io/version 5e5e5e5 -> 9a9a9a9" in result.stdout
    assert image_lines(staging) == ['      app.kubernetes.io/version: "9a9a9a9"',
                                    "  # Build 9a9a9a9, pinned by digest.",
                                    "  - name: ghcr.io/acme/billing", f"    digest: {D9}"]
    manifest = rendered_text(billing, "staging", "billing")
    assert f"image: ghcr.io/acme/billing@{D9}" in manifest and "app.kubernetes.io/version: 9a9a9a9" in manifest
    assert D1 not in staging.read_text() + manifest and D5 not in manifest


def test_promote_refuses_a_digest_the_overlay_label_says_is_another_builds(billing):
    """The file an older set-image left: the tag changed under the digest recorded for 1a2b3c4."""
    dev = overlay(billing, "dev", "billing")
    dev.write_text(dev.read_text().replace('newTag: "1a2b3c4"', 'newTag: "9a9a9a9"'))
    before = tree_bytes(billing)
    result = cli(billing, "promote", "billing", "dev", "staging", ok=False)
    assert result.code == 1
    assert result.stderr.startswith(
        f"overlays/dev/billing/kustomization.yaml:20: refused: the digest recorded on this line ({D1}) was written "
        "for another build than tag 9a9a9a9: the overlay's app.kubernetes.io/version label (line 14) says it runs "
        "1a2b3c4. Nothing was written.")
    assert "invoke set-image staging billing 9a9a9a9@sha256:<64 hex>" in result.stderr
    assert tree_bytes(billing) == before
    # into an environment that takes tags, the doubtful digest is not carried along either
    refused = run_program(["promote", "billing", "dev", "staging"], billing, INVOKE_GITOPS_DIGEST_ENVS="prod")
    assert refused.code == 1 and "refused: the digest recorded on this line" in refused.stderr
    assert tree_bytes(billing) == before


def test_promote_refuses_a_digest_recorded_for_another_tag_in_an_earlier_commit(billing):
    """Label and comment were updated by hand, the digest comment was not: only the history tells."""
    dev = overlay(billing, "dev", "billing")
    dev.write_text(dev.read_text().replace("1a2b3c4", "9a9a9a9"))
    assert f'newTag: "9a9a9a9"  # digest: {D1}' in dev.read_text()
    before = tree_bytes(billing)
    result = cli(billing, "promote", "billing", "dev", "staging", ok=False)
    assert result.code == 1 and result.stderr.startswith("overlays/dev/billing/kustomization.yaml:20: refused: ")
    assert "it was recorded there for tag 1a2b3c4 in commit " in result.stderr
    assert "('billing 1a2b3c4, staging on 5e5e5e5')" in result.stderr
    assert tree_bytes(billing) == before
    commit_all(billing, "bump dev by hand")  # committed, the earlier commit still speaks for the digest
    assert cli(billing, "promote", "billing", "dev", "staging", ok=False).code == 1


def test_a_digest_recorded_together_with_its_tag_resolves(billing):
    """A release that wrote tag and digest in one commit: earlier commits recorded other digests, nothing doubts."""
    dev = overlay(billing, "dev", "billing")
    dev.write_text(dev.read_text().replace("1a2b3c4", "9a9a9a9").replace(D1, D9))
    commit_all(billing, "dev: billing 9a9a9a9")
    result = cli(billing, "promote", "billing", "dev", "staging")
    assert f"resolved tag 9a9a9a9 to {D9} (recorded in overlays/dev/billing/kustomization.yaml:20)" in result.stdout
    assert f"    digest: {D9}" in overlay(billing, "staging", "billing").read_text()


def test_set_image_of_the_same_tag_drops_a_digest_the_label_doubts(shipped_repo):
    """Updating the label must not make a doubtful digest look right: set-image removes it instead."""
    dev = overlay(shipped_repo, "dev", "api")
    dev.write_text(dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "9a9a9a9"  # digest: {D1}'))
    result = cli(shipped_repo, "set-image", "dev", "api", "9a9a9a9")
    assert ("overlays/dev/api/kustomization.yaml:20: the digest recorded for tag 9a9a9a9 may be another build's: "
            "the overlay's app.kubernetes.io/version label (line 14) says it runs b82f0c3") in result.stdout
    assert image_lines(dev) == ['      app.kubernetes.io/version: "9a9a9a9"',
                                "  # Immutable git-SHA tag of build 9a9a9a9; never reused.",
                                "  - name: ghcr.io/acme/api", '    newTag: "9a9a9a9"']
    # a digest nothing doubts stays with its tag
    dev.write_text(dev.read_text().replace('newTag: "9a9a9a9"', f'newTag: "9a9a9a9"  # digest: {D9}'))
    result = cli(shipped_repo, "set-image", "dev", "api", "9a9a9a9")
    assert "already ghcr.io/acme/api:9a9a9a9; nothing to do" in result.stdout
    assert f'    newTag: "9a9a9a9"  # digest: {D9}' in dev.read_text()


def test_set_image_rewrites_or_removes_the_recorded_digest_with_the_tag(shipped_repo):
    dev = overlay(shipped_repo, "dev", "api")
    dev.write_text(dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "b82f0c3"  # digest: {D1}'))
    cli(shipped_repo, "set-image", "dev", "api", f"9a9a9a9@{D9}")  # known: rewritten
    assert image_lines(dev)[-3:] == ["  - name: ghcr.io/acme/api", f'    newTag: "9a9a9a9"  # digest: {D9}',
                                     f"    digest: {D9}"]
    assert "  # Immutable git-SHA tag of build 9a9a9a9; never reused." in image_lines(dev)
    cli(shipped_repo, "set-image", "dev", "api", "c0ffee1")  # not known: removed
    assert image_lines(dev)[-2:] == ["  - name: ghcr.io/acme/api", '    newTag: "c0ffee1"']


def test_a_bare_digest_takes_the_recorded_one_off_the_line_and_leaves_the_label(shipped_repo):
    dev = overlay(shipped_repo, "dev", "api")
    dev.write_text(dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "b82f0c3"  # digest: {D1}'))
    result = cli(shipped_repo, "set-image", "dev", "api", D9)
    assert image_lines(dev) == ['      app.kubernetes.io/version: "b82f0c3"',
                                "  # Immutable git-SHA tag of build b82f0c3; never reused.",
                                "  - name: ghcr.io/acme/api", f"    digest: {D9}"]
    assert ("overlays/dev/api/kustomization.yaml:14: app.kubernetes.io/version left at b82f0c3: the build of a bare "
            "digest is not known (give <tag>@sha256:<64 hex> to update it)") in result.stdout


def test_promote_into_a_tag_env_carries_the_recorded_digest_and_prod_resolves_it(shipped_repo):
    dev, staging = overlay(shipped_repo, "dev", "api"), overlay(shipped_repo, "staging", "api")
    dev.write_text(dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "b82f0c3"  # digest: {D9}'))
    result = run_program(["promote", "api", "dev", "staging"], shipped_repo, INVOKE_GITOPS_DIGEST_ENVS="prod")
    assert result.code == 0, result.stderr
    assert image_lines(staging) == ['      app.kubernetes.io/version: "b82f0c3"',
                                    "  # Immutable tag b82f0c3; never reused.",
                                    "  - name: ghcr.io/acme/api", f'    newTag: "b82f0c3"  # digest: {D9}']
    result = cli(shipped_repo, "promote", "api", "staging", "prod")
    assert f"resolved tag b82f0c3 to {D9} (recorded in overlays/staging/api/kustomization.yaml:17)" in result.stdout
    assert image_lines(overlay(shipped_repo, "prod", "api")) == [
        '      app.kubernetes.io/version: "b82f0c3"', "  # Build b82f0c3, pinned by digest.",
        "  - name: ghcr.io/acme/api", f"    digest: {D9}"]


def test_promote_of_a_tag_without_a_known_digest_removes_the_targets_stale_one(shipped_repo):
    staging = overlay(shipped_repo, "staging", "api")
    staging.write_text(staging.read_text().replace(f"digest: {STAGING_D1}", f'newTag: "5d3a6e1"  # digest: {D1}'))
    result = run_program(["promote", "api", "dev", "staging"], shipped_repo, INVOKE_GITOPS_DIGEST_ENVS="prod")
    assert result.code == 0, result.stderr
    assert image_lines(staging)[-1] == '    newTag: "b82f0c3"'
    assert f"overlays/staging/api/kustomization.yaml:17: removed the digest recorded there ({D1})" in result.stdout


def test_crlf_line_ends_stay_while_tag_label_comment_and_digest_change(shipped_repo):
    dev = overlay(shipped_repo, "dev", "api")
    text = dev.read_text().replace('newTag: "b82f0c3"', f'newTag: "b82f0c3"  # digest: {D1}')
    dev.write_bytes(text.replace("\n", "\r\n").encode())
    cli(shipped_repo, "set-image", "dev", "api", f"ghcr.io/acme/api:9a9a9a9@{D9}")
    after = dev.read_bytes()
    assert after.count(b"\r\n") == after.count(b"\n") == text.count("\n") + 1  # one line added: the digest
    assert image_lines(dev) == ['      app.kubernetes.io/version: "9a9a9a9"',
                                "  # Immutable git-SHA tag of build 9a9a9a9; never reused.",
                                "  - name: ghcr.io/acme/api", f'    newTag: "9a9a9a9"  # digest: {D9}',
                                f"    digest: {D9}"]


def test_a_label_that_is_no_scalar_is_refused_and_nothing_is_written(shipped_repo):
    dev = overlay(shipped_repo, "dev", "api")
    dev.write_text(dev.read_text().replace('app.kubernetes.io/version: "b82f0c3"', "app.kubernetes.io/version: [b]"))
    before = tree_bytes(shipped_repo)
    result = cli(shipped_repo, "set-image", "dev", "api", "9a9a9a9", ok=False)
    assert result.code == 1
    assert result.stderr.startswith("overlays/dev/api/kustomization.yaml:14: cannot edit the app.kubernetes.io/version "
                                    "label in place: ")
    assert tree_bytes(shipped_repo) == before


def test_a_comment_lookalike_inside_a_value_is_not_rewritten(shipped_repo):
    """Lines above the entry that start with '#' but belong to a block scalar are data: refused, not edited."""
    dev = overlay(shipped_repo, "dev", "api")
    dev.write_text(dev.read_text().replace(
        "images:\n  # Immutable git-SHA tag of build b82f0c3; never reused.\n",
        "images:\n  - name: other\n    newName: |\n      # Build b82f0c3, pinned by digest.\n"))
    before = tree_bytes(shipped_repo)
    result = cli(shipped_repo, "set-image", "dev", "api", "ghcr.io/acme/api:9a9a9a9", ok=False)
    assert result.code == 1 and result.stderr.startswith(
        "overlays/dev/api/kustomization.yaml: cannot edit the comments of the images: entry in place")
    assert tree_bytes(shipped_repo) == before
