"""Availability rules: probes, resources, graceful shutdown, replicas, HPA, PDB, rollout, spread, serving Service.

The Phoenix reference rules (V13, V15, V16, V19, V20, V23–V28, V33) cover the Phoenix workloads found by evidence
(`workloads.py`), each in the roles its rule family names: the web workloads (probes, shutdown, replicas, PDB,
rollout, spread, serving Service, all on the serving port found by evidence) or every long-running one (resources,
HPA, migrating initContainers). The general rules `K8S-PROBES` and `K8S-RESOURCES` cover every other long-running
workload and every other container. Per-environment numbers (replica floors, spread keys, the drain budget) are
settings of the policy.

Usage:
    from phoenix_gitops.rules import availability
    list(availability.v24(view))    # a Hit when the replica count does not fit the environment
"""
from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from typing import Any

from .model import (
    JsonPath,
    View,
    as_dict,
    as_int,
    as_list,
    containers_of,
    each_app,
    each_release,
    label_selector_matches,
    migrates,
    parse_quantity,
    pod_spec_path,
    selector_matches,
)
from .registry import Hit, rule
from .workloads import distribution_ports

DRAIN_ANNOTATION = "phoenix/drain-budget-seconds"
_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
_TCP_OK = ("startupProbe", "readinessProbe")
"""Probes a TCP connect to the serving port may do: the Endpoint is the release's last child, so an accepted
connection means the supervision tree is up. Liveness must catch a deadlock, which only an HTTP answer shows."""


@rule(
    "PHX-V13", v="V13", family="phoenix", defaults=("warning", "error", "error"),
    title="Startup, readiness and liveness probes on the serving port",
    why="""Without a startup probe a slow boot (embedded mode preloads every module) is killed by liveness; without
    readiness, traffic reaches a node before the Endpoint is up. Liveness must only catch deadlocks, so it needs a few
    failures; a TCP probe on epmd says nothing about the app.""",
    fix="""`startupProbe` httpGet `/healthz` (failureThreshold × periodSeconds ≥ 30), `readinessProbe` httpGet
    `/readyz`, `livenessProbe` httpGet `/healthz` with failureThreshold ≥ 3, all on the port Phoenix serves
    (`http`).""",
    interpretation="""Applies to the release container of every Phoenix web workload. The serving port is found by
    evidence (`PORT`/`PHX_PORT`, a container port named `http`/`web`/`phoenix`, an `httpGet` probe's port, else
    4000) and a probe may name it by number or by any container port name that has that number. Startup and
    readiness may also be a `tcpSocket` on the serving port (the Endpoint starts last, so a connection means the app
    is up); liveness must be an `httpGet`.""",
)
def v13(view: View) -> Iterator[Hit]:
    for workload in view.phoenix("phoenix-web"):
        app, c_path, c, port = workload.res, workload.c_path, workload.container, workload.serving
        if c_path is None or port is None:
            continue
        for kind in _PROBES:
            probe = c.get(kind)
            if not isinstance(probe, dict):
                yield Hit(app, c_path, f"C has no {kind}")
                continue
            http, tcp = as_dict(probe.get("httpGet")), as_dict(probe.get("tcpSocket"))
            if "httpGet" in probe and port.matches(http.get("port")):
                continue
            if "tcpSocket" in probe and kind in _TCP_OK and port.matches(tcp.get("port")):
                continue
            what = "an httpGet" if kind not in _TCP_OK else "an httpGet (or tcpSocket)"
            yield Hit(app, c_path + (kind,), f"{kind} is not {what} on the serving port {port}")
        liveness = as_dict(c.get("livenessProbe"))
        if liveness and (as_int(liveness.get("failureThreshold")) or 3) < 3:
            yield Hit(app, c_path + ("livenessProbe", "failureThreshold"), "livenessProbe.failureThreshold must be at "
                      "least 3")
        startup = as_dict(c.get("startupProbe"))
        if startup:
            budget = (as_int(startup.get("failureThreshold")) or 3) * (as_int(startup.get("periodSeconds")) or 10)
            if budget < 30:
                yield Hit(app, c_path + ("startupProbe",), f"startupProbe allows only {budget} s to boot "
                          "(failureThreshold × periodSeconds must be at least 30)")


