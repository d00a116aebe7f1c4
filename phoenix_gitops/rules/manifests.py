"""Rules for manifests as teams already have them: what a template, a `kubectl get -o yaml` or a copy left behind,
and Services, Ingresses and clustering settings that point at the wrong thing.

- `K8S-PLACEHOLDER`: a `${VAR}` or `{{ ... }}` nothing fills in (Kubernetes only expands `$(VAR)`);
- `K8S-VAR-REF`: a `$(VAR)` in a container's command, args or env value that no variable of the container defines
  (Kubernetes then passes it on as is; `$$(VAR)` is the escape for a literal `$(VAR)`);
- `K8S-LIVE-OBJECT`: fields the API server writes (`status`, `metadata.uid`, `resourceVersion`, ...) committed in
  the sources (the `last-applied-configuration` annotation is SEC-LAST-APPLIED);
- `K8S-EMPTY-RESOURCE`: a kustomization lists a file with no document in it (kustomize skips it silently);
- `K8S-CLUSTER-QUERY`: a BEAM clustering setting (`DNS_CLUSTER_QUERY`, libcluster's or peerage's service, DNS name
  or selector, in env or in a config file of a ConfigMap) that names no Service of the build, or one that is not
  headless;
- `K8S-PLAIN-HTTP`: a LoadBalancer or NodePort Service that serves plain HTTP with nothing terminating TLS;
- `K8S-INGRESS-CLASS`: the deprecated `kubernetes.io/ingress.class` annotation.

A Service selecting pods only in another namespace is K8S-SERVICE-SELECTOR's (`general.py`), which says so.

Usage:
    from phoenix_gitops.rules import manifests     # registering is importing
    manifests.kube_references("a $(B) $$(C) $(D")  # ['B']: the names Kubernetes would try to expand
    manifests.placeholders("img:${TAG}")            # ['${TAG}']
"""
from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..findings import json_path
from ..sourcemap import Location
from ..yamlio import iter_paths
from .model import (
    JsonPath,
    Res,
    View,
    as_dict,
    as_list,
    containers_of,
    each_release,
    kustomization_docs,
    pod_spec_path,
    selector_matches,
)
from .registry import Hit, rule

__all__ = ["kube_references", "placeholders", "is_shell", "dns_target"]

_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"}
_ENV_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[-=?+][^}]*)?\}")
_TEMPLATE = re.compile(r"\{\{-?(?P<body>.*?)-?\}\}", re.S)
_HELM = re.compile(r"^\s*(?:\$?\.(?:Values|Release|Chart|Capabilities|Files|Template)\b|(?:include|template|tpl|toYaml|"
                   r"required|default|quote)\b)")
_BARE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_.]*\s*$")
_SHOWN = re.compile(r"^[\w.$ -]{1,60}$")
_SKIPPED_DATA = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}
_SERVICE_LINK = re.compile(r"^[A-Z0-9_]+_SERVICE_(?:HOST|PORT(?:_[A-Z0-9_]+)?)$")
"""`<SERVICE>_SERVICE_HOST`/`_SERVICE_PORT[_<port>]`: the kubelet's Service variables, of any Service of the
namespace (in the build or not)."""
_UPPER_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def kube_references(text: str) -> list[str]:
    """The variable names Kubernetes tries to expand in `text`: each `$(NAME)`, not `$$(NAME)` (the escape for a
    literal `$(NAME)`), nor an unclosed `$(`. Names with spaces (a shell's `$(cmd arg)`) are left out."""
    found, i = [], 0
    while i < len(text) - 1:
        if text[i] == "$" and text[i + 1] == "$":
            i += 2
            continue
        if text[i] == "$" and text[i + 1] == "(":
            end = text.find(")", i + 2)
            if end == -1:
                break
            name = text[i + 2:end]
            if name and not any(c.isspace() or c in "($" for c in name):
                found.append(name)
            i = end + 1
            continue
        i += 1
    return found


