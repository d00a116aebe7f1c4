"""Phoenix reference rules about the release itself: identity, labels, clustering, config, migrations, routing.

Each check implements one rule of phoenix-on-kubernetes §2 (`PHX-Vnn`); the security, availability and secrets
rules of that table live in `security.py`, `availability.py` and `secrets.py`. Values of environment variables
are resolved through `env`, `envFrom` and the ConfigMaps of the build (`View.resolve`).

Usage:
    from phoenix_gitops.rules import phoenix     # registering is importing
    list(phoenix.v08(view))                       # [Hit(...)] for a RELEASE_NODE that is not <name>@$(POD_IP)
"""
from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..findings import json_path
from ..images import split_image
from ..sourcemap import Location
from .model import (
    COMPONENT,
    INSTANCE,
    NAME,
    JsonPath,
    Res,
    View,
    as_dict,
    as_int,
    as_list,
    command_of,
    containers_of,
    each_app,
    each_release,
    erl_options,
    kustomization_docs,
    migrates,
    parse_quantity,
    selector_matches,
)
from .registry import CATALOGUE, Hit, rule
from .workloads import dist_ports, labels_path

VERSION = "app.kubernetes.io/version"
REQUIRED_LABELS = (NAME, INSTANCE, "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
HEALTH_ANNOTATION = "phoenix/health-paths-excluded-from-force-ssl"
DB_ANNOTATION = "phoenix/db-max-connections"
_RELEASE_NODE = re.compile(r"^[A-Za-z0-9_-]+@\$\(([A-Za-z_][A-Za-z0-9_]*)\)$")
_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}
_START = re.compile(r"bin/[A-Za-z0-9_.-]+\s+start\b")
_HOOK = "argocd.argoproj.io/hook"
_HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
_WAVE = "argocd.argoproj.io/sync-wave"
_FLUX_FORCE = "kustomize.toolkit.fluxcd.io/force"
_PRE_PROVISIONED = "the policy's preProvisionedSecrets"


def _env_hit(app: Res, c_path: JsonPath, resolved: Any, message: str, **extra: Any) -> Hit:
    """A hit about a variable: at the ConfigMap key or env entry that set it, else at the container's env."""
    if resolved is not None:
        return Hit(app, c_path + ("env",), message, at=(resolved.res, resolved.path), **extra)
    return Hit(app, c_path + ("env",), message, **extra)


def _wave(res: Res) -> int:
    return as_int(res.annotations.get(_WAVE)) or 0


@rule(
    "PHX-V01", v="V01", family="phoenix", defaults=("error", "error", "error"),
    title="Recommended labels everywhere; web workloads select by name and instance",
    why="""Selectors are immutable: a selector with a mutable label (version) breaks the next apply. Tools, the
    NetworkPolicy and the PDB find the app through `app.kubernetes.io/*` labels.""",
    fix="""Select the web workload's pods with `matchLabels` of `app.kubernetes.io/name` and
    `app.kubernetes.io/instance` only; give every object `app.kubernetes.io/{name,instance,part-of,managed-by}`
    (kustomize `labels:`), and the pod template `version` and `component`.""",
    interpretation="""Applies to overlays that run pods; an overlay that renders only configuration (no workload) is
    not an app and is not checked. The selector and pod-template checks apply to every Phoenix web workload (found
    by evidence, not by its labels: there may be several); the reference's "exactly one APP" is not required.""",
)
def v01(view: View) -> Iterator[Hit]:
    if not view.is_app:
        return
    for app in view.apps:
        selector = as_dict(app.spec.get("selector"))
        keys = set(as_dict(selector.get("matchLabels")))
        if selector.get("matchExpressions") or keys != {NAME, INSTANCE}:
            yield Hit(app, ("spec", "selector"), f"$.spec.selector: must be matchLabels of exactly {NAME} and "
                      f"{INSTANCE} (has {', '.join(sorted(keys)) or 'neither'})")
        template = view.pod_labels(app)
        missing = [label for label in (VERSION, COMPONENT) if label not in template]
        if missing:
            yield Hit(app, labels_path(app), f"{json_path(labels_path(app))}: missing {', '.join(missing)}")
    for res in view.resources:
        missing = [label for label in REQUIRED_LABELS if label not in res.labels]
        if missing:
            yield Hit(res, ("metadata", "labels"), f"$.metadata.labels: missing {', '.join(missing)}")


@rule(
    "PHX-UNCLASSIFIED", family="phoenix", defaults=("info", "info", "info"),
    title="A workload with Phoenix signals is classified",
    why="""The Phoenix rules apply to the workloads whose pods show that they run a Phoenix/Elixir release, in the role
    they play (web, worker, migration, task). A workload that shows some signs of one but not enough to tell, or whose
    role cannot be told, is checked only by the general rules: this says so, instead of leaving it unsaid.""",
    fix="""If it runs a Phoenix release, let its pod show it: keep the release's variables (`RELEASE_*`, `PHX_*`,
    `DNS_CLUSTER_QUERY`) or command (`bin/server`, `bin/<app> start`) in the manifest; run one-off commands (`eval`,
    migrations) from a Job, not a Deployment. If it is not one, suppress the rule on it with the reason.""",
    interpretation="""How workloads are recognised and their roles told: see the README's "How Phoenix workloads are
    recognised" (`phoenix_gitops/rules/workloads.py`). Reported at the workload's kind, once per workload.""",
)
def unclassified(view: View) -> Iterator[Hit]:
    for workload in view.classified:
        if workload.problem is not None:
            yield Hit(workload.res, ("kind",), f"{workload.res.label} {workload.problem}; the Phoenix rules did not "
                      "run on it")