def _resources(c: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    resources = as_dict(c.get("resources"))
    return as_dict(resources.get("requests")), as_dict(resources.get("limits"))


@rule(
    "PHX-V15", v="V15", family="phoenix", defaults=("warning", "error", "error"),
    title="C requests CPU and memory and limits memory",
    why="""The BEAM is not memory-limit aware: without a limit a leak takes the node, without requests the scheduler
    packs pods blindly and the HPA has nothing to compute utilization from.""",
    fix="Set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory` on C (per env).",
)
def v15(view: View) -> Iterator[Hit]:
    for app, c_path, c in each_release(view, "phoenix-long-running"):
        requests, limits = _resources(c)
        missing = [f"requests.{k}" for k in ("cpu", "memory") if requests.get(k) is None]
        missing += ["limits.memory"] if limits.get("memory") is None else []
        if missing:
            yield Hit(app, c_path + ("resources",), f"C does not set {', '.join(missing)}")


@rule(
    "PHX-V16", v="V16", family="phoenix", defaults=("-", "warning", "error"),
    title="Memory limit equals memory request",
    why="""A pod that uses more than it requested is the first one evicted under memory pressure; the BEAM grows its
    heap freely, so request what the limit allows.""",
    fix="Set `limits.memory` equal to `requests.memory` on C.",
)
def v16(view: View) -> Iterator[Hit]:
    for app, c_path, c in each_release(view, "phoenix-long-running"):
        requests, limits = _resources(c)
        request, limit = parse_quantity(requests.get("memory")), parse_quantity(limits.get("memory"))
        if request is not None and limit is not None and request != limit:
            yield Hit(app, c_path + ("resources", "limits", "memory"), f"limits.memory {limits.get('memory')} differs "
                      f"from requests.memory {requests.get('memory')}")


def prestop_seconds(c: dict[str, Any]) -> int | None:
    """S of V19: the seconds a preStop sleeps (`sleep.seconds`, or `exec` of `sleep N`, also through
    `sh -c "sleep N"`), None without one."""
    pre_stop = as_dict(as_dict(c.get("lifecycle")).get("preStop"))
    if "sleep" in pre_stop:
        return as_int(as_dict(pre_stop["sleep"]).get("seconds"))
    command = [str(p) for p in as_list(as_dict(pre_stop.get("exec")).get("command"))]
    if len(command) >= 3 and posixpath.basename(command[0]) in ("sh", "bash", "ash", "dash") and command[1] == "-c":
        try:
            command = shlex.split(command[2])
        except ValueError:
            return None
        if len(command) > 2 and command[2] in (";", "&&"):
            command = command[:2]
    if len(command) == 2 and posixpath.basename(command[0]) == "sleep":
        return as_int(command[1])
    return None


@rule(
    "PHX-V19", v="V19", family="phoenix", defaults=("warning", "error", "error"),
    title="A preStop sleep of 5–30 seconds",
    why="""Endpoint removal runs in parallel with SIGTERM: without a pause, kube-proxy and the ingress still route
    to a pod whose listener is closing, and requests fail during every rollout.""",
    fix="""`lifecycle.preStop.sleep.seconds: 10` on C (Kubernetes ≥ 1.30), or `exec: {command: ["sleep", "10"]}` on
    older clusters.""",
    interpretation="""Applies to the release container of every Phoenix web workload. A sleep is `sleep.seconds`, an
    `exec` of `sleep N`, or an `exec` of `sh -c "sleep N"`. The bounds are the policy's
    `drain.preStopMinSeconds`/`preStopMaxSeconds` (5 and 30).""",
)
def v19(view: View) -> Iterator[Hit]:
    drain = as_dict(view.setting("drain"))
    low, high = as_int(drain.get("preStopMinSeconds")) or 0, as_int(drain.get("preStopMaxSeconds")) or 0
    for app, c_path, c in each_app(view):  # (web)
        seconds = prestop_seconds(c)
        if seconds is None:
            yield Hit(app, c_path + ("lifecycle",), "C has no preStop sleep (sleep.seconds, or exec sleep N)")
        elif not low <= seconds <= high:
            yield Hit(app, c_path + ("lifecycle", "preStop"), f"preStop sleeps {seconds} s; use {low} to {high} s")


@rule(
    "PHX-V20", v="V20", family="phoenix", defaults=("warning", "error", "error"),
    title="The grace period covers preStop plus Phoenix's drain",
    why="""The grace timer starts before preStop. Phoenix's socket drainer takes 30 s by default and the HTTP drain
    up to 15 s: Kubernetes' default 30 s kills the BEAM mid-drain.""",
    fix=f"""Set `terminationGracePeriodSeconds` to at least preStop + 45 (75 in the shared base), or declare a
    measured drain budget with the annotation `{DRAIN_ANNOTATION}: "<seconds>"` on the web Deployment.""",
    interpretation="""The default budget is the policy's `drain.budgetSeconds` (45); a Deployment that declares
    `phoenix/drain-budget-seconds` uses its own.""",
)
def v20(view: View) -> Iterator[Hit]:
    default = as_int(as_dict(view.setting("drain")).get("budgetSeconds")) or 0
    for app, _, c in each_app(view):
        budget = default
        if DRAIN_ANNOTATION in app.annotations:
            declared = as_int(app.annotations[DRAIN_ANNOTATION])
            if declared is None or declared < 0:
                yield Hit(app, ("metadata", "annotations", DRAIN_ANNOTATION), f"{DRAIN_ANNOTATION} must be a number "
                          "of seconds")
                continue
            budget = declared
        seconds = prestop_seconds(c) or 0
        spec_path = pod_spec_path(app) or ("spec",)
        grace = as_int(view.pod_spec(app).get("terminationGracePeriodSeconds"))
        grace = 30 if grace is None else grace
        if grace < seconds + budget:
            yield Hit(app, spec_path + ("terminationGracePeriodSeconds",), f"terminationGracePeriodSeconds {grace} is "
                      f"below preStop {seconds} s + drain {budget} s = {seconds + budget}")


@rule(
    "PHX-V23", v="V23", family="phoenix", defaults=("error", "error", "error"),
    title="The serving Service is a ClusterIP to the serving port",
    why="""NodePort and LoadBalancer Services bypass the ingress/Gateway (TLS, host routing, `X-Forwarded-Proto`);
    a Service that targets another port than the one Phoenix listens on has no working endpoint, and one that
    targets a distribution port hands the cookie-protected Erlang distribution to whoever reaches the Service.""",
    fix="""Use `type: ClusterIP` with `targetPort: http` (the container port Phoenix serves on) and front it with the
    HTTPRoute (or Ingress).""",
    interpretation="""The serving Services are the non-headless Services in the workload's namespace whose selector
    matches the pods of a Phoenix web workload. Some port must target the serving port (found by evidence, by number
    or by any container port name with that number: `http`, `web`, `phoenix`, ...); other ports (metrics) may be there
    too, but none may target epmd or a distribution port.""",
)
def v23(view: View) -> Iterator[Hit]:
    for workload in view.phoenix("phoenix-web"):
        app, serving = workload.res, workload.serving
        if workload.c_path is None or serving is None:
            continue
        labels = view.pod_labels(app)
        distribution = distribution_ports(view, workload.res, workload.c_path)
        for service in view.of_kind("Service"):
            if service.spec.get("clusterIP") == "None" or service.namespace != app.namespace or not selector_matches(
                    service.spec.get("selector"), labels):
                continue
            if service.spec.get("type", "ClusterIP") != "ClusterIP":
                yield Hit(service, ("spec", "type"), f"{service.label} serving {app.label} is "
                          f"{service.spec.get('type')}; use ClusterIP behind the ingress/Gateway")
            ports = [(index, as_dict(port)) for index, port in enumerate(as_list(service.spec.get("ports")))]
            targets = [(index, port, port.get("targetPort", port.get("port"))) for index, port in ports]
            if not any(serving.matches(target) for _, _, target in targets):
                for index, port, _ in targets:
                    yield Hit(service, ("spec", "ports", index), f"port {port.get('name') or index} of "
                              f"{service.label} does not target the serving port {serving} of {app.label}")
            for index, port, target in targets:
                if distribution.matches(target):
                    yield Hit(service, ("spec", "ports", index), f"port {port.get('name') or index} of "
                              f"{service.label} targets a distribution port of {app.label}")


@rule(
    "PHX-V24", v="V24", family="phoenix", defaults=("error", "error", "error"),
    title="Replicas fit the environment (dev 1 without HPA, staging ≥ 2, prod ≥ 3)",
    why="""One BEAM node per zone failure is lost; prod needs three to survive a zone and a rollout, staging two to
    exercise clustering. Dev runs one pod, and an HPA there only scales a cluster nobody load-tests.""",
    fix="""Set the HPA's `minReplicas` (staging, prod) or `spec.replicas` (dev, with the `single-replica` component
    that also deletes the HPA).""",
    interpretation="""Applies to every Phoenix web workload but DaemonSets (one pod per node). R is the HPA's
    `minReplicas` when an HPA targets the workload, else `spec.replicas` (default 1). The bounds per environment are
    the policy's `replicas` setting (`min`, `max`, `hpa: false`).""",
)
def v24(view: View) -> Iterator[Hit]:
    bounds = as_dict(view.setting("replicas"))
    for app in _scaled(view):
        count, res, path = view.replicas(app)
        low, high = as_int(bounds.get("min")), as_int(bounds.get("max"))
        if bounds.get("hpa") is False:
            for hpa in view.hpas_for(app):
                yield Hit(hpa, ("spec", "scaleTargetRef"), f"{hpa.label} scales {app.label}; this environment runs a "
                          "fixed replica count without an HPA")
        if low is not None and count < low:
            yield Hit(res, path, f"{app.label} runs {count} replica(s); this environment needs at least {low}")
        if high is not None and count > high:
            yield Hit(res, path, f"{app.label} runs {count} replicas; this environment allows at most {high}")


@rule(
    "PHX-V25", v="V25", family="phoenix", defaults=("-", "warning", "error"),
    title="An HPA owns the replica count and scales down slowly",
    why="""A `spec.replicas` next to an HPA makes every sync reset the scale (Flux has no ignoreDifferences);
    `maxReplicas` equal to `minReplicas` is not autoscaling; fast scale-down drops websockets in bursts.""",
    fix="""Leave `spec.replicas` out of the Deployment, make `maxReplicas` > `minReplicas`, and keep
    `behavior.scaleDown.stabilizationWindowSeconds` ≥ 300 when set.""",
    interpretation="""Applies to every Phoenix web and worker workload an HPA targets. `spec.replicas` must be absent
    even though the generated Argo CD Applications ignore `/spec/replicas`: Flux applies the same rendered output and
    has no such setting.""",
)
def v25(view: View) -> Iterator[Hit]:
    for app, _, _ in each_release(view, "phoenix-long-running"):
        for hpa in view.hpas_for(app):
            if "replicas" in app.spec:
                yield Hit(app, ("spec", "replicas"), f"{app.label} sets spec.replicas while {hpa.label} scales it")
            low = as_int(hpa.spec.get("minReplicas"))
            high = as_int(hpa.spec.get("maxReplicas"))
            if high is not None and high <= (1 if low is None else low):
                yield Hit(hpa, ("spec", "maxReplicas"), "maxReplicas must be greater than minReplicas")
            window = as_dict(as_dict(hpa.spec.get("behavior")).get("scaleDown")).get("stabilizationWindowSeconds")
            if window is not None and (as_int(window) or 0) < 300:
                yield Hit(hpa, ("spec", "behavior", "scaleDown", "stabilizationWindowSeconds"),
                          "scaleDown.stabilizationWindowSeconds must be at least 300")


def _scaled(view: View) -> list[Any]:
    """The Phoenix web workloads whose replica count is theirs to set (every kind but DaemonSet)."""
    return [app for app in view.apps if app.kind != "DaemonSet"]


def _percent_or_int(value: Any) -> tuple[int, bool] | None:
    if isinstance(value, str) and re.fullmatch(r"\d+%", value):
        return int(value[:-1]), True
    number = as_int(value)
    return None if number is None else (number, False)


@rule(
    "PHX-V26", v="V26", family="phoenix", defaults=({"default": "-", "blocking": "error"}, "error", "error"),
    conditions=("blocking",),
    title="A PodDisruptionBudget that protects the nodes without blocking drains",
    why="""A node drain must not take every BEAM node at once, and must never be blocked: a budget that allows no
    eviction (minAvailable ≥ 1 at one replica, maxUnavailable 0) stalls cluster upgrades. AlwaysAllow lets
    not-ready pods go.""",
    fix="""A `policy/v1` PDB selecting exactly the web pods with `maxUnavailable: 1` (or `minAvailable` between 1 and
    R-1) and `unhealthyPodEvictionPolicy: AlwaysAllow`.""",
    interpretation="""Applies to every Phoenix web workload but DaemonSets. "Selector equals APP's selector" is read
    as "selects exactly the workload's pods": the shipped PDB adds `component: web`, so the migration Job's pod (which
    has no scale subresource) is not counted. An empty selector (`{}`) selects every pod of the namespace. Condition
    `blocking`: at R ≤ 1 the budget allows no eviction; in dev only that is checked.""",
)
def v26(view: View) -> Iterator[Hit]:
    for app in _scaled(view):
        count = view.replicas(app)[0]
        labels = view.pod_labels(app)
        budgets = [p for p in view.of_kind("PodDisruptionBudget") if p.namespace == app.namespace
                   and label_selector_matches(p.spec.get("selector"), labels)]
        if not budgets:
            yield Hit(app, ("metadata", "name"), f"no PodDisruptionBudget selects the pods of {app.label}")
        for pdb in budgets:
            spec = pdb.spec
            max_unavailable = _percent_or_int(spec.get("maxUnavailable"))
            min_available = _percent_or_int(spec.get("minAvailable"))
            blocks = (max_unavailable is not None and max_unavailable[0] == 0) or (
                count <= 1 and min_available is not None and min_available[0] >= 1)
            if blocks:
                yield Hit(pdb, ("spec",),
                          f"{pdb.label} allows no eviction at {count} replica(s): it blocks node drains",
                          condition="blocking")
                continue
            if not view.selects_exactly(spec.get("selector"), app, label_selector=True):
                yield Hit(pdb, ("spec", "selector"), f"{pdb.label} does not select exactly the pods of {app.label}")
            ok = max_unavailable == (1, False) or (
                min_available is not None and not min_available[1] and 1 <= min_available[0] < count)
            if not ok:
                yield Hit(pdb, ("spec",), f"{pdb.label} needs maxUnavailable: 1 (or minAvailable from 1 to R-1, R = "
                          f"{count})")
            if spec.get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
                yield Hit(pdb, ("spec",), f"{pdb.label} needs unhealthyPodEvictionPolicy: AlwaysAllow")


@rule(
    "PHX-V27", v="V27", family="phoenix", defaults=("-", "warning", "error"),
    title="Rolling updates never drop below the desired replicas",
    why="""The default `maxUnavailable: 25%` removes serving nodes before new ones are ready; with `maxUnavailable:
    0` and a surge, a rollout only adds capacity first.""",
    fix="`strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}`.",
    interpretation="Applies to the Phoenix web workloads that are Deployments (the only kind with this strategy).",
)
def v27(view: View) -> Iterator[Hit]:
    for app in view.apps:
        if app.kind != "Deployment":
            continue
        strategy = as_dict(app.spec.get("strategy"))
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            yield Hit(app, ("spec", "strategy", "type"), f"{app.label} uses a {strategy.get('type')} strategy")
            continue
        rolling = as_dict(strategy.get("rollingUpdate"))
        unavailable = _percent_or_int(rolling.get("maxUnavailable", "25%"))
        surge = _percent_or_int(rolling.get("maxSurge", "25%"))
        if unavailable is None or unavailable[0] != 0:
            yield Hit(app, ("spec", "strategy"), "rollingUpdate.maxUnavailable must be 0")
        if surge is None or surge[0] < 1:
            yield Hit(app, ("spec", "strategy"), "rollingUpdate.maxSurge must be at least 1")


@rule(
    "PHX-V28", v="V28", family="phoenix", defaults=("-", "warning", "error"),
    title="Web pods spread across zones",
    why="""A zone failure must not take the whole BEAM cluster; without a spread constraint the scheduler may place
    every replica in one zone.""",
    fix="""A `topologySpreadConstraints` entry with `topologyKey: topology.kubernetes.io/zone`, `maxSkew: 1` and a
    `labelSelector` matching the web pods (plus `matchLabelKeys: [pod-template-hash]`).""",
    interpretation="""Applies to every Phoenix web workload but DaemonSets. The accepted topology keys per environment
    are the policy's `spreadTopologyKeys`: staging also accepts `kubernetes.io/hostname` ("hostname ok").""",
)
def v28(view: View) -> Iterator[Hit]:
    keys = [str(k) for k in view.setting("spreadTopologyKeys") or []]
    for app in _scaled(view):
        labels = view.pod_labels(app)
        constraints = [c for c in as_list(view.pod_spec(app).get("topologySpreadConstraints")) if isinstance(c, dict)]
        if not any(c.get("topologyKey") in keys and as_int(c.get("maxSkew")) == 1
                   and label_selector_matches(c.get("labelSelector"), labels) for c in constraints):
            spec_path = pod_spec_path(app) or ("spec",)
            yield Hit(app, spec_path + ("topologySpreadConstraints",) if constraints else spec_path,
                      f"no topologySpreadConstraints with topologyKey {' or '.join(keys)}, maxSkew 1 and a "
                      f"labelSelector matching the pods of {app.label}")


@rule(
    "PHX-V33", v="V33", family="phoenix", defaults=("-", "error", "error"),
    title="No migrating initContainer with more than one replica",
    why="""With N replicas an initContainer migration runs N migrators at every pod start, and ties schema changes to
    every restart; it is acceptable only in single-replica dev.""",
    fix="Run migrations in the migration Job (V05, V31, V32) and remove the initContainer.",
    interpretation="Applies to every Phoenix web and worker workload.",
)
def v33(view: View) -> Iterator[Hit]:
    for app, _, _ in each_release(view, "phoenix-long-running"):
        count = view.replicas(app)[0]
        if count <= 1:
            continue
        for path, container in containers_of(app, ("initContainers",)):
            if migrates(container):
                yield Hit(app, path, f"initContainer {container.get('name')!r} migrates while {app.label} runs "
                          f"{count} replicas")


@rule(
    "K8S-PROBES", family="general", defaults=("warning", "error", "error"),
    title="Other long-running workloads have readiness and liveness probes",
    why="""Without readiness a Service sends traffic to pods that cannot serve it; without liveness a deadlocked
    process is never restarted. V13 covers the Phoenix web workloads.""",
    fix="Give every container of a Deployment, StatefulSet or DaemonSet a `readinessProbe` and a `livenessProbe`.",
    interpretation="""Applies to every Deployment, StatefulSet and DaemonSet that is not a Phoenix web workload
    (Phoenix workers included). Jobs and CronJobs are not long-running and need no probes.""",
)
def probes(view: View) -> Iterator[Hit]:
    apps = {id(a) for a in view.apps}
    for res in view.of_kind("Deployment", "StatefulSet", "DaemonSet"):
        if id(res) in apps:
            continue
        for path, container in containers_of(res, ("containers",)):
            missing = [k for k in ("readinessProbe", "livenessProbe") if not isinstance(container.get(k), dict)]
            if missing:
                yield Hit(res, path, f"container {container.get('name')!r} has no {' and no '.join(missing)}")


@rule(
    "K8S-RESOURCES", family="general", defaults=("warning", "error", "error"),
    title="Every other container requests CPU and memory and limits memory",
    why="""Without requests the scheduler overcommits nodes and the HPA cannot compute utilization; without a memory
    limit one leak evicts its neighbours. V15 covers the release container of Phoenix web and worker workloads.""",
    fix="Set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory` on the container.",
    interpretation="""Applies to every container (init containers included) of every workload, except the release
    container of a Phoenix web or worker workload (V15).""",
)
def resources(view: View) -> Iterator[Hit]:
    skip: set[tuple[int, JsonPath]] = set()
    for app, c_path, _ in each_release(view, "phoenix-long-running"):
        skip.add((id(app), c_path))
    for res in view.workloads:
        for path, container in containers_of(res, ("initContainers", "containers")):
            if (id(res), path) in skip:
                continue
            requests, limits = _resources(container)
            missing = [f"requests.{k}" for k in ("cpu", "memory") if requests.get(k) is None]
            missing += ["limits.memory"] if limits.get("memory") is None else []
            if missing:
                yield Hit(res, path + ("resources",), f"container {container.get('name')!r} does not set "
                          f"{', '.join(missing)}")
