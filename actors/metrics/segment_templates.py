"""Per-resource wire templates: decode a request whose ResourceMetrics are all known layouts.

A Collector's batch processor mixes resources (pods) into batches whose composition changes
from one export to the next, so a whole-request template rarely repeats — but each pod's own
ResourceMetrics block does. This module learns a template per block (keyed by the block's
Resource bytes and length; learned on the second sighting from the upb decode, self-checked
like request templates), and composes a request from its blocks: skeleton and payload offsets
are concatenated and the blocks verified with numpy in one pass. A request with any unknown
block is not composed (the upb path decodes it). Bounded by bytes, least recently used first,
and admitted by reuse distance (``ReuseGate``): when every pod's block cannot fit the budget,
blocks are refused (``refused_thrash``) instead of learned and evicted before any use, and
blocks no longer used are released. Each block is kept once, packed (no separate skeleton).
Never raises on input.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from actors.metrics.otlp_attributes import ReuseGate
from actors.metrics.point_columns import RawColumns
from actors.metrics.series import SeriesIdentity, SeriesMeta
from actors.metrics.wire_scan import Columns, layout_key, masked, resource_key, resource_segments
from actors.metrics.wire_template import IDENTITY_BYTES, Template, build_template

__all__ = ["SegmentTemplates"]

_ROW_COLUMNS = ("time", "start", "double", "int", "hist_sum")
_HIST_COLUMNS = ("hist_count", "hist_min", "hist_max")


def _slice(raw: RawColumns, mark: tuple[int, int, int, int],
           end: tuple[int, int, int, int]) -> RawColumns | None:
    """The rows of one resource as their own RawColumns (None when they cannot be templated)."""
    (r0, h0, b0, nd0), (r1, h1, b1, nd1) = mark, end
    if nd1 != nd0 or r1 == r0 or any(r0 <= r < r1 for r in raw.extra_rows) or any(
            r0 <= r < r1 for r in raw.row_rejects):
        return None
    used, series = np.unique(raw.series[r0:r1], return_inverse=True)
    bounds_used, bounds_id = np.unique(raw.hist_bounds_id[h0:h1], return_inverse=True)
    return RawColumns(
        identities=[raw.identities[i] for i in used.tolist()],
        metas=[raw.metas[i] for i in used.tolist()], series=series.astype(np.int32),
        time_ns=raw.time_ns[r0:r1], start_ns=raw.start_ns[r0:r1], value=raw.value[r0:r1],
        has_value=raw.has_value[r0:r1], no_recorded=raw.no_recorded[r0:r1],
        number_rows=raw.number_rows[r0:r1], hist_rows=raw.hist_rows[h0:h1] - r0,
        hist_count=raw.hist_count[h0:h1], hist_min=raw.hist_min[h0:h1],
        hist_max=raw.hist_max[h0:h1],
        hist_bounds=[raw.hist_bounds[i] for i in bounds_used.tolist()],
        hist_bounds_id=bounds_id.astype(np.int64), hist_sizes=raw.hist_sizes[h0:h1],
        hist_buckets=raw.hist_buckets[b0:b1], extra_rows=[], extra=[], row_rejects={},
        rejected={}, points_seen=r1 - r0)


_NAMES = ("time", "start", "double", "int", "hist_sum", "hist_count", "hist_min", "hist_max",
          "bucket")
_BASE_OF = np.array([0 if n in _ROW_COLUMNS else 1 if n in _HIST_COLUMNS else 2
                     for n in _NAMES], dtype=np.int64)


def block_bytes(length: int, rows: int, hist_rows: int, buckets: int, entries: int,
                series: int) -> int:
    """Accounted bytes of a packed block (its key's Resource bytes count in ``length``)."""
    return length + 35 * rows + 48 * hist_rows + 8 * buckets + 12 * entries + \
        IDENTITY_BYTES * series


@dataclasses.dataclass(slots=True, eq=False)
class _Packed:
    """A block template's columns packed by dtype, so a request composes in a few concats."""

    original: np.ndarray      # the block's bytes, fixed-width payloads zeroed
    identities: list[SeriesIdentity]
    metas: list[SeriesMeta]
    hist_bounds: list[tuple[float, ...]]
    hist_buckets: np.ndarray
    counts: tuple[int, int, int, int, int]   # rows, histogram rows, buckets, series, bounds
    row_ints: np.ndarray      # [rows, 3] series, time_ns, start_ns
    row_floats: np.ndarray    # [rows] value
    row_bools: np.ndarray     # [rows, 3] has_value, no_recorded, number_rows
    hist_ints: np.ndarray     # [hist rows, 3] row, size, bounds id
    hist_floats: np.ndarray   # [hist rows, 3] count, min, max
    col_ints: np.ndarray      # [entries, 3] int32 column id, target, byte offset
    size: int = 0
    hits: int = 0
    stamp: int = 0            # the gate's clock at its last use


def _pack(template: Template, key_bytes: int) -> _Packed:
    sk = template.skeleton
    col_parts = [np.column_stack([np.full(len(t), k), t, o])
                 for k, (t, o) in ((k, template.columns[n]) for k, n in enumerate(_NAMES))]
    counts = (len(sk.series), len(sk.hist_rows), len(sk.hist_buckets), len(sk.identities),
              len(sk.hist_bounds))
    packed = _Packed(
        original=masked(template.original, template.columns), identities=sk.identities,
        metas=sk.metas, hist_bounds=sk.hist_bounds, hist_buckets=sk.hist_buckets, counts=counts,
        row_ints=np.column_stack([sk.series.astype(np.int64), sk.time_ns, sk.start_ns]),
        row_floats=sk.value,
        row_bools=np.column_stack([sk.has_value, sk.no_recorded, sk.number_rows]),
        hist_ints=np.column_stack([sk.hist_rows, sk.hist_sizes, sk.hist_bounds_id]
                                  ).astype(np.int64).reshape(-1, 3),
        hist_floats=np.column_stack([sk.hist_count, sk.hist_min, sk.hist_max]).reshape(-1, 3),
        col_ints=np.concatenate(col_parts).astype(np.int32).reshape(-1, 3))
    packed.size = block_bytes(len(template.original) + key_bytes, counts[0], counts[1],
                              counts[2], len(packed.col_ints), counts[3])
    return packed


def _compose(parts: list[tuple[int, _Packed]]) -> tuple[RawColumns, Columns]:
    """Skeleton and payload offsets of a request from its blocks' packed templates."""
    counts = np.array([p.counts for _, p in parts], dtype=np.int64)
    bases = np.zeros_like(counts)
    np.cumsum(counts[:-1], axis=0, out=bases[1:])
    row_ints = np.concatenate([p.row_ints for _, p in parts])
    row_ints[:, 0] += np.repeat(bases[:, 3], counts[:, 0])
    hist_ints = np.concatenate([p.hist_ints for _, p in parts])
    hist_ints[:, 0] += np.repeat(bases[:, 0], counts[:, 1])
    hist_ints[:, 2] += np.repeat(bases[:, 4], counts[:, 1])
    hist_floats = np.concatenate([p.hist_floats for _, p in parts])
    row_bools = np.concatenate([p.row_bools for _, p in parts])
    raw = RawColumns(
        identities=[i for _, p in parts for i in p.identities],
        metas=[m for _, p in parts for m in p.metas],
        series=row_ints[:, 0].astype(np.int32), time_ns=row_ints[:, 1].copy(),
        start_ns=row_ints[:, 2].copy(),
        value=np.concatenate([p.row_floats for _, p in parts]),
        has_value=row_bools[:, 0].copy(), no_recorded=row_bools[:, 1].copy(),
        number_rows=row_bools[:, 2].copy(), hist_rows=hist_ints[:, 0].copy(),
        hist_count=hist_floats[:, 0].copy(), hist_min=hist_floats[:, 1].copy(),
        hist_max=hist_floats[:, 2].copy(),
        hist_bounds=[b for _, p in parts for b in p.hist_bounds],
        hist_bounds_id=hist_ints[:, 2].copy(), hist_sizes=hist_ints[:, 1].copy(),
        hist_buckets=np.concatenate([p.hist_buckets for _, p in parts]), extra_rows=[],
        extra=[], row_rejects={}, rejected={}, points_seen=int(counts[:, 0].sum()))
    entries = np.array([len(p.col_ints) for _, p in parts], dtype=np.int64)
    cols = np.concatenate([p.col_ints for _, p in parts]).astype(np.int64)
    block = np.repeat(np.arange(len(parts)), entries)
    cols[:, 1] += bases[block, _BASE_OF[cols[:, 0]]]
    cols[:, 2] += np.repeat(np.array([start for start, _ in parts], dtype=np.int64), entries)
    order = np.argsort(cols[:, 0], kind="stable")
    cols = cols[order]
    edges = np.searchsorted(cols[:, 0], np.arange(len(_NAMES) + 1))
    columns = {name: (cols[edges[k]:edges[k + 1], 1], cols[edges[k]:edges[k + 1], 2])
               for k, name in enumerate(_NAMES)}
    return raw, columns


class SegmentTemplates:
    """Templates of ResourceMetrics blocks, and composition of requests from them."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.gate = ReuseGate(max_bytes)
        self._by_key: dict[tuple[bytes, int], _Packed] = {}   # least recently used first
        self._lock = threading.Lock()
        self.bytes = 0
        self.counters = {"composed": 0, "learned": 0, "refused": 0, "refused_thrash": 0,
                         "dropped": 0, "dropped_unused": 0}

    def _use(self, key: tuple[bytes, int], packed: _Packed) -> None:
        self.gate.see(hash(key), packed.size)
        packed.stamp = self.gate.clock
        if self._by_key.pop(key, None) is not None:
            self._by_key[key] = packed

    def _drop(self, key: tuple[bytes, int]) -> None:
        packed = self._by_key.pop(key)
        self.bytes -= packed.size
        self.counters["dropped"] += 1
        if packed.hits == 0:
            self.counters["dropped_unused"] += 1

    def _release(self) -> None:
        while self._by_key:
            key, oldest = next(iter(self._by_key.items()))
            if not self.gate.stale(oldest.stamp, oldest.size):
                return
            self._drop(key)

    def compose(self, body: bytes, *, use: bool = True) -> tuple[int, RawColumns, Columns] | None:
        """(layout fingerprint, skeleton, payload offsets) of ``body`` when every block of it is
        known and matches, else None. ``use``: count it as a use of those blocks."""
        if not self._by_key:
            return None
        try:
            segments = resource_segments(body)
        except (ValueError, IndexError):
            return None
        keys = [resource_key(body, start, end) for start, end in segments]
        parts = []
        for (start, _), key in zip(segments, keys, strict=True):
            packed = self._by_key.get(key)
            if packed is None:
                return None
            parts.append((start, packed))
        if not parts:
            return None
        raw, columns = _compose(parts)
        probe = masked(np.frombuffer(body, dtype=np.uint8), columns)
        if not np.array_equal(np.concatenate([probe[s:e] for s, e in segments]),
                              np.concatenate([p.original for _, p in parts])):
            return None
        if use:
            with self._lock:
                self.counters["composed"] += 1
                for key, (_, packed) in zip(keys, parts, strict=True):
                    packed.hits += 1
                    self._use(key, packed)
                self._release()
        return layout_key(len(body), keys), raw, columns

    def learn(self, body: bytes, raw: RawColumns,
              marks: list[tuple[int, int, int, int]]) -> int | None:
        """Learn the blocks of a upb-decoded request that repeat within the budget; returns the
        request's layout fingerprint (None when its blocks cannot be found)."""
        try:
            segments = resource_segments(body)
        except (ValueError, IndexError):
            return None
        keys = [resource_key(body, start, end) for start, end in segments]
        if len(segments) + 1 != len(marks):
            return layout_key(len(body), keys)
        for k, ((start, end), key) in enumerate(zip(segments, keys, strict=True)):
            with self._lock:
                known = self._by_key.get(key)
                if known is not None:           # used, though this request was not composed
                    self._use(key, known)
                    continue
                (r0, h0, b0, _), (r1, h1, b1, _) = marks[k], marks[k + 1]
                distance = self.gate.see(hash(key), block_bytes(
                    end - start + len(key[0]), r1 - r0, h1 - h0, b1 - b0,
                    3 * (r1 - r0 + h1 - h0) + b1 - b0, r1 - r0))
                if distance is None:
                    continue
                if not self.gate.fits(distance):
                    self.counters["refused_thrash"] += 1
                    continue
            block = _slice(raw, marks[k], marks[k + 1])
            template = build_template(body[start:end], block, whole=False) \
                if block is not None else None
            if template is None:
                self.counters["refused"] += 1
                continue
            self._keep(key, _pack(template, len(key[0])))
        with self._lock:
            self._release()
        return layout_key(len(body), keys)

    def _keep(self, key: tuple[bytes, int], packed: _Packed) -> None:
        with self._lock:
            if key in self._by_key:             # another receiver thread learned it meanwhile
                return
            while self._by_key and self.bytes + packed.size > self.max_bytes:
                self._drop(next(iter(self._by_key)))
            if packed.size <= self.max_bytes:
                packed.stamp = self.gate.clock
                self._by_key[key] = packed
                self.bytes += packed.size
                self.counters["learned"] += 1
            else:
                self.counters["refused"] += 1
