"""The isolation check of the bootstrap manifests: an environment can only reach its own cluster.

`bootstrap.py` generates, per environment, the Argo CD projects and Applications and the Flux GitRepository
and Kustomizations under `clusters/<env>/`; this module says whether a set of such objects keeps every
environment inside its own cluster (and so defines the API versions and folders the generator must use).
`render` refuses to write bootstrap files that fail it, and the rule ISO-CLUSTER-DISTINCT (V36) reports its
cross-environment part in `invoke check`.

Usage:
    findings = check_isolation(repo.select_envs("all"), {"prod": files})   # {path under clusters/prod: bytes}
    check_isolation(envs, {"prod": objects})       # the objects as generated: the same checks, no line numbers
    check_isolation(envs, {})                      # only V36: every environment names its own cluster
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import InputError
from .findings import Finding, sort_findings
from .layout import CLUSTERS, Environment, RepoSettings
from .yamlio import Document, load_file, load_text

__all__ = ["CLUSTERS", "ARGOCD", "FLUX", "ARGO_API", "FLUX_KUSTOMIZE_API", "FLUX_SOURCE_API",
           "FLUX_NOTIFICATION_API", "RBAC_API", "NAMESPACE_VERBS", "APP_LABEL", "account_name", "application_name",
           "repository_name", "check_isolation"]

ARGOCD = "argocd"
FLUX = "flux"
ARGO_API = "argoproj.io/v1alpha1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
RBAC_API = "rbac.authorization.k8s.io/v1"
NAMESPACE_VERBS = ("get", "patch", "update", "delete")
"""What an app's Flux account may do to the Namespace objects of its declared names (besides `create`)."""
_GLOB = re.compile(r"[*?\[\]!{}]")

_Find = Callable[[str, Document, tuple[str | int, ...], str], None]
"""Records one finding: (rule, document, JSON path for the line, message)."""


APP_LABEL = "phoenix/app"
"""The label that names the app of a generated object."""


def account_name(settings: RepoSettings, app: str) -> str:
    """The service account Flux applies app `app` as (in the Flux namespace): `<prefix><app>`."""
    return f"{settings.prefix}{app}"


def application_name(settings: RepoSettings, env: Environment, app: str) -> str:
    """The Argo CD Application of app `app` in `env`: `<prefix><env>-<app>`."""
    return f"{settings.prefix}{env.name}-{app}"


def repository_name(settings: RepoSettings) -> str:
    """The Flux GitRepository of this repository: the prefix without its dash."""
    return settings.prefix.removesuffix("-")


def check_isolation(
    envs: Sequence[Environment], bootstrap: Mapping[str, Mapping[str, bytes | dict[str, Any]]],
    settings: RepoSettings | None = None,
) -> list[Finding]:
    """Every way the bootstrap files can let an environment reach beyond its own cluster, as sorted findings.

    `envs` are all environments of the repo (each must name a distinct cluster, server and Argo CD project:
    rule V36); `bootstrap` maps an env name to its files as `bootstrap.files` returns them (or to the objects as
    `bootstrap.objects` returns them: then findings carry no line numbers). Per environment:
    each Application uses the env's project and server and a source inside `rendered/<env>/` from a
    repository its project allows; its automated sync matches the env's `sync:`; the env's AppProject
    allows only the env's server and the namespaces its environment file declares, no wildcard in sourceRepos,
    destinations or the cluster-resource list, Namespace objects only by declared names; the `default` project,
    when the files hold it, is locked (no sourceRepos, no destinations), and they must hold it when `settings`
    (`gitops.yaml`, default: as the file would be without settings) asks for the lock; every Flux Kustomization
    path stays inside `./rendered/<env>/`, sets no kubeConfig, and applies as the app's own service account,
    whose rights reach only declared namespaces.
    """
    settings = settings or RepoSettings(repo_url="", revision="")
    findings = _distinct_clusters(envs)
    by_name = {env.name: env for env in envs}
    for env_name, files in sorted(bootstrap.items()):
        env = by_name.get(env_name)
        if env is None:
            message = f"no environment {env_name!r} for these bootstrap files"
            findings.append(Finding("ISO-BOOTSTRAP-ENV", "error", message, f"{CLUSTERS}/{env_name}", env=env_name))
            continue
        findings += _check_env(env, files, settings)
    return sort_findings(findings)


