"""kube_schemas: strict Kubernetes schemas per cluster version and CRD schemas, every error, no values echoed."""
from __future__ import annotations

import copy

import pytest

from phoenix_gitops.kube_schemas import SchemaIndex, supported_versions

INDEX = SchemaIndex()
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
             "spec": {"containers": [{"name": "app", "image": "x:1", "env": [{"name": "POOL_SIZE", "value": "10"}]}]}}},
}


def test_versions_come_from_the_pinned_package():
    assert supported_versions()[0] == "1.25" and "1.34" in supported_versions()


def test_valid_resource_has_no_problems():
    assert INDEX.validate(DEPLOYMENT, "1.34") == []


def test_every_error_of_a_resource_is_reported_without_values():
    bad = copy.deepcopy(DEPLOYMENT)  # (the nested env entry is changed below)
    bad["spec"].update(replicsa=3, replicas="three")
    bad["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = 123456789
    problems = sorted((p.path, p.message) for p in INDEX.validate(bad, "1.34"))
    assert problems == [
        (("spec", "replicas"), "expected integer or null, got string"),
        (("spec", "replicsa"), "unknown field 'replicsa'"),
        (("spec", "template", "spec", "containers", 0, "env", 0, "value"), "expected string or null, got integer"),
    ]
    assert not any("123456789" in message or "three" in message for _, message in problems)


def test_one_validator_per_version_apiversion_kind_is_reused():
    assert INDEX.validator("1.34", "apps/v1", "Deployment") is INDEX.validator("1.34", "apps/v1", "Deployment")
    assert INDEX.validator("1.35", "apps/v1", "Deployment") is not INDEX.validator("1.34", "apps/v1", "Deployment")


@pytest.mark.parametrize(
    ("resource", "rule", "message"),
    [
        ({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget"}, "K8S-UNKNOWN-KIND",
         "PodDisruptionBudget policy/v1beta1 is not served by Kubernetes 1.34; use policy/v1"),
        ({"apiVersion": "extensions/v1beta1", "kind": "Ingress"}, "K8S-UNKNOWN-KIND",
         "Ingress extensions/v1beta1 is not served by Kubernetes 1.34; use networking.k8s.io/v1"),
        ({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler"}, "K8S-UNKNOWN-KIND",
         "HorizontalPodAutoscaler autoscaling/v2beta2 is not served by Kubernetes 1.34 (removed in 1.26); "
         "use autoscaling/v1 or autoscaling/v2"),
        ({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy"}, "K8S-UNKNOWN-KIND",
         "PodSecurityPolicy was removed in Kubernetes 1.25 and has no replacement kind; use Pod Security Admission "
         "(pod-security.kubernetes.io/* namespace labels)"),
        ({"apiVersion": "apps/v1", "kind": "Deploymnet"}, "K8S-UNKNOWN-KIND",
         "unknown kind Deploymnet (apps/v1): Kubernetes 1.34 has no such kind in the apps API group, and no CRD "
         "schema in phoenix_gitops/data/schemas/crds names it"),
        ({"apiVersion": "v1", "kind": "Widget"}, "K8S-UNKNOWN-KIND",
         "unknown kind Widget (v1): Kubernetes 1.34 has no such kind in the core API group, and no CRD "
         "schema in phoenix_gitops/data/schemas/crds names it"),
        ({"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret"}, "K8S-UNKNOWN-KIND",
         "ExternalSecret external-secrets.io/v1beta1 is not served by its CRD's schema in "
         "phoenix_gitops/data/schemas/crds; use external-secrets.io/v1"),
        ({"kind": "ConfigMap"}, "K8S-SHAPE", "missing or empty 'apiVersion'"),
    ],
)
def test_unknown_kinds_and_shapes(resource, rule, message):
    (problem,) = INDEX.validate(resource, "1.34")
    assert (problem.rule, problem.message, problem.severity) == (rule, message, "error")


def test_a_kubernetes_api_not_served_yet_says_from_which_version():
    (problem,) = INDEX.validate({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim"}, "1.29")
    assert problem.message == ("ResourceClaim resource.k8s.io/v1 is not served by Kubernetes 1.29 (served from 1.34 "
                               "on); use resource.k8s.io/v1alpha2")


@pytest.mark.parametrize("api_version", ["cert-manager.io/v1", "externaldns.k8s.io/v1alpha1", "example.com/v1",
                                         "snapshot.storage.k8s.io/v1", "apps.example.com/v1"])
def test_a_custom_resource_without_a_crd_schema_is_a_warning_saying_how_to_add_it(api_version):
    (problem,) = INDEX.validate({"apiVersion": api_version, "kind": "Certificate", "metadata": {"name": "c"}},
                                "1.34")
    assert (problem.path, problem.rule, problem.severity) == (("kind",), "K8S-UNKNOWN-CRD", "warning")
    assert problem.message == (f"no schema for the custom resource kind Certificate ({api_version}), so it is not "
                               "validated; add its CRD's schema with `invoke crd-schemas --add FILE_OR_DIR`")


def test_the_answer_for_an_unknown_kind_is_worked_out_once():
    first = INDEX.validate({"apiVersion": "cert-manager.io/v1", "kind": "Issuer"}, "1.34")
    assert INDEX.validate({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "spec": {}}, "1.34")[0] is first[0]


def test_unsupported_kubernetes_version_says_which_exist():
    (problem,) = INDEX.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "1.99")
    assert problem.message.startswith("no schemas for Kubernetes 1.99 (this install knows 1.25, ")


def test_crd_kinds_validate_against_generated_schemas():
    external = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "s"},
                "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
                         "dataFrom": [{"extract": {"key": "k"}}], "targte": {}}}
    assert [(p.path, p.message) for p in INDEX.validate(external, "1.34")] == [
        (("spec", "targte"), "unknown field 'targte'"),
    ]
    assert INDEX.scope("external-secrets.io/v1", "ClusterSecretStore") == "Cluster"


@pytest.mark.parametrize("resource", [
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "web"}, "value": 1000,
     "description": "web pods"},
    {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "p"},
     "spec": {"description": "a project"}},
], ids=["core-kind", "crd-kind"])
def test_a_field_named_description_is_a_field_not_a_dropped_annotation(resource):
    schemas = SchemaIndex()
    assert schemas.validate(resource, "1.34") == []
    misspelt = {**resource, "descriptoin": "x"}
    assert [p.path for p in schemas.validate(misspelt, "1.34")] == [("descriptoin",)]