def placeholders(text: str, loose: bool = True, helm_only: bool = False) -> list[str]:
    """The template placeholders in `text`, as shown in a message: `${VAR}` (defaults dropped, they may be values),
    and `{{ ... }}` (`{{ … }}` when its body is not a plain expression). With `loose=False` (values an app or a tool
    may template themselves: env values, args) only Helm expressions and `{{ name }}` count as placeholders; with
    `helm_only` (annotations, which other tools template) only Helm expressions (`.Values`, `include`, ...)."""
    found = [] if helm_only else [f"${{{m.group('name')}}}" for m in _ENV_PLACEHOLDER.finditer(text)]
    for match in _TEMPLATE.finditer(text):
        body = match.group("body")
        if _HELM.match(body) or not helm_only and (loose or _BARE.match(body)):
            found.append("{{" + body + "}}" if _SHOWN.match(body) else "{{ … }}")
    return found


def is_shell(container: dict[str, Any]) -> bool:
    """Whether the container runs a shell line (`sh -c ...`, `bash -c ...`, `env bash -c`, args starting `-c`):
    the shell expands `${VAR}` and `$(cmd)` itself."""
    words = [str(w) for w in as_list(container.get("command")) + as_list(container.get("args"))][:4]
    return "-c" in words or any(posixpath.basename(w) in _SHELLS for w in words[:2])


def _builtin(res: Res) -> bool:
    """A resource of a Kubernetes API group (not a CRD kind, whose controller may template its own fields)."""
    group = res.group
    return (not group or "." not in group or group.endswith(".k8s.io")) and res.kind != "CustomResourceDefinition"


def _command_paths(res: Res) -> dict[JsonPath, bool]:
    """{path of a container's command/args/env list: whether the container runs a shell line}."""
    found = {}
    for c_path, container in containers_of(res):
        shell = is_shell(container)
        for part in ("command", "args", "env"):
            found[c_path + (part,)] = shell
    return found


@rule(
    "K8S-PLACEHOLDER", family="general", defaults=("warning", "error", "error"),
    title="No template placeholders left in the manifests",
    why="""`${VAR}` and `{{ ... }}` are filled in by envsubst, Helm, Jinja or a CI script, none of which runs between
    this repository and the cluster. Kubernetes takes them literally: an image `app:${TAG}` does not pull, a host
    `{{ .Values.host }}` routes nothing, and an env value `${DATABASE_HOST}` is that text, since Kubernetes only
    expands `$(VAR)`.""",
    fix="""Write the value out, set it per environment with a kustomize patch, `images:` entry or `replacements`,
    and refer to another variable of the container as `$(VAR)`.""",
    interpretation="""Checks the string values of resources of Kubernetes API groups (CRD kinds such as
    ExternalSecret, PrometheusRule or Argo Workflows template their own fields), except ConfigMap and Secret data
    (config files may hold templates of their own); in annotations, which other tools template, only a Helm
    expression counts (`{{ .Values.x }}`, `{{ include ... }}`: a chart rendered without Helm). In env values
    and non-shell command lines, `{{ ... }}` counts only as a Helm expression or `{{ name }}`; a shell line
    (`sh -c`) expands `${VAR}` itself and is left alone. A repository whose manifests a Flux Kustomization's
    `postBuild.substitute` fills in sets this rule to `-` in its policy.""",
)
def placeholder(view: View) -> Iterator[Hit]:
    for res in view.resources:
        if not _builtin(res):
            continue
        skipped = _SKIPPED_DATA.get(res.kind, ())
        commands = _command_paths(res)
        for path, value in iter_paths(res.data):
            if not isinstance(value, str) or ("${" not in value and "{{" not in value):
                continue
            if path[:1] and path[0] in skipped:
                continue
            part = next((p for p in commands if path[:len(p)] == p), None)
            if part is not None and (commands[part] or (part[-1] == "env" and path[-1] != "value")):
                continue  # a shell line expands its own variables; an env entry's name is no value
            found = list(dict.fromkeys(placeholders(value, loose=part is None, helm_only=_in_annotations(path))))
            if not found:
                continue
            variable = next((f[2:-1] for f in found if f.startswith("${")), None)
            hint = f"; Kubernetes only expands $({variable})" if part is not None and variable else ""
            yield Hit(res, path, f"{res.label}: {json_path(path)} holds {', '.join(found)}, which nothing fills "
                      f"in{hint}")


def _in_annotations(path: JsonPath) -> bool:
    """Whether `path` is inside the annotations of an object or of a pod template."""
    return any(path[i] == "metadata" and path[i + 1] == "annotations" for i in range(len(path) - 1))


