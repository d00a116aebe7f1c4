"""images: references split as the rules read them, parsed strictly as the command line takes them, and the
`images:` entries of a kustomization."""
from __future__ import annotations

import pytest

from phoenix_gitops import scaffold
from phoenix_gitops.errors import UsageError
from phoenix_gitops.images import (
    VERSION_LABEL,
    ImageRef,
    build_comment,
    digest_note,
    format_entry,
    image_entries,
    parse_image,
    recorded_digest,
    restate_build,
    split_image,
    version_labels,
    with_recorded_digest,
)

D1 = "sha256:845d43849227f852e92db5b04691c549be0cb359835b1e35d90d64fcd13fd12c"
D2 = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "name", "tag", "digest"), [
    ("5d3a6e1", None, "5d3a6e1", None),
    (D1, None, None, D1),
    (f"5d3a6e1@{D1}", None, "5d3a6e1", D1),
    (f"@{D1}", None, None, D1),
    (f"ghcr.io/acme/api@{D1}", "ghcr.io/acme/api", None, D1),
    ("ghcr.io/acme/api:1.4.2", "ghcr.io/acme/api", "1.4.2", None),
    (f"ghcr.io/acme/api:1.4.2@{D1}", "ghcr.io/acme/api", "1.4.2", D1),
    ("localhost:5000/api:v1", "localhost:5000/api", "v1", None),
    ("localhost:5000/api", "localhost:5000/api", None, None),
    ("  5d3a6e1\n", None, "5d3a6e1", None),
])
def test_parse_image(text, name, tag, digest):
    assert parse_image(text) == ImageRef(name, tag, digest)


@pytest.mark.parametrize(("text", "message"), [
    ("sha256:abc", "bad digest 'sha256:abc'"),
    ("sha256:" + "A" * 64, "bad digest"),
    ("v1@sha256:xyz", "bad digest 'sha256:xyz'"),
    ("v1@", "bad digest ''"),
    ("-rf", "bad tag '-rf'"),
    ("ghcr.io/acme/api:", "bad tag ''"),
    ("", "no image given"),
    ("   ", "no image given"),
    ("Ghcr.io/Acme:1", "bad image name 'Ghcr.io/Acme'"),
    ("x:y:z", "bad image name 'x:y'"),
])
def test_parse_image_refuses_malformed_references(text, message):
    with pytest.raises(UsageError, match=message):
        parse_image(text)


@pytest.mark.parametrize(("image", "expected"), [
    ("nginx", ImageRef("nginx", None, None)),                        # a bare word in a pod spec is a repository
    ("nginx:latest", ImageRef("nginx", "latest", None)),
    ("localhost:5000/api", ImageRef("localhost:5000/api", None, None)),
    (f"ghcr.io/acme/api:1.2@{D1}", ImageRef("ghcr.io/acme/api", "1.2", D1)),
    ("ghcr.io/acme/api:@", ImageRef("ghcr.io/acme/api", None, None)),  # empty parts read as absent
    ("", ImageRef("", None, None)),
])
def test_split_image_reads_any_reference_without_judging_it(image, expected):
    assert split_image(image) == expected


def test_a_reference_prints_as_it_was_given():
    for text in (f"ghcr.io/acme/api:1.2@{D1}", "ghcr.io/acme/api:1.2", f"ghcr.io/acme/api@{D1}"):
        assert str(parse_image(text)) == text == str(split_image(text))
    assert str(parse_image("5d3a6e1")) == ":5d3a6e1"


def test_format_entry_and_image_entries():
    data = {"images": [{"name": "ghcr.io/acme/api", "newTag": "b82f0c3"}, "not-an-entry",
                       {"name": "phoenix-app", "newName": "ghcr.io/acme/web", "digest": D1},
                       {"name": "ghcr.io/acme/worker", "newTag": 1234567}]}
    entries = image_entries(data)
    assert [format_entry(e) for e in entries] == [
        "ghcr.io/acme/api:b82f0c3", f"ghcr.io/acme/web@{D1}", "ghcr.io/acme/worker:1234567"]
    assert image_entries({"images": "nope"}) == [] and image_entries(["not", "a", "mapping"]) == []
    assert format_entry({}) == "?"


def test_a_recorded_digest_reads_back_from_its_note():
    line = '    newTag: "1a2b3c4"' + digest_note(D1)
    assert line == f'    newTag: "1a2b3c4"  # digest: {D1}'
    assert recorded_digest(line) == D1
    assert recorded_digest('    newTag: "1a2b3c4"  # digest: sha256:abc') is None
    assert recorded_digest(f'    newTag: "1a2b3c4"  # digest: {D1}0') is None  # 65 hex digits: not a digest
    assert recorded_digest('    newTag: "1a2b3c4"') is None