def _check_env(env: Environment, files: Mapping[str, bytes | dict[str, Any]], settings: RepoSettings) -> list[Finding]:
    docs: list[Document] = []
    for rel, data in sorted(files.items()):
        source = f"{CLUSTERS}/{env.name}/{rel}"
        docs += [Document(source, 0, data, {})] if isinstance(data, dict) else load_text(data, source)
    findings: list[Finding] = []

    def find(rule: str, doc: Document, path: tuple[str | int, ...], message: str) -> None:
        line, col = doc.position(path) if doc.lines else (None, None)
        data = _dict(doc.data)
        resource = f"{data.get('kind')}/{_name(doc)}"
        findings.append(Finding(rule, "error", message, doc.source, line, col, env=env.name, resource=resource))

    projects = {_name(d): d for d in docs if _is(d, ARGO_API, "AppProject")}
    own = projects.get(env.argocd_project)
    allowed_repos = {r for r in _list(_spec(own).get("sourceRepos")) if isinstance(r, str)} if own else set()
    if settings.lock_default_project and "default" not in projects:
        message = "no locked-down `default` AppProject among the bootstrap files"
        findings.append(Finding("ISO-ARGO-DEFAULT-PROJECT", "error", message, f"{CLUSTERS}/{env.name}/{ARGOCD}",
                                env=env.name))
    roles = {_name(d) for d in docs if _is(d, RBAC_API, "ClusterRole")}
    for doc in docs:
        if _is(doc, ARGO_API, "AppProject"):
            _check_project(env, doc, find)
        elif _is(doc, ARGO_API, "Application"):
            _check_application(env, doc, allowed_repos, find)
        elif _is(doc, FLUX_KUSTOMIZE_API, "Kustomization"):
            _check_kustomization(env, doc, settings, find)
        elif _is(doc, RBAC_API, "RoleBinding") or _is(doc, RBAC_API, "ClusterRole") or \
                _is(doc, RBAC_API, "ClusterRoleBinding"):
            _check_rbac(env, doc, roles, find)
        elif not (_is(doc, FLUX_SOURCE_API, "GitRepository") or _is(doc, "v1", "ServiceAccount")
                  or _is(doc, FLUX_NOTIFICATION_API, "Provider") or _is(doc, FLUX_NOTIFICATION_API, "Alert")):
            data = _dict(doc.data)
            find("ISO-BOOTSTRAP-KIND", doc, ("kind",),
                 f"$.kind: {data.get('apiVersion')} {data.get('kind')} does not belong among the bootstrap files")
    return findings


def _check_project(env: Environment, doc: Document, find: _Find) -> None:
    name, spec = _name(doc), _spec(doc)
    declared = set(env.declared_namespaces())
    if name == "default":
        for key in ("sourceRepos", "destinations"):
            if _list(spec.get(key)):
                find("ISO-ARGO-DEFAULT-PROJECT", doc, ("spec", key),
                     f"$.spec.{key}: the default project must stay empty so nothing can land in it")
        return
    if name != env.argocd_project:
        find("ISO-ARGO-PROJECT", doc, ("metadata", "name"),
             f"$.metadata.name: AppProject {name!r} is not the project of environment {env.name} "
             f"({env.argocd_project!r})")
        return
    for i, dest in enumerate(_list(spec.get("destinations"))):
        dest = _dict(dest)
        for key in ("server", "namespace", "name"):
            if isinstance(dest.get(key), str) and _GLOB.search(dest[key]):
                find("ISO-ARGO-WILDCARD", doc, ("spec", "destinations", i, key),
                     f"$.spec.destinations[{i}].{key}: {dest[key]!r} is a pattern; name one cluster and namespace")
        if dest.get("server") != env.server:
            find("ISO-ARGO-DESTINATION", doc, ("spec", "destinations", i, "server"),
                 f"$.spec.destinations[{i}].server: {dest.get('server')!r} is not the server of the {env.name} "
                 f"cluster ({env.server!r})")
        if "name" in dest and dest["name"] != env.cluster:
            find("ISO-ARGO-DESTINATION", doc, ("spec", "destinations", i, "name"),
                 f"$.spec.destinations[{i}].name: {dest['name']!r} is not the {env.name} cluster {env.cluster!r}")
        if dest.get("namespace") not in declared and not _GLOB.search(str(dest.get("namespace"))):
            find("ISO-ARGO-DESTINATION", doc, ("spec", "destinations", i, "namespace"),
                 f"$.spec.destinations[{i}].namespace: {dest.get('namespace')!r} is not a namespace {env.file} "
                 "declares for an app")
    repos = _list(spec.get("sourceRepos"))
    if not repos:
        find("ISO-ARGO-SOURCE", doc, ("spec",), "$.spec.sourceRepos: empty; list exactly this repository")
    for i, repo in enumerate(repos):
        if not isinstance(repo, str) or _GLOB.search(repo):
            find("ISO-ARGO-WILDCARD", doc, ("spec", "sourceRepos", i),
                 f"$.spec.sourceRepos[{i}]: {repo!r} is a pattern; list exactly this repository")
    for i, item in enumerate(_list(spec.get("clusterResourceWhitelist"))):
        item = _dict(item)
        if any(isinstance(item.get(k), str) and _GLOB.search(item[k]) for k in ("group", "kind", "name")):
            find("ISO-ARGO-WILDCARD", doc, ("spec", "clusterResourceWhitelist", i),
                 f"$.spec.clusterResourceWhitelist[{i}]: wildcard cluster-scoped kinds or names are not allowed")
        elif item.get("group") == "" and item.get("kind") == "Namespace" and item.get("name") not in declared:
            what = (f"Namespace {item['name']!r} is not a namespace {env.file} declares" if "name" in item
                    else "a Namespace entry without a name allows every Namespace")
            find("ISO-ARGO-DESTINATION", doc, ("spec", "clusterResourceWhitelist", i),
                 f"$.spec.clusterResourceWhitelist[{i}]: {what}")


