"""Series slots and secondary indexes of the ring store.

Owns the identity → slot map, the slot → (identity, meta) tables, the free-slot list and the
indexes by namespace, workload (namespace, kind, name), pod (namespace, pod) and metric name,
plus candidate selection for queries. Each index is a numpy ``int32`` column of codes by slot
(-1 on a free slot) with a small key → code table and a live-series count per key (the
``by_*`` dicts): 16 bytes a series instead of four Python set entries (~200 bytes), and a
query's candidates are one vectorised comparison per filter over the columns (~0.1 ms at
100k series). Pure bookkeeping: it cannot fail except on a slot that is not live (KeyError, a
programming error).
"""

from __future__ import annotations

import numpy as np

from actors.metrics.series import SeriesIdentity, SeriesMeta

__all__ = ["SeriesIndex"]

_BYTES_PER_SERIES = 250  # identity tuple, slot map entry, list slots, code columns (tracemalloc:
#                         264 B a series with 2 labels, strings and label tuples shared)
_DIMENSIONS = ("namespace", "workload", "pod", "metric")


class _CodeIndex:
    """One index: key → code, key → live series, and the code of every slot."""

    def __init__(self) -> None:
        self.code_of: dict[object, int] = {}
        self.live: dict[object, int] = {}
        self.column = np.full(0, -1, dtype=np.int32)
        self._next_code = 0

    def add(self, slot: int, key: object) -> None:
        code = self.code_of.get(key)
        if code is None:
            code = self.code_of[key] = self._next_code
            self._next_code += 1
        self.live[key] = self.live.get(key, 0) + 1
        if slot >= len(self.column):
            grown = np.full(max(2 * len(self.column), slot + 1, 64), -1, dtype=np.int32)
            grown[:len(self.column)] = self.column
            self.column = grown
        self.column[slot] = code

    def remove(self, slot: int, key: object) -> None:
        self.column[slot] = -1
        left = self.live[key] - 1
        if left:
            self.live[key] = left
        else:
            del self.live[key]
            del self.code_of[key]

    def match(self, keys: tuple[object, ...]) -> np.ndarray:
        """Bool per slot: the slot's key is one of ``keys``."""
        codes = [self.code_of[k] for k in keys if k in self.code_of]
        if len(codes) > 8:                      # np.isin sorts: only worth it for many keys
            return np.isin(self.column, np.array(codes, dtype=np.int32))
        matched: np.ndarray = np.zeros(len(self.column), dtype=bool)
        for code in codes:
            matched |= self.column == code
        return matched


class SeriesIndex:
    """Slots, identities and the four secondary indexes."""

    def __init__(self) -> None:
        self.slot_of: dict[SeriesIdentity, int] = {}
        self.identities: list[SeriesIdentity | None] = []
        self.metas: list[SeriesMeta | None] = []
        self.free: list[int] = []
        self._indexes = {name: _CodeIndex() for name in _DIMENSIONS}
        self.label_bytes = 0

    @property
    def live(self) -> int:
        """Number of live series."""
        return len(self.slot_of)

    @property
    def by_namespace(self) -> dict[object, int]:
        """Live series per namespace."""
        return self._indexes["namespace"].live

    @property
    def by_workload(self) -> dict[object, int]:
        """Live series per (namespace, workload kind, workload name)."""
        return self._indexes["workload"].live

    @property
    def by_pod(self) -> dict[object, int]:
        """Live series per (namespace, pod)."""
        return self._indexes["pod"].live

    @property
    def by_metric(self) -> dict[object, int]:
        """Live series per metric name."""
        return self._indexes["metric"].live

    @staticmethod
    def _keys(identity: SeriesIdentity) -> tuple[object, ...]:
        return (identity.namespace,
                (identity.namespace, identity.workload_kind, identity.workload_name),
                (identity.namespace, identity.pod), identity.metric)

    @staticmethod
    def _size(identity: SeriesIdentity) -> int:
        return _BYTES_PER_SERIES + 8 * len(identity.labels)

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
        for name, key in zip(_DIMENSIONS, self._keys(identity), strict=True):
            self._indexes[name].add(slot, key)
        self.label_bytes += self._size(identity)
        return slot

    def remove(self, slot: int) -> None:
        """Free a slot and drop it from every index."""
        identity = self.identities[slot]
        if identity is None:
            raise KeyError(slot)
        del self.slot_of[identity]
        for name, key in zip(_DIMENSIONS, self._keys(identity), strict=True):
            self._indexes[name].remove(slot, key)
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
        filters: list[tuple[str, tuple[object, ...]]] = []
        if namespace:
            filters.append(("namespace", (namespace,)))
            if workload_name and workload_kind:
                filters.append(("workload", ((namespace, workload_kind, workload_name),)))
            if pod:
                filters.append(("pod", ((namespace, pod),)))
        if metric_names:
            filters.append(("metric", tuple(metric_names)))
        if not filters:
            found = np.fromiter(self.slot_of.values(), dtype=np.int64, count=self.live)
            found.sort()
            return found
        name, keys = filters[0]
        mask = self._indexes[name].match(keys)
        for name, keys in filters[1:]:
            mask &= self._indexes[name].match(keys)
        return np.flatnonzero(mask).astype(np.int64)
