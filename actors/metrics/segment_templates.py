"""Per-resource wire templates: decode a request whose ResourceMetrics are all known layouts.

A Collector's batch processor mixes resources (pods) into batches whose composition changes
from one export to the next, so a whole-request template rarely repeats — but each pod's own
ResourceMetrics block does. This module learns a template per block (keyed by the block's
Resource bytes and length; learned on the second sighting from the upb decode, self-checked
like request templates), and composes a request from its blocks: verification, skeleton and
payload offsets are concatenated and checked with numpy in one pass. A request with any unknown
block is not composed (the upb path decodes it). Bounded by bytes (oldest dropped first);
never raises on input.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from actors.metrics.point_columns import RawColumns
from actors.metrics.wire_scan import resource_segments
from actors.metrics.wire_template import Template, build_template

__all__ = ["SegmentTemplates"]

_ROW_COLUMNS = ("time", "start", "double", "int", "hist_sum")
_HIST_COLUMNS = ("hist_count", "hist_min", "hist_max")


def _resource_key(body: bytes, start: int, end: int) -> tuple[bytes, int]:
    """(bytes of the leading Resource field, block length): what identifies a block."""
    if start < end and body[start] == 0x0A:      # field 1 (resource), length-delimited
        pos, length, shift = start + 1, 0, 0
        while pos < end and shift < 35:
            byte = body[pos]
            length |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                return body[start:min(pos + length, end)], end - start
            shift += 7
    return b"", end - start


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


Columns = dict[str, tuple[np.ndarray, np.ndarray]]
_NAMES = ("time", "start", "double", "int", "hist_sum", "hist_count", "hist_min", "hist_max",
          "bucket")
_BASE_OF = np.array([0 if n in _ROW_COLUMNS else 1 if n in _HIST_COLUMNS else 2
                     for n in _NAMES], dtype=np.int64)


@dataclasses.dataclass(frozen=True, slots=True)
class _Packed:
    """A block template's columns packed by dtype, so a request composes in a few concats."""

    template: Template
    counts: tuple[int, int, int, int, int]   # rows, histogram rows, buckets, series, bounds
    row_ints: np.ndarray      # [rows, 3] series, time_ns, start_ns
    row_floats: np.ndarray    # [rows] value
    row_bools: np.ndarray     # [rows, 3] has_value, no_recorded, number_rows
    hist_ints: np.ndarray     # [hist rows, 3] row, size, bounds id
    hist_floats: np.ndarray   # [hist rows, 3] count, min, max
    col_ints: np.ndarray      # [entries, 3] column id, target, byte offset


def _pack(template: Template) -> _Packed:
    sk = template.skeleton
    col_parts = [np.column_stack([np.full(len(t), k), t, o])
                 for k, (t, o) in ((k, template.columns[n]) for k, n in enumerate(_NAMES))]
    return _Packed(
        template=template,
        counts=(len(sk.series), len(sk.hist_rows), len(sk.hist_buckets), len(sk.identities),
                len(sk.hist_bounds)),
        row_ints=np.column_stack([sk.series.astype(np.int64), sk.time_ns, sk.start_ns]),
        row_floats=sk.value,
        row_bools=np.column_stack([sk.has_value, sk.no_recorded, sk.number_rows]),
        hist_ints=np.column_stack([sk.hist_rows, sk.hist_sizes, sk.hist_bounds_id]
                                  ).astype(np.int64).reshape(-1, 3),
        hist_floats=np.column_stack([sk.hist_count, sk.hist_min, sk.hist_max]).reshape(-1, 3),
        col_ints=np.concatenate(col_parts).astype(np.int64).reshape(-1, 3))


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
    skeletons = [p.template.skeleton for _, p in parts]
    raw = RawColumns(
        identities=[i for sk in skeletons for i in sk.identities],
        metas=[m for sk in skeletons for m in sk.metas],
        series=row_ints[:, 0].astype(np.int32), time_ns=row_ints[:, 1].copy(),
        start_ns=row_ints[:, 2].copy(),
        value=np.concatenate([p.row_floats for _, p in parts]),
        has_value=row_bools[:, 0].copy(), no_recorded=row_bools[:, 1].copy(),
        number_rows=row_bools[:, 2].copy(), hist_rows=hist_ints[:, 0].copy(),
        hist_count=hist_floats[:, 0].copy(), hist_min=hist_floats[:, 1].copy(),
        hist_max=hist_floats[:, 2].copy(),
        hist_bounds=[b for sk in skeletons for b in sk.hist_bounds],
        hist_bounds_id=hist_ints[:, 2].copy(), hist_sizes=hist_ints[:, 1].copy(),
        hist_buckets=np.concatenate([sk.hist_buckets for sk in skeletons]), extra_rows=[],
        extra=[], row_rejects={}, rejected={}, points_seen=int(counts[:, 0].sum()))
    entries = np.array([len(p.col_ints) for _, p in parts], dtype=np.int64)
    cols = np.concatenate([p.col_ints for _, p in parts])
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
        self._by_key: dict[tuple[bytes, int], _Packed] = {}
        self._sizes: dict[tuple[bytes, int], int] = {}     # insertion order = age
        self._seen: dict[tuple[bytes, int], int] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.counters = {"composed": 0, "learned": 0, "refused": 0, "dropped": 0}

    def compose(self, body: bytes) -> tuple[RawColumns, Columns] | None:
        """(skeleton, payload offsets) of ``body`` when every block of it is known and
        matches, else None."""
        if not self._by_key:
            return None
        try:
            segments = resource_segments(body)
        except (ValueError, IndexError):
            return None
        parts = []
        for start, end in segments:
            packed = self._by_key.get(_resource_key(body, start, end))
            if packed is None:
                return None
            parts.append((start, packed))
        if not parts:
            return None
        arr = np.frombuffer(body, dtype=np.uint8)
        actual = np.concatenate([arr[s:e] for s, e in segments])
        expected = np.concatenate([p.template.original for _, p in parts])
        static = np.concatenate([p.template.static for _, p in parts])
        if np.logical_and(actual != expected, static).any():
            return None
        self.counters["composed"] += 1
        return _compose(parts)

    def learn(self, body: bytes, raw: RawColumns, marks: list[tuple[int, int, int, int]]) -> None:
        """Learn the blocks of a upb-decoded request seen for the second time."""
        try:
            segments = resource_segments(body)
        except (ValueError, IndexError):
            return
        if len(segments) + 1 != len(marks):
            return
        for k, (start, end) in enumerate(segments):
            key = _resource_key(body, start, end)
            if key in self._by_key:
                continue
            with self._lock:
                seen = self._seen[key] = self._seen.get(key, 0) + 1
                if len(self._seen) > 8192:
                    self._seen.clear()
            if seen < 2:
                continue
            block = _slice(raw, marks[k], marks[k + 1])
            template = build_template(body[start:end], block, whole=False) \
                if block is not None else None
            if template is None:
                self.counters["refused"] += 1
                continue
            self._keep(key, template)

    def _keep(self, key: tuple[bytes, int], template: Template) -> None:
        size = 2 * template.nbytes() + len(key[0])     # the template and its packed copy
        with self._lock:
            while self._sizes and self.bytes + size > self.max_bytes:
                oldest = next(iter(self._sizes))
                self.bytes -= self._sizes.pop(oldest)
                del self._by_key[oldest]
                self.counters["dropped"] += 1
            if size <= self.max_bytes:
                self._by_key[key] = _pack(template)
                self._sizes[key] = size
                self.bytes += size
                self.counters["learned"] += 1