@rule(
    "PHX-V02", v="V02", family="phoenix", scope="source", defaults=("error", "error", "error"),
    title="No commonLabels; the version label never enters a selector",
    why="""`commonLabels` (and `labels:` with `includeSelectors: true`) write into selectors, which are immutable: a
    label that changes per release (`app.kubernetes.io/version`) makes the next apply fail.""",
    fix="""Replace `commonLabels` by `labels:` entries; put `app.kubernetes.io/version` in an entry with
    `includeSelectors: false` (and `includeTemplates: true` to label the pods).""",
)
def v02(view: View) -> Iterator[Hit]:
    for doc in kustomization_docs(view):
        if "commonLabels" in doc.data:
            yield Hit(None, (), "commonLabels rewrites selectors, which are immutable; use `labels:` entries",
                      location=Location(doc.source, *doc.position(("commonLabels",))))
        labels = doc.data.get("labels")
        for index, entry in enumerate(labels if isinstance(labels, list) else []):
            if isinstance(entry, dict) and VERSION in (entry.get("pairs") or {}) and entry.get("includeSelectors"):
                yield Hit(None, (), f"labels[{index}] puts {VERSION} into selectors (includeSelectors: true)",
                          location=Location(doc.source, *doc.position(("labels", index, "includeSelectors"))))


@rule(
    "PHX-V05", v="V05", family="phoenix", defaults=("warning", "error", "error"),
    title="A migration Job runs the same image as the web container",
    why="""Migrations must run the code being deployed: a Job with another image migrates to a schema the new pods do
    not expect (or not at all).""",
    fix="""Add a `batch/v1` Job running `/app/bin/migrate` (or `bin/<app> eval "...migrate"`) with the app's
    symbolic image, so the overlay's `images:` entry rewrites both.""",
    interpretation="""A migration Job is one whose release container runs migrations (or one labelled `component:
    migrations`); its release container must run the image of a web workload's release container. Other containers
    of the Job (a `wait-for-db` initContainer, a sidecar) may run other images. A web workload whose release runs
    migrations from an initContainer needs no Job here (V33 limits that to one replica).""",
)
def v05(view: View) -> Iterator[Hit]:
    web = list(each_app(view))
    if not web:
        return
    init_migrations = any(migrates(c) for w in view.phoenix("phoenix-release")
                          for _, c in containers_of(w.res, ("initContainers",)))
    if not view.jobs and not init_migrations:
        app = web[0][0]
        yield Hit(app, ("metadata", "name"), f"no migration Job (a Job running bin/migrate or eval ...migrate) for "
                  f"{', '.join(a.label for a, _, _ in web)}")
    images = {str(c.get("image")): a for a, _, c in web}
    for job in view.phoenix("phoenix-migration"):
        container = job.container
        if job.c_path is not None and str(container.get("image")) not in images:
            app = next(iter(images.values()))
            yield Hit(job.res, job.c_path + ("image",), f"container {container.get('name')!r} of {job.res.label} "
                      f"runs another image than the web container of {app.label}")


@rule(
    "PHX-V08", v="V08", family="phoenix", defaults=("error", "error", "error"),
    title="Node name <release>@$(POD_IP), declared after POD_IP, long names",
    why="""DNS clustering needs every node named `<basename>@<pod IP>`. `$(POD_IP)` is only expanded inside
    `env[].value` and only from variables declared earlier; a ConfigMap value reaches the BEAM literally.""",
    fix="""In C's `env`: `POD_IP` from `valueFrom.fieldRef.fieldPath: status.podIP`, then
    `RELEASE_NODE: <release>@$(POD_IP)`; `RELEASE_DISTRIBUTION=name` (env or ConfigMap).""",
    interpretation="""Applies to Phoenix web and worker workloads that use Erlang distribution (a release with
    `RELEASE_DISTRIBUTION=none`, or with no sign of distribution, is not clustered). The pod-IP variable may have any
    name (`POD_IP`, `NODE_IP`, `MY_POD_IP`): it is the one `RELEASE_NODE` references, and it must come from
    `fieldRef` `status.podIP` and be declared before `RELEASE_NODE`.""",
)
def v08(view: View) -> Iterator[Hit]:
    for app, c_path, _ in each_release(view, "phoenix-clustered"):
        env = view.env_of(app, c_path)
        node = env.get("RELEASE_NODE")
        from_ip = [r for r in env.values() if r.how == "field" and r.ref == "status.podIP"]
        if node is None:
            if not from_ip:
                yield _env_hit(app, c_path, env.get("POD_IP"), "POD_IP must come from valueFrom.fieldRef.fieldPath: "
                               "status.podIP")
            yield _env_hit(app, c_path, None, "RELEASE_NODE is not set; set it to <release>@$(POD_IP)")
        elif node.how != "value":
            yield _env_hit(app, c_path, node, f"RELEASE_NODE comes from a {node.how}: $(POD_IP) is only expanded in "
                           "env[].value; set it there")
        else:
            match = _RELEASE_NODE.match(node.value or "")
            source = env.get(match.group(1)) if match else None
            if not match:
                yield _env_hit(app, c_path, node, "RELEASE_NODE must be <release>@$(POD_IP)")
            elif source is None or source.how != "field" or source.ref != "status.podIP":
                yield _env_hit(app, c_path, source or node, f"{match.group(1)} must come from "
                               "valueFrom.fieldRef.fieldPath: status.podIP")
            elif source.index is not None and node.index is not None and source.index > node.index:
                yield _env_hit(app, c_path, node, f"RELEASE_NODE is declared before {match.group(1)}: "
                               f"$({match.group(1)}) stays literal")
        distribution = view.resolve(app, c_path, "RELEASE_DISTRIBUTION")
        if distribution is None or distribution.value != "name":
            yield _env_hit(app, c_path, distribution, "RELEASE_DISTRIBUTION must resolve to `name` (long names)")


