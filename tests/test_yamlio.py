"""yamlio: the safe loader refuses every hazard with file:line:col and a rule ID, and keeps positions."""
from __future__ import annotations

import pytest
from support import PROJECT

from phoenix_gitops.errors import InputError
from phoenix_gitops.yamlio import MAX_BYTES, YamlError, load_file, load_text, yaml11_meaning


def test_loads_plain_json_types_and_skips_empty_documents():
    docs = load_text("a: 1\nb: [x, 'on']\nc: {d: 1.5, e: ~, f: true}\n---\n---\n# only a comment\n---\nz: '2'\n",
                     "f.yaml")
    assert [d.data for d in docs] == [{"a": 1, "b": ["x", "on"], "c": {"d": 1.5, "e": None, "f": True}}, {"z": "2"}]
    assert [d.index for d in docs] == [0, 1]
    assert all(type(k) is str for k in docs[0].data)


def test_positions_are_one_based_and_point_at_keys_and_items():
    doc = load_text("kind: Deployment\nspec:\n  replicas: 3\n  items:\n    - a\n    - b\n", "f.yaml")[0]
    assert doc.position(("spec", "replicas")) == (3, 3)
    assert doc.position(("spec", "items", 1)) == (6, 7)
    assert doc.position(("spec", "missing", "deeper")) == (2, 1)  # nearest known ancestor


def test_timestamps_stay_strings():
    assert load_text("when: 2024-01-01\n", "f.yaml")[0].data == {"when": "2024-01-01"}


@pytest.mark.parametrize(
    ("text", "rule", "line", "col"),
    [
        ("a: 1\nb: 2\na: 3\n", "YAML-DUPLICATE-KEY", 3, 1),
        ("a: &x [1]\nb: *x\n", "YAML-ALIAS", 1, 4),
        ("a: 1\nb: *nope\n", "YAML-ALIAS", 2, 4),
        ("a: !!python/object/apply:os.system ['id']\n", "YAML-TAG", 1, 4),
        ("a: !Ref foo\n", "YAML-TAG", 1, 4),
        ("a: !!binary aGVsbG8=\n", "YAML-TAG", 1, 4),
        ("[" * 5000, "YAML-DEPTH", 1, 101),
        ("".join("  " * i + "a:\n" for i in range(300)), "YAML-DEPTH", 100, 199),
        ("a: .nan\n", "YAML-NUMBER", 1, 4),
        ("a: 123456789012345678901\n", "YAML-NUMBER", 1, 4),
        ("80: http\n", "YAML-KEY", 1, 1),
        ("? [a, b]\n: c\n", "YAML-KEY", 1, 3),
        ("a: {x: 1}\nb:\n  <<: {x: 2}\n", "YAML-MERGE-KEY", 3, 3),
        ("a: 'unclosed\n", "YAML-SYNTAX", 2, 1),
        ("a:\n\tb: 1\n", "YAML-SYNTAX", 2, 1),
        ("a: b\nc: x\x07y\n", "YAML-CONTROL-CHAR", 2, 5),
        ("a: x\u202ey\n", "YAML-CONTROL-CHAR", 1, 5),
        ("a: x\u2028y\n", "YAML-CONTROL-CHAR", 1, 5),
    ],
)
def test_hazards_are_refused_at_their_line(text, rule, line, col):
    with pytest.raises(YamlError) as caught:
        load_text(text, "src/bad.yaml")
    err = caught.value
    assert (err.rule, err.line, err.col) == (rule, line, col)
    assert str(err).startswith(f"src/bad.yaml:{line}:{col}: error {rule} ")
    assert isinstance(err, InputError) and err.exit_code == 1


@pytest.mark.parametrize(
    ("raw", "rule", "line"),
    [
        (b"\xef\xbb\xbfa: 1\n", "YAML-ENCODING", 1),
        ("a: 1\n".encode("utf-16"), "YAML-ENCODING", 1),
        (b"a: 1\nb: caf\xe9\n", "YAML-ENCODING", 2),
        (b"a: " + b"x" * (MAX_BYTES + 1), "YAML-SIZE", None),
    ],
)
def test_bytes_that_are_not_plain_utf8_are_refused(raw, rule, line):
    with pytest.raises(YamlError) as caught:
        load_text(raw, "bad.yaml")
    assert (caught.value.rule, caught.value.line) == (rule, line)


