"""Garbage collection the way kube-controller-manager does it, run synchronously on delete.

Owns what follows a DELETE: with the default (``Background``) or ``Foreground`` propagation,
every object whose ``ownerReferences`` name the deleted uid is deleted too, recursively
(Deployment -> ReplicaSets -> Pods); ``Orphan`` leaves dependents in place and strips the
owner reference. Deleting a namespace first marks it ``Terminating`` (MODIFIED), then deletes
everything in it, then the namespace. Dependents already gone are skipped, never an error.
"""

from __future__ import annotations

import logging

from sim.kubeapi import resources, status
from sim.kubeapi.store import Obj, ObjectStore, StoredObject, rfc3339

logger = logging.getLogger(__name__)
MAX_DEPTH = 8


def dependents(store: ObjectStore, uid: str) -> list[StoredObject]:
    found: list[StoredObject] = []
    for key in resources.STORAGE_KEYS:
        _, items = store.snapshot(key)
        found.extend(i for i in items if any(ref.get("uid") == uid for ref in i.obj[
            "metadata"].get("ownerReferences", [])))
    return found


def _delete_quietly(store: ObjectStore, item: StoredObject) -> Obj | None:
    try:
        return store.delete(item.key, item.namespace, item.name)
    except status.ApiError:
        return None  # deleted concurrently: nothing left to collect


def collect(store: ObjectStore, uid: str, policy: str = "Background", depth: int = 0) -> int:
    """Delete (or orphan) the dependents of ``uid``; returns how many objects were deleted."""
    if depth > MAX_DEPTH:
        logger.warning("owner chain deeper than %d at uid %s; stopping", MAX_DEPTH, uid)
        return 0
    deleted = 0
    for item in dependents(store, uid):
        if policy == "Orphan":
            def orphan(obj: Obj) -> None:
                obj["metadata"]["ownerReferences"] = [
                    ref for ref in obj["metadata"]["ownerReferences"] if ref.get("uid") != uid]
            store.mutate(item.key, item.namespace, item.name, orphan)
            continue
        if _delete_quietly(store, item) is not None:
            deleted += 1 + collect(store, str(item.obj["metadata"].get("uid", "")), policy,
                                   depth + 1)
    return deleted


def terminate_namespace(store: ObjectStore, name: str) -> Obj:
    """Mark the namespace Terminating, delete its contents, then delete it."""
    def terminating(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = rfc3339(store.clock())
        obj.setdefault("status", {})["phase"] = "Terminating"
    marked = store.mutate("namespaces", "", name, terminating)
    for key in resources.STORAGE_KEYS:
        if not resources.by_key(key).namespaced:
            continue
        _, items = store.snapshot(key)
        for item in items:
            if item.namespace == name:
                _delete_quietly(store, item)
    store.delete("namespaces", "", name)
    return marked