@rule(
    "PHX-V09", v="V09", family="phoenix", defaults=("error", "error", "error"),
    title="DNS_CLUSTER_QUERY names a headless Service that selects the web pods",
    why="""DNSCluster polls the A records of `DNS_CLUSTER_QUERY`; they only list the app's nodes when the name is a
    headless Service whose selector picks exactly those pods.""",
    fix="""Add a Service with `clusterIP: None` selecting the web pods and set `DNS_CLUSTER_QUERY` to
    `<service>.<namespace>.svc.cluster.local` (a kustomize replacement keeps it in sync with the name).""",
    interpretation="""Applies to Phoenix web and worker workloads that use Erlang distribution and set
    `DNS_CLUSTER_QUERY`. "Selector equals APP's selector" is read as "selects exactly the cluster's pods": the pods of
    the workload and of other Phoenix workloads with the same `DNS_CLUSTER_QUERY` (a worker may join the web nodes),
    never those of a migration Job or of another workload. libcluster markers other than `DNS_CLUSTER_QUERY` are not
    looked for.""",
)
def v09(view: View) -> Iterator[Hit]:
    for app, c_path, _ in each_release(view, "phoenix-clustered"):
        query = view.resolve(app, c_path, "DNS_CLUSTER_QUERY")
        if query is None or not query.value:
            continue
        first = query.value.split(".", 1)[0]
        headless = [s for s in view.of_kind("Service") if s.spec.get("clusterIP") == "None" and s.name == first]
        if not headless:
            yield _env_hit(app, c_path, query, f"DNS_CLUSTER_QUERY names {first!r}, which is no headless Service "
                           "(clusterIP: None) of this build")
            continue
        members = {id(w.res) for w in view.phoenix("phoenix-clustered") if w.c_path is not None
                   and _value_of(view, w.res, w.c_path, "DNS_CLUSTER_QUERY") == query.value}
        for service in headless:
            selector = service.spec.get("selector")
            if not selector_matches(selector, view.pod_labels(app)):
                yield Hit(service, ("spec", "selector"), f"the headless Service {service.name} does not select "
                          f"exactly the pods of {app.label} (not theirs)")
                continue
            extra = [w.label for w in view.workloads if id(w) not in members and w.namespace == app.namespace
                     and selector_matches(selector, view.pod_labels(w))]
            if extra:
                yield Hit(service, ("spec", "selector"), f"the headless Service {service.name} does not select "
                          f"exactly the pods of {app.label} (also {', '.join(extra)})")


def _value_of(view: View, res: Res, c_path: JsonPath, name: str) -> str | None:
    found = view.resolve(res, c_path, name)
    return found.value if found is not None else None


@rule(
    "PHX-V12", v="V12", family="phoenix", defaults=("error", "error", "error"),
    title="A writable /tmp under a read-only root filesystem",
    why="""With `readOnlyRootFilesystem`, `Plug.Upload`, `System.tmp_dir!/0`, the release script (`RELEASE_TMP`)
    and crash dumps need a writable path; without one the app fails at the first upload or boot step that writes.""",
    fix="""Mount an `emptyDir` (e.g. `medium: Memory`, with a `sizeLimit`) at `/tmp` in C and point `RELEASE_TMP`
    and `TMPDIR` there.""",
)
def v12(view: View) -> Iterator[Hit]:
    for app, c_path, c in each_release(view, "phoenix-long-running"):
        context = as_dict(c.get("securityContext"))
        if context.get("readOnlyRootFilesystem") is not True:
            continue
        volumes = {str(v.get("name")): v for v in as_list(view.pod_spec(app).get("volumes")) if isinstance(v, dict)}
        mounts = [m for m in as_list(c.get("volumeMounts")) if isinstance(m, dict)]
        if not any(posixpath.normpath(str(m.get("mountPath", ""))) == "/tmp"
                   and "emptyDir" in volumes.get(str(m.get("name")), {}) and not m.get("readOnly") for m in mounts):
            yield Hit(app, c_path + ("volumeMounts",), "no emptyDir volume mounted at /tmp in C, whose root "
                      "filesystem is read-only")
        writable = [posixpath.normpath(str(m.get("mountPath", ""))) for m in mounts if not m.get("readOnly")]
        for name in ("RELEASE_TMP", "TMPDIR"):
            found = view.resolve(app, c_path, name)
            if found is None or found.value is None:
                continue
            path = posixpath.normpath(found.value)
            if not any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable):
                yield _env_hit(app, c_path, found, f"{name} is not under a writable volume mount")


