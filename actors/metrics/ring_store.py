"""The numpy ring store: per-series rings of the newest ``ring_size`` points, bounded in series.

Owns the series slots (2-D arrays [slot, ring]: int64 ns timestamps, float64 values; point
flags in ``PointFlags``, stored only for series that have any),
the secondary indexes (namespace, workload, pod, metric name), the side storage of histograms,
retention (too-old points refused, stale series evicted and their slots reused) and the byte
accounting shown on /status. Ingest is vectorised: points are sorted by (slot, time) once and
written with fancy indexing. It never raises on data: a new series beyond ``max_series``, an
out-of-order or duplicate timestamp and a point older than retention are counted and dropped.
Each ring stays time-ordered (oldest at ``head``), so reads need no sort.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from actors.metrics.decoded import DecodedMetrics, ExponentialHistogramPoint
from actors.metrics.k8s_context import PodWorkloadResolver, resolve_workload
from actors.metrics.point_flags import PointFlags
from actors.metrics.series import FLAG_RESET, ResourceContext, SeriesIdentity, SeriesMeta
from actors.metrics.side_storage import BucketPools, ObjectRings
from actors.metrics.store_index import SeriesIndex

__all__ = ["IngestResult", "RingStore"]

_REFUSED = -1   # slot map: new series refused at max_series
_UNUSED = -2    # slot map: every point of the series was rejected by the codec


@dataclasses.dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ``ingest`` did with a batch."""

    stored: int = 0
    series_created: int = 0
    series_refused: int = 0
    points_refused_series_limit: int = 0
    points_out_of_order: int = 0
    points_too_old: int = 0
    points_superseded: int = 0   # more points for one series in one batch than the ring holds