@pytest.mark.parametrize(("line", "digest", "expected"), [
    (f'    newTag: "9a9a9a9"  # digest: {D1}', D2, f'    newTag: "9a9a9a9"  # digest: {D2}'),   # rewritten
    (f'    newTag: "9a9a9a9"  # digest: {D1}', None, '    newTag: "9a9a9a9"'),                   # removed
    ('    newTag: "9a9a9a9"', D2, f'    newTag: "9a9a9a9"  # digest: {D2}'),                     # added
    ('    newTag: "9a9a9a9"', None, '    newTag: "9a9a9a9"'),
    (f"    newTag: '9a9a9a9' # pushed by CI  #digest:{D1} (amd64)", None, "    newTag: '9a9a9a9' # pushed by CI"),
    (f"    newTag: '9a9a9a9' # digest: {D1} (amd64)", D2, f"    newTag: '9a9a9a9' # digest: {D2} (amd64)"),
    ("    newTag: 7  # pushed by CI", D2, f"    newTag: 7  # pushed by CI  # digest: {D2}"),
    ('    newTag: "9a9a9a9"  # digest: sha256:abc', None, '    newTag: "9a9a9a9"  # digest: sha256:abc'),  # no digest
])
def test_with_recorded_digest_rewrites_removes_or_adds_the_note(line, digest, expected):
    assert with_recorded_digest(line, digest) == expected
    assert recorded_digest(expected) == digest


def test_version_labels_in_labels_pairs_and_common_labels():
    data = {"labels": [{"pairs": {"team": "x"}}, "junk", {"pairs": {VERSION_LABEL: "b82f0c3"}}],
            "commonLabels": {VERSION_LABEL: 1234567}}
    assert version_labels(data) == [(("labels", 2, "pairs"), "b82f0c3"), (("commonLabels",), "1234567")]
    assert version_labels({"labels": "nope", "commonLabels": ["x"]}) == [] == version_labels(["not a mapping"])


@pytest.mark.parametrize(("line", "olds", "build", "by_digest", "expected"), [
    # the comments new-app writes are written anew, for the new pin
    ("  # Build 5d3a6e1, pinned by digest.", {"5d3a6e1"}, "9a9a9a9", True, "  # Build 9a9a9a9, pinned by digest."),
    ("  # Build 5d3a6e1, pinned by digest.", {"5d3a6e1"}, "9a9a9a9", False, "  # Immutable tag 9a9a9a9; never reused."),
    ("  # Immutable tag 1a2b3c4; never reused.", set(), "9a9a9a9", True, "  # Build 9a9a9a9, pinned by digest."),
    ("  # Pinned by digest.", set(), "9a9a9a9", True, "  # Build 9a9a9a9, pinned by digest."),
    ("  # No release yet: run `invoke set-image dev billing <tag or digest>` before the first sync.", {"unreleased"},
     "1a2b3c4", False, "  # Immutable tag 1a2b3c4; never reused."),
    # any other comment: the old builds, as whole words, become the new one
    ("  # Immutable git-SHA tag of build b82f0c3; never reused.", {"b82f0c3"}, "c0ffee1", False,
     "  # Immutable git-SHA tag of build c0ffee1; never reused."),
    ("  #Release 1.4 (not 1.4.2, v1.4 or 1.4-rc) is 1.4.", {"1.4"}, "1.5", False,
     "  #Release 1.5 (not 1.4.2, v1.4 or 1.4-rc) is 1.5."),
    ("  # b82f0c3x is not b82f0c3", {"b82f0c3", "x"}, "c0ffee1", False, "  # b82f0c3x is not c0ffee1"),
    ("  # Owned by the payments team.", {"b82f0c3"}, "c0ffee1", False, "  # Owned by the payments team."),
    ("  - name: b82f0c3", {"b82f0c3"}, "c0ffee1", False, "  - name: b82f0c3"),  # no comment: as it is
])
def test_restate_build(line, olds, build, by_digest, expected):
    assert restate_build(line, olds, build, by_digest) == expected


def test_build_comment_is_what_new_app_writes():
    ref = parse_image(f"1a2b3c4@{D1}")
    assert build_comment("1a2b3c4", True) == "Build 1a2b3c4, pinned by digest." == scaffold._pin("b", "e", ref, True)[1]
    assert build_comment("1a2b3c4", False) == "Immutable tag 1a2b3c4; never reused." == scaffold._pin("b", "e", ref,
                                                                                                      False)[1]
