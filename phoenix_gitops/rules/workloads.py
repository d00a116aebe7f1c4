"""Which workloads run a Phoenix (Elixir/BEAM) release, and in what role: decided by what their pods show.

The Phoenix rules apply to every workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, bare
Pod) whose pod shows that it runs a release, whatever its labels. Evidence, read from every container (the env
resolved through `env`, `envFrom` and the build's ConfigMaps, the command line, the ports):

- **strong** (one is enough): the Mix release variables (`RELEASE_NODE`, `RELEASE_COOKIE`,
  `RELEASE_DISTRIBUTION`, `RELEASE_TMP`, ... see `RELEASE_VARS`), any `PHX_*` or `ELIXIR_*` variable,
  `DNS_CLUSTER_QUERY`, `LIBCLUSTER_*`, a release command (`bin/server`, `bin/<app> start|eval|start_iex|...`,
  `bin/migrate`, `mix phx.server` (or Phoenix 1.2's `mix phoenix.server`), `mix ecto.migrate`);
- **weak** (not enough alone, since other BEAM software and other stacks show them too): `ERL_*` variables,
  `ERLANG_COOKIE`, epmd (port 4369 or a port named `epmd`), other `RELEASE_*` variables, libcluster-style
  `CLUSTER_*`/`KUBERNETES_*` settings, `SECRET_KEY_BASE` (Rails reads it too), a container port named `phoenix`,
  and the house label `app.kubernetes.io/component: web|migrations`.

A workload with only weak signals is *unclassified*: rule PHX-UNCLASSIFIED says so (info), and the general
`K8S-*` rules check it like any other workload. The release container (**C**) is the container with the most
evidence (ties: the one named like the app, else the first). The **role** of a Phoenix workload:

- `migration`: a Job whose release container runs migrations (`bin/migrate`, `eval ...migrate`,
  `Release.migrate`, `mix ecto.migrate`), or a Job labelled `component: migrations`;
- `task`: any other Job or CronJob (or a Pod that does not restart);
- `web`: a long-running workload that serves HTTP: `bin/server`, `mix phx.server`, `PHX_SERVER=true`, the label
  `component: web`, a Service selecting its pods, a `PORT`/`PHX_PORT` variable, a container port named
  `http`/`web`/`phoenix`, an `httpGet` probe; or, with none of these and no command, a Phoenix image (its generated
  Dockerfile's CMD is `bin/server`);
- `worker`: a long-running workload with none of that, or with `PHX_SERVER` set to anything but true;
- unclassified: a long-running workload whose release runs a one-off command (`eval`, `rpc`, `migrate`).

A web workload's **serving port** is found by evidence too (`serving_port`): `PORT`/`PHX_PORT`, else a
container port named `http`/`web`/`phoenix`, else the port of an `httpGet` probe, else Phoenix's default 4000.
A workload is **clustered** when it shows Erlang distribution: `RELEASE_NODE`, `RELEASE_DISTRIBUTION` other than
`none`, `DNS_CLUSTER_QUERY`, libcluster settings, an epmd or distribution port, or distribution flags in
`ERL_AFLAGS`/`ERL_FLAGS`/`ELIXIR_ERL_OPTIONS`/`ERL_DIST_PORT`.

Each rule names the family of workloads it applies to (`APPLIES`, documented in docs/rules.md), and every
workload reports the families that applied to it (`Workload.families`, the JSON report's `workloads`).

Usage:
    for workload in classify(view):
        workload.res.label, workload.role      # 'Deployment/api-web', 'web'
        workload.evidence                      # ('env RELEASE_NODE', 'env PHX_HOST', ..., 'port epmd (4369)')
    web = view.phoenix("phoenix-web")          # the web workloads (model.View)
    web[0].serving                             # ServingPort(number=4000, names=('http',), evidence='env PORT')
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import (
    COMPONENT,
    ERL_VARS,
    NAME,
    JsonPath,
    Res,
    as_dict,
    as_int,
    as_list,
    command_of,
    containers_of,
    pod_labels_path,
    selector_matches,
)

if TYPE_CHECKING:  # pragma: no cover
    from .model import View

__all__ = [
    "Workload", "ServingPort", "Ports", "classify", "records", "WORKLOAD_FAMILIES", "APPLIES", "ROLES",
    "RELEASE_VARS", "dist_ports", "distribution_ports", "epmd_less", "erl_flags", "serving_port", "summary_counts",
]

ROLES = ("web", "worker", "migration", "task")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController")
ONE_OFF = ("Job", "CronJob")
RELEASE_VARS = frozenset({
    "RELEASE_NODE", "RELEASE_COOKIE", "RELEASE_DISTRIBUTION", "RELEASE_NAME", "RELEASE_VSN", "RELEASE_TMP",
    "RELEASE_MODE", "RELEASE_ROOT", "RELEASE_BOOT_SCRIPT", "RELEASE_BOOT_SCRIPT_CLEAN", "RELEASE_SYS_CONFIG",
    "RELEASE_VM_ARGS", "RELEASE_REMOTE_VM_ARGS", "RELEASE_PROG", "RELEASE_COMMAND",
})
"""The variables Mix releases read (Mix.Tasks.Release, "Environment variables")."""
SERVING_PORT_NAMES = ("http", "web", "phoenix")
EPMD_PORT = 4369
WORKLOAD_FAMILIES: dict[str, str] = {
    "phoenix-release": "every Phoenix workload, whatever its role (web, worker, migration, task)",
    "phoenix-long-running": "Phoenix web and worker workloads (Deployments, StatefulSets, DaemonSets, ...)",
    "phoenix-web": "Phoenix web workloads (the ones that serve HTTP)",
    "phoenix-endpoint": "Phoenix web workloads that show Phoenix itself (a `PHX_*` variable, `bin/server`, "
                        "`mix phx.server`, or the label `app.kubernetes.io/component: web`)",
    "phoenix-clustered": "Phoenix web and worker workloads that use Erlang distribution",
    "phoenix-migration": "Phoenix migration Jobs",
    "phoenix-secrets": "Phoenix web workloads (all three variables) and Phoenix migration Jobs (`SECRET_KEY_BASE` and "
                       "`DATABASE_URL`)",
    "other-workloads": "workloads that are not Phoenix workloads (unclassified ones included), and the containers of "
                       "Phoenix workloads besides the release container where the rule says so",
    "every-workload": "every workload, Phoenix or not",
    "objects": "the objects of the build it names, not workloads",
    "labels": "every object of the build (its labels), and the selector and pod labels of Phoenix web workloads",
    "sources": "the overlay's source files, not workloads",
    "across-environments": "Phoenix web and worker workloads, compared across environments",
    "classification": "workloads with Phoenix signals that could not be classified",
}
"""Rule families by the workloads they apply to (docs/rules.md says it for every rule in `APPLIES`)."""
APPLIES: dict[str, str] = {
    "PHX-V01": "labels", "PHX-V02": "sources", "PHX-V03": "phoenix-release", "PHX-V04": "phoenix-release",
    "PHX-V05": "phoenix-migration", "PHX-V06": "objects", "PHX-V07": "phoenix-secrets", "PHX-V08": "phoenix-clustered",
    "PHX-V09": "phoenix-clustered", "PHX-V10": "phoenix-long-running", "PHX-V11": "phoenix-release",
    "PHX-V12": "phoenix-long-running", "PHX-V13": "phoenix-web", "PHX-V14": "phoenix-endpoint",
    "PHX-V15": "phoenix-long-running", "PHX-V16": "phoenix-long-running", "PHX-V17": "phoenix-long-running",
    "PHX-V18": "phoenix-long-running", "PHX-V19": "phoenix-web", "PHX-V20": "phoenix-web",
    "PHX-V21": "phoenix-release", "PHX-V22": "phoenix-endpoint", "PHX-V23": "phoenix-web", "PHX-V24": "phoenix-web",
    "PHX-V25": "phoenix-long-running", "PHX-V26": "phoenix-web", "PHX-V27": "phoenix-web",
    "PHX-V28": "phoenix-web", "PHX-V29": "phoenix-clustered", "PHX-V30": "phoenix-clustered",
    "PHX-V31": "phoenix-migration", "PHX-V32": "phoenix-migration", "PHX-V33": "phoenix-long-running",
    "PHX-V34": "phoenix-release", "PHX-V35": "across-environments", "PHX-V37": "phoenix-web",
    "PHX-V38": "objects", "PHX-UNCLASSIFIED": "classification",
    "K8S-IMAGE-TAG": "other-workloads", "K8S-PRIVILEGED": "other-workloads", "K8S-RUN-AS-ROOT": "other-workloads",
    "K8S-PROBES": "other-workloads", "K8S-RESOURCES": "other-workloads", "K8S-HOST-ACCESS": "every-workload",
    "K8S-REF-MISSING": "every-workload",
}
"""Rule ID -> its family (a key of WORKLOAD_FAMILIES)."""
_RULE_FAMILIES = {"web": ("phoenix-release", "phoenix-long-running", "phoenix-web", "phoenix-secrets"),
                  "worker": ("phoenix-release", "phoenix-long-running"),
                  "migration": ("phoenix-release", "phoenix-migration", "phoenix-secrets"),
                  "task": ("phoenix-release",)}

_STRONG_PREFIXES = ("PHX_", "ELIXIR_", "LIBCLUSTER_")
_WEAK_PREFIXES = ("ERL_", "RELEASE_")
_WEAK_VARS = frozenset({"ERLANG_COOKIE", "SECRET_KEY_BASE"})
_CLUSTER_SETTING = re.compile(r"^(?:CLUSTER|KUBERNETES)_(?:STRATEGY|SERVICE(?:_NAME)?|SELECTOR|NODE_BASENAME|BASENAME|"
                              r"APP_NAME|QUERY|TOPOLOGY|HEADLESS_SERVICE)$")
_SERVER = re.compile(r"(?:^|[\s/'\"])bin/server\b|\bmix\s+(?:phx|phoenix)\.server\b")
_START = re.compile(r"\bbin/[A-Za-z0-9_.-]+\s+(?:start|start_iex|daemon|daemon_iex|foreground|console)\b")
_ONE_OFF = re.compile(r"\bbin/[A-Za-z0-9_.-]+\s+(?:eval|rpc|remote)\b|\bbin/migrate\b|\bmix\s+(?:ecto\.|run\b)")
_MIGRATES = re.compile(r"migrat", re.I)
_TRUE = ("true", "1", "yes")


@dataclass(frozen=True)
class ServingPort:
    """The port a web workload serves HTTP on: its number (when known), the container port names that refer to it,
    and the evidence it was found by."""

    number: int | None
    names: tuple[str, ...]
    evidence: str

    def matches(self, value: Any) -> bool:
        """Whether a port reference (a number, or a container port name) is this port."""
        if isinstance(value, str) and as_int(value) is None:
            return value in self.names
        number = as_int(value)
        return number is not None and number == self.number

    def __str__(self) -> str:
        names = "/".join(self.names)
        if names and self.number is not None:
            return f"{names} ({self.number})"
        return names or str(self.number)


@dataclass(frozen=True)
class Ports:
    """A set of container ports, by number and by name (a Service's `targetPort` or a NetworkPolicy port may use
    either)."""

    numbers: frozenset[int]
    names: frozenset[str]

    def matches(self, value: Any) -> bool:
        if isinstance(value, str) and as_int(value) is None:
            return value in self.names
        return as_int(value) in self.numbers

    def sorted(self) -> list[int]:
        return sorted(self.numbers)


def distribution_ports(view: View, res: Res, c_path: JsonPath) -> Ports:
    """The release container's Erlang distribution ports: epmd (4369, unless the node runs without epmd) and the
    pinned distribution ports (`dist_ports`), with the names of the container ports that have those numbers or are
    named `epmd*`/`dist*`."""
    container = as_dict(res.get(c_path))
    options = erl_flags(view, res, c_path)
    pinned = dist_ports(options, view, res, c_path)
    numbers = set(range(pinned[0], pinned[1] + 1)) if pinned else set()
    if not epmd_less(options, view, res, c_path):
        numbers.add(EPMD_PORT)
    ports = [as_dict(p) for p in as_list(container.get("ports"))]
    names = {str(p["name"]) for p in ports if p.get("name") and (
        as_int(p.get("containerPort")) in numbers or str(p["name"]).startswith(("epmd", "dist")))}
    numbers |= {n for p in ports if str(p.get("name", "")).startswith(("epmd", "dist"))
                for n in [as_int(p.get("containerPort"))] if n is not None}
    return Ports(frozenset(numbers), frozenset(names))


@dataclass(frozen=True, eq=False)
class Workload:
    """One workload of the build as the rules see it."""

    res: Res
    phoenix: bool
    """It runs a Phoenix/Elixir release (strong evidence): the Phoenix rules apply by `role`."""
    role: str | None
    """`web`, `worker`, `migration` or `task`; None for a workload that is not Phoenix or could not be classified."""
    evidence: tuple[str, ...]
    """What showed it (strong signals first), e.g. `env RELEASE_NODE`, `command bin/server`."""
    c_path: JsonPath | None = None
    """The release container (C)."""
    phx: bool = False
    """It shows Phoenix itself (`PHX_*`, `bin/server`, `mix phx.*`, or the house label `component: web`), not only
    an Elixir release."""
    clustered: bool = False
    """It uses Erlang distribution (so the clustering rules apply)."""
    serving: ServingPort | None = None
    """For `web`: the port it serves HTTP on."""
    problem: str | None = None
    """Why a workload with Phoenix signals could not be classified."""
    weak: tuple[str, ...] = field(default=())
    """The weak signals (part of `evidence`)."""

    @property
    def container(self) -> dict[str, Any]:
        return as_dict(self.res.get(self.c_path)) if self.c_path is not None else {}

    @property
    def signals(self) -> bool:
        """Whether it showed any Phoenix signal at all."""
        return bool(self.evidence)

    @property
    def long_running(self) -> bool:
        return self.role in ("web", "worker")

    @property
    def families(self) -> tuple[str, ...]:
        """The rule families that applied to it (keys of WORKLOAD_FAMILIES)."""
        if not self.phoenix or self.role is None:
            found = ["other-workloads", "every-workload"]
            return tuple(found + (["classification"] if self.signals else []))
        found = list(_RULE_FAMILIES[self.role])
        if self.role == "web" and self.phx:
            found.append("phoenix-endpoint")
        if self.long_running and self.clustered:
            found.append("phoenix-clustered")
        if self.long_running:
            found.append("across-environments")
        return tuple(found + ["every-workload"])

    def record(self, env: str, app: str) -> dict[str, Any]:
        """The workload as plain data, for reports and the cache."""
        container = self.container.get("name") if self.c_path is not None else None
        return {
            "env": env, "app": app, "resource": self.res.label, "namespace": self.res.namespace,
            "phoenix": self.phoenix and self.role is not None, "role": self.role,
            "container": None if container is None else str(container),
            "servingPort": None if self.serving is None else str(self.serving), "clustered": self.clustered,
            "evidence": list(self.evidence), "rules": list(self.families), "unclassified": self.problem,
        }


def records(view: View) -> list[dict[str, Any]]:
    """Every workload of `view` as plain data (`Workload.record`)."""
    return [w.record(view.env.name, view.overlay.app) for w in classify(view)]


def summary_counts(workloads: Iterable[dict[str, Any]]) -> tuple[int, int, dict[str, int]]:
    """(Phoenix workloads, other workloads, Phoenix workloads per role) of workload records."""
    phoenix = other = 0
    roles: dict[str, int] = {}
    for record in workloads:
        if record.get("phoenix"):
            phoenix += 1
            roles[str(record.get("role"))] = roles.get(str(record.get("role")), 0) + 1
        else:
            other += 1
    return phoenix, other, {role: roles[role] for role in ROLES if role in roles}


def classify(view: View) -> list[Workload]:
    """Every workload of the build, classified (computed once per view)."""
    key = ("workloads",)
    if key not in view.memo:
        view.memo[key] = [_classify(view, res) for res in view.workloads]
    found: list[Workload] = view.memo[key]
    return found


def _classify(view: View, res: Res) -> Workload:
    scored = [(path, _signals(view, res, path, container)) for path, container in containers_of(res)]
    strong = _unique(s for _, (found, _) in scored for s in found)
    weak = _unique(s for _, (_, found) in scored for s in found) + _label_signals(view, res)
    evidence = tuple(strong + [w for w in weak if w not in strong])
    if not strong:
        problem = None
        if weak:
            problem = (f"shows signals of a BEAM/Phoenix release ({', '.join(weak)}) but none that says it runs an "
                       "Elixir release (a RELEASE_*, PHX_* or ELIXIR_* variable, DNS_CLUSTER_QUERY, bin/<app> "
                       "start|eval, bin/server)")
        return Workload(res, False, None, evidence, problem=problem, weak=tuple(weak))
    c_path = _release_container(view, res, scored)
    phx = any(s.startswith(("env PHX_", "command bin/server", "command mix phx", f"label {COMPONENT}: web"))
              for s in evidence)
    clustered = c_path is not None and _clustered(view, res, c_path)
    role, problem = _role(view, res, c_path, phx)
    serving = serving_port(view, res, c_path) if role == "web" and c_path is not None else None
    return Workload(res, True, role, evidence, c_path, phx, clustered, serving, problem, tuple(weak))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _signals(view: View, res: Res, path: JsonPath, container: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(strong, weak) signals of one container."""
    strong: list[str] = []
    weak: list[str] = []
    for name in sorted(view.env_of(res, path)):
        if "*" in name:  # an envFrom Secret: its keys are unknown
            continue
        if name in RELEASE_VARS or name.startswith(_STRONG_PREFIXES) or name == "DNS_CLUSTER_QUERY":
            strong.append(f"env {name}")
        elif name.startswith(_WEAK_PREFIXES) or name in _WEAK_VARS or _CLUSTER_SETTING.match(name):
            weak.append(f"env {name}")
    line = " ".join(command_of(container))
    if _SERVER.search(line):
        strong.append("command bin/server" if "bin/server" in line else "command mix phx.server")
    elif _START.search(line):
        strong.append("command bin/<app> start")
    if _ONE_OFF.search(line):
        strong.append("command bin/migrate" if "bin/migrate" in line else
                      "command mix" if re.search(r"\bmix\s", line) else "command bin/<app> eval")
    for port in as_list(container.get("ports")):
        port = as_dict(port)
        if as_int(port.get("containerPort")) == EPMD_PORT or port.get("name") == "epmd":
            weak.append("port epmd (4369)")
        elif port.get("name") == "phoenix":
            weak.append("port phoenix")
    return strong, weak


