"""merge_keys: list items told apart as Kubernetes merges them, not by position."""
from __future__ import annotations

from phoenix_gitops.merge_keys import item_key, list_key, matching_index


def test_item_key_is_the_first_merge_key_the_item_has():
    assert item_key({"name": "http", "containerPort": 4000}) == "name"
    assert item_key({"containerPort": 4000, "protocol": "TCP"}) == "containerPort"
    assert item_key({"mountPath": "/tmp"}) == "mountPath"
    assert item_key({"port": 80, "targetPort": "http"}) == "port"
    assert item_key({"image": "web:1"}) is None
    assert item_key("name") is None


def test_list_key_tells_every_item_of_both_lists_apart():
    old = [{"name": "a", "containerPort": 1}, {"name": "b", "containerPort": 2}]
    new = [{"name": "b", "containerPort": 2}, {"name": "c", "containerPort": 3}]
    assert list_key(old, new) == "name"
    same_names = [{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/b"}]
    assert list_key(same_names, same_names[::-1]) == "mountPath"  # names repeat within a list: the next key
    assert list_key([{"name": "a"}], [{"image": "x"}]) is None  # an item without any merge key
    assert list_key([{"name": ["not", "a", "scalar"]}]) is None
    assert list_key(["a", "b"], ["b"]) is None
    assert list_key([], []) is None


def test_matching_index_finds_the_item_with_the_same_key_value():
    source = ["text", {"name": "sidecar"}, {"name": "app", "image": "x"}]
    assert matching_index(source, {"name": "app", "image": "y"}) == 2
    assert matching_index(source, {"name": "gone"}) is None
    assert matching_index(source, {"image": "x"}) is None
    assert matching_index([{"containerPort": 80, "name": "a"}], {"containerPort": 80, "name": "b"},
                          "containerPort") == 0
