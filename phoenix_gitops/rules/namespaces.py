"""The namespace boundary: an app's rendered resources stay in the namespaces its environment file declares.

What an environment may hold is the platform's declaration (`apps:` of `overlays/<env>/environment.yaml`), not
whatever the app's output happens to contain: the generated Argo CD project and Flux service accounts reach only
the declared namespaces, and this rule finds every resource (and Namespace object) outside them, and every
reserved namespace (`kube-*`, `default`, the sync engines', the gateway's, the environment's own list) an app
declares or renders.

Usage:
    from phoenix_gitops.rules import namespaces
    list(namespaces.outside_declared(view))    # a Hit per resource outside the app's declared namespaces
"""
from __future__ import annotations

from collections.abc import Iterator

from ..sourcemap import Location
from .isolation import is_cluster_scoped
from .model import View
from .registry import Hit, rule

__all__ = ["outside_declared"]


@rule(
    "ISO-NAMESPACE", family="isolation", defaults=("error", "error", "error"), suppressible=False,
    title="An app's resources stay in the namespaces its environment file declares",
    why="""An app overlay that adds a Namespace `kube-system`, a ConfigMap in another app's namespace or an object
    in the Argo CD namespace reaches what the app team does not own. The reach of each app is the platform's
    declaration in the environment file, from which the Argo CD project and the Flux service accounts are
    generated; a pull request to an app overlay cannot widen it.""",
    fix="""Keep the app's objects in its declared namespaces. If the app really needs another namespace, the
    platform team adds it to `apps.<app>.namespaces` in `overlays/<env>/environment.yaml` (a reviewed change to a
    platform-owned file). Reserved namespaces (`kube-*`, `default`, the Argo CD and Flux namespaces, the policy's
    `ingressNamespaces`, the environment's `reservedNamespaces`) are never an app's.""",
    interpretation="""Every app folder must be declared under `apps:`; each namespaced resource's
    `metadata.namespace` and each Namespace object's name must be one of the app's declared namespaces and not
    reserved. A namespaced resource without a namespace lands in the app's only declared namespace (the Argo CD
    destination, the Flux `targetNamespace`); with several declared it must name one.""",
)
def outside_declared(view: View) -> Iterator[Hit]:
    env, app = view.env, view.overlay.app
    declared = env.namespaces_of(app)
    gateway = tuple(str(n) for n in view.setting("ingressNamespaces") or [])
    if declared is None:
        yield Hit(None, (), f"app {app} is not declared in {env.file}: the platform lists it under `apps:` with "
                  f"the namespaces it may use (`{app}: {{namespaces: [{app}]}}`)",
                  location=Location(env.file, *env.position(("apps",))))
        return
    for index, namespace in enumerate(declared):
        pattern = env.reserved_by(namespace, gateway)
        if pattern:
            yield Hit(None, (), f"$.apps.{app}.namespaces[{index}]: namespace {namespace!r} is reserved "
                      f"({pattern!r}); no app may use it", location=Location(
                          env.file, *env.position(("apps", app, "namespaces", index))))
    for res in view.resources:
        if res.group == "" and res.kind == "Namespace":
            namespace, path = res.name, ("metadata", "name")
        elif is_cluster_scoped(view, res):
            continue
        else:
            namespace, path = res.namespace or "", ("metadata", "namespace")
        if not namespace:
            if len(declared) != 1:
                yield Hit(res, ("metadata",), f"has no namespace, and app {app} declares {len(declared)} in "
                          f"{env.file} ({', '.join(declared)}): set metadata.namespace to one of them")
            continue
        pattern = env.reserved_by(namespace, gateway)
        if pattern:
            yield Hit(res, path, f"namespace {namespace!r} is reserved ({pattern!r}): no app may use it")
        elif namespace not in declared:
            yield Hit(res, path, f"namespace {namespace!r} is not one of app {app}'s namespaces in {env.file} "
                      f"({', '.join(declared)})")