@rule(
    "PHX-V14", v="V14", family="phoenix", defaults=("warning", "warning", "error"),
    title="Health paths are excluded from force_ssl (declared)",
    why="""The generated `prod.exs` enables `force_ssl`; kubelet probes over HTTP then get a 301 to `https://<host>`,
    which the kubelet counts as success, so the probe checks nothing. The exclusion lives in the app's code, which
    manifests cannot show, so the Deployment declares it.""",
    fix=f"""Exclude the probe paths in `prod.exs` (`force_ssl: [exclude: [paths: ["/healthz", "/readyz"]]]`), then
    annotate the web Deployment `{HEALTH_ANNOTATION}: "true"`.""",
)
def v14(view: View) -> Iterator[Hit]:
    for app, _, _ in each_release(view, "phoenix-endpoint"):
        if app.annotations.get(HEALTH_ANNOTATION) != "true":
            yield Hit(app, ("metadata", "annotations"), f"{app.label} does not declare "
                      f"{HEALTH_ANNOTATION}: \"true\"")


@rule(
    "PHX-V17", v="V17", family="phoenix", defaults=("warning", "error", "error"),
    title="Schedulers match the CPU limit: whole cores, or an explicit +S",
    why="""OTP sizes its online schedulers to the CFS quota rounded down; a fractional limit throttles them, and
    without any quota the BEAM starts one scheduler per node core.""",
    fix="""Give C a whole-core `limits.cpu` (`1`, `2`, `1000m`), or set `+S N:N` in `ERL_FLAGS`/`ERL_AFLAGS`/
    `ELIXIR_ERL_OPTIONS`.""",
    interpretation="The shipped repo takes option (a): whole-core CPU limits.",
)
def v17(view: View) -> Iterator[Hit]:
    for app, c_path, c in each_release(view, "phoenix-long-running"):
        explicit = re.search(r"(?:^|\s)\+S\s*\d", erl_options(view, app, c_path)) is not None
        limits = (c.get("resources") or {}).get("limits") if isinstance(c.get("resources"), dict) else None
        limit = limits.get("cpu") if isinstance(limits, dict) else None
        if limit is None:
            if not explicit:
                yield Hit(app, c_path + ("resources",), "no limits.cpu and no +S in the BEAM flags: the BEAM starts "
                          "one scheduler per node core")
            continue
        quantity = parse_quantity(limit)
        whole = quantity is not None and quantity >= 1 and quantity == quantity.to_integral_value()
        if not whole and not explicit:
            yield Hit(app, c_path + ("resources", "limits", "cpu"), f"limits.cpu {limit} is not a whole number of "
                      "cores and the BEAM flags have no +S")


def _cpu_hpa(view: View, app: Res) -> bool:
    for hpa in view.hpas_for(app):
        if hpa.spec.get("targetCPUUtilizationPercentage") is not None:
            return True
        for metric in as_list(hpa.spec.get("metrics")):
            if not isinstance(metric, dict):
                continue
            source = metric.get("resource") or metric.get("containerResource") or {}
            if isinstance(source, dict) and source.get("name") == "cpu":
                return True
    return False


@rule(
    "PHX-V18", v="V18", family="phoenix", defaults=("-", "warning", {"default": "warning", "cpu-hpa": "error"}),
    conditions=("cpu-hpa",),
    title="Scheduler busy-wait is off (+sbwt none)",
    why="""Busy-waiting schedulers burn CFS quota and inflate the CPU use an HPA scales on, with no latency benefit
    for HTTP.""",
    fix="Add `+sbwt none +sbwtdcpu none +sbwtdio none` to `ERL_FLAGS` (the shared base sets it in its ConfigMap).",
    interpretation="""Condition `cpu-hpa`: an HPA that targets the workload scales on CPU. Reported at the variable
    that carries the BEAM flags (`ERL_FLAGS`, else `ERL_AFLAGS`, `ELIXIR_ERL_OPTIONS`, `ERL_ZFLAGS`), so a flag an
    overlay changed is shown where the overlay set it.""",
)
def v18(view: View) -> Iterator[Hit]:
    for app, c_path, _ in each_release(view, "phoenix-long-running"):
        if not re.search(r"\+sbwt\s+none\b", erl_options(view, app, c_path)):
            cpu = _cpu_hpa(view, app)
            yield _env_hit(app, c_path, _flags_variable(view, app, c_path), "the BEAM flags do not contain +sbwt none"
                           + (" while a CPU HPA scales this app" if cpu else ""), condition="cpu-hpa" if cpu else None)


def _flags_variable(view: View, res: Res, c_path: JsonPath) -> Any:
    """The variable that carries a container's BEAM flags (ERL_FLAGS first), if one is set in env or a ConfigMap."""
    for name in ("ERL_FLAGS", "ERL_AFLAGS", "ELIXIR_ERL_OPTIONS", "ERL_ZFLAGS"):
        found = view.env_of(res, c_path).get(name)
        if found is not None:
            return found
    return None


@rule(
    "PHX-V21", v="V21", family="phoenix", defaults=("error", "error", "error"),
    title="The release is PID 1 and starts its HTTP server",
    why="""A shell does not forward SIGTERM, so the BEAM never shuts down gracefully; `bin/<app> start` without
    `PHX_SERVER=true` boots with no HTTP server.""",
    fix="""Keep the image's exec-form `CMD ["/app/bin/server"]`; if you override `command`/`args`, `exec` the
    release, and set `PHX_SERVER=true` when calling `bin/<app> start`.""",
    interpretation="""The shell check applies to the release container of every Phoenix workload; the `PHX_SERVER`
    check to web workloads only (a worker runs `bin/<app> start` without the server on purpose).""",
)
def v21(view: View) -> Iterator[Hit]:
    web = {id(w.res) for w in view.phoenix("phoenix-web")}
    for app, c_path, c in each_release(view, "phoenix-release"):
        argv = command_of(c)
        if not argv:
            continue
        key = "command" if c.get("command") else "args"
        if posixpath.basename(argv[0]) in _SHELLS and "-c" in argv:
            script = " ".join(argv[argv.index("-c") + 1:])
            if not re.search(r"(?:^|[\s;&|])exec\s", script):
                yield Hit(app, c_path + (key,), "C runs a shell (-c) that does not `exec` the release: SIGTERM will "
                          "not reach the BEAM")
        if id(app) in web and _START.search(" ".join(argv)):
            server = view.resolve(app, c_path, "PHX_SERVER")
            if server is None or server.value != "true":
                yield _env_hit(app, c_path, server, "C runs bin/<app> start but PHX_SERVER does not resolve to true")