def _label_signals(view: View, res: Res) -> list[str]:
    component = res.labels.get(COMPONENT) or view.pod_labels(res).get(COMPONENT)
    if component in ("web", "migrations"):
        return [f"label {COMPONENT}: {component}"]
    return []


def _release_container(view: View, res: Res, scored: list[tuple[JsonPath, tuple[list[str], list[str]]]]
                       ) -> JsonPath | None:
    """C: among the regular containers, the one with the most evidence; ties go to the one named like the app,
    then to the first. A pod whose only evidence is in an initContainer: the container running its image."""
    regular = [(path, len(strong) * 10 + len(weak)) for path, (strong, weak) in scored if path[-2] == "containers"]
    if not regular:
        return None
    wanted = res.labels.get(NAME) or view.pod_labels(res).get(NAME)
    best = max(score for _, score in regular)
    if best == 0:
        images = {str(as_dict(res.get(path)).get("image", "")).split("@")[0].rsplit(":", 1)[0]
                  for path, (strong, _) in scored if strong and path[-2] == "initContainers"}
        for path, _ in regular:
            image = str(as_dict(res.get(path)).get("image", ""))
            if image.split("@")[0].rsplit(":", 1)[0] in images:
                return path
    tied = [path for path, score in regular if score == best]
    named = [path for path in tied if wanted is not None and as_dict(res.get(path)).get("name") == wanted]
    return (named or tied)[0]