def _check_application(env: Environment, doc: Document, allowed_repos: set[str], find: _Find) -> None:
    spec = _spec(doc)
    if spec.get("project") != env.argocd_project:
        find("ISO-ARGO-PROJECT", doc, ("spec", "project"),
             f"$.spec.project: {spec.get('project')!r} is not the project of environment {env.name} "
             f"({env.argocd_project!r})")
    destination = _dict(spec.get("destination"))
    if destination.get("server") != env.server:
        find("ISO-ARGO-DESTINATION", doc, ("spec", "destination", "server"),
             f"$.spec.destination.server: {destination.get('server')!r} is not the server of the {env.name} "
             f"cluster ({env.server!r})")
    if "name" in destination:
        find("ISO-ARGO-DESTINATION", doc, ("spec", "destination", "name"),
             "$.spec.destination.name: name the cluster by its server only")
    if "namespace" in destination and destination["namespace"] not in env.declared_namespaces():
        find("ISO-ARGO-DESTINATION", doc, ("spec", "destination", "namespace"),
             f"$.spec.destination.namespace: {destination['namespace']!r} is not a namespace {env.file} declares")
    sources = [("source", spec.get("source"))] if "source" in spec else []
    sources += [(f"sources[{i}]", s) for i, s in enumerate(_list(spec.get("sources")))]
    if not sources:
        find("ISO-ARGO-SOURCE", doc, ("spec",), "$.spec: no source")
    for label, source in sources:
        source = _dict(source)
        path = ("spec", "source") if label == "source" else ("spec", "sources", int(label[8:-1]))
        if not _inside(source.get("path"), f"rendered/{env.name}/"):
            find("ISO-ARGO-SOURCE", doc, path + ("path",),
                 f"$.spec.{label}.path: {source.get('path')!r} is outside rendered/{env.name}/")
        if source.get("repoURL") not in allowed_repos:
            find("ISO-ARGO-SOURCE", doc, path + ("repoURL",),
                 f"$.spec.{label}.repoURL: {source.get('repoURL')!r} is not in the sourceRepos of "
                 f"{env.argocd_project}")
    policy = _dict(spec.get("syncPolicy"))
    automated = policy.get("automated")
    if isinstance(automated, dict) and automated.get("enabled", True) is not False:
        if not env.sync.automated:
            find("ISO-ARGO-SYNC", doc, ("spec", "syncPolicy", "automated"),
                 f"$.spec.syncPolicy.automated: environment {env.name} syncs manually "
                 f"({env.file}: sync.automated is false)")
        elif automated.get("prune") and not env.sync.prune:
            find("ISO-ARGO-SYNC", doc, ("spec", "syncPolicy", "automated", "prune"),
                 f"$.spec.syncPolicy.automated.prune: environment {env.name} does not allow pruning ({env.file})")


def _check_kustomization(env: Environment, doc: Document, settings: RepoSettings, find: _Find) -> None:
    spec = _spec(doc)
    path, root = spec.get("path"), f"rendered/{env.name}/"
    if not (isinstance(path, str) and path.startswith(f"./{root}") and _inside(path, root)):
        find("ISO-FLUX-PATH", doc, ("spec", "path"), f"$.spec.path: {path!r} is outside ./rendered/{env.name}/")
    if "kubeConfig" in spec:
        find("ISO-FLUX-CLUSTER", doc, ("spec", "kubeConfig"),
             "$.spec.kubeConfig: a Kustomization of this cluster must not apply to another cluster")
    app = str(_dict(_dict(_dict(doc.data).get("metadata")).get("labels")).get(APP_LABEL) or _name(doc))
    if spec.get("serviceAccountName") != account_name(settings, app):
        find("ISO-FLUX-ACCOUNT", doc, ("spec", "serviceAccountName"),
             f"$.spec.serviceAccountName: {spec.get('serviceAccountName')!r}: apply app {app} as its own account "
             f"{account_name(settings, app)!r}, whose rights reach only its declared namespaces")
    declared = env.namespaces_of(str(app)) or ()
    if "targetNamespace" in spec and spec["targetNamespace"] not in declared:
        find("ISO-FLUX-ACCOUNT", doc, ("spec", "targetNamespace"),
             f"$.spec.targetNamespace: {spec['targetNamespace']!r} is not a namespace {env.file} declares for {app}")


