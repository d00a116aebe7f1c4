"""images: references split as the rules read them, parsed strictly as the command line takes them, and the
`images:` entries of a kustomization."""
from __future__ import annotations

import pytest

from phoenix_gitops.errors import UsageError
from phoenix_gitops.images import (
    ImageRef,
    digest_note,
    format_entry,
    image_entries,
    parse_image,
    recorded_digest,
    split_image,
)

D1 = "sha256:845d43849227f852e92db5b04691c549be0cb359835b1e35d90d64fcd13fd12c"


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
