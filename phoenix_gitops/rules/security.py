"""Security rules: images, pod and container security contexts, RBAC, host access, the distribution network.

The Phoenix reference rules (V03, V04, V10, V11, V29) cover the Phoenix workloads found by evidence
(`workloads.py`), each in the roles its rule family names; the general rules (`K8S-IMAGE-TAG`, `K8S-PRIVILEGED`,
`K8S-RUN-AS-ROOT`) give every other workload of the build the checks users know from kube-linter, kube-score and
Polaris, `K8S-HOST-ACCESS` covers every workload, and `K8S-POD-SECURITY` keeps the namespace's Pod Security
admission at `restricted`, so that the cluster enforces the same.

Usage:
    from phoenix_gitops.rules import security
    list(security.v04(view))        # a Hit per Phoenix workload image that is not pinned by digest
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from ..images import split_image
from ..sourcemap import Location
from .model import (
    JsonPath,
    Res,
    View,
    as_dict,
    as_int,
    as_list,
    containers_of,
    each_release,
    image_entry,
    label_selector_matches,
    pod_spec_path,
)
from .registry import Hit, rule
from .workloads import Ports, Workload, distribution_ports

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_SECCOMP = ("RuntimeDefault", "Localhost")
_NAMESPACE = "kubernetes.io/metadata.name"


def _phoenix_workloads(view: View) -> list[Res]:
    return [w.res for w in view.phoenix("phoenix-release")]


def _other_workloads(view: View) -> list[Res]:
    return view.others()


def _image_hits(view: View, workloads: list[Res], problem_of: Callable[[str], str | None]) -> Iterator[Hit]:
    """A hit for every container image of `workloads` that `problem_of` finds fault with: at the overlay's `images:`
    entry that set the image, else at the container's `image`."""
    for res in workloads:
        for path, container in containers_of(res):
            image = str(container.get("image", ""))
            problem = problem_of(image)
            if not problem:
                continue
            message = f"image of container {container.get('name')!r} {problem}"
            entry = image_entry(view, image)
            location = Location(entry[0].source, *entry[0].position(entry[1])) if entry is not None else None
            yield Hit(res, path + ("image",), message, location=location)


def _unpinned(image: str) -> str | None:
    return None if _DIGEST.search(image) else "is not pinned by digest (@sha256:...)"


def _tag_problem(image: str) -> str | None:
    ref = split_image(image)
    tag, digest = ref.tag, ref.digest
    if digest is None and tag is None:
        return "has neither a tag nor a digest (it means :latest)"
    if digest is None and tag == "latest":
        return "uses the tag latest"
    return None


@rule(
    "PHX-V03", v="V03", family="phoenix", defaults=("error", "error", "error"),
    title="Phoenix workloads' images have a tag or digest, never latest",
    why="""`latest` (or no tag) is a different build on every pull: no reproducible rollback, and the migration
    Job may run other code than the pods.""",
    fix="""Set the image in the overlay's `images:` with `newTag` (an immutable tag such as the git SHA) or
    `digest`.""",
)
def v03(view: View) -> Iterator[Hit]:
    yield from _image_hits(view, _phoenix_workloads(view), _tag_problem)


@rule(
    "PHX-V04", v="V04", family="phoenix", defaults=("-", "warning", "error"),
    title="Phoenix workloads' images are pinned by digest",
    why="""A tag can be moved to another build; a digest cannot. Promotion to prod must deploy exactly the bytes that
    were tested.""",
    fix="Use `digest: sha256:<64 hex>` in the overlay's `images:` entry (tag optional).",
)
def v04(view: View) -> Iterator[Hit]:
    yield from _image_hits(view, _phoenix_workloads(view), _unpinned)