def _routed_hosts(view: View) -> list[str]:
    hosts = []
    for ingress in view.of_kind("Ingress"):
        hosts += [str(r.get("host")) for r in as_list(ingress.spec.get("rules"))
                  if isinstance(r, dict) and r.get("host")]
    for route in view.of_kind("HTTPRoute"):
        hosts += [str(h) for h in as_list(route.spec.get("hostnames"))]
    return hosts


@rule(
    "PHX-V22", v="V22", family="phoenix", defaults=("warning", "error", "error"),
    title="PHX_HOST is a real host and the one that is routed",
    why="""Phoenix builds URLs for `PHX_HOST` and `check_origin` rejects websockets (LiveView) from any other host; a
    placeholder or a host the Ingress/HTTPRoute does not route breaks links and sockets.""",
    fix="""Set `PHX_HOST` per environment (configMapGenerator literal) and copy it into the HTTPRoute's `hostnames`
    (or the Ingress host) with a kustomize replacement.""",
    interpretation="""Placeholders are the policy's `placeholderHosts` (patterns): by default `example.com`,
    `localhost`, `*.localhost` and `*.invalid` (the shared base's `phoenix.example.invalid`).""",
)
def v22(view: View) -> Iterator[Hit]:
    placeholders = [str(p) for p in view.setting("placeholderHosts") or []]
    for app, c_path, _ in each_release(view, "phoenix-endpoint"):
        host = view.resolve(app, c_path, "PHX_HOST")
        if host is None or not host.value:
            yield _env_hit(app, c_path, host, "PHX_HOST is not set to a host")
            continue
        if any(fnmatch.fnmatchcase(host.value.lower(), p) for p in placeholders):
            yield _env_hit(app, c_path, host, f"PHX_HOST is the placeholder {host.value!r}")
        routed = _routed_hosts(view)
        if routed and host.value not in routed:
            yield _env_hit(app, c_path, host, f"PHX_HOST {host.value!r} is not a host of the build's "
                           f"Ingress/HTTPRoute ({', '.join(sorted(set(routed)))})")


@rule(
    "PHX-V30", v="V30", family="phoenix", defaults=("warning", "error", "error"),
    title="The distribution port range is pinned",
    why="""By default the BEAM listens for distribution on a random port; a NetworkPolicy can then only open
    everything or break clustering.""",
    fix="""Set `-kernel inet_dist_listen_min 4370 inet_dist_listen_max 4372` in `ERL_AFLAGS` (or run epmd-less with
    `ERL_DIST_PORT=N`, or `-erl_epmd_port N`).""",
    interpretation="""Applies to Phoenix web and worker workloads that use Erlang distribution. Pinned means
    `inet_dist_listen_min` and `inet_dist_listen_max` in the BEAM flags, or an epmd-less node: the variable
    `ERL_DIST_PORT` (OTP 23+) or the flag `-erl_epmd_port N` (with or without `-start_epmd false`).""",
)
def v30(view: View) -> Iterator[Hit]:
    for app, c_path, _ in each_release(view, "phoenix-clustered"):
        if dist_ports(erl_options(view, app, c_path), view, app, c_path) is None:
            flags = view.resolve(app, c_path, "ERL_AFLAGS") or view.resolve(app, c_path, "ERL_FLAGS")
            yield _env_hit(app, c_path, flags, "no pinned distribution ports (inet_dist_listen_min/max, "
                           "ERL_DIST_PORT or -erl_epmd_port) in the BEAM flags")


@rule(
    "PHX-V31", v="V31", family="phoenix", defaults=("warning", "error", "error"),
    title="The migration Job is bounded, named, and reads its secrets from a Secret",
    why="""An unbounded Job retries a broken migration for hours (`backoffLimit` defaults to 6, no deadline); a
    generateName-only Job is handled unreliably by kustomize and Argo CD; `bin/migrate` evaluates `runtime.exs`, which
    needs `DATABASE_URL` and `SECRET_KEY_BASE`.""",
    fix="""`restartPolicy: Never`, `backoffLimit` ≤ 3, `activeDeadlineSeconds`, a fixed `metadata.name`,
    `command: ["/app/bin/migrate"]`, and `DATABASE_URL`/`SECRET_KEY_BASE` from `secretKeyRef`.""",
)
def v31(view: View) -> Iterator[Hit]:
    for job in view.jobs:
        spec = view.pod_spec(job)
        if spec.get("restartPolicy") not in ("Never", "OnFailure"):
            yield Hit(job, ("spec", "template", "spec", "restartPolicy"), "restartPolicy must be Never or OnFailure")
        backoff = as_int(job.spec.get("backoffLimit"))
        if (6 if backoff is None else backoff) > 3:
            yield Hit(job, ("spec", "backoffLimit"), "backoffLimit must be at most 3 (the default is 6)")
        if job.spec.get("activeDeadlineSeconds") is None:
            yield Hit(job, ("spec",), "activeDeadlineSeconds is not set: a stuck migration never ends")
        if not job.metadata.get("name"):
            yield Hit(job, ("metadata",), "the Job has no metadata.name (generateName only)")
        c_path, container = view.container(job)
        if c_path is None or container is None:
            continue
        if not migrates(container):
            yield Hit(job, c_path + ("command",), "the Job's command does not run migrate (bin/migrate or "
                      "Release.migrate)")
        for name in ("DATABASE_URL", "SECRET_KEY_BASE"):
            found_env = view.resolve(job, c_path, name)
            if found_env is None or found_env.how != "secret":
                yield _env_hit(job, c_path, found_env, f"{name} must come from a Secret (secretKeyRef or "
                               "envFrom.secretRef)")


