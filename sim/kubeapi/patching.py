"""Patch algorithms: RFC 7386 merge patch, RFC 6902 JSON patch and strategic merge patch.

Owns the pure document transforms behind PATCH. Strategic merge merges the well-known keyed
lists (containers by name, ports by containerPort, conditions by type...) and honours
``$patch: delete|replace`` and ``$deleteFromPrimitiveList``-free subsets of upstream; unknown
lists are replaced, as upstream does for atomic lists. Malformed patches raise
:class:`PatchError` which the write path turns into 400/422 Status replies.
"""

from __future__ import annotations

import copy
from typing import Any

# List field name -> merge key, for the built-in types the simulator serves.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "imagePullSecrets": "name", "conditions": "type", "containerStatuses": "name",
    "initContainerStatuses": "name", "ownerReferences": "uid", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "addresses": "type",
    "taints": "key", "readinessGates": "conditionType",
}
PORT_LISTS = {"ports"}  # containers[].ports merge on containerPort, services on port


class PatchError(ValueError):
    """A patch that cannot be applied (bad document, failed test op, missing path)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    if not parts:
        raise PatchError("operation on the document root is not supported")
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[_index(node, part, existing=True)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    return node, parts[-1]


def _index(node: list[Any], part: str, existing: bool) -> int:
    if part == "-" and not existing:
        return len(node)
    if not part.isdigit():
        raise PatchError(f"invalid array index {part!r}")
    index = int(part)
    if index > len(node) - (1 if existing else 0):
        raise PatchError(f"array index {index} out of range")
    return index


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node, last = _parent(doc, parts)
    if isinstance(node, list):
        return node[_index(node, last, existing=True)]
    if isinstance(node, dict) and last in node:
        return node[last]
    raise PatchError(f"path not found: {path}")


def _remove(doc: Any, path: str) -> Any:
    node, last = _parent(doc, _pointer(path))
    if isinstance(node, list):
        return node.pop(_index(node, last, existing=True))
    if isinstance(node, dict) and last in node:
        return node.pop(last)
    raise PatchError(f"unable to remove nonexistent key: {last}: missing value")


def _add(doc: Any, path: str, value: Any) -> None:
    node, last = _parent(doc, _pointer(path))
    if isinstance(node, list):
        node.insert(_index(node, last, existing=False), value)
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise PatchError(f"cannot add at {path}")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 add/remove/replace/move/copy/test on a copy of ``doc``."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    result = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid json patch operation: {operation!r}")
        op, path = operation["op"], operation["path"]
        if op == "add":
            _add(result, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            _remove(result, path)
        elif op == "replace":
            _remove(result, path)
            _add(result, path, copy.deepcopy(operation.get("value")))
        elif op == "move":
            _add(result, path, _remove(result, operation["from"]))
        elif op == "copy":
            _add(result, path, copy.deepcopy(_get(result, operation["from"])))
        elif op == "test":
            if _get(result, path) != operation.get("value"):
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"unexpected kind of json patch operation: {op!r}")
    return result


def list_merge_key(field: str, items: list[Any]) -> str | None:
    if field in PORT_LISTS:
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch over maps and the keyed lists in :data:`MERGE_KEYS`."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            else:
                merged = strategic_merge(result.get(key), value, key)
                result[key] = merged
        return result
    if isinstance(patch, list) and isinstance(target, list):
        key = list_merge_key(field, patch + target)
        if key is None or not all(isinstance(i, dict) for i in patch + target):
            return copy.deepcopy(patch)
        merged = [copy.deepcopy(i) for i in target]
        for item in patch:
            if item.get("$patch") == "replace" and len(item) == 1:
                return [copy.deepcopy(i) for i in patch if i != item]
            position = next((n for n, old in enumerate(merged)
                             if key in item and old.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if position is not None:
                    merged.pop(position)
            elif position is None:
                merged.append(strategic_merge({}, item, ""))
            else:
                merged[position] = strategic_merge(merged[position], item, "")
        return merged
    return copy.deepcopy(patch)
