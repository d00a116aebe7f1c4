"""sourcemap: a rendered field maps to the patch that set it, else to its base file; lists match by name."""
from __future__ import annotations

from conftest import FIXTURE_REPOS

from phoenix_gitops.layout import Repo
from phoenix_gitops.sourcemap import Location, locate, origin_of
from phoenix_gitops.sources import Patch, SourceGraph, read_sources
from phoenix_gitops.yamlio import load_text

GRAPH = read_sources(FIXTURE_REPOS / "webapp", Repo(FIXTURE_REPOS / "webapp").environment("prod").overlays()[0])
ORIGIN = {"path": "base/web/deployment.yaml"}
RENDERED = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
    "spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "sidecar"},
        {"name": "app", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"name": "http", "containerPort": 4000}],
         "resources": {"requests": {"cpu": "500m"}}},
    ]}}},
}


def test_field_set_by_a_patch_points_at_the_patch():
    assert locate(GRAPH, RENDERED, ("spec", "replicas"), ORIGIN) == Location(
        "overlays/prod/web/deployment-patch.yaml", 6, 3)


def test_list_items_are_matched_by_name_not_position():
    path = ("spec", "template", "spec", "containers", 1, "resources", "requests", "cpu")
    assert locate(GRAPH, RENDERED, path, ORIGIN) == Location("overlays/prod/web/deployment-patch.yaml", 13, 15)
    port = ("spec", "template", "spec", "containers", 1, "ports", 0, "containerPort")
    assert locate(GRAPH, RENDERED, port, ORIGIN) == Location("base/web/deployment.yaml", 19, 15)


def test_field_only_in_the_base_points_at_the_base_and_missing_fields_at_their_parent():
    assert locate(GRAPH, RENDERED, ("spec", "template", "spec", "containers", 1, "image"), ORIGIN) == Location(
        "base/web/deployment.yaml", 16, 11)
    assert locate(GRAPH, RENDERED, ("spec", "paused"), ORIGIN) == Location("base/web/deployment.yaml", 5, 1)


def test_kind_problems_point_at_the_resource_file_even_when_a_patch_names_the_kind():
    assert locate(GRAPH, RENDERED, ("kind",), ORIGIN) == Location("base/web/deployment.yaml", 2, 1)


def test_unknown_origin_falls_back_to_the_overlay_kustomization():
    assert locate(GRAPH, RENDERED, ("status",), {}) == Location("overlays/prod/web/kustomization.yaml", None, None)


def test_origin_annotation_is_parsed():
    origin = "configuredIn: base/x/kustomization.yaml\nconfiguredBy:\n  kind: ConfigMapGenerator\n"
    resource = {"metadata": {"annotations": {"config.kubernetes.io/origin": origin}}}
    assert origin_of(resource) == {"configuredIn": "base/x/kustomization.yaml", "configuredBy": ""}
    assert origin_of({"kind": "ConfigMap"}) == {}


PORT_PATCH = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - name: app
          ports:
            - containerPort: 4000
              protocol: UDP
"""


def test_container_ports_are_matched_by_container_port_even_when_the_rendered_one_is_named():
    patch = load_text(PORT_PATCH, "overlays/prod/web/ports-patch.yaml")[0]
    graph = SourceGraph(GRAPH.overlay, kustomizations=GRAPH.kustomizations, documents=GRAPH.documents,
                        patches=[Patch(patch, "Deployment", "web")])
    rendered = {**RENDERED, "spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [
        {"name": "metrics", "containerPort": 9568}, {"name": "http", "containerPort": 4000, "protocol": "UDP"}]}]}}}}
    path = ("spec", "template", "spec", "containers", 0, "ports", 1, "protocol")
    assert locate(graph, rendered, path, ORIGIN) == Location("overlays/prod/web/ports-patch.yaml", 11, 15)


TWO_SERVICES = """apiVersion: v1
kind: Service
metadata: {name: counter}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: counter-admin}
spec:
  ports: [{port: 4000}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  ports: [{port: 8080}]
"""


def _services_graph() -> SourceGraph:
    graph = SourceGraph(GRAPH.overlay)
    graph.documents["k8s/services.yaml"] = load_text(TWO_SERVICES, "k8s/services.yaml")
    return graph


def test_a_resource_is_found_in_the_document_of_its_own_name_not_one_whose_name_it_starts_with():
    admin = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "counter-admin"},
             "spec": {"ports": [{"port": 4000}]}}
    assert locate(_services_graph(), admin, ("spec", "ports"), {"path": "k8s/services.yaml"}) == Location(
        "k8s/services.yaml", 11, 3)


def test_a_prefixed_name_is_found_in_the_document_of_the_longest_name_it_contains():
    prefixed = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "prod-counter-admin"},
                "spec": {"ports": [{"port": 4000}]}}  # kustomize's namePrefix
    assert locate(_services_graph(), prefixed, ("spec", "ports"), {"path": "k8s/services.yaml"}) == Location(
        "k8s/services.yaml", 11, 3)
    counter = dict(prefixed, metadata={"name": "prod-counter"})
    assert locate(_services_graph(), counter, ("spec", "ports"), {"path": "k8s/services.yaml"}) == Location(
        "k8s/services.yaml", 5, 3)
