"""Server-side printing: ``meta.k8s.io/v1 Table`` replies for ``kubectl get``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
columns the server chose. This module owns those columns for the kinds people look at (pods,
deployments, nodes, core events) and a NAME/AGE default for the rest. It only reads objects;
a missing field renders as ``<none>`` or ``0`` rather than failing.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from sim.kubeapi import resources

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj, float], Any]]  # name, type, priority, cell


def wants_table(accept: str | None) -> bool:
    """True when the Accept header asks for a meta.k8s.io Table first or at all."""
    for media in (accept or "").split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[-1].strip()
                  for p in media.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
    return False


def _age(timestamp: str | None, now: float) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = int(now - calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S")))
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 3:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _name(obj: Obj, now: float) -> str:
    return str(obj["metadata"]["name"])


def _created(obj: Obj, now: float) -> str:
    return _age(obj["metadata"].get("creationTimestamp"), now)


def _pod_status(obj: Obj, now: float) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for container in obj.get("status", {}).get("containerStatuses", []):
        state = container.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            return str(state["waiting"]["reason"])
        if "terminated" in state and state["terminated"].get("reason"):
            return str(state["terminated"]["reason"])
    return str(obj.get("status", {}).get("phase", "Unknown"))


def _pod_ready(obj: Obj, now: float) -> str:
    statuses = obj.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    return f"{ready}/{len(obj.get('spec', {}).get('containers', []))}"


def _pod_restarts(obj: Obj, now: float) -> int:
    return sum(int(c.get("restartCount", 0))
               for c in obj.get("status", {}).get("containerStatuses", []))


def _node_status(obj: Obj, now: float) -> str:
    ready = [c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == "Ready"]
    text = "Ready" if ready and ready[0].get("status") == "True" else "NotReady"
    return text + (",SchedulingDisabled" if obj.get("spec", {}).get("unschedulable") else "")


def _get(*path: str, default: Any = "<none>") -> Callable[[Obj, float], Any]:
    def cell(obj: Obj, now: float) -> Any:
        value: Any = obj
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return default if value is None else value
    return cell


def _deploy_ready(obj: Obj, now: float) -> str:
    status = obj.get("status", {})
    return f"{status.get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 1)}"


def _event_object(obj: Obj, now: float) -> str:
    involved = obj.get("involvedObject", {})
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


COLUMNS: dict[str, list[Column]] = {
    "pods": [("Name", "string", 0, _name), ("Ready", "string", 0, _pod_ready),
             ("Status", "string", 0, _pod_status), ("Restarts", "string", 0, _pod_restarts),
             ("Age", "string", 0, _created), ("IP", "string", 1, _get("status", "podIP")),
             ("Node", "string", 1, _get("spec", "nodeName"))],
    "deployments.apps": [("Name", "string", 0, _name), ("Ready", "string", 0, _deploy_ready),
                         ("Up-to-date", "integer", 0, _get("status", "updatedReplicas",
                                                           default=0)),
                         ("Available", "integer", 0, _get("status", "availableReplicas",
                                                          default=0)),
                         ("Age", "string", 0, _created)],
    "nodes": [("Name", "string", 0, _name), ("Status", "string", 0, _node_status),
              ("Roles", "string", 0, lambda o, n: "<none>"), ("Age", "string", 0, _created),
              ("Version", "string", 0, _get("status", "nodeInfo", "kubeletVersion"))],
    "events": [("Last Seen", "string", 0, lambda o, n: _age(o.get("lastTimestamp"), n)),
               ("Type", "string", 0, _get("type")), ("Reason", "string", 0, _get("reason")),
               ("Object", "string", 0, _event_object), ("Message", "string", 0,
                                                          _get("message"))],
}
DEFAULT_COLUMNS: list[Column] = [("Name", "string", 0, _name), ("Age", "string", 0, _created)]


def _row_object(obj: Obj, resource: resources.ResourceType, api_version: str,
                include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return {"kind": resource.kind, "apiVersion": api_version, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def table(objs: list[Obj], resource: resources.ResourceType, api_version: str, now: float,
          list_meta: Obj, include: str = "Metadata") -> Obj:
    columns = COLUMNS.get(resource.key, DEFAULT_COLUMNS)
    rows = []
    for obj in objs:
        row: Obj = {"cells": [cell(obj, now) for _, _, _, cell in columns]}
        included = _row_object(obj, resource, api_version, include)
        if included is not None:
            row["object"] = included
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": [{"name": n, "type": t, "format": "name" if n == "Name" else "",
                                   "description": n, "priority": p} for n, t, p, _ in columns],
            "rows": rows}
