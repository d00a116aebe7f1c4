"""crds: strict JSON Schemas from CRDs, committed as package data (phoenix_gitops/data/schemas/crds/) and
reproducible byte for byte."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from phoenix_gitops import crds
from phoenix_gitops.errors import InputError
from phoenix_gitops.yamlio import YamlError

PROJECT = Path(__file__).resolve().parent.parent
SCHEMAS = PROJECT / "phoenix_gitops" / "data" / "schemas" / "crds"
SHARED_CRDS = Path(__file__).resolve().parents[2] / "shared" / "crds"
FIXTURES = PROJECT / "tests" / "fixtures" / "crds"
GROUP = "fixtures.example.com"


@pytest.fixture(scope="module")
def fixture_files() -> dict[str, bytes]:
    return crds.generate(FIXTURES)


@pytest.fixture(scope="module")
def widget(fixture_files) -> dict[str, Any]:
    return json.loads(fixture_files[f"{GROUP}_widget_v1.json"])


@pytest.fixture(scope="module")
def gadget(fixture_files) -> dict[str, Any]:
    return json.loads(fixture_files[f"{GROUP}_gadget_v1.json"])


def problems(schema: dict[str, Any], doc: Any) -> list[tuple[str, str]]:
    """Every violation as (JSON path, validator keyword), sorted; [] when `doc` is valid."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = []
    for error in validator.iter_errors(doc):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        found.append((path, str(error.validator)))
    return sorted(found)


def spec_of(kind: str, spec: dict[str, Any], version: str = "v1", **top: Any) -> dict[str, Any]:
    """A fixture document of `kind` with the given spec."""
    return {"apiVersion": f"{GROUP}/{version}", "kind": kind, "metadata": {"name": "x"}, "spec": spec, **top}


