"""Map a field of a rendered resource back to the source file and line that set it.

A rendered resource carries kustomize's origin annotation (the file it came from). A field may also have been
set by a patch of an overlay on the way. The patches are searched first, outermost overlay first; the
first one that contains the whole field path wins. Otherwise the origin file's document of the same kind is
searched and the deepest part of the path it contains gives the line. List items are matched by their merge key as
Kubernetes merges them (`name`; container ports by `containerPort` even when they are named, Service ports by
`port`, volume mounts by `mountPath`), so a reordered list, or a patch that names a port by its number only, still
finds its item. Values from generators (`configMapGenerator` literals) are found in the kustomization that wrote them,
and a namespace that a kustomization's `namespace:` gave (outermost first) at that field.

Usage:
    where = locate(graph, resource, ("spec", "replicsa"), origin_of(resource))
    where.path, where.line      # 'overlays/prod/api/deployment-patch.yaml', 12
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kustomize import ORIGIN
from .merge_keys import field_key, matching_index
from .sources import SourceGraph
from .yamlio import Document

__all__ = ["Location", "locate", "origin_of"]

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """Where a finding points: a repo-relative file, and the line/column when one is known."""

    path: str
    line: int | None
    col: int | None


def origin_of(resource: dict[str, Any]) -> dict[str, str]:
    """The parsed origin annotation, e.g. {'path': 'base/phoenix/deployment.yaml'} (empty if absent)."""
    text = ((resource.get("metadata") or {}).get("annotations") or {}).get(ORIGIN, "")
    origin = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            origin[key.strip()] = value.strip()
    return origin


def locate(graph: SourceGraph, resource: dict[str, Any], path: JsonPath, origin: dict[str, str]) -> Location:
    """The best source location of `path` inside rendered `resource`, given its parsed `origin`."""
    kind = resource.get("kind")
    name = str((resource.get("metadata") or {}).get("name", ""))
    set_by_kustomization = _namespace_field(graph, resource, path)
    if set_by_kustomization is not None:
        return set_by_kustomization
    for patch in graph.patches if path[:1] not in (("apiVersion",), ("kind",)) else ():
        if patch.target_kind == kind and (not patch.target_name or patch.target_name in name):
            found = _walk(patch.doc.data, resource, path)
            if len(found) == len(path) and path:
                return _at(patch.doc, found)
    if "path" in origin:
        docs = graph.documents.get(origin["path"], [])
        same_kind = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == kind]
        for doc in sorted(same_kind, key=lambda d: _name_rank(d, name)):
            return _at(doc, _walk(doc.data, resource, path))
        return Location(origin["path"], None, None)
    if "configuredIn" in origin:
        return _generated(graph, origin["configuredIn"], path)
    return Location(graph.kustomizations[0] if graph.kustomizations else graph.overlay.rel, None, None)


def _namespace_field(graph: SourceGraph, resource: dict[str, Any], path: JsonPath) -> Location | None:
    """For `metadata.namespace` (and the name of a Namespace object, which kustomize's namespace transformer sets
    too): the `namespace:` of the outermost kustomization that gives that value, when one does."""
    metadata = resource.get("metadata") or {}
    if path == ("metadata", "namespace"):
        value = metadata.get("namespace")
    elif path == ("metadata", "name") and resource.get("kind") == "Namespace":
        value = metadata.get("name")
    else:
        return None
    for kustomization in graph.kustomizations:
        for doc in graph.documents.get(kustomization, []):
            if isinstance(doc.data, dict) and value is not None and doc.data.get("namespace") == value:
                return _at(doc, ("namespace",))
    return None


def _generated(graph: SourceGraph, configured_in: str, path: JsonPath) -> Location:
    """A generated ConfigMap/Secret: the literal that set the key (outermost merge first), else the generator."""
    if len(path) >= 2 and path[0] == "data":
        key = f"{path[1]}="
        for kustomization in graph.kustomizations:
            for doc in graph.documents.get(kustomization, []):
                for kind in ("configMapGenerator", "secretGenerator"):
                    for g_index, generator in enumerate(doc.data.get(kind) or []):
                        for index, literal in enumerate(generator.get("literals") or []):
                            if isinstance(literal, str) and literal.startswith(key):
                                return _at(doc, (kind, g_index, "literals", index))
    return Location(configured_in, None, None)


def _name_rank(doc: Document, rendered_name: str) -> tuple[int, int]:
    """How well a source document's name matches a rendered one (lower is better): the same name, else the
    longest source name inside it (kustomize's namePrefix/nameSuffix), else none; so `counter-admin` is found in
    the document named `counter-admin`, not in the `counter` one before it."""
    name = ((doc.data.get("metadata") or {}).get("name")) if isinstance(doc.data, dict) else None
    if not name:
        return (2, 0)
    if str(name) == rendered_name:
        return (0, 0)
    return (1, -len(str(name))) if str(name) in rendered_name else (2, 0)


def _walk(source: Any, rendered: Any, path: JsonPath) -> JsonPath:
    """The longest prefix of `path` present in `source`, translated to source indexes."""
    found: JsonPath = ()
    parent: str | int | None = None
    for part in path:
        if isinstance(part, int):
            if not (isinstance(source, list) and isinstance(rendered, list) and part < len(rendered)):
                break
            item = rendered[part]
            key = field_key(parent, item)
            if key is not None:
                index = matching_index(source, item, key)
            elif part < len(source):
                index = part
            else:
                break
            if index is None:
                break
            source, rendered, found = source[index], item, found + (index,)
        else:
            if not (isinstance(source, dict) and part in source):
                break
            source = source[part]
            rendered = rendered.get(part) if isinstance(rendered, dict) else None
            found = found + (part,)
        parent = part
    return found


def _at(doc: Document, path: JsonPath) -> Location:
    line, col = doc.position(path)
    return Location(doc.source, line, col)