@rule(
    "PHX-V10", v="V10", family="phoenix", defaults=("error", "error", "error"),
    title="Least-privilege service account: no token unless the API strategy needs it",
    why="""DNS clustering needs no Kubernetes API access. A mounted token or a broad role is a free credential for
    anyone who gets code execution in the pod (and the cookie grants that).""",
    fix="""Set `automountServiceAccountToken: false` on the pod (and SA). For libcluster's API strategy only: a
    namespaced Role with apiGroups `[""]`, resources `endpoints`/`pods`, verbs `get`/`list`/`watch`, bound by a
    RoleBinding; never a ClusterRole.""",
)
def v10(view: View) -> Iterator[Hit]:
    for app, _, _ in each_release(view, "phoenix-long-running"):
        spec = view.pod_spec(app)
        account = str(spec.get("serviceAccountName") or "default")
        roles: list[Res] = []
        for binding in view.of_kind("RoleBinding", "ClusterRoleBinding"):
            if not _binds(binding, account, app):
                continue
            ref = as_dict(binding.data.get("roleRef"))
            if binding.kind == "ClusterRoleBinding" or ref.get("kind") == "ClusterRole":
                yield Hit(binding, ("roleRef",), f"{binding.label} grants a ClusterRole to {app.label}'s service "
                          f"account {account!r}; use a namespaced Role")
                continue
            roles += [r for r in view.of_kind("Role") if r.name == ref.get("name") and r.namespace == binding.namespace]
        for role in roles:
            for index, item in enumerate(as_list(role.data.get("rules"))):
                item = as_dict(item)
                groups, resources, verbs = (set(map(str, as_list(item.get(k))))
                                            for k in ("apiGroups", "resources", "verbs"))
                if groups != {""} or not resources <= {"endpoints", "pods"} or not verbs <= {"get", "list", "watch"}:
                    yield Hit(role, ("rules", index), f"{role.label} (bound to {app.label}'s service account) may only "
                              "get/list/watch endpoints or pods in the core group")
        if not roles and spec.get("automountServiceAccountToken") is not False:
            yield Hit(app, (pod_spec_path(app) or ("spec",)) + ("automountServiceAccountToken",),
                      "the pod mounts a service-account token it does not need; "
                      "set automountServiceAccountToken: false")


def _binds(binding: Res, account: str, app: Res) -> bool:
    """Whether `binding`'s subjects include `app`'s service account `account` (in its or the app's namespace)."""
    return any(isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == account
               and s.get("namespace", binding.namespace) in (binding.namespace, app.namespace)
               for s in as_list(binding.data.get("subjects")))


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    own = as_dict(container.get("securityContext"))
    return own[key] if key in own else as_dict(pod.get("securityContext")).get(key)


@rule(
    "PHX-V11", v="V11", family="phoenix", defaults=("error", "error", "error"),
    title="Phoenix workloads run restricted: non-root numeric user, seccomp, no privilege, read-only root",
    why="""Pod Security "restricted" is the least privilege a web release needs. The generated Dockerfile's
    `USER nobody` is not numeric, so the kubelet cannot verify `runAsNonRoot` without `runAsUser`.""",
    fix="""Pod: `runAsNonRoot: true`, `runAsUser: 65534`, `seccompProfile.type: RuntimeDefault`. Every container:
    `allowPrivilegeEscalation: false`, `readOnlyRootFilesystem: true`, `capabilities.drop: [ALL]`, no
    `capabilities.add`, not `privileged`.""",
)
def v11(view: View) -> Iterator[Hit]:
    for res in _phoenix_workloads(view):
        spec_path = pod_spec_path(res) or ("spec",)
        pod = view.pod_spec(res)
        seen: set[str] = set()
        for path, container in containers_of(res, ("initContainers", "containers")):
            name = container.get("name")
            context = as_dict(container.get("securityContext"))
            where = path + ("securityContext",)
            checks: list[tuple[bool, JsonPath, str, bool]] = [
                (_effective(pod, container, "runAsNonRoot") is not True, ("runAsNonRoot",),
                 "runAsNonRoot is not true", True),
                (not ((as_int(_effective(pod, container, "runAsUser")) or 0) > 0), ("runAsUser",),
                 "runAsUser is not a numeric non-root user", True),
                (as_dict(_effective(pod, container, "seccompProfile")).get("type") not in _SECCOMP, ("seccompProfile",),
                 "seccompProfile.type is not RuntimeDefault or Localhost", True),
                (context.get("allowPrivilegeEscalation") is not False, ("allowPrivilegeEscalation",),
                 f"container {name!r}: allowPrivilegeEscalation is not false", False),
                (context.get("readOnlyRootFilesystem") is not True, ("readOnlyRootFilesystem",),
                 f"container {name!r}: readOnlyRootFilesystem is not true", False),
                ("ALL" not in as_list(as_dict(context.get("capabilities")).get("drop")), ("capabilities", "drop"),
                 f"container {name!r}: capabilities.drop does not contain ALL", False),
                (bool(as_dict(context.get("capabilities")).get("add")), ("capabilities", "add"),
                 f"container {name!r}: capabilities.add is not empty", False),
                (context.get("privileged") is True, ("privileged",), f"container {name!r} is privileged", False),
            ]
            for failed, key, message, pod_level in checks:
                if not failed:
                    continue
                if pod_level:  # report once, at the pod when the container does not set it itself
                    at = where + key if key[0] in context else spec_path + ("securityContext",) + key
                    message = (f"container {name!r}: {message}" if key[0] in context
                               else f"pod securityContext: {message}")
                else:
                    at = where + key
                if message not in seen:
                    seen.add(message)
                    yield Hit(res, at, message)