def _defined(view: View, res: Res, c_path: JsonPath, container: dict[str, Any]
             ) -> tuple[list[str], set[str], list[str]]:
    """(env names in order, names from envFrom ConfigMaps of the build, prefixes an unknown envFrom may define)."""
    env_names = [str(as_dict(e).get("name", "")) for e in as_list(container.get("env"))]
    from_names: set[str] = set()
    unknown: list[str] = []
    for source in as_list(container.get("envFrom")):
        source = as_dict(source)
        prefix = str(source.get("prefix") or "")
        if "configMapRef" in source:
            cm = view.configmap(str(as_dict(source["configMapRef"]).get("name", "")), res.namespace)
            if cm is None:
                unknown.append(prefix)
            else:
                from_names |= {prefix + str(k) for k in as_dict(cm.data.get("data"))}
        else:
            unknown.append(prefix)
    return env_names, from_names, unknown


@rule(
    "K8S-VAR-REF", family="general", defaults=("warning", "error", "error"),
    title="Every $(VAR) in a container refers to a variable defined before it",
    why="""Kubernetes expands `$(VAR)` in `command`, `args` and `env` values only when VAR is a variable of the same
    container (in an env value: defined before it in the list, or by `envFrom`); otherwise the text `$(VAR)` reaches
    the process as is. `RELEASE_NODE: app@$(POD_IP)` with `POD_IP` defined after it names every node
    `app@$(POD_IP)`, and the cluster never forms.""",
    fix="""Define the variable in the container (move it before the entry that uses it), correct its name, or write
    `$$(VAR)` for a literal `$(VAR)`.""",
    interpretation="""Names an `envFrom` Secret, or a ConfigMap that is not in the build, may define are given the
    benefit of the doubt (with their prefix), as are the Service variables the kubelet adds unless the pod sets
    `enableServiceLinks: false` (`<SERVICE>_SERVICE_HOST` and `_SERVICE_PORT*` of any Service; `<SERVICE>_PORT*` of
    the Services of the build). In a shell line (`sh -c`), where `$(cmd)` is command substitution,
    only upper-case names count.""",
)
def var_ref(view: View) -> Iterator[Hit]:
    for res in view.workloads:
        links = as_dict(res.get(pod_spec_path(res) or ())).get("enableServiceLinks") is not False
        docker_links = [s.name.upper().replace("-", "_") + "_PORT" for s in view.of_kind("Service")
                        if s.namespace in (None, res.namespace)] if links else []
        for c_path, container in containers_of(res):
            env_names, from_names, unknown = _defined(view, res, c_path, container)
            unknown += docker_links
            shell = is_shell(container)

            for part in ("command", "args"):
                for index, item in enumerate(as_list(container.get(part))):
                    if not isinstance(item, str):
                        continue
                    names = [n for n in kube_references(item) if not shell or _UPPER_NAME.match(n)]
                    missing = [n for n in dict.fromkeys(names)
                               if not _known(n, env_names, from_names, unknown, links)]
                    if missing:
                        yield Hit(res, c_path + (part, index), f"{res.label}: {part}[{index}] of container "
                                  f"{container.get('name')!r} refers to {_names(missing)}, which the container does "
                                  "not define: Kubernetes passes it on as is")
            for index, entry in enumerate(as_list(container.get("env"))):
                value = as_dict(entry).get("value")
                if not isinstance(value, str):
                    continue
                for name in dict.fromkeys(kube_references(value)):
                    if _known(name, env_names[:index], from_names, unknown, links):
                        continue
                    later = name in env_names[index:]
                    how = ("is defined only after it (env is expanded in order)" if later
                           else "is not defined in the container")
                    yield Hit(res, c_path + ("env", index, "value"), f"{res.label}: env {env_names[index]} of "
                              f"container {container.get('name')!r} refers to $({name}), which {how}: Kubernetes "
                              "passes it on as is")


def _known(name: str, before: list[str], from_names: set[str], prefixes: list[str], links: bool) -> bool:
    """Whether the container may define `name`: an env entry `before` it, an envFrom ConfigMap key, a name an envFrom
    source of unknown keys may give (`prefixes`), or a Service variable of the kubelet (`links`)."""
    return (name in before or name in from_names or any(name.startswith(p) for p in prefixes)
            or (links and _SERVICE_LINK.match(name) is not None))


def _names(names: list[str]) -> str:
    return ", ".join(f"$({n})" for n in names)