def _check_rbac(env: Environment, doc: Document, roles: set[Any], find: _Find) -> None:
    """The rights of the Flux accounts: bindings only in declared namespaces, cluster-wide only to the Namespace
    objects of declared names (and `create`, which Kubernetes cannot limit to names)."""
    data, declared = _dict(doc.data), set(env.declared_namespaces())
    kind = data.get("kind")
    if kind == "RoleBinding" and _dict(data.get("metadata")).get("namespace") not in declared:
        find("ISO-FLUX-ACCOUNT", doc, ("metadata", "namespace"),
             f"$.metadata.namespace: a RoleBinding outside the namespaces {env.file} declares")
    elif kind == "ClusterRoleBinding":
        ref = _dict(data.get("roleRef"))
        if ref.get("kind") != "ClusterRole" or ref.get("name") not in roles:
            find("ISO-FLUX-ACCOUNT", doc, ("roleRef",),
                 f"$.roleRef: {ref.get('name')!r} is not a ClusterRole of these files; cluster-wide rights stop at "
                 "the declared Namespace objects")
    elif kind == "ClusterRole":
        for i, item in enumerate(_list(data.get("rules"))):
            item = _dict(item)
            names = _list(item.get("resourceNames"))
            only_namespaces = _list(item.get("apiGroups")) == [""] and _list(item.get("resources")) == ["namespaces"]
            create_only = _list(item.get("verbs")) == ["create"] and not names
            if not only_namespaces or not (create_only or (names and set(names) <= declared)):
                find("ISO-FLUX-ACCOUNT", doc, ("rules", i),
                     f"$.rules[{i}]: a ClusterRole of a Flux account may only name declared Namespace objects")


def _distinct_clusters(envs: Sequence[Environment]) -> list[Finding]:
    """V36: each environment is its own cluster: cluster names, servers and Argo CD projects all differ."""
    findings = []
    fields: tuple[tuple[str, str, Callable[[Environment], str], Callable[[Environment], str]], ...] = (
        ("cluster", "cluster", lambda e: e.cluster, lambda e: e.cluster.lower()),
        ("server", "server", lambda e: e.server, lambda e: _server_key(e.server)),
        ("argocdProject", "Argo CD project", lambda e: e.argocd_project, lambda e: e.argocd_project),
    )
    for key, what, value, same in fields:
        first: dict[str, Environment] = {}
        for env in sorted(envs, key=lambda e: e.name):
            seen = first.setdefault(same(env), env)
            if seen is not env:
                line, col = _position(env, key)
                message = (
                    f"$.{key}: {value(env)!r} is also the {what} of environment {seen.name} ({seen.file}); "
                    "each environment must be its own cluster (V36)"
                )
                findings.append(Finding("ISO-CLUSTER-DISTINCT", "error", message, env.file, line, col, env=env.name))
    return findings


def _position(env: Environment, key: str) -> tuple[int | None, int | None]:
    try:
        docs = load_file(env.repo_root / env.file, name=env.file)
    except InputError:
        return None, None
    return docs[0].position((key,)) if docs else (None, None)


def _server_key(server: str) -> str:
    """Servers that name the same API endpoint compare equal: case, a trailing slash and :443 do not count."""
    key = server.strip().lower().rstrip("/")
    return key[: -len(":443")] if key.startswith("https://") and key.endswith(":443") else key


def _inside(path: Any, root: str) -> bool:
    """True when the repo-relative `path` (optionally `./`-prefixed) names a folder under `root`."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    parts = path.split("/")
    if ".." in parts:
        return False
    return (posixpath.normpath(path) + "/").startswith(root) and posixpath.normpath(path) + "/" != root


def _is(doc: Document, api_version: str, kind: str) -> bool:
    return isinstance(doc.data, dict) and doc.data.get("apiVersion") == api_version and doc.data.get("kind") == kind


def _name(doc: Document) -> Any:
    return _dict(_dict(doc.data).get("metadata")).get("name")


def _spec(doc: Document) -> dict[str, Any]:
    return _dict(_dict(doc.data).get("spec"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