@rule(
    "PHX-V29", v="V29", family="phoenix", defaults=("warning", "error", "error"),
    title="A NetworkPolicy keeps Erlang distribution to the app's own pods",
    why="""Distribution traffic is not encrypted and the cookie grants remote code execution: epmd (4369) and the
    distribution ports must be reachable only from the app's own nodes, and from them (or the nodes cannot cluster).
    A policy that denies egress must still let DNS through, or DNSCluster and every hostname lookup fail. HTTP comes
    through the ingress/Gateway.""",
    fix="""Select the app's pods with a NetworkPolicy of policyTypes Ingress (and Egress in prod); allow 4369 and the
    pinned range (port + `endPort`) only `from` (and `to`) a `podSelector` equal to the Deployment's selector, egress
    to kube-dns on port 53, and the serving port from the ingress namespace (the policy's `ingressNamespaces`).""",
    interpretation="""Applies to Phoenix web and worker workloads that use Erlang distribution. Every NetworkPolicy
    of the namespace whose `podSelector` matches the pods counts (`{}` selects every pod, `matchExpressions` are
    read), so a namespace default-deny next to the app's own policy is read together with it. The required
    policyTypes per environment are the policy's `networkPolicyTypes`. The distribution ports are epmd (4369, not for
    an epmd-less node) and the pinned ones (V30). A peer counts as "the app's own pods" when it is a `podSelector`
    (with no `namespaceSelector`, or one naming the app's namespace) that selects only pods of this build's Phoenix
    workloads; a rule without `from` admits everyone, and any policy (an allow-all one included) that opens the
    distribution ports to more is reported. Where ingress (egress) is isolated, the distribution ports must be
    allowed from (to) the app's own pods; where egress is isolated, port 53 must be allowed. For web workloads the
    serving port must be allowed from the ingress namespace. Named ports are resolved through C's ports.""",
)
def v29(view: View) -> Iterator[Hit]:
    allowed_namespaces = {str(n) for n in view.setting("ingressNamespaces") or []}
    for workload in view.phoenix("phoenix-clustered"):
        app, c_path = workload.res, workload.c_path
        if c_path is None:
            continue
        labels = view.pod_labels(app)
        policies = [p for p in view.of_kind("NetworkPolicy") if p.namespace == app.namespace
                    and label_selector_matches(p.spec.get("podSelector"), labels)]
        if not policies:
            yield Hit(app, ("spec", "template", "metadata", "labels"),
                      f"no NetworkPolicy selects the pods of {app.label}")
            continue
        types: set[str] = set()
        for policy in policies:
            declared = policy.spec.get("policyTypes")
            if isinstance(declared, list):
                types |= set(map(str, declared))
            else:  # Kubernetes' default: Ingress, and Egress when the policy has egress rules
                types |= {"Ingress"} | ({"Egress"} if "egress" in policy.spec else set())
        missing = [t for t in view.setting("networkPolicyTypes") or [] if t not in types]
        if missing:
            yield Hit(policies[0], ("spec", "policyTypes"), f"no NetworkPolicy of {app.label} has policyTypes "
                      f"{', '.join(missing)}")
        names = {str(p.get("name")): as_int(p.get("containerPort"))
                 for p in (as_dict(x) for x in as_list(workload.container.get("ports"))) if p.get("name")}
        protected = distribution_ports(view, app, c_path)
        yield from _distribution_ingress(view, workload, policies, protected, names, "Ingress" in types)
        if "Egress" in types:
            yield from _egress(view, workload, policies, protected, names)
        if workload.role == "web" and workload.serving is not None and allowed_namespaces and "Ingress" in types:
            serving = workload.serving
            wanted = Ports(frozenset({serving.number} if serving.number is not None else set()),
                           frozenset(serving.names))
            if not any(_covers(item, wanted, names) and _from_namespaces(item, allowed_namespaces)
                       for policy in policies for item in _rules(policy, "ingress")):
                isolating = next((p for p in policies if "Ingress" in _types(p)), policies[0])
                yield Hit(isolating, ("spec", "ingress"), f"the serving port {serving} of {app.label} is not "
                          f"allowed from the ingress namespace ({', '.join(sorted(allowed_namespaces))})")


