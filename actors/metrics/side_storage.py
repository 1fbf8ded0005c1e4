"""Side storage of the ring store for histogram-like points, addressed by (series slot, ring pos).

Owns ``BucketPools``: explicit-histogram count/min/max and bucket counts in numpy pools, one
pool per bucket count (rows [capacity, ring, buckets], grown by doubling, rows reused), with the
bounds kept per series; and ``ObjectRings`` for exponential histograms and summaries (a small
per-series list, as those points carry variable-size payloads). A series whose bounds change has
its older buckets cleared (counted in ``layout_changes``) instead of mixing layouts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BucketPools", "ObjectRings"]


class _Pool:
    def __init__(self, width: int, ring_size: int) -> None:
        self.width = width
        self.ring_size = ring_size
        self.count = np.zeros((0, ring_size))
        self.minimum = np.zeros((0, ring_size))
        self.maximum = np.zeros((0, ring_size))
        self.buckets = np.zeros((0, ring_size, width))
        self.free: list[int] = []
        self.used = 0

    def allocate(self) -> int:
        if self.free:
            row = self.free.pop()
        else:
            row = self.used
            self.used += 1
            if row >= self.count.shape[0]:
                self._grow(max(16, 2 * self.count.shape[0]))
        self.clear(row)
        return row

    def _grow(self, capacity: int) -> None:
        extra = capacity - self.count.shape[0]
        shape = (extra, self.ring_size)
        self.count = np.concatenate([self.count, np.full(shape, np.nan)])
        self.minimum = np.concatenate([self.minimum, np.full(shape, np.nan)])
        self.maximum = np.concatenate([self.maximum, np.full(shape, np.nan)])
        self.buckets = np.concatenate([self.buckets, np.full((*shape, self.width), np.nan)])

    def clear(self, row: int) -> None:
        self.count[row] = self.minimum[row] = self.maximum[row] = np.nan
        self.buckets[row] = np.nan

    def nbytes(self) -> int:
        return int(self.count.nbytes + self.minimum.nbytes + self.maximum.nbytes
                   + self.buckets.nbytes)


class BucketPools:
    """Explicit-histogram payloads for series slots."""

    def __init__(self, ring_size: int) -> None:
        self.ring_size = ring_size
        self._pools: dict[int, _Pool] = {}
        self._bounds_ids: dict[tuple[float, ...], int] = {}
        self._bounds: list[tuple[float, ...]] = []
        self._slot_row = np.full(0, -1, dtype=np.int64)     # pool row, -1 = none
        self._slot_width = np.zeros(0, dtype=np.int64)
        self._slot_bounds = np.full(0, -1, dtype=np.int64)  # bounds id
        self.layout_changes = 0

    def _ensure(self, slots: int) -> None:
        if slots > len(self._slot_row):
            extra = max(slots, 2 * len(self._slot_row)) - len(self._slot_row)
            self._slot_row = np.r_[self._slot_row, np.full(extra, -1, dtype=np.int64)]
            self._slot_width = np.r_[self._slot_width, np.zeros(extra, dtype=np.int64)]
            self._slot_bounds = np.r_[self._slot_bounds, np.full(extra, -1, dtype=np.int64)]

    def _bounds_id(self, bounds: tuple[float, ...]) -> int:
        found = self._bounds_ids.get(bounds)
        if found is None:
            found = self._bounds_ids[bounds] = len(self._bounds)
            self._bounds.append(bounds)
        return found

    def write(self, slots: np.ndarray, positions: np.ndarray, count: np.ndarray,
              minimum: np.ndarray, maximum: np.ndarray, bounds: list[tuple[float, ...]],
              bounds_index: np.ndarray, offsets: np.ndarray, buckets: np.ndarray) -> None:
        """Store histogram points (one per element; ``bounds[bounds_index[i]]`` are the bounds
        of point i; ``offsets`` is CSR into ``buckets``)."""
        if not len(slots):
            return
        self._ensure(int(slots.max()) + 1)
        local = np.array([self._bounds_id(b) for b in bounds], dtype=np.int64)
        bounds_ids = local[bounds_index]
        widths = np.diff(offsets)
        stale = (self._slot_row[slots] < 0) | (self._slot_bounds[slots] != bounds_ids) | (
            self._slot_width[slots] != widths)
        for i in np.flatnonzero(stale).tolist():
            self._assign(int(slots[i]), int(widths[i]), int(bounds_ids[i]))
        rows = self._slot_row[slots]
        for width in np.unique(widths).tolist():
            pick = np.flatnonzero(widths == width)
            pool = self._pools[width]
            r, p = rows[pick], positions[pick]
            pool.count[r, p] = count[pick]
            pool.minimum[r, p] = minimum[pick]
            pool.maximum[r, p] = maximum[pick]
            if width:
                gather = offsets[pick][:, None] + np.arange(width)
                pool.buckets[r, p] = buckets[gather]

    def _assign(self, slot: int, width: int, bounds_id: int) -> None:
        if self._slot_row[slot] >= 0:
            if self._slot_width[slot] == width and self._slot_bounds[slot] == bounds_id:
                return
            self.layout_changes += 1
            self._pools[int(self._slot_width[slot])].free.append(int(self._slot_row[slot]))
        pool = self._pools.get(width)
        if pool is None:
            pool = self._pools[width] = _Pool(width, self.ring_size)
        self._slot_row[slot] = pool.allocate()
        self._slot_width[slot] = width
        self._slot_bounds[slot] = bounds_id

    def release(self, slot: int) -> None:
        """Forget an evicted series."""
        if slot < len(self._slot_row) and self._slot_row[slot] >= 0:
            self._pools[int(self._slot_width[slot])].free.append(int(self._slot_row[slot]))
            self._slot_row[slot] = -1
            self._slot_bounds[slot] = -1

    def read(self, slot: int, order: np.ndarray) -> tuple[tuple[float, ...], np.ndarray,
                                                         np.ndarray, np.ndarray, np.ndarray]:
        """(bounds, count[R], min[R], max[R], buckets[R, width]) in ``order`` (ring positions)."""
        width, row = int(self._slot_width[slot]), int(self._slot_row[slot])
        pool = self._pools[width]
        return (self._bounds[int(self._slot_bounds[slot])], pool.count[row, order],
                pool.minimum[row, order], pool.maximum[row, order], pool.buckets[row][order])

    def has(self, slot: int) -> bool:
        """Whether the slot holds histogram payloads."""
        return slot < len(self._slot_row) and bool(self._slot_row[slot] >= 0)

    def nbytes(self) -> int:
        """Bytes held by the pools and the per-slot tables, plus the interned bounds."""
        tables = self._slot_row.nbytes + self._slot_width.nbytes + self._slot_bounds.nbytes
        return sum(p.nbytes() for p in self._pools.values()) + tables + sum(
            56 + 8 * len(b) for b in self._bounds)


class ObjectRings:
    """Per-series rings of Python records (exponential histograms, summaries)."""

    def __init__(self, ring_size: int) -> None:
        self.ring_size = ring_size
        self._rings: dict[int, list[Any]] = {}
        self._sizes: dict[int, list[int]] = {}
        self._bytes = 0

    def write(self, slot: int, position: int, record: Any, size: int) -> None:
        """Store one record at a ring position."""
        ring = self._rings.get(slot)
        if ring is None:
            ring = self._rings[slot] = [None] * self.ring_size
            self._sizes[slot] = [0] * self.ring_size
            self._bytes += 112 + 16 * self.ring_size
        sizes = self._sizes[slot]
        ring[position] = record
        self._bytes += size - sizes[position]
        sizes[position] = size

    def read(self, slot: int, order: np.ndarray) -> list[Any]:
        """Records in ``order`` (ring positions); None where nothing was stored."""
        ring = self._rings.get(slot)
        if ring is None:
            return [None] * len(order)
        return [ring[p] for p in order.tolist()]

    def release(self, slot: int) -> None:
        """Forget an evicted series."""
        if self._rings.pop(slot, None) is not None:
            self._bytes -= 112 + 16 * self.ring_size + sum(self._sizes.pop(slot))

    def nbytes(self) -> int:
        """Approximate bytes held by the records (the size each writer declared)."""
        return self._bytes