def _role(view: View, res: Res, c_path: JsonPath | None, phx: bool) -> tuple[str | None, str | None]:
    """(role, why it could not be classified)."""
    container = as_dict(res.get(c_path)) if c_path is not None else {}
    line = " ".join(command_of(container))
    component = res.labels.get(COMPONENT) or view.pod_labels(res).get(COMPONENT)
    restarts = as_dict(view.pod_spec(res)).get("restartPolicy", "Always")
    if res.kind in ONE_OFF or (res.kind == "Pod" and restarts != "Always"):
        if res.kind != "CronJob" and (_MIGRATES.search(line) or component == "migrations"):
            return "migration", None
        return "task", None
    if c_path is None:
        return None, "has no container to run the release in"
    if _SERVER.search(line):
        return "web", None
    server = view.resolve(res, c_path, "PHX_SERVER")
    if server is not None and server.how in ("value", "configmap"):
        return ("web", None) if str(server.value).strip().lower() in _TRUE else ("worker", None)
    if _ONE_OFF.search(line) and not _START.search(line):
        return None, ("runs a one-off release command (eval, rpc, migrate) in a long-running "
                      f"{res.kind}; neither web nor worker")
    if component == "web" or _serves_http(view, res, c_path, container):
        return "web", None
    if _START.search(line):
        return "worker", None
    if not line and phx:
        return "web", None  # the generated Dockerfile's CMD is bin/server
    return "worker", None