@rule(
    "PHX-V32", v="V32", family="phoenix", defaults=("warning", "error", "error"),
    title="The migration Job is ordered by Argo CD or Flux",
    why="""Without a hook (Argo CD) or a forced re-creation (Flux), the Job runs at the wrong time or not again: a
    Job's pod template is immutable. A `PreSync` hook runs before every wave, before an ExternalSecret-made Secret
    exists; a `Sync` hook must sit between the ExternalSecret's wave and the Deployment's.""",
    fix="""Annotate the Job `argocd.argoproj.io/hook: Sync`, `argocd.argoproj.io/hook-delete-policy:
    BeforeHookCreation`, a `sync-wave` above every ExternalSecret's and below the Deployment's, and
    `kustomize.toolkit.fluxcd.io/force: Enabled`.""",
    interpretation="""A Job passes with either engine's wiring; Argo CD annotations that are present must be correct
    even when Flux's force annotation is there too (the repo is synced by either engine). A `PreSync` hook must not
    read a Secret that the same build creates (an ExternalSecret, SealedSecret, SOPS file or secretGenerator: PreSync
    runs before every wave, so on the first install that Secret does not exist yet); pre-provisioned Secrets (the
    policy's `preProvisionedSecrets`) are fine. The Flux alternative with a separate Kustomization (`force`, `wait`,
    `dependsOn`) lives in bootstrap manifests, not in the rendered app, and is not looked for. An app without a Job
    (dev may migrate from an initContainer) is left to V05 and V33.""",
)
def v32(view: View) -> Iterator[Hit]:
    for job in view.jobs:
        annotations = job.annotations
        hooks = {h.strip() for h in str(annotations.get(_HOOK, "")).split(",") if h.strip()}
        argo = any(key.startswith("argocd.argoproj.io/hook") for key in annotations)
        flux = annotations.get(_FLUX_FORCE) == "Enabled"
        problems: list[tuple[JsonPath, str]] = []
        if argo:
            if not hooks & {"PreSync", "Sync"}:
                problems.append((("metadata", "annotations", _HOOK), f"{_HOOK} must be PreSync or Sync"))
            policies = {p.strip() for p in str(annotations.get(_HOOK_DELETE, "")).split(",")}
            if "BeforeHookCreation" not in policies:
                problems.append((("metadata", "annotations"), f"{_HOOK_DELETE} must include BeforeHookCreation"))
            if "PreSync" in hooks:
                for name, maker in _secrets_made_here(view, job):
                    problems.append((("metadata", "annotations", _HOOK), f"the PreSync hook reads Secret {name!r}, "
                                     f"which {maker} of the same sync creates: PreSync runs before every wave, so on a "
                                     "first install it does not exist yet; use a Sync hook with a sync-wave above "
                                     "the Secret's"))
            if "Sync" in hooks:
                wave = _wave(job)
                for app in view.apps:
                    if not wave < _wave(app):
                        problems.append((("metadata", "annotations", _WAVE), f"the Sync hook's sync-wave {wave} must "
                                         f"be lower than {app.label}'s ({_wave(app)})"))
                for secret in view.of_kind("ExternalSecret"):
                    if not wave > _wave(secret):
                        problems.append((("metadata", "annotations", _WAVE), f"the Sync hook's sync-wave {wave} must "
                                         f"be higher than {secret.label}'s ({_wave(secret)})"))
        for path, message in problems:
            yield Hit(job, path, message)
        if not argo and not flux:
            yield Hit(job, ("metadata", "annotations"), f"{job.label} has neither an Argo CD hook ({_HOOK}) nor "
                      f"{_FLUX_FORCE}: Enabled")


def _secrets_made_here(view: View, job: Res) -> list[tuple[str, str]]:
    """(Secret name, what makes it) for every Secret the Job's pod reads that this build creates (an ExternalSecret,
    a SealedSecret, a SOPS file or a secretGenerator): applied in the Sync phase, after every PreSync hook."""
    names: list[str] = []
    for _, container in containers_of(job):
        for source in as_list(container.get("envFrom")):
            names.append(str(as_dict(as_dict(source).get("secretRef")).get("name", "")))
        for entry in as_list(container.get("env")):
            names.append(str(as_dict(as_dict(as_dict(entry).get("valueFrom")).get("secretKeyRef")).get("name", "")))
    for volume in as_list(view.pod_spec(job).get("volumes")):
        names.append(str(as_dict(as_dict(volume).get("secret")).get("secretName", "")))
    found = []
    for name in dict.fromkeys(n for n in names if n):
        maker = view.secret_source(name)
        if maker is not None and maker != _PRE_PROVISIONED:
            found.append((name, maker))
    return found


