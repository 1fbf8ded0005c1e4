"""The object store: every object, the global resourceVersion and the bounded event history.

Owns the cluster state the way etcd plus the watch cache do for kube-apiserver: each write bumps
one global integer resourceVersion, stores the object's JSON once (list and watch replies splice
these bytes rather than re-encoding), and appends an event to a history window of
``history_limit`` events. Older versions are "compacted": asking for them raises a 410
:class:`~sim.kubeapi.status.ApiError`, as does a snapshot read below the window. Writers and
watchers meet on one condition variable. Stored dicts are shared and must be treated as frozen;
:meth:`ObjectStore.get` and :meth:`ObjectStore.ground_truth` hand out copies.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sim.kubeapi import resources, status

Obj = dict[str, Any]
ObjectId = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds


def encode(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclasses.dataclass(frozen=True, slots=True)
class StoredObject:
    """One stored version of an object; ``body`` is its JSON without kind/apiVersion."""

    key: str
    obj: Obj
    body: bytes
    rv: int

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


@dataclasses.dataclass(frozen=True, slots=True)
class StoreEvent:
    """A change at ``rv``; ``previous`` is the version it replaced (None for ADDED)."""

    rv: int
    type: str
    item: StoredObject
    previous: StoredObject | None


def _spec_view(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class ObjectStore:
    """Thread-safe in-memory storage with a global resourceVersion and a watch history window."""

    def __init__(self, *, history_limit: int = 10_000,
                 clock: Callable[[], float] = time.time, start_rv: int = 1) -> None:
        if history_limit < 1:
            raise ValueError(f"history_limit must be >= 1, got {history_limit}")
        self.clock = clock
        self.history_limit = history_limit
        self.changed = threading.Condition(threading.RLock())
        self._buckets: dict[str, dict[ObjectId, StoredObject]] = {
            key: {} for key in resources.STORAGE_KEYS}
        self._sorted_ids: dict[str, list[ObjectId] | None] = {}
        self._history: collections.deque[StoreEvent] = collections.deque()
        self._rv = start_rv
        self._compacted_rv = start_rv  # events with rv <= this are no longer available
        self.epoch = 0  # bumped by wake_watchers(); open streams compare it to end themselves

    # ----------------------------------------------------------------- reads
    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def oldest_available_rv(self) -> int:
        """The smallest RV a watch or snapshot may start from."""
        return self._compacted_rv

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        with self.changed:
            found = self._buckets[key].get((namespace, name))
        if found is None:
            return None
        copied: Obj = json.loads(found.body)
        return copied

    def get_stored(self, key: str, namespace: str, name: str) -> StoredObject | None:
        with self.changed:
            return self._buckets[key].get((namespace, name))

    def count(self, key: str) -> int:
        return len(self._buckets[key])

    def snapshot(self, key: str, at_rv: int | None = None) -> tuple[int, list[StoredObject]]:
        """Objects of ``key`` sorted by (namespace, name) as of ``at_rv`` (default: now).

        Reconstructs older states by undoing history events, as etcd's MVCC would serve them;
        raises 410 when ``at_rv`` is older than the history window.
        """
        with self.changed:
            bucket = self._buckets[key]
            if at_rv is None or at_rv >= self._rv:
                ids = self._sorted_ids.get(key)
                if ids is None:
                    ids = sorted(bucket)
                    self._sorted_ids[key] = ids
                return self._rv, [bucket[i] for i in ids]
            if at_rv < self._compacted_rv:
                raise status.too_old(at_rv, self._compacted_rv + 1)
            state = dict(bucket)
            for event in reversed(self._history):
                if event.rv <= at_rv:
                    break
                if event.item.key != key:
                    continue
                ident = (event.item.namespace, event.item.name)
                if event.previous is None:
                    state.pop(ident, None)
                else:
                    state[ident] = event.previous
            return at_rv, [state[i] for i in sorted(state)]

    def events_after(self, rv: int, limit: int = 5_000) -> list[StoreEvent]:
        """Up to ``limit`` history events with resourceVersion > ``rv``; 410 if compacted."""
        with self.changed:
            if rv < self._compacted_rv:
                raise status.too_old(rv, self._compacted_rv + 1)
            if rv >= self._rv:
                return []
            out: list[StoreEvent] = []
            for event in reversed(self._history):
                if event.rv <= rv:
                    break
                out.append(event)
            out.reverse()
            return out[:limit]

    def ground_truth(self) -> dict[str, list[Obj]]:
        """A deep copy of every object, per storage key (``pods``, ``deployments.apps``...)."""
        with self.changed:
            return {key: [json.loads(item.body) for _, item in sorted(bucket.items())]
                    for key, bucket in self._buckets.items()}

    # ---------------------------------------------------------------- writes
    def create(self, key: str, obj: Obj) -> Obj:
        """Store a new object, filling uid/creationTimestamp/generation/resourceVersion.

        The store keeps ``obj`` itself (callers hand it over); the return value is a copy.
        """
        return json.loads(self._create(key, obj).body)  # type: ignore[no-any-return]

    def _create(self, key: str, obj: Obj) -> StoredObject:
        resource = resources.by_key(key)
        with self.changed:
            meta = obj.setdefault("metadata", {})
            if not resource.namespaced:
                meta.pop("namespace", None)
            name = meta.get("name", "")
            ident = (meta.get("namespace", "") if resource.namespaced else "", name)
            if ident in self._buckets[key]:
                raise status.already_exists(resource.plural, resource.group, name)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339(self.clock()))
            if resource.has_status or resource.group in ("apps", "batch"):
                meta.setdefault("generation", 1)
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
            return self._commit(key, "ADDED", obj, None)

    def replace(self, key: str, obj: Obj, *, expect_rv: str | None = None) -> Obj:
        """Store a new version; 409 if ``expect_rv`` is given and stale, 404 if missing."""
        resource = resources.by_key(key)
        with self.changed:
            meta = obj["metadata"]
            ident = (meta.get("namespace", "") if resource.namespaced else "", meta["name"])
            current = self._buckets[key].get(ident)
            if current is None:
                raise status.not_found(resource.plural, resource.group, meta["name"])
            if expect_rv and expect_rv != str(current.rv):
                raise status.conflict(resource.plural, resource.group, meta["name"])
            old_meta = current.obj["metadata"]
            for fixed in ("uid", "creationTimestamp"):
                meta[fixed] = old_meta[fixed]
            if "generation" in old_meta:
                changed_spec = _spec_view(obj) != _spec_view(current.obj)
                meta["generation"] = old_meta["generation"] + (1 if changed_spec else 0)
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
            # spec.finalizers is how namespaces hold off removal (the namespace controller
            # empties them first); metadata.finalizers is how everything else does.
            deleting = meta.get("deletionTimestamp") and not meta.get("finalizers") and not (
                obj.get("spec") or {}).get("finalizers")
            stored = self._commit(key, "DELETED" if deleting else "MODIFIED", obj, current)
            return json.loads(stored.body)  # type: ignore[no-any-return]

    def mutate(self, key: str, namespace: str, name: str,
               change: Callable[[Obj], None]) -> Obj:
        """Apply ``change`` to a copy of the current object and store it (churn's write path)."""
        with self.changed:
            current = self.get(key, namespace, name)
            if current is None:
                resource = resources.by_key(key)
                raise status.not_found(resource.plural, resource.group, name)
            change(current)
            return self.replace(key, current)

    def delete(self, key: str, namespace: str, name: str) -> Obj:
        """Delete now, or mark deletionTimestamp when finalizers are present (MODIFIED)."""
        resource = resources.by_key(key)
        with self.changed:
            current = self._buckets[key].get((namespace, name))
            if current is None:
                raise status.not_found(resource.plural, resource.group, name)
            obj: Obj = json.loads(current.body)
            meta = obj["metadata"]
            if meta.get("finalizers"):
                meta.setdefault("deletionTimestamp", rfc3339(self.clock()))
                meta.setdefault("deletionGracePeriodSeconds", 0)
                stored = self._commit(key, "MODIFIED", obj, current)
            else:
                stored = self._commit(key, "DELETED", obj, current)
            return json.loads(stored.body)  # type: ignore[no-any-return]

    def load(self, key: str, objects: Iterable[Obj]) -> int:
        """Bulk-create (cluster generation); one RV per object, events kept like any write."""
        count = 0
        for obj in objects:
            self._create(key, obj)
            count += 1
        return count

    # ----------------------------------------------------- watch coordination
    def compact(self) -> None:
        """Forget all history (what a restart with a cold watch cache looks like)."""
        with self.changed:
            self._history.clear()
            self._compacted_rv = self._rv
            self.changed.notify_all()

    def wake_watchers(self) -> None:
        """Bump the epoch and wake every waiter (faults use it to end open streams)."""
        with self.changed:
            self.epoch += 1
            self.changed.notify_all()

    def wait(self, after_rv: int, timeout: float) -> None:
        """Block until the RV passes ``after_rv``, a wake-up happens, or ``timeout`` elapses."""
        with self.changed:
            if self._rv <= after_rv:
                self.changed.wait(timeout)

    def _commit(self, key: str, event_type: str, obj: Obj,
                previous: StoredObject | None) -> StoredObject:
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        item = StoredObject(key, obj, encode(obj), self._rv)
        ident = (item.namespace, item.name)
        bucket = self._buckets[key]
        if event_type == "DELETED":
            bucket.pop(ident, None)
            self._sorted_ids[key] = None
        else:
            if ident not in bucket:
                self._sorted_ids[key] = None
            bucket[ident] = item
        self._history.append(StoreEvent(self._rv, event_type, item, previous))
        while len(self._history) > self.history_limit:
            self._compacted_rv = self._history.popleft().rv
        self.changed.notify_all()
        return item
