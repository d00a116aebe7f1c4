"""How the items of a Kubernetes list of mappings are told apart: by a merge key, not by their position.

Strategic merge patches match containers, env entries, volumes and ports by `name`, container ports by
`containerPort`, volume mounts by `mountPath`, Service ports by `port`; a reordered list is the same list. `diff`
aligns two renders this way and `sourcemap` finds the source item behind a rendered one.

Usage:
    item_key({"name": "app", "image": "web:1"})            # 'name'
    field_key("ports", {"name": "http", "containerPort": 4000})   # 'containerPort': how a patch matches it there
    list_key(old_containers, new_containers)               # 'name' when it tells every item of both apart
    matching_index(source_containers, {"name": "app"})     # the index of the source item named app, or None
"""
from __future__ import annotations

from typing import Any

__all__ = ["MERGE_KEYS", "FIELD_KEYS", "item_key", "field_key", "list_key", "matching_index"]

MERGE_KEYS = ("name", "containerPort", "mountPath", "port")
"""Keys that identify the items of a list of mappings, tried in this order."""


def item_key(item: Any) -> str | None:
    """The first merge key the mapping `item` has, or None (not a mapping, or no merge key)."""
    return next((key for key in MERGE_KEYS if isinstance(item, dict) and key in item), None)


FIELD_KEYS = {"ports": ("containerPort", "port"), "volumeMounts": ("mountPath",), "volumeDevices": ("devicePath",)}
"""The strategic-merge keys of lists whose items also have a `name` that is not their merge key: container ports
merge by `containerPort` (Service ports by `port`), volume mounts by `mountPath`."""


def field_key(field: str | int | None, item: Any) -> str | None:
    """The key a strategic merge patch matches `item` by in the list under `field` (FIELD_KEYS), else
    `item_key(item)`."""
    for key in FIELD_KEYS.get(field, ()) if isinstance(field, str) else ():
        if isinstance(item, dict) and key in item:
            return key
    return item_key(item)


def list_key(*sides: list[Any]) -> str | None:
    """The first merge key that every item of every list in `sides` has (a string or number), unique within each
    list; None when the lists are empty, hold anything but mappings, or no key tells their items apart."""
    items = [item for side in sides for item in side]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in MERGE_KEYS:
        if all(key in item and isinstance(item[key], (str, int)) for item in items) and all(
            len({repr(item[key]) for item in side}) == len(side) for side in sides
        ):
            return key
    return None


def matching_index(items: list[Any], item: dict[str, Any], key: str | None = None) -> int | None:
    """The index of the first mapping in `items` with `item`'s value of `key` (default: `item_key(item)`), or None."""
    key = key or item_key(item)
    if key is None or key not in item:
        return None
    return next((i for i, other in enumerate(items) if isinstance(other, dict) and other.get(key) == item[key]), None)
