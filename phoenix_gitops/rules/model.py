"""What the rules read: one overlay's rendered resources, with the Phoenix workloads and their roles picked out.

Which workloads run a Phoenix release, and in which role, is decided by evidence (`workloads.py`): **APP** (the
reference's word) is any Phoenix workload of role `web`, **C** its release container, **JOB** any Phoenix
migration Job; `View.phoenix(family)` gives the workloads a rule family applies to. Environment variables are
resolved the way the kubelet does it (`envFrom` in order, then `env`, the last definition winning), through the
ConfigMaps of the same build, so a value set by a `configMapGenerator` literal is seen.

Nothing here reports; rules (see `registry.py`) turn what they see into hits.

Usage:
    view = View(env, profile="prod", overlay=overlay, resources=[Res(doc, origin) for ...], graph=graph, policy=policy)
    app = view.app                       # Res of the first web workload, or None
    c_path, c = view.container(app)      # ('spec', 'template', 'spec', 'containers', 0), {...}
    view.resolve(app, c_path, "PHX_HOST").value     # 'api.example.org'
    [w.res.label for w in view.phoenix("phoenix-long-running")]   # ['Deployment/api-web', 'Deployment/api-worker']
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..images import split_image

if TYPE_CHECKING:  # pragma: no cover
    from ..layout import Environment, Overlay
    from ..sources import SourceGraph
    from .policy import Policy
    from .workloads import Workload

__all__ = [
    "JsonPath", "Res", "View", "Resolved", "POD_TEMPLATE_KINDS", "COMPONENT", "NAME", "INSTANCE",
    "parse_quantity", "selector_matches", "label_selector_matches", "as_int", "group_of", "pod_spec_path",
    "pod_labels_path", "containers_of", "command_of", "migrates", "erl_options", "as_dict", "as_list", "each_app",
    "each_release", "kustomization_docs", "image_entry",
]

JsonPath = tuple[str | int, ...]

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
                      "CronJob", "Pod")
"""Kinds that run pods (a workload): the Phoenix rules apply to an overlay that renders one of these."""
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
            "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
ERL_VARS = ("ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS", "ELIXIR_ERL_OPTIONS")
"""Environment variables the BEAM reads emulator flags from."""


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one (rules never trust a shape)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


_dict, _list = as_dict, as_list


@dataclass(frozen=True, eq=False)
class Res:
    """One rendered resource and the origin kustomize recorded for it (`{'path': ...}` or `{'configuredIn': ...}`),
    given as is or as a callable that gets it on first use (the overlay was built without origins)."""

    data: dict[str, Any]
    given_origin: dict[str, str] | Callable[[], dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def origin(self) -> dict[str, str]:
        return self.given_origin() if callable(self.given_origin) else self.given_origin

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    @property
    def metadata(self) -> dict[str, Any]:
        return _dict(self.data.get("metadata"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        value = self.metadata.get("namespace")
        return str(value) if value is not None else None

    @property
    def labels(self) -> dict[str, Any]:
        return _dict(self.metadata.get("labels"))

    @property
    def annotations(self) -> dict[str, Any]:
        return _dict(self.metadata.get("annotations"))

    @property
    def spec(self) -> dict[str, Any]:
        return _dict(self.data.get("spec"))

    @property
    def label(self) -> str:
        """`Kind/name`, as findings name resources."""
        return f"{self.kind}/{self.name}"

    def get(self, path: JsonPath) -> Any:
        """The value at `path`, or None when any step is missing."""
        value: Any = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return None
            elif not isinstance(value, dict):
                return None
            value = value[part] if isinstance(part, int) else value.get(part)
        return value


@dataclass(frozen=True)
class Resolved:
    """Where an environment variable of a container gets its value from.

    `how` is `value` (a literal in `env`), `configmap` (a ConfigMap key, through `envFrom` or
    `configMapKeyRef`), `secret` (`secretKeyRef` or `envFrom.secretRef`), `field` (`fieldRef`), `resource`
    (`resourceFieldRef`) or `unresolved` (a ConfigMap that is not in the build). `value` is set for `value`
    and `configmap`. `res`/`path` point at what set it (the workload's env entry, or the ConfigMap key).
    """

    name: str
    how: str
    value: str | None
    res: Res
    path: JsonPath
    index: int | None = None
    """Position of the entry in the container's `env` list (None when it came from `envFrom`)."""
    ref: str | None = None
    """The Secret or ConfigMap name for `secret`/`configmap`, the field path for `field`."""


def group_of(api_version: str) -> str:
    """`apps` for `apps/v1`, '' for the core group `v1`."""
    return api_version.rpartition("/")[0]


def as_int(value: Any) -> int | None:
    """An int for an int or an all-digit string, else None (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    return None


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity (`500m`, `1`, `768Mi`, `1e3`) as a Decimal, or None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
        return None
    exponent, suffix = match.group(2), match.group(3)
    if exponent:
        return number * (Decimal(10) ** int(exponent[1:]))
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number


def selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a selector matches `labels`: a Service-style map, or a LabelSelector (matchLabels/matchExpressions).

    An empty LabelSelector matches everything; an empty Service selector matches nothing.
    """
    if not isinstance(selector, dict):
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return bool(selector) and all(str(labels.get(k)) == str(v) and k in labels for k, v in selector.items())
    for key, value in _dict(selector.get("matchLabels")).items():
        if key not in labels or str(labels[key]) != str(value):
            return False
    for expression in _list(selector.get("matchExpressions")):
        expression = _dict(expression)
        label, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in _list(expression.get("values"))]
        value = str(labels[label]) if isinstance(label, str) and label in labels else None
        present = value is not None
        if operator == "In" and value not in values:
            return False
        if operator == "NotIn" and value in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def label_selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a LabelSelector (a NetworkPolicy's `podSelector`, a PDB's or a spread constraint's selector) matches
    `labels`: `{}` matches every pod, a missing selector none."""
    if not isinstance(selector, dict):
        return False
    if not selector:
        return True
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return False  # not a LabelSelector
    return selector_matches(selector, labels)


def pod_spec_path(res: Res) -> JsonPath | None:
    """Where the pod spec of a workload is, or None when `res` runs no pods."""
    if res.kind == "Pod":
        return ("spec",)
    if res.kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template", "spec")
    if res.kind in POD_TEMPLATE_KINDS:
        return ("spec", "template", "spec")
    return None


def pod_labels_path(res: Res) -> JsonPath | None:
    """Where the pod labels of a workload are, or None when `res` runs no pods."""
    spec = pod_spec_path(res)
    return None if spec is None else spec[:-1] + ("metadata", "labels")


def containers_of(res: Res, lists: tuple[str, ...] = _CONTAINER_LISTS) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """Every container of a workload (init, regular and ephemeral by default) with its JSON path."""
    spec_path = pod_spec_path(res)
    if spec_path is None:
        return
    spec = _dict(res.get(spec_path))
    for key in lists:
        for index, container in enumerate(_list(spec.get(key))):
            if isinstance(container, dict):
                yield spec_path + (key, index), container


def command_of(container: dict[str, Any]) -> list[str]:
    """`command` + `args` of a container, as strings."""
    return [str(part) for part in _list(container.get("command")) + _list(container.get("args"))]


def migrates(container: dict[str, Any]) -> bool:
    """Whether a container's command line mentions `migrate` (it runs the release's migrations)."""
    return "migrate" in " ".join(command_of(container))


def erl_options(view: View, res: Res, c_path: JsonPath) -> str:
    """The BEAM flags a container passes through `ERL_FLAGS`/`ERL_AFLAGS`/`ERL_ZFLAGS`/`ELIXIR_ERL_OPTIONS`."""
    found = (view.resolve(res, c_path, name) for name in ERL_VARS)
    return " ".join(r.value for r in found if r is not None and r.value)


class View:
    """One rendered overlay (an app in an environment), as the rules see it."""

    def __init__(
        self,
        env: Environment,
        profile: str,
        overlay: Overlay,
        resources: list[Res],
        graph: SourceGraph | None | Callable[[], SourceGraph | None],
        policy: Policy,
        root: Path | None = None,
        schemas: Any = None,
    ) -> None:
        self.env = env
        self.profile = profile
        self.overlay = overlay
        self.resources = resources
        self._graph = graph
        self.policy = policy
        self.root = root if root is not None else overlay.path.parent.parent.parent
        """The repository root (overlays/<env>/<app> is three levels below it)."""
        self.schemas = schemas
        """The `kube_schemas.SchemaIndex` of the run (for the scope of CRD kinds), or None."""
        self.memo: dict[Any, Any] = {}
        """What rules computed once for this view and share (resolved env, scanned values, generator inputs)."""

    @cached_property
    def graph(self) -> SourceGraph | None:
        """The overlay's SourceGraph (read on first use when given as a callable), or None."""
        return self._graph() if callable(self._graph) else self._graph

    def setting(self, key: str) -> Any:
        """A policy setting; a per-profile setting (a mapping keyed by profile) gives this profile's value."""
        return self.policy.setting(key, self.profile)

    def of_kind(self, *kinds: str) -> list[Res]:
        return [r for r in self.resources if r.kind in kinds]

    @cached_property
    def workloads(self) -> list[Res]:
        """Every resource that runs pods."""
        return [r for r in self.resources if pod_spec_path(r) is not None]

    def of_component(self, kind: str, component: str) -> list[Res]:
        """The resources of `kind` labelled `app.kubernetes.io/component: <component>`."""
        return [r for r in self.of_kind(kind) if r.labels.get(COMPONENT) == component]

    @property
    def classified(self) -> list[Workload]:
        """Every workload, classified by evidence (`workloads.classify`)."""
        from .workloads import classify  # (workloads builds on this module)

        return classify(self)

    def phoenix(self, family: str) -> list[Workload]:
        """The Phoenix workloads rule family `family` applies to (see `workloads.WORKLOAD_FAMILIES`)."""
        return [w for w in self.classified if w.phoenix and w.role is not None and family in w.families]

    def workload(self, res: Res) -> Workload | None:
        """The classification of workload `res`."""
        return next((w for w in self.classified if w.res is res), None)

    def others(self) -> list[Res]:
        """The workloads that are not Phoenix workloads (unclassified ones included)."""
        return [w.res for w in self.classified if not w.phoenix or w.role is None]

    @cached_property
    def apps(self) -> list[Res]:
        """Every APP: the Phoenix workloads of role web."""
        return [w.res for w in self.phoenix("phoenix-web")]

    @cached_property
    def jobs(self) -> list[Res]:
        """Every JOB: the Phoenix migration Jobs."""
        return [w.res for w in self.phoenix("phoenix-migration")]

    @property
    def app(self) -> Res | None:
        return next(iter(self.apps), None)

    @property
    def job(self) -> Res | None:
        return next(iter(self.jobs), None)

    @property
    def is_app(self) -> bool:
        """True when the overlay runs pods: the Phoenix rules only make sense there (a config-only overlay is not
        an app)."""
        return bool(self.workloads)

    def pod_labels(self, res: Res) -> dict[str, Any]:
        path = pod_labels_path(res)
        return _dict(res.get(path)) if path else {}

    def pod_spec(self, res: Res) -> dict[str, Any]:
        path = pod_spec_path(res)
        return _dict(res.get(path)) if path else {}

    def container(self, app: Res) -> tuple[JsonPath, dict[str, Any]] | tuple[None, None]:
        """C: the release container of a Phoenix workload; for any other, the container named like the app, else
        the only container, else the first (JsonPath, dict)."""
        workload = self.workload(app)
        if workload is not None and workload.c_path is not None:
            return workload.c_path, workload.container
        found = list(containers_of(app, ("containers",)))
        if not found:
            return None, None
        wanted = app.labels.get(NAME) or self.pod_labels(app).get(NAME)
        for path, container in found:
            if wanted is not None and container.get("name") == wanted:
                return path, container
        return found[0]

    def selects_exactly(self, selector: Any, target: Res, label_selector: bool = False) -> bool:
        """True when `selector` matches the pods of `target` and of no other workload of the build (a LabelSelector,
        where `{}` matches every pod, with `label_selector`; else a Service selector).

        This is how "a selector equal to APP's selector" is read: the shipped Services and PDB select
        name + instance + `component: web`, so the migration Job's pod is never an endpoint nor counted.
        """
        matches = label_selector_matches if label_selector else selector_matches
        if not matches(selector, self.pod_labels(target)):
            return False
        return not any(matches(selector, self.pod_labels(other)) for other in self.workloads
                       if other is not target and other.namespace == target.namespace)

    def hpas_for(self, target: Res) -> list[Res]:
        """HorizontalPodAutoscalers whose scaleTargetRef names `target`."""
        found = []
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            ref = _dict(hpa.spec.get("scaleTargetRef"))
            if ref.get("kind") == target.kind and ref.get("name") == target.name and hpa.namespace == target.namespace:
                found.append(hpa)
        return found

    def replicas(self, app: Res) -> tuple[int, Res, JsonPath]:
        """R of rule V24: HPA minReplicas (default 1) when an HPA targets APP, else spec.replicas (default 1)."""
        hpas = self.hpas_for(app)
        if hpas:
            value = as_int(hpas[0].spec.get("minReplicas"))
            return (1 if value is None else value), hpas[0], ("spec", "minReplicas")
        value = as_int(app.spec.get("replicas"))
        return (1 if value is None else value), app, ("spec", "replicas")

    def configmap(self, name: str, namespace: str | None) -> Res | None:
        """A ConfigMap of the build by name (exact, else a hash-suffixed generated name)."""
        candidates = [c for c in self.of_kind("ConfigMap") if namespace is None or c.namespace in (None, namespace)]
        for cm in candidates:
            if cm.name == name:
                return cm
        for cm in candidates:
            if re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", cm.name):
                return cm
        return None

    def env_of(self, res: Res, c_path: JsonPath) -> dict[str, Resolved]:
        """Every environment variable of the container at `c_path`, resolved (the kubelet's order and precedence)."""
        key = ("env", id(res), c_path)
        if key in self.memo:
            cached: dict[str, Resolved] = self.memo[key]
            return cached
        container = _dict(res.get(c_path))
        found: dict[str, Resolved] = {}
        for index, source in enumerate(_list(container.get("envFrom"))):
            source = _dict(source)
            prefix = str(source.get("prefix") or "")
            if "configMapRef" in source:
                ref = str(_dict(source["configMapRef"]).get("name", ""))
                cm = self.configmap(ref, res.namespace)
                if cm is None:
                    continue
                for data_key, value in _dict(cm.data.get("data")).items():
                    found[prefix + data_key] = Resolved(prefix + data_key, "configmap", str(value), cm,
                                                        ("data", data_key), ref=cm.name)
            elif "secretRef" in source:
                ref = str(_dict(source["secretRef"]).get("name", ""))
                found[f"{prefix}*{ref}"] = Resolved(f"{prefix}*", "secret", None, res, c_path + ("envFrom", index),
                                                    ref=ref)
        for index, entry in enumerate(_list(container.get("env"))):
            entry = _dict(entry)
            name = str(entry.get("name", ""))
            path = c_path + ("env", index)
            value_from = _dict(entry.get("valueFrom"))
            if "value" in entry or not value_from:
                value = entry.get("value")
                found[name] = Resolved(name, "value", "" if value is None else str(value), res, path, index)
            elif "secretKeyRef" in value_from:
                key_ref = _dict(value_from["secretKeyRef"])
                found[name] = Resolved(name, "secret", None, res, path, index, ref=str(key_ref.get("name", "")))
            elif "configMapKeyRef" in value_from:
                key_ref = _dict(value_from["configMapKeyRef"])
                cm = self.configmap(str(key_ref.get("name", "")), res.namespace)
                data = _dict(cm.data.get("data")) if cm else {}
                if cm is not None and key_ref.get("key") in data:
                    found[name] = Resolved(name, "configmap", str(data[key_ref["key"]]), cm, ("data", key_ref["key"]),
                                           index, ref=cm.name)
                else:
                    found[name] = Resolved(name, "unresolved", None, res, path, index)
            elif "fieldRef" in value_from:
                field_path = str(_dict(value_from["fieldRef"]).get("fieldPath", ""))
                found[name] = Resolved(name, "field", None, res, path, index, ref=field_path)
            else:
                found[name] = Resolved(name, "resource", None, res, path, index)
        self.memo[key] = found
        return found

    def resolve(self, res: Res, c_path: JsonPath, name: str) -> Resolved | None:
        """How variable `name` of the container at `c_path` gets its value; a name only an `envFrom` Secret could
        set is reported as `secret` from that Secret when no literal or ConfigMap sets it."""
        env = self.env_of(res, c_path)
        if name in env:
            return env[name]
        secret_refs = [r for key, r in env.items() if r.how == "secret" and key.endswith(f"*{r.ref}") and
                       name.startswith(key.split("*", 1)[0])]
        return secret_refs[-1] if secret_refs else None

    @cached_property
    def secret_sources(self) -> dict[str, str]:
        """Secret names this build provides without plaintext in git: {name: what provides it}."""
        found: dict[str, str] = {}
        for res in self.resources:
            if res.kind == "ExternalSecret":
                target = _dict(res.spec.get("target"))
                found[str(target.get("name") or res.name)] = f"ExternalSecret/{res.name}"
            elif res.kind == "SealedSecret":
                template = _dict(_dict(res.spec.get("template")).get("metadata"))
                found[str(template.get("name") or res.name)] = f"SealedSecret/{res.name}"
            elif res.kind == "Secret" and res.api_version == "v1":
                if isinstance(res.data.get("sops"), dict):
                    found[res.name] = f"SOPS-encrypted Secret/{res.name}"
                elif "configuredIn" in res.origin:
                    found[res.name] = f"secretGenerator ({res.origin['configuredIn']})"
        for pattern in self.setting("preProvisionedSecrets") or []:
            found.setdefault(str(pattern), "the policy's preProvisionedSecrets")
        return found

    def secret_source(self, name: str) -> str | None:
        """What provides Secret `name` (None when nothing in the build nor the policy does)."""
        for key, what in self.secret_sources.items():
            if key == name or fnmatch.fnmatchcase(name, key):
                return what
        return None