def _types(policy: Res) -> set[str]:
    declared = policy.spec.get("policyTypes")
    if isinstance(declared, list):
        return set(map(str, declared))
    return {"Ingress"} | ({"Egress"} if "egress" in policy.spec else set())


def _rules(policy: Res, direction: str) -> list[dict[str, Any]]:
    return [as_dict(item) for item in as_list(policy.spec.get(direction))]


def _distribution_ingress(view: View, workload: Workload, policies: list[Res], protected: Ports,
                          names: dict[str, int | None], isolated: bool) -> Iterator[Hit]:
    """Distribution ports open to more than the app's own pods, and (ingress isolated) not open between them."""
    app = workload.res
    admitted: set[int] = set()
    for policy in policies:
        for index, item in enumerate(_rules(policy, "ingress")):
            peers = [as_dict(p) for p in as_list(item.get("from"))]
            covered = [p for p in protected.sorted() if _covers(item, _one(p, protected, names), names)]
            if not covered:
                continue
            if not peers or not all(_own_peer(view, app, peer) for peer in peers):
                yield Hit(policy, ("spec", "ingress", index), f"distribution port(s) {_ports(covered)} are open to "
                          f"more than the pods of {app.label}")
            if not peers or any(_admits(view, app, peer) for peer in peers):
                admitted |= set(covered)
    closed = [p for p in protected.sorted() if p not in admitted]
    if isolated and closed:
        isolating = next((p for p in policies if "Ingress" in _types(p)), policies[0])
        yield Hit(isolating, ("spec", "ingress"), f"distribution port(s) {_ports(closed)} are not allowed from the "
                  f"pods of {app.label} themselves: its nodes cannot connect to each other")


def _egress(view: View, workload: Workload, policies: list[Res], protected: Ports,
            names: dict[str, int | None]) -> Iterator[Hit]:
    """Egress isolated: DNS must be allowed, and the distribution ports to the app's own pods."""
    app = workload.res
    items = [item for policy in policies for item in _rules(policy, "egress")]
    dns = Ports(frozenset({53}), frozenset({"dns", "dns-tcp", "dns-udp"}))
    isolating = next((p for p in policies if "Egress" in _types(p)), policies[0])
    if not any(_covers(item, dns, {}, protocol) for item in items for protocol in ("UDP", "TCP")):
        yield Hit(isolating, ("spec", "egress") if "egress" in isolating.spec else ("spec", "policyTypes"),
                  f"egress of {app.label} is denied but no rule allows DNS (port 53): DNSCluster and every hostname "
                  "lookup fail")
    reached: set[int] = set()
    for item in items:
        peers = [as_dict(p) for p in as_list(item.get("to"))]
        if peers and not any(_admits(view, app, peer) for peer in peers):
            continue
        reached |= {p for p in protected.sorted() if _covers(item, _one(p, protected, names), names)}
    closed = [p for p in protected.sorted() if p not in reached]
    if closed:
        yield Hit(isolating, ("spec", "egress") if "egress" in isolating.spec else ("spec", "policyTypes"),
                  f"egress to distribution port(s) {_ports(closed)} of the pods of {app.label} is not allowed: its "
                  "nodes cannot connect to each other")


def _one(port: int, protected: Ports, names: dict[str, int | None]) -> Ports:
    """One distribution port with the container port names that have its number."""
    return Ports(frozenset({port}), frozenset(n for n, number in names.items() if number == port))


def _covers(item: dict[str, Any], wanted: Ports, names: dict[str, int | None], protocol: str = "TCP") -> bool:
    """Whether a NetworkPolicy rule admits `protocol` traffic to any of the `wanted` ports (numbers, or container
    port names); `names` resolves a named port of the rule to its number."""
    entries = [e for e in as_list(item.get("ports")) if isinstance(e, dict)]
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, str) and as_int(value) is None:
            if value in wanted.names or names.get(value) in wanted.numbers:
                return True
            continue
        low = as_int(value)
        high = as_int(entry.get("endPort")) or low
        if low is not None and high is not None and any(low <= n <= high for n in wanted.numbers):
            return True
    return False