# jsonschema-rs gives the first verdict; only its "valid" is taken. It must never call valid what jsonschema
# refuses: both engines are compared on every resource of the repository and on broken variants of them.

def _resources() -> list[dict]:
    import yaml
    from support import PROJECT
    found = []
    for path in sorted((PROJECT / "rendered").rglob("*.yaml")) + sorted((PROJECT / "tests/fixtures").rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        found += [d for d in docs if isinstance(d, dict) and isinstance(d.get("apiVersion"), str)
                  and isinstance(d.get("kind"), str)]
    return found


def _broken(resource: dict):
    yield {**resource, "unknownTopField": 1}
    for key in list(resource.get("spec", {}) if isinstance(resource.get("spec"), dict) else {})[:4]:
        for value in (3.0, 3.5, "3", True, None, [], {}, 2**60):
            broken = copy.deepcopy(resource)
            broken["spec"][key] = value
            yield broken
    spec = resource.get("spec")
    pod = spec.get("template", {}).get("spec") if isinstance(spec, dict) else None
    if isinstance(pod, dict) and pod.get("containers"):
        for port in (8080.0, "http", {"p": 1}, 70000):
            broken = copy.deepcopy(resource)
            broken["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": port}]
            yield broken
        broken = copy.deepcopy(resource)
        broken["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 1.5}}
        yield broken
    if isinstance(resource.get("metadata"), dict):
        for field, value in (("labels", {"a": 1}), ("annotations", {"a": None}), ("name", ["x"])):
            broken = copy.deepcopy(resource)
            broken["metadata"][field] = value
            yield broken


def test_the_fast_engine_agrees_with_jsonschema_on_the_repository_and_broken_variants():
    index = SchemaIndex()
    compared = refused = 0
    for resource in _resources():
        key = ("1.34", resource["apiVersion"], resource["kind"])
        validator = index.validator(*key)
        if validator is None or validator.fast is None:
            continue
        for candidate in [resource, *_broken(resource)]:
            valid = not any(True for _ in validator.slow.iter_errors(candidate))
            assert validator.fast.is_valid(candidate) == valid, (key, candidate)
            compared += 1
            refused += not valid
    assert compared > 3000 and refused > 2000


def test_the_fast_engine_is_used_for_kubernetes_kinds_and_a_kind_it_cannot_compile_is_still_validated():
    index = SchemaIndex()
    assert index.validate(DEPLOYMENT, "1.34") == [] and index.validator("1.34", "apps/v1", "Deployment").fast
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
           "spec": {"group": "g", "names": {"kind": "K", "plural": "ks"}, "scope": "Namespaced", "versions": [],
                    "bogus": 1}}
    problems = index.validate(crd, "1.34")
    assert index.validator("1.34", "apiextensions.k8s.io/v1", "CustomResourceDefinition").fast is None
    assert [p.message for p in problems] == ["unknown field 'bogus'"]