def each_app(view: View) -> Iterator[tuple[Res, JsonPath, dict[str, Any]]]:
    """(APP, path of C, C) for every APP (Phoenix web workload) that has a container."""
    yield from each_release(view, "phoenix-web")


def each_release(view: View, family: str) -> Iterator[tuple[Res, JsonPath, dict[str, Any]]]:
    """(workload, path of C, C) for every Phoenix workload of rule family `family` that has a release container."""
    for workload in view.phoenix(family):
        if workload.c_path is not None:
            yield workload.res, workload.c_path, workload.container


def kustomization_docs(view: View) -> Iterator[Any]:
    """The overlay's kustomization documents, outermost (the overlay's own) first."""
    if view.graph is None:
        return
    for rel in view.graph.kustomizations:
        for doc in view.graph.documents.get(rel, []):
            if isinstance(doc.data, dict) and doc.data.get("kind", "Kustomization") in ("Kustomization", "Component"):
                yield doc


def image_entry(view: View, image: str) -> tuple[Any, JsonPath] | None:
    """The `images:` entry of the overlay's kustomizations that set `image` (outermost first): (doc, path)."""
    repository = split_image(image).name
    for doc in kustomization_docs(view):
        for index, entry in enumerate(_list(doc.data.get("images"))):
            entry = _dict(entry)
            if entry.get("newName") == repository or (entry.get("name") == repository and "newName" not in entry):
                for key in ("digest", "newTag"):
                    if key in entry:
                        return doc, ("images", index, key)
                return doc, ("images", index)
    return None
