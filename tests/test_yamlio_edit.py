"""yamlio.edit: byte-exact round-trip edits of one mapping, and the edits it refuses."""
from __future__ import annotations

import pytest
from conftest import PROJECT

from phoenix_gitops.yamlio import DELETE, YamlError, edit_mapping

EDIT_FIXTURES = PROJECT / "tests" / "fixtures" / "edit"
D1 = "sha256:845d43849227f852e92db5b04691c549be0cb359835b1e35d90d64fcd13fd12c"

CASES = {
    "comments-digest-to-tag": (("images", 0), {"newTag": "5d3a6e1", "digest": DELETE}),
    "odd-quoting": (("images", 0), {"newTag": "it's-1.5.0"}),
    "indent-four": (("images", 0), {"digest": D1}),
    "flow-style": (("images", 0), {"digest": D1, "newTag": DELETE}),
    "crlf": (("images", 0), {"digest": D1}),
    "second-entry-no-final-newline": (("images", 1), {"newTag": "c0ffee1"}),
    "plain-numeric-tag": (("images", 0), {"newTag": "1234567"}),
}


# yamlio.edit_mapping: every other byte unchanged.

@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_edit_is_byte_exact(case):
    path, changes = CASES[case]
    source = (EDIT_FIXTURES / case / "input.yaml").read_bytes().decode()
    expected = (EDIT_FIXTURES / case / "expected.yaml").read_bytes().decode()
    result = edit_mapping(source, path, changes, name=case, quote_new=frozenset({"newTag"}))
    assert result == expected
    again = edit_mapping(result, path, {k: v for k, v in changes.items()}, name=case)
    assert again == result  # idempotent: nothing left to change


def test_every_fixture_case_is_listed():
    assert sorted(p.name for p in EDIT_FIXTURES.iterdir() if p.is_dir()) == sorted(CASES)


def test_edit_mapping_refuses_a_missing_path_and_unsafe_yaml():
    with pytest.raises(ValueError, match=r"\$\.images\[3\] not found"):
        edit_mapping("images:\n  - name: a\n", ("images", 3), {"newTag": "1"})
    with pytest.raises(YamlError, match="YAML-ALIAS"):
        edit_mapping("a: &x 1\nb: *x\n", (), {"a": "2"})
    with pytest.raises(ValueError, match="not a scalar"):
        edit_mapping("images:\n  - name: a\n    newTag: [1]\n", ("images", 0), {"newTag": "1"})
