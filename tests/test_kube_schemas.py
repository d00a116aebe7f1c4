"""kube_schemas: strict Kubernetes schemas per cluster version and CRD schemas, every error, no values echoed."""
from __future__ import annotations

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
    bad = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicsa": 3, "replicas": "three"}}
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
        ({"apiVersion": "example.com/v1", "kind": "Widget"}, "K8S-UNKNOWN-KIND",
         "unknown kind Widget (example.com/v1): not in Kubernetes 1.34 and no CRD schema in "
         "phoenix_gitops/data/schemas/crds"),
        ({"apiVersion": "apps.example.com/v1", "kind": "Deployment"}, "K8S-UNKNOWN-KIND",
         "unknown kind Deployment (apps.example.com/v1): not in Kubernetes 1.34 and no CRD schema in "
         "phoenix_gitops/data/schemas/crds"),
        ({"kind": "ConfigMap"}, "K8S-SHAPE", "missing or empty 'apiVersion'"),
    ],
)
def test_unknown_kinds_and_shapes(resource, rule, message):
    (problem,) = INDEX.validate(resource, "1.34")
    assert (problem.rule, problem.message) == (rule, message)


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
