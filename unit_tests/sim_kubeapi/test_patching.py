from typing import Any

import pytest

from sim.kubeapi import patching

POD: dict[str, Any] = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
       "spec": {"containers": [{"name": "app", "image": "app:1", "env": [{"name": "X",
                                                                          "value": "1"}]},
                               {"name": "side", "image": "side:1"}]}}


def test_merge_patch_replaces_lists_and_null_deletes():
    patched = patching.merge_patch(POD, {"metadata": {"labels": {"a": None, "c": "3"}},
                                         "spec": {"containers": [{"name": "only"}]}})
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"]["containers"] == [{"name": "only"}]
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}  # input untouched


def test_strategic_merge_merges_keyed_lists_and_honours_patch_directives():
    patched = patching.strategic_merge(POD, {"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "Y", "value": "2"}]},
        {"name": "side", "$patch": "delete"}, {"name": "new", "image": "n:1"}]}})
    containers = patched["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "new"]
    assert containers[0]["image"] == "app:2"
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    replaced = patching.strategic_merge(POD, {"metadata": {"labels": {"$patch": "replace",
                                                                      "z": "9"}}})
    assert replaced["metadata"]["labels"] == {"z": "9"}


def test_json_patch_operations_and_failures():
    ops = [{"op": "add", "path": "/metadata/labels/c", "value": "3"},
           {"op": "remove", "path": "/metadata/labels/a"},
           {"op": "replace", "path": "/spec/containers/0/image", "value": "app:3"},
           {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/d"},
           {"op": "move", "from": "/metadata/labels/d", "path": "/metadata/labels/e"},
           {"op": "add", "path": "/spec/containers/-", "value": {"name": "last"}},
           {"op": "test", "path": "/metadata/name", "value": "p"}]
    patched = patching.json_patch(POD, ops)
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3", "e": "2"}
    assert patched["spec"]["containers"][0]["image"] == "app:3"
    assert patched["spec"]["containers"][-1] == {"name": "last"}
    with pytest.raises(patching.PatchError, match="testing value"):
        patching.json_patch(POD, [{"op": "test", "path": "/metadata/name", "value": "q"}])
    with pytest.raises(patching.PatchError):
        patching.json_patch(POD, [{"op": "remove", "path": "/metadata/missing"}])
    with pytest.raises(patching.PatchError):
        patching.json_patch(POD, {"op": "add"})