class RingStore:
    """Bounded in-memory store of metric series (single owner: not thread-safe)."""

    def __init__(self, *, ring_size: int, max_series: int, retention_ns: int,
                 clock_ns: Callable[[], int], resolver: PodWorkloadResolver | None = None,
                 initial_capacity: int = 1024) -> None:
        if ring_size < 2 or max_series < 1 or retention_ns <= 0:
            raise ValueError("ring_size >= 2, max_series >= 1 and retention > 0 are required")
        self.ring_size = ring_size
        self.max_series = max_series
        self.retention_ns = retention_ns
        self.clock_ns = clock_ns
        self.resolver = resolver
        self.index = SeriesIndex()
        self.histograms = BucketPools(ring_size)
        self.records = ObjectRings(ring_size)
        self._capacity = 0
        self.times = np.zeros((0, ring_size), dtype=np.int64)
        self.values = np.zeros((0, ring_size), dtype=np.float64)
        self.flags = PointFlags(ring_size)
        self.head = np.zeros(0, dtype=np.int64)
        self.filled = np.zeros(0, dtype=np.int64)
        self.last_ns = np.zeros(0, dtype=np.int64)
        self.last_start = np.zeros(0, dtype=np.int64)
        self.created_ns = np.zeros(0, dtype=np.int64)
        self._created_in_batch = 0
        self._evicted_in_batch = False
        self._generation = 0     # bumped whenever a series is removed
        self._shape_slots: dict[int, tuple[int, np.ndarray]] = {}
        self._grow(min(initial_capacity, max_series))
        self.counters = {"points_stored": 0, "series_created": 0, "series_refused": 0,
                         "points_refused_series_limit": 0, "points_out_of_order": 0,
                         "points_too_old": 0, "points_superseded": 0, "series_evicted": 0}

    # -- capacity --------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        extra = capacity - self._capacity
        self.times = np.concatenate([self.times, np.zeros((extra, self.ring_size), np.int64)])
        self.values = np.concatenate([self.values,
                                      np.full((extra, self.ring_size), np.nan)])
        for name in ("head", "filled", "last_ns", "last_start", "created_ns"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, np.int64)]))
        self._capacity = capacity

    def _slot_for(self, identity: SeriesIdentity, meta: SeriesMeta) -> int:
        slot = self.index.slot_of.get(identity)
        if slot is not None:
            return slot
        if identity.pod and not identity.workload_name and self.resolver is not None:
            context = resolve_workload(ResourceContext(
                namespace=identity.namespace, pod=identity.pod, pod_uid=meta.pod_uid),
                self.resolver)
            if context.workload_name:
                identity = identity._replace(workload_kind=context.workload_kind,
                                             workload_name=context.workload_name)
                slot = self.index.slot_of.get(identity)
                if slot is not None:
                    return slot
        if self.index.live >= self.max_series:
            if not self._evicted_in_batch:          # one sweep per batch, not per series
                self._evicted_in_batch = True
                self.evict_stale()
            if self.index.live >= self.max_series:
                return _REFUSED
        slot = self.index.add(identity, meta)
        if slot >= self._capacity:
            self._grow(min(self.max_series, max(2 * self._capacity, slot + 1)))
        self.created_ns[slot] = self.clock_ns()
        self._created_in_batch += 1
        return slot

    # -- ingest ----------------------------------------------------------------------------
    def ingest(self, batch: DecodedMetrics) -> IngestResult:
        """Store a decoded batch; returns what was stored and refused."""
        self._created_in_batch = 0
        self._evicted_in_batch = False
        slot_map = self._slot_map(batch)
        refused_series = int((slot_map == _REFUSED).sum())
        created = self._created_in_batch
        rows = np.arange(batch.points)
        slots = slot_map[batch.series] if batch.points else np.zeros(0, np.int64)
        times = batch.time_ns
        limit = slots >= 0
        refused_points = int((~limit).sum())
        fresh = times >= self.clock_ns() - self.retention_ns
        too_old = int((limit & ~fresh).sum())
        rows = rows[limit & fresh]
        order = rows[np.lexsort((times[rows], slots[rows]))]
        s, t = slots[order], times[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        keep = (t > self.last_ns[s]) & (first | (t != np.roll(t, 1)))   # strictly newer
        out_of_order = int((~keep).sum())
        order, s, t = order[keep], s[keep], t[keep]
        stored = self._write(batch, order, s, t)
        result = IngestResult(stored=stored, series_created=created,
                              series_refused=refused_series,
                              points_refused_series_limit=refused_points,
                              points_out_of_order=out_of_order, points_too_old=too_old,
                              points_superseded=len(order) - stored)
        for field in dataclasses.fields(result):
            key = "points_stored" if field.name == "stored" else field.name
            self.counters[key] += getattr(result, field.name)
        return result

    def _slot_map(self, batch: DecodedMetrics) -> np.ndarray:
        """Batch series index → slot (_REFUSED at the series limit, _UNUSED for a series all
        of whose points were rejected); reused for batches of a known layout until a series is
        removed."""
        cached = self._shape_slots.get(batch.shape_key) if batch.shape_key else None
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        used = np.zeros(len(batch.identities), dtype=bool)
        used[batch.series] = True
        slot_map = np.fromiter(
            (self._slot_for(i, m) if u else _UNUSED
             for i, m, u in zip(batch.identities, batch.metas, used.tolist(), strict=True)),
            dtype=np.int64, count=len(batch.identities))
        if batch.shape_key and used.all():
            if len(self._shape_slots) > 4096:
                self._shape_slots.clear()
            self._shape_slots[batch.shape_key] = (self._generation, slot_map)
        return slot_map

    def _write(self, batch: DecodedMetrics, order: np.ndarray, s: np.ndarray,
               t: np.ndarray) -> int:
        n = len(order)
        if n == 0:
            return 0
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        sizes = np.diff(np.r_[starts, n])
        rank = np.arange(n) - np.repeat(starts, sizes)
        group_size = np.repeat(sizes, sizes)
        survive = rank >= group_size - self.ring_size   # older than a whole ring: never seen
        start_ns = batch.start_ns[order]
        prev_start = np.where(rank == 0, self.last_start[s], np.roll(start_ns, 1))
        reset = (prev_start != 0) & (start_ns != prev_start)
        pos = (self.head[s] + rank) % self.ring_size
        order, s, t, pos, reset = (a[survive] for a in (order, s, t, pos, reset))
        self.times[s, pos] = t
        self.values[s, pos] = batch.value[order]
        self.flags.write(s, pos, np.where(reset, FLAG_RESET, 0).astype(np.uint8))
        last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
        group_slots = s[last]
        self.head[group_slots] = (self.head[group_slots] + sizes) % self.ring_size
        self.filled[group_slots] = np.minimum(self.filled[group_slots] + sizes, self.ring_size)
        self.last_ns[group_slots] = t[last]
        self.last_start[group_slots] = batch.start_ns[order[last]]
        self._write_side(batch, order, s, pos)
        return len(order)

    def _write_side(self, batch: DecodedMetrics, order: np.ndarray, s: np.ndarray,
                    pos: np.ndarray) -> None:
        if batch.hist_rows.size:
            where = np.full(batch.points, -1, dtype=np.int64)
            where[order] = np.arange(len(order))
            kept = where[batch.hist_rows]
            pick = np.flatnonzero(kept >= 0)
            if pick.size:
                at = kept[pick]
                widths = np.diff(batch.hist_offsets)[pick]
                offsets = np.zeros(len(pick) + 1, dtype=np.int64)
                np.cumsum(widths, out=offsets[1:])
                gather = np.repeat(batch.hist_offsets[pick], widths) + (
                    np.arange(int(widths.sum())) - np.repeat(offsets[:-1], widths))
                self.histograms.write(
                    s[at], pos[at], batch.hist_count[pick], batch.hist_min[pick],
                    batch.hist_max[pick], batch.hist_bounds, batch.hist_bounds_id[pick],
                    offsets, batch.hist_buckets[gather])
        if batch.extra_rows:
            where_map = {int(r): i for i, r in enumerate(order.tolist())}
            for row, record in zip(batch.extra_rows, batch.extra, strict=True):
                i = where_map.get(row)
                if i is not None:
                    size = 64 if not isinstance(record, ExponentialHistogramPoint) else (
                        160 + record.positive.nbytes + record.negative.nbytes)
                    self.records.write(int(s[i]), int(pos[i]), record, size)

    # -- retention -------------------------------------------------------------------------
    def evict_stale(self) -> int:
        """Remove series whose newest point is older than the retention window; reuse slots."""
        live = np.fromiter(self.index.slot_of.values(), dtype=np.int64, count=self.index.live)
        newest = np.maximum(self.last_ns[live], self.created_ns[live])
        stale = live[newest < self.clock_ns() - self.retention_ns]
        if stale.size:
            self._generation += 1
        for slot in stale.tolist():
            self.index.remove(slot)
            self.histograms.release(slot)
            self.records.release(slot)
        self.times[stale] = 0
        self.values[stale] = np.nan
        self.flags.release(stale)
        for array in (self.head, self.filled, self.last_ns, self.last_start, self.created_ns):
            array[stale] = 0
        self.counters["series_evicted"] += len(stale)
        return len(stale)

    # -- reads -----------------------------------------------------------------------------
    def ring_order(self, slots: np.ndarray) -> np.ndarray:
        """[n, ring] ring positions, oldest first (empty positions first, with time 0)."""
        order: np.ndarray = (self.head[slots][:, None] + np.arange(self.ring_size)) \
            % self.ring_size
        return order

    def read(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, values, flags) as [n, ring] arrays, oldest first; time 0 = empty."""
        order = self.ring_order(slots)
        rows = slots[:, None]
        return self.times[rows, order], self.values[rows, order], self.flags.read(slots, order)

    def memory_bytes(self) -> int:
        """Bytes accounted: ring arrays, side storage and an estimate for indexes and labels."""
        arrays = (self.times, self.values, self.head, self.filled, self.last_ns,
                  self.last_start, self.created_ns)
        return int(sum(a.nbytes for a in arrays) + self.flags.nbytes() + self.histograms.nbytes()
                   + self.records.nbytes() + self.index.label_bytes)

    def stats(self) -> dict[str, int]:
        """Counters and gauges for /status."""
        return {**self.counters, "series": self.index.live, "capacity": self._capacity,
                "max_series": self.max_series, "memory_bytes": self.memory_bytes(),
                "histogram_layout_changes": self.histograms.layout_changes}