def test_billion_laughs_is_refused_before_anything_expands():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(YamlError) as caught:
        load_text(bomb, "bomb.yaml")
    assert caught.value.rule == "YAML-ALIAS"


def test_load_file_names_the_file_and_refuses_oversized_files(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * (MAX_BYTES // 5 + 1))
    with pytest.raises(YamlError) as caught:
        load_file(big, name="overlays/prod/big.yaml")
    assert str(caught.value).startswith("overlays/prod/big.yaml: error YAML-SIZE ")
    with pytest.raises(YamlError) as missing:
        load_file(tmp_path / "nope.yaml", name="nope.yaml")
    assert missing.value.rule == "YAML-READ"


def test_yaml11_ambiguities_are_recorded_only_for_plain_scalars():
    doc = load_text("a: on\nb: 'on'\nc: 0755\nd: 1.10\ne: 2024-01-01\nf: 190:20:30\ng: y\nh: hello\n", "f.yaml")[0]
    found = {a.path: (a.line, a.yaml11) for a in doc.ambiguities}
    assert found == {
        ("a",): (1, "boolean true"),
        ("c",): (3, "octal integer 493"),
        ("d",): (4, "the number 1.1 (a string field gets 1.1, not '1.10')"),
        ("e",): (5, "a timestamp"),
        ("f",): (6, "a base-60 number"),
        ("g",): (7, "boolean true"),
    }


def test_yaml11_meaning_of_unambiguous_text_is_none():
    assert yaml11_meaning("hello", "str") is None
    assert yaml11_meaning("10", "int") is None
    assert yaml11_meaning("no", "str") == "boolean false"


def test_load_rendered_reads_kustomize_output_as_plain_json_types():
    from phoenix_gitops.yamlio import load_rendered

    docs = load_rendered('a: "on"\nb: 2024-01-01\nc: 10\n---\n---\nd: [x]\n', "rendered/prod/api")
    assert docs == [{"a": "on", "b": "2024-01-01", "c": 10}, {"d": ["x"]}]


def test_load_rendered_errors_are_yaml_errors():
    from phoenix_gitops.yamlio import load_rendered

    with pytest.raises(YamlError) as caught:
        load_rendered("a: [unclosed\n", "rendered/prod/api")
    assert caught.value.rule == "YAML-SYNTAX" and str(caught.value).startswith("rendered/prod/api:2:1: ")
    with pytest.raises(YamlError, match="YAML-SIZE"):
        load_rendered("a: " + "x" * 100, "rendered/prod/api", max_bytes=10)


# The fast composer (libyaml's C event stream) must read every source exactly as the reference composer
# (ruamel.yaml, pure Python) does: the same data, line map and YAML 1.1 ambiguities. What it leaves to the
# reference one (`_Unusual`), or refuses, is read again by the reference one, so errors keep their wording.

_TRICKY = [  # (text, whether the fast composer reads it itself)
    ("a: 1\r\nb: [x, 'on']\r\nc: {d: 1.5, e: ~, f: true}\r\n", True),
    ("ä: ö\nname: \"caf\\u00e9 \\/ \\t\"\nk: >\n  folded\n  text\n\n  more\nl: |-\n  kept\n   indent\n", True),
    ("- a\n-   b: 0755\n    c: yes\n- [1, 0x1F, 0o17, 1_000, -.5, .inf2, 12:30:45]\n- {? x : 1}\n", True),
    ("plain: multi\n  line\n  scalar\nempty:\nnull: ~\n'quoted key': 2\n\"double\": 3\n", True),
    ("---\n---\n# comment only\n---\na: ! 12\nb: '12'\n", True),
    ("key: [a, {b: [c, {d: e}]}]\nx:\n- - - deep\n", True),
    ("a: 1\na: 2\n", True),  # read, then refused by the converter: re-read for the reference wording
    ("".join("  " * i + "a:\n" for i in range(97)) + "  " * 97 + "b: 1\n", True),
    ("[" * 98 + "]" * 98 + "\n", True),
    ("".join("  " * i + "a:\n" for i in range(100)) + "  " * 100 + "b: 1\n", False),
    ("[" * 100 + "]" * 100 + "\n", False),
    ("b: !!str 12\n", False),
    ("%YAML 1.1\n---\na: yes\n", False),
    ("a: &x 1\nb: 2\n", False),
    ("a: b: c\n", False),
    ("a:\n\tb: 1\n", False),
    ("{[a]: 1}\n", False),
    ("<<: {a: 1}\n", True),
    # where libyaml reads what the reference refuses or reads otherwise (found by fuzzing both)
    ("a\t", False),
    ("|-# c\n", False),
    ("|\r---", False),
    ("a\n...\n...\n", False),
]


def _reference(text: str) -> object:
    from phoenix_gitops.yamlio import load
    try:
        return load._documents(load._reference_nodes(text, "f.yaml"), "f.yaml")
    except YamlError as err:
        return str(err)


@pytest.mark.parametrize(("text", "fast"), _TRICKY)
def test_the_fast_composer_reads_what_the_reference_one_reads(text, fast):
    from phoenix_gitops.yamlio import load
    reference = _reference(text)
    if fast:
        assert load._fast_nodes(text)
    else:
        with pytest.raises(load._Unusual):
            load._fast_nodes(text)
    if isinstance(reference, str):
        with pytest.raises(YamlError) as err:
            load_text(text, "f.yaml")
        assert str(err.value) == reference
    else:
        assert load_text(text, "f.yaml") == reference


def test_every_yaml_file_of_the_repo_reads_the_same_with_the_fast_composer():
    from phoenix_gitops.yamlio import load
    files = [p for top in ("base", "overlays", "admission", "clusters", "tests/fixtures", "schemas")
             for p in sorted((PROJECT / top).rglob("*.y*ml")) if p.is_file()]
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            fast = load._documents(load._fast_nodes(text), "f.yaml")
        except (load._Unusual, YamlError):
            continue
        assert fast == _reference(text), path
        compared += 1
    assert len(files) > 300 and compared > 0.9 * len(files)


# kustomize's output: libyaml composes, `_plain` constructs; PyYAML's own constructor is the reference.

def _pyyaml(text: str) -> list:
    import yaml

    from phoenix_gitops.yamlio import load
    return [doc for doc in yaml.load_all(text, Loader=load._RenderedLoader) if doc is not None]


def test_rendered_output_reads_as_pyyamls_constructor_reads_it():
    from phoenix_gitops.yamlio import load_rendered
    files = sorted((PROJECT / "rendered").rglob("*.yaml")) + sorted((PROJECT / "tests/fixtures").rglob("*.yaml"))
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            expected = _pyyaml(text)
        except Exception:  # (not YAML PyYAML reads: load_rendered refuses it too, tested elsewhere)
            continue
        assert load_rendered(text, "out", max_bytes=1 << 30) == expected, path
        compared += 1
    assert compared > 300


@pytest.mark.parametrize("text", [
    "a: 1\nb: [yes, no, on, 0x1F, 0o17, 017, 1_000, 1:30, .inf, -.Inf, .NaN, ~, null, 2024-01-01, '1', !!str 2]\n",
    "<<: {a: 1}\nb: 2\n",                          # a merge key: PyYAML's constructor merges it
    "a: &x {b: 1}\nc: *x\n",                       # an alias: the same data twice
    "? [a, b]\n: 1\n",                             # a complex key: PyYAML's constructor refuses it
    "a: !!binary aGVsbG8=\n",
    "---\n---\nkind: A\n...\n---\nkind: B\n",
])
def test_rendered_output_that_kustomize_never_prints_reads_as_pyyaml_reads_it(text):
    from phoenix_gitops.yamlio import load_rendered
    try:
        expected = _pyyaml(text)
    except Exception as err:
        with pytest.raises((YamlError, type(err))):
            load_rendered(text, "out")
        return
    assert load_rendered(text, "out") == expected