@rule(
    "PHX-V34", v="V34", family="phoenix", defaults=("error", "error", "error"),
    title="One BEAM per pod",
    why="Containers of a pod share localhost and so one epmd: a second release in the pod breaks distribution.",
    fix="Run the release in one container only; sidecars use other images and never set `RELEASE_NODE`.",
    interpretation="""Applies to every Phoenix workload. A container runs the release when its image repository is
    the release container's.""",
)
def v34(view: View) -> Iterator[Hit]:
    for app, c_path, c in each_release(view, "phoenix-release"):
        repository = split_image(str(c.get("image", ""))).name
        for path, container in containers_of(app, ("containers",)):
            if path == c_path:
                continue
            if split_image(str(container.get("image", ""))).name == repository:
                yield Hit(app, path + ("image",), f"container {container.get('name')!r} runs the release image too")
            elif any(isinstance(e, dict) and e.get("name") == "RELEASE_NODE" for e in as_list(container.get("env"))):
                yield Hit(app, path + ("env",), f"container {container.get('name')!r} sets RELEASE_NODE")


def _cookie_sources(view: View) -> list[tuple[str, Res, JsonPath]]:
    """Where RELEASE_COOKIE comes from in the secret store: (comparable key, resource, path of the key)."""
    found: list[tuple[str, Res, JsonPath]] = []
    for app, c_path, _ in each_release(view, "phoenix-long-running"):
        cookie = view.resolve(app, c_path, "RELEASE_COOKIE")
        if cookie is None or cookie.how != "secret" or not cookie.ref:
            continue
        for res in view.of_kind("ExternalSecret"):
            target = as_dict(res.spec.get("target"))
            if str(target.get("name") or res.name) != cookie.ref:
                continue
            store = _store(res.spec.get("secretStoreRef"))
            data = [d for d in as_list(res.spec.get("data")) if isinstance(d, dict)]
            explicit = [(i, d) for i, d in enumerate(data) if d.get("secretKey") == "RELEASE_COOKIE"]
            for index, entry in explicit:
                ref = as_dict(entry.get("remoteRef"))
                own = as_dict(entry.get("sourceRef")).get("storeRef")
                key = f"{_store(own) if own else store} {ref.get('key')}#{ref.get('property', '')}"
                found.append((f"key:{key}", res, ("spec", "data", index, "remoteRef", "key")))
            if not explicit:
                for index, entry in enumerate(as_list(res.spec.get("dataFrom"))):
                    extract = entry.get("extract") if isinstance(entry, dict) else None
                    own = as_dict(as_dict(entry).get("sourceRef")).get("storeRef")
                    if isinstance(extract, dict) and extract.get("key"):
                        key = f"{_store(own) if own else store} {extract['key']}"
                        found.append((f"key:{key}", res, ("spec", "dataFrom", index, "extract", "key")))
        for res in view.of_kind("SealedSecret"):
            spec_template = res.spec.get("template")
            template = spec_template.get("metadata") if isinstance(spec_template, dict) else None
            name = (template or {}).get("name") if isinstance(template, dict) else None
            if str(name or res.name) != cookie.ref:
                continue
            cipher = (res.spec.get("encryptedData") or {}).get("RELEASE_COOKIE")
            if isinstance(cipher, str) and cipher:
                found.append((f"sealed:{cipher}", res, ("spec", "encryptedData", "RELEASE_COOKIE")))
    return found


def _store(ref: Any) -> str:
    """A secret store reference as `Kind/name` (`SecretStore` is ESO's default kind)."""
    ref = as_dict(ref)
    return f"{ref.get('kind') or 'SecretStore'}/{ref.get('name', '')}"


@rule(
    "PHX-V35", v="V35", family="phoenix", scope="cross-env", defaults=("error", "error", "error"),
    title="RELEASE_COOKIE differs between environments",
    why="""The cookie is the only credential for full remote code execution over distribution: a staging cookie that
    also opens prod turns any staging compromise into a prod one.""",
    fix="""Read `RELEASE_COOKIE` from a different secret-store key (or seal a different value) in each environment,
    e.g. `phoenix/staging/<app>` and `phoenix/prod/<app>`.""",
    interpretation="""Compares every pair of environments where the rule is on (every one by default, dev
    included), app by app, over the Phoenix web and worker workloads: the secret store (`secretStoreRef` kind and
    name, or the entry's own `sourceRef.storeRef`) and key of the ExternalSecret entry for `RELEASE_COOKIE`
    (`spec.data[].remoteRef.key` and `property`, else `spec.dataFrom[].extract.key`); the same key in two different
    stores is two different secrets. Or the SealedSecret ciphertext of `RELEASE_COOKIE`. SOPS ciphertexts differ on
    every encryption and cannot be compared. Reported in both environments, at the key.""",
)
def v35(views: list[View], context: Any) -> Iterator[tuple[View, Hit]]:
    rule_v35 = CATALOGUE["PHX-V35"]
    active = [v for v in views if context.policy.enabled(rule_v35, v.env.name)]
    sources = {id(v): _cookie_sources(v) for v in active}
    of_app: dict[str, list[int]] = defaultdict(list)  # app -> the positions of its views in `active`
    for index, view in enumerate(active):
        of_app[view.overlay.app].append(index)
    for first, a in enumerate(active):  # (the pairs `combinations(active, 2)` gives, in its order, of one app only)
        for b in (active[second] for second in of_app[a.overlay.app] if second > first):
            if a.env.name == b.env.name:
                continue
            for key_a, res_a, path_a in sources[id(a)]:
                for key_b, res_b, path_b in sources[id(b)]:
                    if key_a != key_b:
                        continue
                    what = "secret-store key" if key_a.startswith("key:") else "sealed ciphertext"
                    yield a, Hit(res_a, path_a, f"RELEASE_COOKIE has the same {what} in {a.env.name} and {b.env.name}")
                    yield b, Hit(res_b, path_b, f"RELEASE_COOKIE has the same {what} in {b.env.name} and {a.env.name}")


