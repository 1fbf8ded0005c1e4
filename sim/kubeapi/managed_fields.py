"""Field ownership (``metadata.managedFields``) and server-side apply.

Owns the bookkeeping behind ``PATCH`` with ``application/apply-patch+yaml``: which manager owns
which field (as ``fieldsV1`` sets), conflicts when an applier would change a field another
manager owns (409 ``Apply failed with N conflict(s)`` unless ``force=true``), removal of fields
an applier stopped specifying, and ownership transfer on ordinary updates. Keyed lists follow
:mod:`sim.kubeapi.patching` merge keys; other lists are atomic (owned as one field).
"""

from __future__ import annotations

import json
from typing import Any

from sim.kubeapi import patching, status

Obj = dict[str, Any]
Path = tuple[str, ...]
SERVER_META = frozenset({"uid", "resourceVersion", "generation", "creationTimestamp",
                         "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds",
                         "selfLink", "name", "namespace"})


def field_paths(obj: Obj, include_status: bool = False) -> set[Path]:
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status" and not include_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in SERVER_META}
            if not value:
                continue
        _walk(value, (f"f:{key}",), key, paths)
    return paths


def _walk(value: Any, prefix: Path, field: str, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, (*prefix, f"f:{key}"), key, out)
        return
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        merge_key = patching.list_merge_key(field, value)
        if merge_key and all(merge_key in i for i in value):
            for item in value:
                element = "k:" + json.dumps({merge_key: item[merge_key]}, separators=(",", ":"))
                for key, child in item.items():
                    _walk(child, (*prefix, element, f"f:{key}"), key, out)
            return
    out.add(prefix)


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        if element.startswith("f:") and isinstance(node, dict):
            node = node.get(element[2:])
        elif element.startswith("k:") and isinstance(node, list):
            ((key, wanted),) = json.loads(element[2:]).items()
            node = next((i for i in node if isinstance(i, dict) and i.get(key) == wanted), None)
        else:
            return None
        if node is None:
            return None
    return node


def remove_at(obj: Obj, path: Path) -> None:
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, child in tree.items():
        if element == ".":
            continue
        if isinstance(child, dict) and any(k != "." for k in child):
            paths |= from_fields_v1(child, (*prefix, element))
        else:
            paths.add((*prefix, element))
    return paths


def _entries(obj: Obj) -> list[Obj]:
    return list(obj.get("metadata", {}).get("managedFields") or [])


def _set_entry(obj: Obj, manager: str, operation: str, api_version: str, paths: set[Path],
               now: str, subresource: str = "") -> None:
    entries = [e for e in _entries(obj) if not (e.get("manager") == manager
                                                and e.get("operation") == operation
                                                and e.get("subresource", "") == subresource)]
    if paths:
        entry: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version,
                      "time": now, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    obj["metadata"]["managedFields"] = entries


def _drop_from_others(obj: Obj, manager: str, operation: str, paths: set[Path]) -> None:
    kept = []
    for entry in _entries(obj):
        if entry.get("manager") == manager and entry.get("operation") == operation:
            kept.append(entry)
            continue
        owned = from_fields_v1(entry.get("fieldsV1", {})) - paths
        if owned:
            entry = {**entry, "fieldsV1": to_fields_v1(owned)}
            kept.append(entry)
    obj["metadata"]["managedFields"] = kept


def record_update(before: Obj | None, after: Obj, manager: str, api_version: str, now: str,
                  subresource: str = "") -> None:
    """Give ``manager`` (operation Update) every field whose value it changed or created."""
    include_status = subresource == "status"
    changed = {p for p in field_paths(after, include_status)
               if before is None or value_at(before, p) != value_at(after, p)}
    if not changed:
        return
    mine = next((from_fields_v1(e.get("fieldsV1", {})) for e in _entries(after)
                 if e.get("manager") == manager and e.get("operation") == "Update"), set())
    _drop_from_others(after, manager, "Update", changed)
    _set_entry(after, manager, "Update", api_version, mine | changed, now, subresource)


def apply(current: Obj | None, applied: Obj, manager: str, force: bool, api_version: str,
          now: str, plural: str, group: str) -> Obj:
    """Server-side apply of ``applied`` onto ``current`` (None: create); returns the result."""
    applied_paths = field_paths(applied)
    if current is None:
        created: Obj = patching.strategic_merge({}, applied)
        created.setdefault("metadata", {})["managedFields"] = []
        _set_entry(created, manager, "Apply", api_version, applied_paths, now)
        return created
    conflicts = [
        (entry.get("manager", ""), path)
        for entry in _entries(current)
        if not (entry.get("manager") == manager and entry.get("operation") == "Apply")
        for path in sorted(from_fields_v1(entry.get("fieldsV1", {})) & applied_paths)
        if value_at(current, path) != value_at(applied, path)]
    if conflicts and not force:
        lines = [f'conflict with "{m}": .{".".join(e[2:] for e in p)}' for m, p in conflicts]
        count = len(conflicts)
        raise status.ApiError(
            409, f"Apply failed with {count} conflict{'s' if count > 1 else ''}: "
                 + "\n".join(lines),
            details={"name": applied.get("metadata", {}).get("name", ""), "group": group,
                     "kind": plural, "causes": [{"reason": "FieldManagerConflict",
                                                  "message": line} for line in lines]})
    previous = next((from_fields_v1(e.get("fieldsV1", {})) for e in _entries(current)
                     if e.get("manager") == manager and e.get("operation") == "Apply"), set())
    others: set[Path] = set()
    for entry in _entries(current):
        if not (entry.get("manager") == manager and entry.get("operation") == "Apply"):
            others |= from_fields_v1(entry.get("fieldsV1", {}))
    result: Obj = patching.strategic_merge(current, applied)
    for path in previous - applied_paths - others:
        remove_at(result, path)
    if force:
        _drop_from_others(result, manager, "Apply", applied_paths)
    _set_entry(result, manager, "Apply", api_version, applied_paths, now)
    return result
