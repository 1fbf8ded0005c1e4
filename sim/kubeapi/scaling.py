"""The ``/scale`` subresource (``autoscaling/v1 Scale``) of deployments, statefulsets and
replicasets, as ``kubectl scale`` and HPA-style clients use it.

Owns the translation between a workload and its Scale view: GET renders
``spec.replicas``/``status.replicas``/``status.selector``; PUT and PATCH (merge or strategic)
change only ``spec.replicas`` of the workload (409 on a stale resourceVersion). The simulator
runs no controllers: pods follow only through :class:`~sim.kubeapi.churn.Churn` steps.
"""

from __future__ import annotations

import json
from typing import Any

from sim.kubeapi import patching, routing, status
from sim.kubeapi.store import Obj, ObjectStore


def _selector(workload: Obj) -> str:
    labels = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def render(workload: Obj) -> Obj:
    meta = workload["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace", ""),
                         "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": workload.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": workload.get("status", {}).get("replicas", 0),
                       "selector": _selector(workload)}}


def serve(store: ObjectStore, route: routing.Route, body: bytes,
          content_type: str) -> tuple[int, Obj]:
    resource = route.resource
    workload = store.get(resource.storage, route.namespace, route.name)
    if workload is None:
        raise status.not_found(resource.plural, resource.group, route.name)
    if route.verb == "get":
        return 200, render(workload)
    try:
        document: Any = json.loads(body or b"null")
    except ValueError as error:
        raise status.bad_request(f"invalid body: {error}") from None
    if route.verb == "update":
        scale = document
    elif route.verb == "patch":
        media = content_type.split(";")[0].strip()
        try:
            if media == "application/json-patch+json":
                scale = patching.json_patch(render(workload), document)
            else:
                scale = patching.merge_patch(render(workload), document)
        except patching.PatchError as error:
            raise status.bad_request(str(error)) from None
    else:
        raise status.ApiError(405, f"{route.verb} is not supported on the scale subresource")
    replicas = (scale or {}).get("spec", {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise status.invalid("Scale", "autoscaling", route.name, "spec.replicas",
                             f"Invalid value: {replicas!r}: must be greater than or equal to 0")
    expect_rv = (scale.get("metadata") or {}).get("resourceVersion") or None
    workload["spec"]["replicas"] = replicas
    if expect_rv == workload["metadata"]["resourceVersion"]:
        expect_rv = None
    return 200, render(store.replace(resource.storage, workload, expect_rv=expect_rv))