def _serves_http(view: View, res: Res, c_path: JsonPath, container: dict[str, Any]) -> bool:
    """HTTP evidence besides the command: PORT/PHX_PORT, a port named like a web port, an httpGet probe, a
    (non-headless) Service selecting the pods."""
    env = view.env_of(res, c_path)
    if "PORT" in env or "PHX_PORT" in env:
        return True
    if any(str(as_dict(p).get("name", "")) in SERVING_PORT_NAMES for p in as_list(container.get("ports"))):
        return True
    if any("httpGet" in as_dict(container.get(kind)) for kind in ("readinessProbe", "livenessProbe", "startupProbe")):
        return True
    labels = view.pod_labels(res)
    return any(s.spec.get("clusterIP") != "None" and s.namespace == res.namespace
               and selector_matches(s.spec.get("selector"), labels) for s in view.of_kind("Service"))


def serving_port(view: View, res: Res, c_path: JsonPath) -> ServingPort:
    """The port a web workload's release serves HTTP on, by evidence (see the module docstring)."""
    container = as_dict(res.get(c_path))
    ports = [as_dict(p) for p in as_list(container.get("ports"))]

    def names_of(number: int | None) -> tuple[str, ...]:
        return tuple(str(p["name"]) for p in ports if p.get("name") and as_int(p.get("containerPort")) == number)

    for variable in ("PHX_PORT", "PORT"):
        found = view.resolve(res, c_path, variable)
        number = as_int(found.value) if found is not None and found.value is not None else None
        if number is not None:
            return ServingPort(number, names_of(number), f"env {variable}")
    for port in ports:
        name = str(port.get("name", ""))
        if name in SERVING_PORT_NAMES:
            number = as_int(port.get("containerPort"))
            return ServingPort(number, names_of(number) or (name,), f"container port {name}")
    for kind in ("readinessProbe", "startupProbe", "livenessProbe"):
        probe_port = as_dict(as_dict(container.get(kind)).get("httpGet")).get("port")
        if probe_port is None:
            continue
        if isinstance(probe_port, str) and as_int(probe_port) is None:
            number = next((as_int(p.get("containerPort")) for p in ports if p.get("name") == probe_port), None)
            return ServingPort(number, names_of(number) or (probe_port,), f"{kind} port {probe_port}")
        return ServingPort(as_int(probe_port), names_of(as_int(probe_port)), f"{kind} port {probe_port}")
    return ServingPort(4000, names_of(4000), "Phoenix's default (no PORT)")


