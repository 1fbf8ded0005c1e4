"""Series slots and secondary indexes of the ring store.

Owns the identity → slot map, the slot → (identity, meta) tables, the free-slot list and the
indexes by namespace, workload (namespace, kind, name), pod (namespace, pod) and metric name,
plus candidate selection for queries (the smallest matching index first, then intersections).
Pure bookkeeping: it cannot fail except on a slot that is not live (KeyError, a programming
error).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from actors.metrics.series import SeriesIdentity, SeriesMeta

__all__ = ["SeriesIndex"]

_BYTES_PER_SERIES = 820  # dict/set entries, tuples, slot maps (calibrated with tracemalloc)


class SeriesIndex:
    """Slots, identities and the four secondary indexes."""

    def __init__(self) -> None:
        self.slot_of: dict[SeriesIdentity, int] = {}
        self.identities: list[SeriesIdentity | None] = []
        self.metas: list[SeriesMeta | None] = []
        self.free: list[int] = []
        self.by_namespace: dict[str, set[int]] = {}
        self.by_workload: dict[tuple[str, str, str], set[int]] = {}
        self.by_pod: dict[tuple[str, str], set[int]] = {}
        self.by_metric: dict[str, set[int]] = {}
        self.label_bytes = 0

    @property
    def live(self) -> int:
        """Number of live series."""
        return len(self.slot_of)

    def _keys(self, identity: SeriesIdentity) -> Iterable[tuple[dict, object]]:  # type: ignore[type-arg]
        yield self.by_namespace, identity.namespace
        yield self.by_workload, (identity.namespace, identity.workload_kind,
                                 identity.workload_name)
        yield self.by_pod, (identity.namespace, identity.pod)
        yield self.by_metric, identity.metric

    @staticmethod
    def _size(identity: SeriesIdentity) -> int:
        return _BYTES_PER_SERIES + sum(len(k) + len(v) + 100 for k, v in identity.labels) + len(
            identity.metric) + len(identity.pod) + len(identity.namespace)

    def add(self, identity: SeriesIdentity, meta: SeriesMeta) -> int:
        """Give a new series a slot (reusing freed slots first)."""
        if self.free:
            slot = self.free.pop()
            self.identities[slot] = identity
            self.metas[slot] = meta
        else:
            slot = len(self.identities)
            self.identities.append(identity)
            self.metas.append(meta)
        self.slot_of[identity] = slot
        for index, key in self._keys(identity):
            index.setdefault(key, set()).add(slot)
        self.label_bytes += self._size(identity)
        return slot

    def remove(self, slot: int) -> None:
        """Free a slot and drop it from every index."""
        identity = self.identities[slot]
        if identity is None:
            raise KeyError(slot)
        del self.slot_of[identity]
        for index, key in self._keys(identity):
            members = index[key]
            members.discard(slot)
            if not members:
                del index[key]
        self.identities[slot] = None
        self.metas[slot] = None
        self.free.append(slot)
        self.label_bytes -= self._size(identity)

    def identity(self, slot: int) -> SeriesIdentity:
        """Identity of a live slot."""
        identity = self.identities[slot]
        if identity is None:
            raise KeyError(slot)
        return identity

    def meta(self, slot: int) -> SeriesMeta:
        """Metadata of a live slot."""
        meta = self.metas[slot]
        if meta is None:
            raise KeyError(slot)
        return meta

    def candidates(self, *, namespace: str = "", workload_kind: str = "",
                   workload_name: str = "", pod: str = "",
                   metric_names: tuple[str, ...] = ()) -> np.ndarray:
        """Sorted slots that may match (exact filters applied through the indexes)."""
        sets: list[set[int]] = []
        if namespace:
            sets.append(self.by_namespace.get(namespace, set()))
            if workload_name and workload_kind:
                sets.append(self.by_workload.get((namespace, workload_kind, workload_name),
                                                 set()))
            if pod:
                sets.append(self.by_pod.get((namespace, pod), set()))
        if metric_names:
            union: set[int] = set()
            for name in metric_names:
                union |= self.by_metric.get(name, set())
            sets.append(union)
        if not sets:
            found = np.fromiter(self.slot_of.values(), dtype=np.int64, count=self.live)
        else:
            sets.sort(key=len)
            result = set(sets[0])
            for other in sets[1:]:
                result &= other
            found = np.fromiter(result, dtype=np.int64, count=len(result))
        found.sort()
        return found