def _namespace_scope(peer: dict[str, Any], namespace: str | None) -> str:
    """Which namespaces a peer reaches: `own` (none named, or a `namespaceSelector` naming the policy's namespace by
    `kubernetes.io/metadata.name`), `other` (one naming another namespace) or `many` (every namespace, or labels this
    build cannot resolve)."""
    if "namespaceSelector" not in peer:
        return "own"
    selector = as_dict(peer["namespaceSelector"])
    named = as_dict(selector.get("matchLabels")).get(_NAMESPACE)
    if named is not None and not selector.get("matchExpressions") and len(as_dict(selector.get("matchLabels"))) == 1:
        return "own" if str(named) == namespace else "other"
    if named is not None and str(named) != namespace:
        return "other"
    return "many"


def _own_peer(view: View, app: Res, peer: dict[str, Any]) -> bool:
    """Whether a peer admits only pods of this build's Phoenix workloads (the app's own nodes)."""
    if set(peer) - {"podSelector", "namespaceSelector"} or "podSelector" not in peer:
        return False
    if _namespace_scope(peer, app.namespace) != "own":
        return False
    chosen = as_dict(peer["podSelector"])
    if not chosen:
        return False  # every pod of the namespace
    own = {id(w.res) for w in view.classified if w.phoenix and w.role is not None}
    selected = [w for w in view.workloads if w.namespace == app.namespace
                and label_selector_matches(chosen, view.pod_labels(w))]
    return bool(selected) and all(id(w) in own for w in selected)


def _admits(view: View, app: Res, peer: dict[str, Any]) -> bool:
    """Whether a peer may admit the app's own pods (an ipBlock may: pod IPs are not known here)."""
    if "ipBlock" in peer:
        return True
    if _namespace_scope(peer, app.namespace) == "other":
        return False
    return "podSelector" not in peer or label_selector_matches(peer["podSelector"], view.pod_labels(app))


def _from_namespaces(item: dict[str, Any], allowed: set[str]) -> bool:
    """Whether a NetworkPolicy ingress rule admits traffic from one of the `allowed` namespaces."""
    peers = [as_dict(p) for p in as_list(item.get("from"))]
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            return True
        if "namespaceSelector" not in peer:
            continue
        selector = as_dict(peer["namespaceSelector"])
        if not selector or any(label_selector_matches(selector, {_NAMESPACE: name}) for name in allowed):
            return True
    return False


def _ports(ports: list[int]) -> str:
    return f"{ports[0]}" if len(ports) == 1 else ", ".join(map(str, ports))


@rule(
    "K8S-IMAGE-TAG", family="general", defaults=("error", "error", "error"),
    title="Other workloads' images have a tag or digest, never latest",
    why="""The same as V03 for every workload that is not a Phoenix workload (sidecar Deployments, CronJobs, databases):
    `latest` or no tag is a different build on every pull.""",
    fix="Pin the image with an immutable tag or a digest (kustomize `images:`).",
)
def image_tag(view: View) -> Iterator[Hit]:
    yield from _image_hits(view, _other_workloads(view), _tag_problem)


@rule(
    "K8S-PRIVILEGED", family="general", defaults=("error", "error", "error"),
    title="No privileged containers or privilege escalation (other workloads)",
    why="""A privileged container, or one that may gain privileges (setuid binaries, `allowPrivilegeEscalation`
    defaults to true), is root on the node after one exploit. V11 covers the Phoenix workloads.""",
    fix="Set `privileged: false` (or leave it out), `allowPrivilegeEscalation: false`, and add no `SYS_ADMIN`/`ALL`"
        " capabilities.",
)
def privileged(view: View) -> Iterator[Hit]:
    for res in _other_workloads(view):
        for path, container in containers_of(res, ("initContainers", "containers")):
            context = as_dict(container.get("securityContext"))
            name = container.get("name")
            if context.get("privileged") is True:
                yield Hit(res, path + ("securityContext", "privileged"), f"container {name!r} is privileged")
            if context.get("allowPrivilegeEscalation") is not False:
                yield Hit(res, path + ("securityContext",),
                          f"container {name!r}: allowPrivilegeEscalation is not false")
            added = {str(c).upper() for c in as_list(as_dict(context.get("capabilities")).get("add"))}
            if added & {"ALL", "SYS_ADMIN"}:
                yield Hit(res, path + ("securityContext", "capabilities", "add"),
                          f"container {name!r} adds {', '.join(sorted(added & {'ALL', 'SYS_ADMIN'}))}")