def epmd_less(options: str, view: View | None = None, res: Res | None = None, c_path: JsonPath | None = None) -> bool:
    """Whether the BEAM runs without epmd: `-start_epmd false`, `-erl_epmd_port N`, `-epmd_module`, or the
    variable `ERL_DIST_PORT` (OTP 23+)."""
    if re.search(r"-start_epmd\s+false|-erl_epmd_port\s+\d+|-epmd_module\s", options):
        return True
    if view is not None and res is not None and c_path is not None:
        return as_int(_value(view, res, c_path, "ERL_DIST_PORT")) is not None
    return False


def dist_ports(options: str, view: View | None = None, res: Res | None = None, c_path: JsonPath | None = None
               ) -> tuple[int, int] | None:
    """The pinned distribution ports: (min, max) of `inet_dist_listen_min/max`, or (port, port) for an epmd-less
    node (`ERL_DIST_PORT`, or `-erl_epmd_port N`, which names the port the node listens on); None if unpinned."""
    low = re.search(r"inet_dist_listen_min\s+(\d+)", options)
    high = re.search(r"inet_dist_listen_max\s+(\d+)", options)
    if low and high:
        return int(low.group(1)), int(high.group(1))
    if view is not None and res is not None and c_path is not None:
        port = as_int(_value(view, res, c_path, "ERL_DIST_PORT"))
        if port is not None:
            return port, port
    epmd_port = re.search(r"-erl_epmd_port\s+(\d+)", options)
    if epmd_port:
        return int(epmd_port.group(1)), int(epmd_port.group(1))
    return None