_LIVE_FIELDS: tuple[tuple[JsonPath, str], ...] = (
    (("metadata", "uid"), "an apply to another cluster, or after the object is re-created, fails its UID "
                          "precondition"),
    (("metadata", "resourceVersion"), "an apply fails with a conflict as soon as the object has changed in the "
                                      "cluster"),
    (("metadata", "selfLink"), "the API server writes it"),
    (("metadata", "creationTimestamp"), "the API server writes it"),
    (("metadata", "deletionTimestamp"), "the API server writes it"),
    (("metadata", "managedFields"), "the API server keeps it per field manager"),
    (("status",), "the controller writes it; an apply ignores it, and git keeps a stale copy"),
)


@rule(
    "K8S-LIVE-OBJECT", family="general", defaults=("warning", "error", "error"),
    title="No fields of a live object in the sources",
    why="""`status`, `metadata.uid`, `resourceVersion`, `selfLink`, `creationTimestamp` and `managedFields` are
    written by the API server: a manifest that has them was copied from a cluster (`kubectl get -o yaml`), with
    whatever that object had become. `uid` and `resourceVersion` make the next apply fail; the rest is stale
    noise in every diff.""",
    fix="""Delete these fields from the source file (`kubectl neat`, or `kubectl get -o yaml` with the fields
    removed); keep only what you mean to declare.""",
    interpretation="""`creationTimestamp: null` and an empty `status` (`{}`, `{loadBalancer: {}}`), which
    `kubectl create --dry-run -o yaml` writes, are not live data and are accepted. The
    `kubectl.kubernetes.io/last-applied-configuration` annotation of such a copy is SEC-LAST-APPLIED (it may hold
    Secret data).""",
)
def live_object(view: View) -> Iterator[Hit]:
    for res in view.resources:
        for path, why in _LIVE_FIELDS:
            if not _has_data(res.get(path)):
                continue
            yield Hit(res, path, f"{res.label} carries {json_path(path)[2:]}, a field of the live object: {why}")