def inline(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every `$ref` into `$defs` replaced by the definition (and `$defs` itself removed)."""
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return inline(defs[node["$ref"].removeprefix("#/$defs/")], defs)
        return {k: inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline(v, defs) for v in node]
    return node


def all_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(all_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(all_keys(v) for v in node))
    return set()


# --- (1) the committed schemas are exactly what the real CRDs give --------------------------------


@pytest.mark.slow
def test_committed_schemas_equal_a_fresh_generation():
    if not SHARED_CRDS.is_dir():
        pytest.skip(f"the upstream CRDs are not at {SHARED_CRDS}; cannot regenerate {SCHEMAS}")
    assert crds.stale(SHARED_CRDS, SCHEMAS, jobs=None) == []


def test_committed_index_lists_every_served_kind_with_its_scope():
    kinds = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))["kinds"]
    added = crds.added_kinds(SCHEMAS)  # kinds added with `crd-schemas --add`, besides the upstream ones
    assert len(kinds) - len(added) == 16 and set(added) <= set(kinds)
    assert kinds["argoproj.io/v1alpha1|Application"] == {
        "crd": "argoproj.io_applications.yaml",
        "file": "argoproj.io_application_v1alpha1.json",
        "scope": "Namespaced",
        "storage": True,
    }
    assert kinds["external-secrets.io/v1|ClusterSecretStore"]["scope"] == "Cluster"
    assert kinds["gateway.networking.k8s.io/v1beta1|HTTPRoute"]["storage"] is False
    assert "external-secrets.io/v1beta1|ExternalSecret" not in kinds  # served: false upstream
    on_disk = sorted(p.name for p in SCHEMAS.iterdir())
    assert on_disk == sorted([*(k["file"] for k in kinds.values()), "index.json",
                              *([crds.ADDED_NAME] if added else [])])


# --- (2) and (3) real documents against the committed schemas -------------------------------------


def committed(api_version: str, kind: str) -> dict[str, Any]:
    kinds = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))["kinds"]
    return json.loads((SCHEMAS / kinds[f"{api_version}|{kind}"]["file"]).read_text(encoding="utf-8"))


def manifest(api_version: str, kind: str, spec: dict[str, Any], namespace: str | None = "apps") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "hello", "labels": {"app.kubernetes.io/name": "hello"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


APPLICATION_SPEC = {
    "project": "default",
    "source": {"repoURL": "https://git.example.com/gitops.git", "path": "rendered/prod/hello",
               "targetRevision": "main"},
    "destination": {"server": "https://kubernetes.default.svc", "namespace": "hello"},
    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
}

VALID = {
    "Application": manifest("argoproj.io/v1alpha1", "Application", APPLICATION_SPEC, "argocd"),
    "AppProject": manifest("argoproj.io/v1alpha1", "AppProject", {
        "sourceRepos": ["https://git.example.com/*"],
        "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "hello"}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
    }, "argocd"),
    "Kustomization": manifest("kustomize.toolkit.fluxcd.io/v1", "Kustomization", {
        "interval": "10m", "path": "./rendered/prod/hello", "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "gitops"}, "targetNamespace": "hello", "timeout": "2m",
    }, "flux-system"),
    "GitRepository": manifest("source.toolkit.fluxcd.io/v1", "GitRepository", {
        "interval": "1m", "url": "https://git.example.com/gitops.git", "ref": {"branch": "main"},
        "secretRef": {"name": "git-credentials"},
    }, "flux-system"),
    "ExternalSecret": manifest("external-secrets.io/v1", "ExternalSecret", {
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
        "target": {"name": "hello-db", "creationPolicy": "Owner"},
        "data": [{"secretKey": "password", "remoteRef": {"key": "apps/hello/db", "property": "password"}}],
    }),
    "SealedSecret": manifest("bitnami.com/v1alpha1", "SealedSecret", {
        "encryptedData": {"SECRET_KEY_BASE": "AgBy3i4OJSWK+PiTySYZZA=="},
        "template": {"metadata": {"name": "hello-env", "labels": {"app": "hello"}}, "type": "Opaque"},
    }),
    "HTTPRoute": manifest("gateway.networking.k8s.io/v1", "HTTPRoute", {
        "parentRefs": [{"name": "public", "namespace": "gateway"}],
        "hostnames": ["hello.example.com"],
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": "hello", "port": 4000}],
        }],
    }),
    "Gateway": manifest("gateway.networking.k8s.io/v1", "Gateway", {
        "gatewayClassName": "eg",
        "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
        "addresses": [{"value": "10.0.0.7"}],  # `type` left to its default (IPAddress)
    }, "gateway"),
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_small_real_documents_validate_without_errors(kind):
    doc = VALID[kind]
    assert problems(committed(doc["apiVersion"], kind), doc) == []


def test_a_typo_is_reported_at_the_object_holding_it():
    doc = json.loads(json.dumps(VALID["Application"]))
    doc["spec"]["destinaton"] = doc["spec"].pop("destination")
    schema = committed("argoproj.io/v1alpha1", "Application")
    assert problems(schema, doc) == [("$.spec", "additionalProperties"), ("$.spec", "required")]
    messages = [e.message for e in Draft202012Validator(schema).iter_errors(doc)]
    assert any("'destinaton' was unexpected" in m for m in messages)


def test_a_wrong_type_is_reported_at_its_path():
    doc = json.loads(json.dumps(VALID["HTTPRoute"]))
    doc["spec"]["rules"][0]["backendRefs"][0]["port"] = "4000"
    assert problems(committed("gateway.networking.k8s.io/v1", "HTTPRoute"), doc) == [
        ("$.spec.rules[0].backendRefs[0].port", "type"),
    ]
    flux = json.loads(json.dumps(VALID["Kustomization"]))
    flux["spec"]["prune"] = "yes"
    assert problems(committed("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), flux) == [("$.spec.prune", "type")]


def test_errors_inside_shared_definitions_keep_the_document_path():
    schema = committed("argoproj.io/v1alpha1", "ApplicationSet")
    assert "$defs" in schema  # the Application template is shared between generators
    template = {"metadata": {"name": "{{name}}"}, "spec": json.loads(json.dumps(APPLICATION_SPEC))}
    template["spec"]["source"]["helm"] = {"valueFile": ["values.yaml"]}
    doc = manifest("argoproj.io/v1alpha1", "ApplicationSet", {
        "generators": [{"list": {"elements": [{"name": "a"}], "template": template}}],
        "template": template,
    }, "argocd")
    assert problems(schema, doc) == [
        ("$.spec.generators[0].list.template.spec.source.helm", "additionalProperties"),
        ("$.spec.template.spec.source.helm", "additionalProperties"),
    ]


def test_wrong_api_version_kind_and_metadata_types_are_reported():
    schema = committed("bitnami.com/v1alpha1", "SealedSecret")
    doc = json.loads(json.dumps(VALID["SealedSecret"]))
    doc["apiVersion"], doc["metadata"]["labels"]["replicas"] = "bitnami.com/v1", 2
    doc["metadata"]["finalizers"] = ["keep"]  # other ObjectMeta fields pass
    assert problems(schema, doc) == [("$.apiVersion", "const"), ("$.metadata.labels.replicas", "type")]
    del doc["kind"], doc["metadata"]
    assert ("$", "required") in problems(schema, doc)


# --- (4) one test per conversion rule, on the fixture CRDs ----------------------------------------


def test_only_served_versions_become_schemas_named_group_kind_version(fixture_files):
    assert sorted(fixture_files) == [
        f"{GROUP}_gadget_v1.json", f"{GROUP}_gizmo_v2.json", f"{GROUP}_widget_v1.json",
        f"{GROUP}_widget_v1beta1.json", "index.json",
    ]
    assert json.loads(fixture_files["index.json"]) == {"kinds": {
        f"{GROUP}/v1|Widget": {
            "crd": "widgets.yaml", "file": f"{GROUP}_widget_v1.json", "scope": "Namespaced", "storage": True,
        },
        f"{GROUP}/v1beta1|Widget": {
            "crd": "widgets.yaml", "file": f"{GROUP}_widget_v1beta1.json", "scope": "Namespaced", "storage": False,
            "deprecated": True,
        },
        f"{GROUP}/v1|Gadget": {
            "crd": "gadgets.yaml", "file": f"{GROUP}_gadget_v1.json", "scope": "Namespaced", "storage": True,
        },
        f"{GROUP}/v2|Gizmo": {
            "crd": "gadgets.yaml", "file": f"{GROUP}_gizmo_v2.json", "scope": "Cluster", "storage": True,
        },
    }}


def test_every_generated_schema_is_a_valid_2020_12_schema(fixture_files):
    for name, data in fixture_files.items():
        if name != "index.json":
            schema = json.loads(data)
            Draft202012Validator.check_schema(schema)
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_root_pins_api_version_and_kind_and_requires_metadata(widget):
    assert widget["title"] == "Widget fixtures.example.com/v1"
    assert widget["required"] == ["apiVersion", "kind", "metadata"]
    assert widget["properties"]["apiVersion"] == {"type": "string", "const": f"{GROUP}/v1"}
    assert widget["properties"]["kind"] == {"type": "string", "const": "Widget"}
    assert problems(widget, spec_of("Widget", {"size": 1}, version="v1beta1")) == [("$.apiVersion", "const")]
    assert problems(widget, {"apiVersion": f"{GROUP}/v1", "kind": "Widget"}) == [("$", "required")]


def test_metadata_is_a_permissive_object_meta_that_keeps_the_crd_name_rules(widget):
    doc = spec_of("Widget", {"size": 1})
    doc["metadata"] = {"name": "w", "namespace": "n", "labels": {"a": "b"}, "annotations": {"c": "d"},
                       "finalizers": ["f"], "ownerReferences": []}
    assert problems(widget, doc) == []
    doc["metadata"] = {"name": "w" * 21, "namespace": 3, "annotations": {"c": True}}
    assert problems(widget, doc) == [
        ("$.metadata.annotations.c", "type"), ("$.metadata.name", "maxLength"), ("$.metadata.namespace", "type"),
    ]
    assert problems(widget, {**doc, "metadata": "w"}) == [("$.metadata", "type")]


def test_int_or_string_becomes_any_of_and_drops_a_conflicting_type(gadget):
    props = gadget["properties"]["spec"]["properties"]
    assert props["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}  # `type: string` dropped
    assert props["maxSurge"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}  # not doubled
    for port in (8080, "http"):
        assert problems(gadget, spec_of("Gadget", {"port": port})) == []
    assert problems(gadget, spec_of("Gadget", {"port": 1.5})) == [("$.spec.port", "anyOf")]


def test_nullable_admits_null_and_nothing_else_does(gadget):
    props = gadget["properties"]["spec"]["properties"]
    assert props["note"] == {"type": ["string", "null"]}
    assert props["mode"] == {"type": ["string", "null"], "enum": ["fast", "slow", None]}
    assert props["timeout"]["anyOf"][-1] == {"type": "null"}
    nulls = {"note": None, "mode": None, "extra": None, "timeout": None}
    assert problems(gadget, spec_of("Gadget", nulls)) == []
    assert problems(gadget, spec_of("Gadget", {"mode": "medium", "port": None})) == [
        ("$.spec.mode", "enum"), ("$.spec.port", "anyOf"),
    ]


def test_preserve_unknown_fields_allows_unknown_properties_at_that_level_only(gadget):
    props = gadget["properties"]["spec"]["properties"]
    assert "additionalProperties" not in props["config"] and props["values"] == {}
    doc = spec_of("Gadget", {"config": {"level": 1, "anything": {"goes": True}}, "values": {"x": [1, "y"]}})
    assert problems(gadget, doc) == []
    assert problems(gadget, spec_of("Gadget", {"config": {"level": "high"}})) == [("$.spec.config.level", "type")]


def test_embedded_resource_needs_api_version_and_kind(gadget):
    props = gadget["properties"]["spec"]["properties"]
    assert props["template"]["required"] == ["apiVersion", "kind"]
    loose = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert problems(gadget, spec_of("Gadget", {"template": loose})) == []
    assert problems(gadget, spec_of("Gadget", {"template": {"data": {}, "kind": ""}})) == [
        ("$.spec.template", "required"), ("$.spec.template.kind", "minLength"),
    ]
    bad_labels = {"apiVersion": "v1", "kind": "X", "metadata": {"labels": []}}
    assert problems(gadget, spec_of("Gadget", {"template": bad_labels})) == [
        ("$.spec.template.metadata.labels", "type"),
    ]
    typed = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2, "paused": True}}
    assert problems(gadget, spec_of("Gadget", {"typedTemplate": typed})) == [
        ("$.spec.typedTemplate.spec", "additionalProperties"),
    ]


def test_objects_with_properties_become_strict_but_maps_stay_maps(widget):
    spec = widget["properties"]["spec"]
    assert spec["additionalProperties"] is False and widget["additionalProperties"] is False
    assert spec["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    doc = spec_of("Widget", {"size": 1, "colour": "red", "labels": {"any-key": "v"}},
                  status={"ready": True, "phase": "x"})
    assert problems(widget, doc) == [("$.spec", "additionalProperties"), ("$.status", "additionalProperties")]
    assert problems(widget, {**doc, "extra": 1, "spec": {"size": 1}, "status": {}}) == [("$", "additionalProperties")]


def test_branches_of_one_of_are_not_made_strict_and_see_defaults(gadget):
    items = gadget["properties"]["spec"]["properties"]["addresses"]["items"]
    assert all("additionalProperties" not in branch for branch in items["oneOf"])
    assert items["oneOf"][1]["required"] == ["type"]  # the default IPAddress fails `not IPAddress`
    ok = [{"value": "10.0.0.1"}, {"type": "IPAddress", "value": "10.0.0.2"}, {"type": "Hostname", "value": "a.b"}]
    assert problems(gadget, spec_of("Gadget", {"addresses": ok})) == []
    bad = [{"value": "a.b"}, {"type": "IPAddress", "value": "a.b"}]  # both read as IPAddress
    assert problems(gadget, spec_of("Gadget", {"addresses": bad})) == [
        ("$.spec.addresses[0]", "oneOf"), ("$.spec.addresses[1]", "oneOf"),
    ]


def test_a_required_property_with_a_default_is_optional(widget):
    spec = widget["properties"]["spec"]
    assert spec["required"] == ["size"]  # `replicas` has a default, the API server fills it in
    assert spec["properties"]["replicas"] == {"type": "integer", "default": 1}
    assert problems(widget, spec_of("Widget", {"size": 2})) == []
    assert problems(widget, spec_of("Widget", {"replicas": 2})) == [("$.spec", "required")]


def test_value_keywords_are_kept(widget):
    props = widget["properties"]["spec"]["properties"]
    assert props["size"] == {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10}
    assert props["color"] == {"type": "string", "enum": ["red", "green", "blue"], "default": "red"}
    assert props["code"] == {"type": "string", "pattern": "^[a-z]{2}-[0-9]+$", "minLength": 4, "maxLength": 12}
    assert props["tags"] == {"type": "array", "maxItems": 3, "items": {"type": "string"}, "uniqueItems": True}
    doc = spec_of("Widget", {"size": 11, "color": "pink", "code": "AB-1", "tags": ["a", "b", "c", "d"]})
    assert problems(widget, doc) == [
        ("$.spec.code", "pattern"), ("$.spec.color", "enum"), ("$.spec.size", "maximum"), ("$.spec.tags", "maxItems"),
    ]


def test_list_type_set_means_unique_items(widget):
    assert problems(widget, spec_of("Widget", {"size": 1, "tags": ["a", "a"]})) == [("$.spec.tags", "uniqueItems")]


def test_boolean_exclusive_minimum_becomes_the_number(widget):
    assert widget["properties"]["spec"]["properties"]["ratio"] == {"type": "number", "exclusiveMinimum": 0}
    assert problems(widget, spec_of("Widget", {"size": 1, "ratio": 0})) == [("$.spec.ratio", "exclusiveMinimum")]
    assert problems(widget, spec_of("Widget", {"size": 1, "ratio": 0.1})) == []


def test_descriptions_examples_and_kubernetes_extensions_are_dropped(fixture_files):
    for name, data in fixture_files.items():
        keys = all_keys(json.loads(data))
        assert not {"description", "example", "nullable"} & keys, name
        assert not [k for k in keys if k.startswith("x-kubernetes-")], name
    raw = (FIXTURES / "widgets.yaml").read_text(encoding="utf-8")
    assert "description:" in raw and "x-kubernetes-validations" in raw and "example:" in raw


def test_repeated_sub_schemas_are_shared_without_changing_meaning(widget):
    props = widget["properties"]["spec"]["properties"]
    assert props["primary"] == props["fallback"] == {"$ref": "#/$defs/spec.primary"}
    expanded = inline(widget, widget["$defs"])
    assert expanded["properties"]["spec"]["properties"]["fallback"]["required"] == ["host"]
    assert "$ref" not in json.dumps(expanded)
    doc = spec_of("Widget", {"size": 1, "primary": {"host": "a"}, "fallback": {"port": 0, "tls": {"ca": "x"}}})
    assert problems(widget, doc) == [
        ("$.spec.fallback", "required"), ("$.spec.fallback.port", "minimum"),
        ("$.spec.fallback.tls", "additionalProperties"),
    ]


def crd_with_spec(properties: dict[str, Any]) -> dict[str, Any]:
    """A CRD (plain data) of kind Thing whose spec has `properties`."""
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"group": GROUP, "names": {"kind": "Thing"}, "scope": "Namespaced", "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}},
        ]},
    }


def test_sharing_keeps_one_definition_per_repeated_sub_schema_and_unique_names():
    big = {"type": "object", "properties": {f"field{i}": {"type": "string", "maxLength": 63} for i in range(8)}}
    parent = {"type": "object", "properties": {"inner": big, "note": {"type": "string"}}}
    schema = crds.schemas_from_crd(crd_with_spec({"a": parent, "b": parent}))[f"{GROUP}_thing_v1.json"]
    assert sorted(schema["$defs"]) == ["spec.a"]  # `inner` occurs twice only inside the shared parent
    assert "$ref" not in json.dumps(schema["$defs"])
    schema = crds.schemas_from_crd(crd_with_spec({"a": parent, "b": parent, "c": big}))[f"{GROUP}_thing_v1.json"]
    assert sorted(schema["$defs"]) == ["spec.a", "spec.a.inner"]
    assert schema["properties"]["spec"]["properties"]["c"] == {"$ref": "#/$defs/spec.a.inner"}
    odd = {"type": "object", "properties": {f"other{i}": {"type": "integer", "minimum": 0} for i in range(8)}}
    schema = crds.schemas_from_crd(
        crd_with_spec({"x/y": big, "x_y": odd, "z": big, "w": odd}))[f"{GROUP}_thing_v1.json"]
    assert sorted(schema["$defs"]) == ["spec.x_y", "spec.x_y-2"]
    Draft202012Validator.check_schema(schema)


def test_schemas_from_crd_works_on_plain_data():
    from phoenix_gitops.yamlio import load_file

    data = load_file(FIXTURES / "gadgets.yaml")[1].data
    assert list(crds.schemas_from_crd(data)) == [f"{GROUP}_gizmo_v2.json"]
    data["spec"]["versions"][0]["served"] = False
    assert crds.schemas_from_crd(data) == {}


def test_output_bytes_are_sorted_indented_json_and_stable(fixture_files):
    again = crds.generate(FIXTURES)
    assert again == fixture_files
    for data in fixture_files.values():
        parsed = json.loads(data)
        assert data == (json.dumps(parsed, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# --- (5) bad input is an InputError naming the file ------------------------------------------------


def one_file(tmp_path: Path, source: Path | str, name: str = "crd.yaml") -> Path:
    folder = tmp_path / "crds"
    folder.mkdir(exist_ok=True)
    if isinstance(source, Path):
        shutil.copy(source, folder / name)
    else:
        (folder / name).write_text(source, encoding="utf-8")
    return folder


def test_a_document_that_is_not_a_crd_is_refused_at_its_line(tmp_path):
    folder = one_file(tmp_path, FIXTURES / "broken" / "not-a-crd.yaml", "not-a-crd.yaml")
    with pytest.raises(InputError) as caught:
        crds.generate(folder)
    assert str(caught.value) == (
        f"{folder / 'not-a-crd.yaml'}:20:1: $.kind: expected apiVersion apiextensions.k8s.io/v1 and kind "
        "CustomResourceDefinition, got 'v1' and 'ConfigMap'"
    )


def test_invalid_yaml_is_refused_with_the_file_and_line(tmp_path):
    folder = one_file(tmp_path, FIXTURES / "broken" / "invalid.yaml", "invalid.yaml")
    with pytest.raises(YamlError) as caught:
        crds.generate(folder)
    assert isinstance(caught.value, InputError)
    assert str(caught.value).startswith(f"{folder / 'invalid.yaml'}:")
    assert caught.value.rule == "YAML-SYNTAX"


CRD_TEMPLATE = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.fixtures.example.com
spec:
  group: {group}
  names: {{kind: Thing, plural: things}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
{spec}
"""


@pytest.mark.parametrize(
    ("group", "spec", "message"),
    [
        (GROUP, "              $ref: '#/definitions/x'",
         ":18:15: $.spec.versions[0].schema.openAPIV3Schema.properties.spec.$ref: unsupported schema keyword '$ref'"),
        (GROUP, "              type: strin",
         ":18:15: $.spec.versions[0].schema.openAPIV3Schema.properties.spec.type: unknown type 'strin'"),
        (GROUP, "              type: string\n              pattern: '(unclosed'",
         ":19:15: $.spec.versions[0].schema.openAPIV3Schema.properties.spec.pattern: '(unclosed' is not a regular "
         "expression Python can use: missing ), unterminated subpattern at position 0"),
        (GROUP, "              type: string\n              minLength: many",
         ":19:15: $.spec.versions[0].schema.openAPIV3Schema.properties.spec.minLength: not a valid schema: "
         "'many' is not of type 'integer'"),
        ("../escape", "              type: object",
         ":6:3: $.spec.group: '../escape' is not a valid group"),
        (GROUP, "              - type: object",
         ":17:13: $.spec.versions[0].schema.openAPIV3Schema.properties.spec: expected a mapping, got list"),
    ],
)
def test_broken_crds_are_refused_with_file_line_and_path(tmp_path, group, spec, message):
    folder = one_file(tmp_path, CRD_TEMPLATE.format(group=group, spec=spec))
    with pytest.raises(InputError) as caught:
        crds.generate(folder)
    assert str(caught.value) == f"{folder / 'crd.yaml'}{message}"


def test_schemas_from_crd_names_the_given_source():
    with pytest.raises(InputError) as caught:
        crds.schemas_from_crd({"apiVersion": "v1", "kind": "ConfigMap"}, source="crds/x.yaml")
    assert str(caught.value).startswith("crds/x.yaml: $.kind: expected apiVersion apiextensions.k8s.io/v1")


def test_empty_files_duplicates_and_missing_folders_are_refused(tmp_path):
    folder = one_file(tmp_path, "# nothing here\n", "empty.yaml")
    with pytest.raises(InputError, match=r"empty\.yaml: no CustomResourceDefinition in the file$"):
        crds.generate(folder)
    (folder / "empty.yaml").unlink()
    shutil.copy(FIXTURES / "widgets.yaml", folder / "a.yaml")
    shutil.copy(FIXTURES / "widgets.yaml", folder / "b.yml")
    with pytest.raises(InputError, match=r"b\.yml: fixtures\.example\.com_widget_v1\.json is also defined by a\.yaml$"):
        crds.generate(folder)
    with pytest.raises(InputError, match="not a folder"):
        crds.generate(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no \*\.yaml or \*\.yml files"):
        crds.generate(FIXTURES.parent)


def test_errors_from_worker_processes_are_the_same_errors(tmp_path, monkeypatch):
    folder = one_file(tmp_path, FIXTURES / "widgets.yaml", "a.yaml")
    shutil.copy(FIXTURES / "broken" / "invalid.yaml", folder / "b.yaml")
    shutil.copy(FIXTURES / "broken" / "not-a-crd.yaml", folder / "c.yaml")
    with pytest.raises(YamlError) as in_process:
        crds.generate(folder)
    monkeypatch.setattr(crds, "_PARALLEL_MIN_BYTES", 0)  # use worker processes even for tiny inputs
    with pytest.raises(YamlError) as in_workers:
        crds.generate(folder, jobs=2)
    assert str(in_workers.value) == str(in_process.value) and in_workers.value.rule == "YAML-SYNTAX"
    with pytest.raises(InputError, match=r"c\.yaml:20:1: \$\.kind: expected") as caught:
        crds._unpack(crds._worker(str(folder / "c.yaml")))  # what a worker sends back, unpacked
    assert type(caught.value) is InputError
    (folder / "b.yaml").unlink()
    (folder / "c.yaml").unlink()
    assert crds.generate(folder, jobs=2) == crds.generate(folder)


# --- (6) write replaces exactly what changed, removes stale files, and is idempotent --------------


def test_write_creates_replaces_and_removes_then_does_nothing(tmp_path, fixture_files):
    out = tmp_path / "schemas" / "crds"
    assert crds.write(FIXTURES, out) == sorted(fixture_files)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == fixture_files
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o644"}

    (out / f"{GROUP}_gizmo_v2.json").write_text("{}\n")
    (out / "old_kind_v1.json").write_text("{}\n")
    (out / ".index.json.1234.tmp").write_text("half")  # left by a killed run
    untouched = (out / f"{GROUP}_widget_v1.json").stat().st_mtime_ns
    expected = [".index.json.1234.tmp", f"{GROUP}_gizmo_v2.json", "old_kind_v1.json"]
    assert crds.stale(FIXTURES, out) == expected
    assert (out / "old_kind_v1.json").exists()  # stale() wrote nothing
    assert crds.write(FIXTURES, out) == expected
    assert {p.name: p.read_bytes() for p in out.iterdir()} == fixture_files
    assert (out / f"{GROUP}_widget_v1.json").stat().st_mtime_ns == untouched  # not rewritten
    assert crds.write(FIXTURES, out) == []
    assert crds.stale(FIXTURES, out) == []


def test_write_refuses_a_folder_inside_the_output(tmp_path):
    out = tmp_path / "crds"
    (out / "nested").mkdir(parents=True)
    with pytest.raises(InputError, match="unexpected folder"):
        crds.write(FIXTURES, out)
    assert list(out.iterdir()) == [out / "nested"]


# --- (7) add: more CRDs beside the generated ones, kept by write and stale ---------------------------------------

ADDED = PROJECT / "tests" / "fixtures" / "crds-added"
CERTIFICATE_V1 = "certs.example.org_certificate_v1.json"


@pytest.fixture
def out(tmp_path) -> Path:
    """A schema folder generated from the fixture CRDs, as `crd-schemas --crds-dir` leaves it."""
    folder = tmp_path / "schemas" / "crds"
    crds.write(FIXTURES, folder)
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_add_writes_the_new_schemas_and_touches_no_other(out):
    before = tree(out)
    changed = crds.add(ADDED / "certificates.yaml", out)
    assert changed == [crds.ADDED_NAME, "certs.example.org_certificate_v1.json",
                       "certs.example.org_certificate_v1alpha1.json", "index.json"]
    after = tree(out)
    assert {name: data for name, data in after.items() if name in before and name != "index.json"} == {
        name: data for name, data in before.items() if name != "index.json"}
    index = json.loads(after["index.json"])["kinds"]
    assert index["certs.example.org/v1|Certificate"] == {
        "crd": "certificates.yaml", "file": CERTIFICATE_V1, "scope": "Namespaced", "storage": True}
    assert set(json.loads(before["index.json"])["kinds"]) < set(index)
    assert crds.added_kinds(out) == {k: v for k, v in index.items() if k.startswith("certs.example.org/")}


def test_an_added_kind_is_validated_by_the_schema_index(out):
    from phoenix_gitops.kube_schemas import SchemaIndex

    crds.add(ADDED, out)
    schemas = SchemaIndex(out)
    certificate = {"apiVersion": "certs.example.org/v1", "kind": "Certificate", "metadata": {"name": "tls"},
                   "spec": {"secretName": "tls", "dnsName": ["a.example.org"]}}
    assert [(p.path, p.rule) for p in schemas.validate(certificate, "1.34")] == [(("spec", "dnsName"), "K8S-SCHEMA")]
    assert schemas.scope("dns.example.org/v1", "DNSRecord") == "Cluster"


def test_regeneration_and_the_staleness_check_keep_added_kinds(out):
    crds.add(ADDED, out)
    added = tree(out)
    assert crds.stale(FIXTURES, out) == []
    assert crds.write(FIXTURES, out) == []
    assert tree(out) == added
    (out / CERTIFICATE_V1).write_text("{}\n")  # a hand-edited added schema is kept as it is, not regenerated
    assert crds.stale(FIXTURES, out) == []


def test_adding_again_changes_nothing_and_a_newer_crd_replaces_every_version(out, tmp_path):
    crds.add(ADDED / "certificates.yaml", out)
    assert crds.add(ADDED / "certificates.yaml", out) == []
    newer = tmp_path / "certificates.yaml"
    newer.write_text((ADDED / "certificates.yaml").read_text().split("    - name: v1alpha1")[0])
    assert crds.add(newer, out) == [crds.ADDED_NAME, "certs.example.org_certificate_v1alpha1.json", "index.json"]
    assert list(crds.added_kinds(out)) == ["certs.example.org/v1|Certificate"]


NOT_A_CRD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
CLASHING = (ADDED / "dnsrecords.yaml").read_text().replace("group: dns.example.org", f"group: {GROUP}").replace(
    "kind: DNSRecord", "kind: Widget").replace("name: dnsrecords.dns.example.org", f"name: widgets.{GROUP}").replace(
    "- name: v1\n", "- name: v9\n")


@pytest.mark.parametrize(("text", "error", "where", "message"), [
    (NOT_A_CRD, InputError, "bad.yaml:2:1:", "expected apiVersion apiextensions.k8s.io/v1 and kind "
                                             "CustomResourceDefinition"),
    ("apiVersion: v1\nkind: [\n", YamlError, "bad.yaml:3:", "YAML-SYNTAX"),
    (CLASHING, InputError, "bad.yaml:9:", f"Widget of {GROUP} is bundled already (from widgets.yaml)"),
])
def test_bad_input_is_refused_at_its_line_and_nothing_is_written(out, tmp_path, text, error, where, message):
    before = tree(out)
    folder = tmp_path / "input"
    folder.mkdir()
    shutil.copy(ADDED / "certificates.yaml", folder / "a-good.yaml")  # converted first, still not written
    (folder / "bad.yaml").write_text(text)
    with pytest.raises(error) as caught:
        crds.add(folder, out)
    assert f"{folder}/{where}" in str(caught.value) and message in str(caught.value)
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["crds"]  # no temp folder left


def test_add_refuses_a_missing_source_and_a_folder_without_crds(out, tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        crds.add(tmp_path / "nowhere.yaml", out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no \\*.yaml or \\*.yml files"):
        crds.add(tmp_path / "empty", out)


def test_an_upstream_crd_that_now_defines_an_added_kind_is_an_error_naming_both(out, tmp_path):
    crds.add(ADDED / "dnsrecords.yaml", out)
    upstream = tmp_path / "upstream"
    shutil.copytree(FIXTURES, upstream, ignore=shutil.ignore_patterns("broken"))
    shutil.copy(ADDED / "dnsrecords.yaml", upstream / "dnsrecords.yaml")
    with pytest.raises(InputError, match="added with `crd-schemas --add` from dnsrecords.yaml; remove it from"):
        crds.stale(upstream, out)


def test_a_damaged_record_of_added_kinds_is_an_error(out):
    (out / crds.ADDED_NAME).write_text('{"kinds": {"a/v1|B": {"file": "../escape.json", "crd": "x.yaml"}}}')
    with pytest.raises(InputError, match="added.json: expected"):
        crds.stale(FIXTURES, out)


def test_the_task_adds_crds_through_the_program(out, monkeypatch):
    from conftest import run_program

    from phoenix_gitops import own_schemas

    monkeypatch.setattr(own_schemas, "crd_schemas_to_write", lambda: out)
    result = run_program(["crd-schemas", "--add", str(ADDED / "dnsrecords.yaml")], None, cwd=out)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "wrote: phoenix_gitops/data/schemas/crds/added.json",
        "wrote: phoenix_gitops/data/schemas/crds/dns.example.org_dnsrecord_v1.json",
        "wrote: phoenix_gitops/data/schemas/crds/index.json",
        "phoenix_gitops/data/schemas/crds: 3 file(s) changed; added kinds: dns.example.org/v1 DNSRecord"]
    bad = run_program(["crd-schemas", "--add", str(ADDED / "README.md")], None, cwd=out)
    assert bad.code == 1 and "README.md" in bad.stderr
    both = run_program(["crd-schemas", "--add", str(ADDED), "--check"], None, cwd=out)
    assert both.code == 2 and "leave out --crds-dir and --check" in both.stderr