def _value(view: View, res: Res, c_path: JsonPath, name: str) -> str | None:
    found = view.resolve(res, c_path, name)
    return found.value if found is not None else None


def erl_flags(view: View, res: Res, c_path: JsonPath) -> str:
    """The BEAM flags of a container (`ERL_FLAGS`, `ERL_AFLAGS`, `ERL_ZFLAGS`, `ELIXIR_ERL_OPTIONS`)."""
    found = (view.resolve(res, c_path, name) for name in ERL_VARS)
    return " ".join(r.value for r in found if r is not None and r.value)


def _clustered(view: View, res: Res, c_path: JsonPath) -> bool:
    distribution = _value(view, res, c_path, "RELEASE_DISTRIBUTION")
    if distribution is not None and distribution.strip().lower() == "none":
        return False
    env = view.env_of(res, c_path)
    if distribution is not None or "RELEASE_NODE" in env or "DNS_CLUSTER_QUERY" in env or "ERL_DIST_PORT" in env:
        return True
    if any(name.startswith("LIBCLUSTER_") or _CLUSTER_SETTING.match(name) for name in env):
        return True
    options = erl_flags(view, res, c_path)
    if re.search(r"inet_dist_listen_m|-erl_epmd_port|-start_epmd|(?:^|\s)-s?name\s", options):
        return True
    ports = [as_dict(p) for p in as_list(as_dict(res.get(c_path)).get("ports"))]
    return any(as_int(p.get("containerPort")) == EPMD_PORT or str(p.get("name", "")).startswith(("epmd", "dist"))
               for p in ports)


def labels_path(res: Res) -> JsonPath:
    """The pod labels path of a workload (for hits about them)."""
    return pod_labels_path(res) or ("metadata", "labels")