def _has_data(value: Any) -> bool:
    """Whether `value` holds anything but empty mappings, lists and nulls (`status: {loadBalancer: {}}` does not)."""
    if isinstance(value, dict):
        return any(_has_data(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_data(v) for v in value)
    return value is not None and value != ""


def _resource_file(view: View, doc: Any, entry: str) -> str | None:
    """The repo-relative file a kustomization's `resources` entry names, when it is a file inside the repository."""
    root = view.root.resolve()
    target: Path = (root / str(doc.source)).parent / entry
    try:
        real = target.resolve()
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real.relative_to(root).as_posix()


@rule(
    "K8S-EMPTY-RESOURCE", family="sources", scope="source", defaults=("warning", "warning", "warning"),
    title="No empty file listed as a resource",
    why="""kustomize builds a `resources:` entry whose file has no document (empty, only comments or `---`) without a
    word: whatever was meant to be in it (a Service, a NetworkPolicy, a PodDisruptionBudget) is silently not
    deployed.""",
    fix="Put the manifest in the file, or remove the entry (and the file) from the kustomization.",
)
def empty_resource(view: View) -> Iterator[Hit]:
    if view.graph is None or all(docs for docs in view.graph.documents.values()):
        return  # (no source file without a document: nothing to resolve)
    broken = {f.path for f in view.graph.findings if f.severity == "error"}
    for doc in kustomization_docs(view):
        for key in ("resources", "bases"):
            for index, entry in enumerate(as_list(doc.data.get(key))):
                if not isinstance(entry, str):
                    continue
                rel = _resource_file(view, doc, entry)
                if rel is None or rel in broken or view.graph.documents.get(rel, None) != []:
                    continue
                yield Hit(None, (), f"{key}[{index}] {entry!r} has no YAML document: kustomize adds nothing for it",
                          location=Location(doc.source, *doc.position((key, index))))


# Clustering -------------------------------------------------------------------------------------------------

_DNS_VAR = re.compile(r"^(?:DNS_CLUSTER_QUERY|(?:LIBCLUSTER|PEERAGE|CLUSTER|ERLANG_CLUSTER|BEAM_CLUSTER|ELIXIR_CLUSTER)"
                      r"_(?:[A-Z0-9]+_)*?(?:SERVICE|SERVICE_NAME|HEADLESS_SERVICE|DNS_NAME|DNS_QUERY|QUERY))$")
_SELECTOR_VAR = re.compile(r"^(?:LIBCLUSTER|CLUSTER|ERLANG_CLUSTER|BEAM_CLUSTER|ELIXIR_CLUSTER)_(?:[A-Z0-9]+_)*?"
                           r"SELECTOR$")
_CONFIG_MARKERS = ("Cluster.Strategy.Kubernetes", "Peerage.Via.Dns")
_CONFIG_SETTINGS = re.compile(r"\b(?P<key>kubernetes_selector|kubernetes_service_name|service|dns_name)\s*:\s*"
                              r"\"(?P<value>[^\"#{}]+)\"")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_target(query: str, namespaces: set[str]) -> tuple[str, str | None] | None:
    """(Service name, namespace or None) of a cluster-local DNS name: `svc`, `svc.ns` (when `ns` is one of
    `namespaces`), `svc.ns.svc[.cluster.local]`, with SRV labels (`_epmd._tcp.`) dropped; None for any other name
    (an address, a URL, another domain such as fly.io's `app.internal`)."""
    name = query.strip().rstrip(".").lower()
    if not name or "://" in name or any(c.isspace() or c in "/:@$" for c in name):
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    labels = name.split(".")
    while labels and labels[0].startswith("_"):
        labels.pop(0)
    if not labels or not all(_LABEL.match(label) for label in labels):
        return None
    if len(labels) == 1:
        return labels[0], None
    if len(labels) == 2 and labels[1] in namespaces:
        return labels[0], labels[1]
    if len(labels) >= 3 and labels[2] == "svc":
        return labels[0], labels[1]
    return None


def _selector(text: str) -> dict[str, str] | None:
    """A label selector string of equalities (`app=web,tier=beam`) as a map; None for any other form."""
    found = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        value = value.lstrip("=")
        if not sep or not key.strip() or "!" in key or not value.strip():
            return None
        found[key.strip()] = value.strip()
    return found or None


def _queries(view: View) -> Iterator[tuple[Res, JsonPath, str, str, str, str | None, tuple[Res, JsonPath] | None]]:
    """(resource, path, what, kind `dns`/`selector`, value, namespace, where it was set) of every clustering
    setting: env of every container (envFrom ConfigMaps included), libcluster/peerage config in ConfigMaps."""
    v09 = {(id(res), c_path) for res, c_path, _ in each_release(view, "phoenix-clustered")}
    for res in view.workloads:
        for c_path, _ in containers_of(res):
            for name, found in view.env_of(res, c_path).items():
                if found.value is None or not found.value.strip():
                    continue
                if name == "DNS_CLUSTER_QUERY" and (id(res), c_path) in v09:
                    continue  # PHX-V09 checks a release container's query
                kind = "dns" if _DNS_VAR.match(name) else "selector" if _SELECTOR_VAR.match(name) else None
                if kind is not None:
                    yield res, c_path + ("env",), name, kind, found.value, res.namespace, (found.res, found.path)
    for cm in view.of_kind("ConfigMap"):
        for key, text in as_dict(cm.data.get("data")).items():
            if not isinstance(text, str) or not any(marker in text for marker in _CONFIG_MARKERS):
                continue
            for match in _CONFIG_SETTINGS.finditer(text):
                kind = "selector" if match.group("key") == "kubernetes_selector" else "dns"
                yield (cm, ("data", key), f"{cm.label} {key}: {match.group('key')}", kind, match.group("value"),
                       cm.namespace, None)


@rule(
    "K8S-CLUSTER-QUERY", family="general", defaults=("warning", "error", "error"),
    title="A BEAM clustering query names a headless Service (or selects pods) of the build",
    why="""BEAM nodes find each other through a query: `DNS_CLUSTER_QUERY` (dns_cluster), libcluster's Kubernetes
    strategies (`service`, `kubernetes_service_name`, `kubernetes_selector`) or peerage's `dns_name`. A DNS query
    only lists the pods when it names a headless Service (`clusterIP: None`); a normal Service resolves to one
    virtual IP, and a name that exists nowhere resolves to nothing. Either way each node stays alone: PubSub,
    Presence and distributed caches split silently.""",
    fix="""Add a Service with `clusterIP: None` selecting the release's pods and name it in the query
    (`<service>.<namespace>.svc.cluster.local`); make a selector match the labels of the Service (libcluster's
    endpoints mode) or of the pods.""",
    interpretation="""Settings read: `DNS_CLUSTER_QUERY` and variables named `LIBCLUSTER_*`, `PEERAGE_*`,
    `CLUSTER_*` (also `ERLANG_`/`BEAM_`/`ELIXIR_CLUSTER_*`) ending in `SERVICE`, `SERVICE_NAME`, `HEADLESS_SERVICE`,
    `DNS_NAME`, `DNS_QUERY` or `QUERY` (a DNS name) or `SELECTOR` (`key=value,...`), in any container's env or
    `envFrom` ConfigMap; and string settings in ConfigMap files that configure `Cluster.Strategy.Kubernetes*` or
    `Peerage.Via.Dns`. Only cluster-local names are checked (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`); the
    `DNS_CLUSTER_QUERY` of a clustered Phoenix release's own container is PHX-V09's.""",
)
def cluster_query(view: View) -> Iterator[Hit]:
    namespaces = {r.namespace for r in view.resources if r.namespace} | {r.name for r in view.of_kind("Namespace")}
    services = view.of_kind("Service")
    for res, path, what, kind, value, namespace, at in _queries(view):
        if kind == "dns":
            target = dns_target(value, namespaces)
            if target is None:
                continue
            name, in_ns = target
            wanted_ns = in_ns or namespace
            same = [s for s in services if s.name == name and (wanted_ns is None or s.namespace in (None, wanted_ns))]
            if not same:
                elsewhere = sorted({str(s.namespace) for s in services if s.name == name})
                said = (f"; a Service of that name is in namespace {', '.join(elsewhere)}, not {wanted_ns}"
                        if elsewhere else "")
                yield Hit(res, path, f"{what} names Service {name!r}, which is not in this build{said}: the query "
                          "finds no peers", at=at)
            elif not any(s.spec.get("clusterIP") == "None" for s in same):
                yield Hit(res, path, f"{what} names Service {name!r}, which is not headless (clusterIP: None): its "
                          "name resolves to one virtual IP, not to the pods", at=at)
        else:
            selector = _selector(value)
            if selector is None:
                continue
            local = [r for r in services + view.workloads if namespace is None or r.namespace in (None, namespace)]
            if any(selector_matches(selector, s.labels) for s in local if s.kind == "Service") or any(
                    selector_matches(selector, view.pod_labels(w)) for w in local if w.kind != "Service"):
                continue
            others = sorted({str(w.namespace) for w in view.workloads
                             if selector_matches(selector, view.pod_labels(w))})
            said = f" (it matches pods in namespace {', '.join(others)} only)" if others else ""
            yield Hit(res, path, f"{what} selects no Service and no pods of this build in namespace {namespace}"
                      f"{said}: the query finds no peers", at=at)


# Services and Ingresses -------------------------------------------------------------------------------------

_HTTP_PORTS = {80, 4000, 8080}
_TLS_PORTS = {443, 8443}
_TLS_ANNOTATION = ("ssl-cert", "certificate", "tls", "ssl-ports", "https")
_BACKEND_ANNOTATION = ("cloud.google.com/neg", "alb.ingress.kubernetes.io/")


def _internal(annotations: dict[str, Any]) -> bool:
    """Whether a LoadBalancer's annotations make it internal (reachable from the private network only)."""
    for key, value in annotations.items():
        key, text = str(key).lower(), str(value).strip().lower()
        if "internal" in key and text not in ("false", "0", "no", ""):
            return True
        if key.endswith(("load-balancer-type", "lb-type", "scheme")) and text == "internal":
            return True
    return False


def _routed(view: View, service: Res) -> bool:
    """Whether an Ingress or a Gateway API route of the build sends traffic to `service` (TLS is its business)."""
    for res in view.of_kind("Ingress", "HTTPRoute", "GRPCRoute"):
        if res.namespace not in (None, service.namespace):
            continue
        for path, value in iter_paths(res.spec):
            if path and path[-1] == "name" and value == service.name and any(
                    p in ("service", "backendRefs", "defaultBackend", "backend") for p in path if isinstance(p, str)):
                return True
    return False


def _serves_http(port: dict[str, Any]) -> bool:
    name = str(port.get("name", "")).lower()
    protocol = str(port.get("appProtocol", "")).lower()
    if name.startswith("https") or "tls" in name or protocol in ("https", "tls"):
        return False
    return (name.startswith("http") or protocol in ("http", "kubernetes.io/h2c") or port.get("port") in _HTTP_PORTS
            or port.get("targetPort") in (4000, "http"))


def _tls_port(port: dict[str, Any]) -> bool:
    name = str(port.get("name", "")).lower()
    return (port.get("port") in _TLS_PORTS or name.startswith("https") or "tls" in name
            or str(port.get("appProtocol", "")).lower() in ("https", "tls"))


@rule(
    "K8S-PLAIN-HTTP", family="general", defaults=("warning", "warning", "error"),
    title="No LoadBalancer or NodePort Service serving plain HTTP",
    why="""A `LoadBalancer` Service is reachable from outside the cluster (the internet, for a public load
    balancer) and a `NodePort` on every node's address: serving HTTP there without TLS sends sessions, CSRF tokens
    and passwords in clear, and a Phoenix app behind it cannot tell `https` from `http` (`force_ssl`,
    secure cookies).""",
    fix="""Route the app through an Ingress or Gateway that terminates TLS and keep its Service `ClusterIP`, or let
    the load balancer terminate TLS (its certificate annotation, e.g.
    `service.beta.kubernetes.io/aws-load-balancer-ssl-cert`) and serve 443.""",
    interpretation="""A port serves HTTP when it is 80, 4000 or 8080, targets 4000 or `http`, is named `http*` or
    has `appProtocol: http`. Not flagged: a Service that also serves TLS (443, 8443, a port named `https`/`tls`) or
    whose annotations configure a certificate or TLS ports; an internal load balancer (its cloud's `internal`
    annotation); a NodePort Service that an Ingress or HTTPRoute of the build routes to, or that carries
    `cloud.google.com/neg` or AWS load balancer controller annotations (the load balancer in front terminates
    TLS).""",
)
def plain_http(view: View) -> Iterator[Hit]:
    for service in view.of_kind("Service"):
        kind = service.spec.get("type")
        if kind not in ("LoadBalancer", "NodePort"):
            continue
        annotations = {str(k).lower(): v for k, v in service.annotations.items()}
        ports = [as_dict(p) for p in as_list(service.spec.get("ports"))]
        if any(_tls_port(p) for p in ports) or any(word in key for key in annotations for word in _TLS_ANNOTATION):
            continue
        if kind == "LoadBalancer" and _internal(annotations):
            continue
        if kind == "NodePort" and (_routed(view, service) or any(key.startswith(_BACKEND_ANNOTATION)
                                                                 for key in annotations)):
            continue
        for index, port in enumerate(ports):
            if _serves_http(port):
                yield Hit(service, ("spec", "ports", index), f"{service.label} ({kind}) serves plain HTTP on port "
                          f"{port.get('port')} and nothing terminates TLS in front of it")


_INGRESS_CLASS = "kubernetes.io/ingress.class"
_ANNOTATION_ONLY = {"gce", "gce-internal"}
"""Controllers that still read the annotation only (GKE's Ingress)."""


@rule(
    "K8S-INGRESS-CLASS", family="general", defaults=("warning", "warning", "warning"),
    title="Ingress class by spec.ingressClassName, not the deprecated annotation",
    why="""`kubernetes.io/ingress.class` has been deprecated since Kubernetes 1.18 in favour of
    `spec.ingressClassName` and an IngressClass; controllers read them differently (some give the annotation
    precedence, some ignore it), so which controller serves the Ingress depends on the controller's version.""",
    fix="""Replace the annotation by `spec.ingressClassName: <class>` (the IngressClass the controller watches,
    `nginx` for ingress-nginx).""",
    interpretation="""GKE's own Ingress classes (`gce`, `gce-internal`) are still chosen by the annotation and are
    accepted.""",
)
def ingress_class(view: View) -> Iterator[Hit]:
    for ingress in view.of_kind("Ingress"):
        value = ingress.annotations.get(_INGRESS_CLASS)
        if value is None or str(value) in _ANNOTATION_ONLY:
            continue
        spec_class = ingress.spec.get("ingressClassName")
        extra = f" (spec.ingressClassName is set as well: {spec_class!r})" if spec_class else ""
        yield Hit(ingress, ("metadata", "annotations", _INGRESS_CLASS), f"{ingress.label} chooses its class with the "
                  f"deprecated {_INGRESS_CLASS} annotation{extra}; use spec.ingressClassName: {value}")

