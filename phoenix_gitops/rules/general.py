"""General Kubernetes rules users expect from kube-linter, kube-score and Polaris, where no Phoenix rule covers them.

Dangling references inside one build (a Service, HPA or PDB that targets nothing; a ConfigMap or Secret nobody
provides) and APIs the cluster still serves but has deprecated. Removed APIs are the schema stage's
`K8S-UNKNOWN-KIND` (an error); this rule warns one step earlier. Image tags, privileges, root, probes, resources
and host access of non-Phoenix workloads are in `security.py` and `availability.py`.

Usage:
    from phoenix_gitops.rules import general
    general.deprecation("1.25", "autoscaling/v2beta2", "HorizontalPodAutoscaler")   # 'use autoscaling/v2 ...'
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator
from importlib import resources

from .model import JsonPath, Res, View, as_dict, as_list, containers_of, pod_spec_path, selector_matches
from .registry import Hit, rule

_K8S_DATA = resources.files("kubernetes_validate") / "kubernetes-json-schema"
_DEPRECATED = re.compile(r"Deprecated: This API is deprecated in (v?[\d.]+)\+?|Deprecated in (v?[\d.]+)")
_STABLE = re.compile(r"^v\d+$")
_AUTOMATIC_CONFIGMAPS = ("kube-root-ca.crt",)
"""ConfigMaps Kubernetes creates in every namespace."""


@functools.cache
def deprecation(version: str, api_version: str, kind: str) -> str | None:
    """Why `api_version` `kind` is deprecated in Kubernetes `version` (from the pinned schemas), or None.

    Deprecated means: the API's own description says so (e.g. v1 Endpoints since 1.33), or it is an alpha/beta
    version while a stable version of the same group and kind is served (e.g. autoscaling/v2beta2 in 1.25). An API
    the cluster does not serve at all is the schema stage's K8S-UNKNOWN-KIND, not this.
    """
    folder = _K8S_DATA / f"v{version}.0-local-strict"
    if not folder.is_dir():
        return None
    group, _, wanted = api_version.rpartition("/")
    served: dict[str, str] = {}
    for entry in folder.iterdir():
        if not entry.name.startswith(f"{kind.lower()}-"):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        for gvk in data.get("x-kubernetes-group-version-kind", []):
            if gvk.get("kind") == kind and gvk.get("group", "") == group:
                served[str(gvk.get("version"))] = str(data.get("description", ""))
    if wanted not in served:
        return None
    marked = _DEPRECATED.search(served[wanted])
    if marked:
        return f"its API documentation marks it deprecated (since {marked.group(1) or marked.group(2)})"
    stable = sorted((v for v in served if _STABLE.match(v)), key=lambda v: int(v[1:]))
    if not _STABLE.match(wanted) and stable:
        newest = f"{group}/{stable[-1]}" if group else stable[-1]
        return f"a stable version is served; use {newest}"
    return None


@rule(
    "K8S-DEPRECATED-API", family="general", defaults=("warning", "warning", "warning"),
    title="No deprecated API versions for the cluster's Kubernetes version",
    why="""A deprecated API still works but will be removed in a later release: the upgrade that removes it breaks
    the sync. Moving early costs one line.""",
    fix="Use the apiVersion the message names (or the replacement kind the Kubernetes deprecation guide names).",
    interpretation="""Uses the pinned Kubernetes schemas of the version each environment file declares: an API is
    deprecated when its description says so, or when it is alpha/beta and a stable version of the same kind is
    served. APIs the cluster no longer serves are already errors of the schema stage (K8S-UNKNOWN-KIND).""",
)
def deprecated_api(view: View) -> Iterator[Hit]:
    for res in view.resources:
        if not res.api_version or not res.kind:
            continue
        if view.schemas is not None and view.schemas.scope(res.api_version, res.kind):
            continue  # a CRD kind: its versions are the CRD's business
        reason = deprecation(view.env.kubernetes_version, res.api_version, res.kind)
        if reason:
            yield Hit(res, ("apiVersion",), f"{res.api_version} {res.kind} is deprecated in Kubernetes "
                      f"{view.env.kubernetes_version}: {reason}")


def _selecting_no_pods(view: View, kind: str) -> Iterator[Hit]:
    """A hit for every `kind` whose (non-empty) `spec.selector` matches no pod of the build in its namespace."""
    for res in view.of_kind(kind):
        selector = res.spec.get("selector")
        if isinstance(selector, dict) and selector and not any(
            selector_matches(selector, view.pod_labels(w)) for w in view.workloads if w.namespace == res.namespace
        ):
            elsewhere = [w for w in view.workloads if w.namespace != res.namespace
                         and selector_matches(selector, view.pod_labels(w))]
            said = (f" in its namespace {res.namespace}; it matches {', '.join(w.label for w in elsewhere)} in "
                    f"namespace {', '.join(sorted({str(w.namespace) for w in elsewhere}))}, and a {kind} only selects "
                    "pods of its own namespace") if elsewhere else " of this build"
            yield Hit(res, ("spec", "selector"), f"{res.label} selects no pods{said}")


@rule(
    "K8S-SERVICE-SELECTOR", family="general", defaults=("error", "error", "error"),
    title="A Service's selector matches pods of the build",
    why="A Service whose selector matches no pod template has no endpoints: traffic to it fails (kube-linter's "
        "dangling-service).",
    fix="Make the selector a subset of the pod template labels of the workload it fronts.",
    interpretation="Services without a selector (ExternalName, manually managed endpoints) are not checked.",
)
def service_selector(view: View) -> Iterator[Hit]:
    yield from _selecting_no_pods(view, "Service")


@rule(
    "K8S-HPA-TARGET", family="general", defaults=("error", "error", "error"),
    title="An HPA targets an object of the build",
    why="An HPA whose scaleTargetRef names nothing scales nothing; usually a rename (namePrefix) missed it.",
    fix="Point `spec.scaleTargetRef` at the Deployment (kind and name as rendered; kustomize renames it with the "
        "Deployment).",
)
def hpa_target(view: View) -> Iterator[Hit]:
    for hpa in view.of_kind("HorizontalPodAutoscaler"):
        ref = as_dict(hpa.spec.get("scaleTargetRef"))
        if not any(r.kind == ref.get("kind") and r.name == ref.get("name") and r.namespace == hpa.namespace
                   for r in view.resources):
            yield Hit(hpa, ("spec", "scaleTargetRef"), f"{hpa.label} targets {ref.get('kind')}/{ref.get('name')}, "
                      "which is not in this build")


@rule(
    "K8S-PDB-SELECTOR", family="general", defaults=("error", "error", "error"),
    title="A PodDisruptionBudget selects pods of the build",
    why="A budget that selects nothing protects nothing during node drains; usually a label or a rename missed it.",
    fix="Make the selector match the pod template labels of the workload it protects.",
)
def pdb_selector(view: View) -> Iterator[Hit]:
    yield from _selecting_no_pods(view, "PodDisruptionBudget")


def _references(view: View, res: Res) -> Iterator[tuple[str, str, JsonPath]]:
    """(kind, name, path) of every non-optional ConfigMap/Secret reference of a workload."""
    for path, container in containers_of(res):
        for index, source in enumerate(as_list(container.get("envFrom"))):
            source = as_dict(source)
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = as_dict(source.get(key))
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name", "")), path + ("envFrom", index, key)
        for index, entry in enumerate(as_list(container.get("env"))):
            value_from = as_dict(as_dict(entry).get("valueFrom"))
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = as_dict(value_from.get(key))
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name", "")), path + ("env", index, "valueFrom", key)
    spec_path = pod_spec_path(res) or ("spec",)
    spec = view.pod_spec(res)
    for index, volume in enumerate(as_list(spec.get("volumes"))):
        volume = as_dict(volume)
        base = spec_path + ("volumes", index)
        if volume.get("configMap") and not as_dict(volume["configMap"]).get("optional"):
            yield "ConfigMap", str(as_dict(volume["configMap"]).get("name", "")), base + ("configMap",)
        if volume.get("secret") and not as_dict(volume["secret"]).get("optional"):
            yield "Secret", str(as_dict(volume["secret"]).get("secretName", "")), base + ("secret",)
        for s_index, source in enumerate(as_list(as_dict(volume.get("projected")).get("sources"))):
            for key, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                ref = as_dict(as_dict(source).get(key))
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name", "")), base + ("projected", "sources", s_index, key)
    for index, secret in enumerate(as_list(spec.get("imagePullSecrets"))):
        yield "Secret", str(as_dict(secret).get("name", "")), spec_path + ("imagePullSecrets", index)


@rule(
    "K8S-REF-MISSING", family="general", defaults=("error", "error", "error"),
    title="Every referenced ConfigMap and Secret has a source",
    why="""A pod that references a ConfigMap or Secret nobody creates never starts (CreateContainerConfigError). In
    a GitOps repo every one must come from the build itself, or from a declared external source.""",
    fix="""Add the ConfigMap (configMapGenerator) or the ExternalSecret/SealedSecret/SOPS Secret that makes it, fix the
    name, or list a Secret/ConfigMap provisioned outside the repo in the policy's `preProvisionedSecrets`/
    `preProvisionedConfigMaps`; mark a reference that may be absent `optional: true`.""",
    interpretation="""Sources: ConfigMaps and Secrets of the build, ExternalSecret targets, SealedSecrets (their
    template name), SOPS-encrypted Secrets, and the policy's pre-provisioned names (glob patterns);
    `kube-root-ca.crt` exists in every namespace.""",
)
def ref_missing(view: View) -> Iterator[Hit]:
    configmaps = {c.name for c in view.of_kind("ConfigMap")} | set(_AUTOMATIC_CONFIGMAPS)
    configmap_patterns = [str(p) for p in view.setting("preProvisionedConfigMaps") or []]
    secrets = {s.name for s in view.of_kind("Secret")}
    for res in view.workloads:
        for kind, name, path in _references(view, res):
            if kind == "ConfigMap":
                known = name in configmaps or any(fnmatch.fnmatchcase(name, p) for p in configmap_patterns)
            else:
                known = name in secrets or view.secret_source(name) is not None
            if not known:
                yield Hit(res, path, f"{res.label} references {kind} {name!r}, which nothing in this build or the "
                          "policy provides")
