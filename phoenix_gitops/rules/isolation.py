"""Isolation rules: an environment's rendered output reaches only its own cluster, and only namespaced objects.

Two isolation rules are reported by other stages and only catalogued here: `ISO-CROSS-ENV` (an overlay reads
another environment's folder: `sources.py`, before kustomize runs) and, for V36, `ISO-CLUSTER-DISTINCT`, whose
check is `cluster_isolation.check_isolation` (also run by `render`); `invoke check` calls it here so that it
reports the problem too, with the policy's severity.

Usage:
    from phoenix_gitops.rules import isolation
    list(isolation.forbidden_kinds(view))    # a Hit per Argo CD Application/AppProject or Flux object in app output
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..cluster_isolation import check_isolation
from ..errors import InputError
from ..sourcemap import Location
from ..yamlio import load_file
from .model import Res, View
from .registry import Hit, document, rule

CORE_CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ComponentStatus", "ClusterRole", "ClusterRoleBinding", "StorageClass",
    "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass", "CustomResourceDefinition",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "PriorityClass",
    "RuntimeClass", "IngressClass", "IPAddress", "ServiceCIDR", "APIService", "CertificateSigningRequest",
    "ClusterTrustBundle", "FlowSchema", "PriorityLevelConfiguration", "PodSecurityPolicy", "DeviceClass",
    "ResourceSlice", "StorageVersionMigration", "StorageVersion", "SelfSubjectReview", "TokenReview",
    "SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview",
})
"""Cluster-scoped kinds of the Kubernetes API groups (CRD kinds take their scope from
phoenix_gitops/data/schemas/crds/index.json)."""

document(
    "ISO-CROSS-ENV", family="isolation", stage="sources.py (before kustomize runs)",
    title="An overlay never reads another environment's folder",
    why="""A path from `overlays/prod` into `overlays/staging` (or any other environment) lets a change meant for
    one cluster land in another: the environment boundary is the folder.""",
    fix="Move what both environments need into `base/` (or a component) and reference it from each overlay.",
)


@rule(
    "ISO-CLUSTER-DISTINCT", v="V36", family="isolation", scope="cross-env", defaults=("-", "error", "error"),
    suppressible=False,
    title="Each environment is its own cluster",
    why="""The environment boundary is a cluster, not a namespace: two environment files naming the same cluster,
    API server or Argo CD project let one environment's sync change the other's objects.""",
    fix="""Give every `overlays/<env>/environment.yaml` its own `cluster`, `server` and `argocdProject`.""",
    interpretation="""Compares the environment files' `cluster`, `server` (ignoring case, a trailing `/` and `:443`)
    and `argocdProject` across every environment of the repository, whichever were selected; the Argo CD
    Applications and Flux Kustomizations generated from them then differ too (`render` checks those). The check is
    `cluster_isolation.check_isolation`, the same one `render` runs, pair by pair; the finding is reported in both
    environments of a pair, each at the line of its own file with its own severity, so that it lands on the file
    that changed whichever of the two it is.""",
)
def cluster_distinct(views: list[View], context: Any) -> Iterator[tuple[str, Hit]]:
    envs = sorted(context.envs, key=lambda e: e.name)
    for index, first in enumerate(envs):
        for second in envs[index + 1:]:
            for finding in check_isolation([first, second], {}):
                if finding.rule != "ISO-CLUSTER-DISTINCT" or not finding.env:
                    continue
                yield finding.env, Hit(None, (), finding.message,
                                       location=Location(finding.path, finding.line, finding.col))
                other = first if finding.env == second.name else second
                partner = _partner(finding.message, other, second if other is first else first)
                if partner is not None:
                    yield other.name, partner


_SHARED = {"cluster": ("cluster", "cluster"), "server": ("server", "server"),
           "argocdProject": ("argocd_project", "Argo CD project")}
"""The environment file's keys V36 compares: (Environment attribute, how messages name it)."""


def _partner(message: str, env: Any, other: Any) -> Hit | None:
    """The same V36 finding seen from the other environment of the pair, at the line of its own file."""
    match = re.match(r"\$\.(\w+):", message)
    if match is None or match.group(1) not in _SHARED:
        return None
    key = match.group(1)
    attribute, what = _SHARED[key]
    try:
        docs = load_file(env.repo_root / env.file, name=env.file)
    except InputError:
        docs = []
    line, col = docs[0].position((key,)) if docs else (None, None)
    text = (f"$.{key}: {getattr(env, attribute)!r} is also the {what} of environment {other.name} ({other.file}); "
            "each environment must be its own cluster (V36)")
    return Hit(None, (), text, location=Location(env.file, line, col))


def _key(group: str, kind: str) -> str:
    return f"{group}/{kind}" if group else kind


@rule(
    "ISO-FORBIDDEN-KIND", family="isolation", defaults=("error", "error", "error"),
    title="No Argo CD or Flux objects in an app's rendered output",
    why="""Whoever can change an app overlay must not be able to create Applications, AppProjects or Flux sources:
    that is how an app team reaches other clusters and projects (CVE-2022-24768). Bootstrap objects are generated
    into `clusters/<env>/`, an admin-owned path.""",
    fix="""Remove the object from the overlay; `invoke render` generates the Argo CD Applications and Flux
    Kustomizations from the environment files.""",
    interpretation="The kinds are the policy's `forbiddenKinds` (`<group>/<Kind>`).",
)
def forbidden_kinds(view: View) -> Iterator[Hit]:
    forbidden = {str(k) for k in view.setting("forbiddenKinds") or []}
    for res in view.resources:
        if _key(res.group, res.kind) in forbidden:
            yield Hit(res, ("kind",), f"{res.api_version} {res.kind} does not belong in an app's rendered output")


@rule(
    "ISO-CLUSTER-SCOPED", family="isolation", defaults=("error", "error", "error"),
    title="Cluster-scoped kinds only from the allow-list",
    why="""A cluster-scoped object (ClusterRole, webhook, CRD, StorageClass, ...) affects every namespace of the
    cluster, not just the app's; the Argo CD project only allows what its `clusterResourceWhitelist` lists.""",
    fix="""Keep the object out of the app (it belongs to the platform's own repository), or, if every app may own
    it, add it to the policy's `clusterScopedKinds` and to the AppProject's whitelist.""",
    interpretation="""The allow-list is the policy's `clusterScopedKinds` (`Kind` for the core groups, `<group>/<Kind>`
    otherwise): `Namespace` by default, as the generated AppProject allows. CRD kinds are cluster-scoped when their
    CRD says so (phoenix_gitops/data/schemas/crds/index.json).""",
)
def cluster_scoped(view: View) -> Iterator[Hit]:
    allowed = {str(k) for k in view.setting("clusterScopedKinds") or []}
    for res in view.resources:
        if is_cluster_scoped(view, res) and _key(res.group, res.kind) not in allowed and not (
                _core(res) and res.kind in allowed):
            yield Hit(res, ("kind",), f"{res.kind} is cluster-scoped and not in the policy's clusterScopedKinds")


def is_cluster_scoped(view: View, res: Res) -> bool:
    """Whether `res` is a cluster-scoped object: by its CRD's scope when the run knows the kind, else by the
    core list."""
    crd_scope = view.schemas.scope(res.api_version, res.kind) if view.schemas is not None else None
    return crd_scope == "Cluster" if crd_scope else (_core(res) and res.kind in CORE_CLUSTER_SCOPED)


def _core(res: Res) -> bool:
    """Whether `res` belongs to a core or `*.k8s.io` group."""
    return res.group == "" or "." not in res.group or res.group.endswith(".k8s.io")