@rule(
    "PHX-V37", v="V37", family="phoenix", defaults=("-", "warning", "error"),
    title="The database connection budget fits (declared limit)",
    why="""Every pod opens `POOL_SIZE` connections; at full scale-out plus the migration the database must still
    accept them, or new pods fail to boot exactly when load is highest. The database limit is not in the manifests,
    so the Deployment declares it.""",
    fix=f"""Annotate the web Deployment `{DB_ANNOTATION}: "<max_connections>"` and keep
    `POOL_SIZE × max replicas + migration POOL_SIZE + headroom` within it (lower `POOL_SIZE` or `maxReplicas`).""",
    interpretation="""Checked only where the annotation is present. Max replicas is the HPA's `maxReplicas`, else R;
    the migration's `POOL_SIZE` is the Job's (0 without a Job); headroom is the policy's `dbHeadroom` (2).""",
)
def v37(view: View) -> Iterator[Hit]:
    for app, c_path, _ in each_app(view):  # (web)
        if DB_ANNOTATION not in app.annotations:
            continue
        limit = as_int(app.annotations[DB_ANNOTATION])
        if limit is None:
            yield Hit(app, ("metadata", "annotations", DB_ANNOTATION), f"{DB_ANNOTATION} must be an integer")
            continue
        pool = view.resolve(app, c_path, "POOL_SIZE")
        size = as_int(pool.value) if pool is not None else None
        if size is None:
            continue
        hpas = view.hpas_for(app)
        peak = as_int(hpas[0].spec.get("maxReplicas")) if hpas else None
        peak = view.replicas(app)[0] if peak is None else peak
        migration = 0
        for job in view.jobs:
            for j_path, _ in containers_of(job, ("containers",)):
                job_pool = view.resolve(job, j_path, "POOL_SIZE")
                value = as_int(job_pool.value) if job_pool is not None else None
                migration = max(migration, value or 0)
        headroom = as_int(view.setting("dbHeadroom")) or 0
        need = size * peak + migration + headroom
        if need > limit:
            yield Hit(app, ("metadata", "annotations", DB_ANNOTATION),
                      f"POOL_SIZE {size} x {peak} replicas + migration {migration} + headroom {headroom} = {need} "
                      f"connections, over the declared {limit}")


@rule(
    "PHX-V38", v="V38", family="phoenix", defaults=("warning", "warning", "warning"),
    title="No ingress-nginx; if still used, websocket timeouts of an hour",
    why="""ingress-nginx was retired in March 2026 (no releases, no CVE fixes). Its default 60 s proxy timeouts close
    idle websockets.""",
    fix="""Move the route to a Gateway API `HTTPRoute`. Until then set `nginx.ingress.kubernetes.io/proxy-read-timeout`
    and `proxy-send-timeout` to at least "3600".""",
    interpretation="""An Ingress is served by ingress-nginx when its class (`ingressClassName`, or the deprecated
    `kubernetes.io/ingress.class` annotation) is an IngressClass of the build whose controller is
    `k8s.io/ingress-nginx`; without such an IngressClass, when the class name contains `nginx` (`nginx`,
    `nginx-internal`, `ingress-nginx`, ...) and the Ingress has no `nginx.org/` annotations (NGINX Inc.'s
    controller); and whatever its class, when it carries `nginx.ingress.kubernetes.io/` annotations.""",
)
def v38(view: View) -> Iterator[Hit]:
    classes = {r.name: as_dict(r.spec).get("controller") for r in view.of_kind("IngressClass")}
    for ingress in view.of_kind("Ingress"):
        annotations = ingress.annotations
        if not _ingress_nginx(ingress, classes):
            continue
        yield Hit(ingress, ("spec",),
                  "ingress-nginx is retired (no releases, no CVE fixes); use a Gateway API HTTPRoute")
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            value = as_int(annotations.get(f"nginx.ingress.kubernetes.io/{key}"))
            if value is None or value < 3600:
                yield Hit(ingress, ("metadata", "annotations"), f"nginx.ingress.kubernetes.io/{key} is "
                          f"{'unset (60 s)' if value is None else f'{value} s'}; websockets need at least 3600")


_NGINX_ANNOTATION = "nginx.ingress.kubernetes.io/"
_INGRESS_NGINX = "k8s.io/ingress-nginx"


def _ingress_nginx(ingress: Res, classes: dict[str, Any]) -> bool:
    """Whether an Ingress is served by ingress-nginx: its class is an IngressClass of the build whose controller is
    `k8s.io/ingress-nginx`, or (no such IngressClass here) its class name contains `nginx`, or it carries
    `nginx.ingress.kubernetes.io/` annotations. NGINX Inc.'s controller (`nginx.org/...`) is another product."""
    annotations = ingress.annotations
    if any(str(key).startswith(_NGINX_ANNOTATION) for key in annotations):
        return True
    name = ingress.spec.get("ingressClassName") or annotations.get("kubernetes.io/ingress.class")
    if not isinstance(name, str) or not name:
        return False
    if name in classes:
        return bool(classes[name] == _INGRESS_NGINX)
    if any(str(key).startswith("nginx.org/") for key in annotations):
        return False
    return "nginx" in name.lower()