@rule(
    "K8S-RUN-AS-ROOT", family="general", defaults=("warning", "error", "error"),
    title="Other workloads do not run as root",
    why="A process running as uid 0 in the container is one kernel bug away from root on the node. V11 covers the "
        "Phoenix workloads.",
    fix="Set `runAsNonRoot: true` and a numeric `runAsUser` > 0 on the pod (or every container).",
    interpretation="""A container runs as non-root when its effective (container, else pod) `runAsUser` is a number
    above 0, or `runAsNonRoot` is true and `runAsUser` is not 0.""",
)
def run_as_root(view: View) -> Iterator[Hit]:
    for res in _other_workloads(view):
        pod = view.pod_spec(res)
        for path, container in containers_of(res, ("initContainers", "containers")):
            user = as_int(_effective(pod, container, "runAsUser"))
            non_root = (user is not None and user > 0) or (
                _effective(pod, container, "runAsNonRoot") is True and user != 0)
            if not non_root:
                yield Hit(res, path + ("securityContext",), f"container {container.get('name')!r} may run as root "
                          "(runAsUser is 0, or neither a runAsUser above 0 nor runAsNonRoot: true)")


@rule(
    "K8S-HOST-ACCESS", family="general", defaults=("error", "error", "error"),
    title="No host namespaces, host paths or host ports",
    why="""`hostNetwork`, `hostPID`, `hostIPC`, `hostPath` volumes and `hostPort` break the pod's isolation from the
    node and from other tenants, and pin pods to nodes.""",
    fix="Remove them; use Services for ports and `emptyDir`/PVCs for storage.",
)
def host_access(view: View) -> Iterator[Hit]:
    for res in view.workloads:
        spec_path = pod_spec_path(res) or ("spec",)
        pod = view.pod_spec(res)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key) is True:
                yield Hit(res, spec_path + (key,), f"the pod sets {key}: true")
        for index, volume in enumerate(as_list(pod.get("volumes"))):
            if isinstance(volume, dict) and "hostPath" in volume:
                yield Hit(res, spec_path + ("volumes", index, "hostPath"),
                          f"volume {volume.get('name')!r} is a hostPath")
        for path, container in containers_of(res):
            for index, port in enumerate(as_list(container.get("ports"))):
                if isinstance(port, dict) and port.get("hostPort") is not None:
                    yield Hit(res, path + ("ports", index, "hostPort"), f"container {container.get('name')!r} binds a "
                              "hostPort")


POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
"""The Namespace label that sets the Pod Security Standard the API server enforces on every pod in it."""


@rule(
    "K8S-POD-SECURITY", family="general", defaults=("error", "error", "error"),
    title="An app's Namespace enforces the restricted Pod Security Standard",
    why="""The rules above check the pods this repository renders; Pod Security admission makes the cluster refuse
    every other pod in the namespace that is not hardened (one created by hand, by a Job template, by an operator).
    A namespace relabelled `baseline` or `privileged` lets privileged pods and host access in.""",
    fix=f"""Keep `{POD_SECURITY_ENFORCE}: restricted` on the Namespace (the shared base sets it); do not patch it
    away in an overlay.""",
    interpretation=f"""Every Namespace object an app renders carries the label `{POD_SECURITY_ENFORCE}` with the
    value `restricted`.""",
)
def pod_security(view: View) -> Iterator[Hit]:
    for res in view.resources:
        if res.group != "" or res.kind != "Namespace":
            continue
        labels = as_dict(res.metadata.get("labels"))
        level = labels.get(POD_SECURITY_ENFORCE)
        if level is None:
            yield Hit(res, ("metadata",), f"has no {POD_SECURITY_ENFORCE} label: the cluster enforces no Pod "
                      "Security Standard in it")
        elif level != "restricted":
            yield Hit(res, ("metadata", "labels", POD_SECURITY_ENFORCE), f"{POD_SECURITY_ENFORCE} is {level!r}: "
                      "the cluster would admit pods that are not hardened; keep it 'restricted'")
