"""Wire templates: decode a request that repeats an earlier request's layout without upb.

Exporters resend the same resources, metrics and series every interval; only timestamps and
values change, and in OTLP those are fixed-width fields (fixed64 times, counts and bucket
counts, double values, sums, min/max). A template keeps, for one request layout, the body, a
bit-packed mask of the bytes that must match (all but those payloads), the payload offsets
(found by ``wire_scan``, int32) and the decoded skeleton (series, metadata). A body of the same
length whose masked bytes are identical has, by construction of the protobuf encoding, exactly
the same parse with new fixed-width payloads — so its columns are gathered with numpy from the
offsets and the same ``finish`` rules apply. Anything unusual (exponential histograms or
summaries, non-packed buckets, rejected rows, a self-check mismatch) simply gets no template:
the upb path stays the reference. ``WireTemplates`` admits layouts by reuse distance
(``ReuseGate``), so layouts that cannot fit its budget cost neither memory nor builds. Never
raises on input.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading

import numpy as np

from actors.metrics.otlp_attributes import ReuseGate
from actors.metrics.point_columns import RawColumns
from actors.metrics.wire_scan import (
    Columns,
    NoTemplateError,
    byte_windows,
    gather,
    payload_bytes,
    scan,
)

__all__ = ["Columns", "Template", "WireTemplates", "apply_columns", "apply_template",
           "build_template", "estimate_bytes", "template_from_layout"]

_HEAD = 512                      # bytes compared first (a multiple of 8)
_serial = itertools.count(1)


IDENTITY_BYTES = 64      # accounted per series (list slots; identities are shared)


def _skeleton_arrays(sk: RawColumns) -> list[np.ndarray]:
    return [sk.series, sk.time_ns, sk.start_ns, sk.value, sk.has_value, sk.no_recorded,
            sk.number_rows, sk.hist_rows, sk.hist_count, sk.hist_min, sk.hist_max,
            sk.hist_sizes, sk.hist_buckets, sk.hist_bounds_id]


def estimate_bytes(length: int, raw: RawColumns) -> int:
    """What a template of a ``length``-byte body decoded as ``raw`` holds (before building it:
    payload entries estimated as time, start and value or count/min/max per row, plus buckets)."""
    entries = 3 * len(raw.series) + 3 * len(raw.hist_rows) + len(raw.hist_buckets)
    return length + (length + 7) // 8 + sum(int(a.nbytes) for a in _skeleton_arrays(raw)) + \
        8 * entries + \
        IDENTITY_BYTES * len(raw.identities)


@dataclasses.dataclass(slots=True, eq=False)
class Template:
    """One learned layout: body, must-match mask, skeleton, payload offsets; use stats."""

    key: int
    original: np.ndarray         # the template body
    static: np.ndarray           # np.packbits of "must match" per byte (not a payload byte)
    skeleton: RawColumns
    columns: Columns             # int32 targets and offsets
    layout: int = 0              # the request layout's fingerprint (its ReuseGate key)
    size: int = 0                # accounted bytes
    hits: int = 0
    stamp: int = 0               # the gate's clock at its last use

    def matches(self, arr: np.ndarray) -> bool:
        """Whether ``arr`` has this layout (in a large body, other pods' requests differ in
        the first bytes already: those are checked first)."""
        if arr.shape != self.original.shape or (arr.size > 8 * _HEAD and bool(
                (np.packbits(arr[:_HEAD] != self.original[:_HEAD])
                 & self.static[:_HEAD // 8]).any())):
            return False
        return not bool((np.packbits(arr != self.original) & self.static).any())

    def nbytes(self) -> int:
        arrays = [self.original, self.static, *_skeleton_arrays(self.skeleton)]
        arrays += [a for pair in self.columns.values() for a in pair]
        return sum(int(a.nbytes) for a in arrays) + IDENTITY_BYTES * len(self.skeleton.identities)


def apply_template(template: Template, arr: np.ndarray) -> RawColumns:
    """The columns of a body that matched ``template`` (payloads gathered from ``arr``)."""
    return apply_columns(template.skeleton, template.columns, arr)


def apply_columns(sk: RawColumns, cols: Columns, arr: np.ndarray) -> RawColumns:
    """``sk`` with every fixed-width payload replaced by the bytes at ``cols`` offsets."""
    time_ns, start_ns, value = sk.time_ns.copy(), sk.start_ns.copy(), sk.value.copy()
    hist_count, hist_min, hist_max = sk.hist_count.copy(), sk.hist_min.copy(), sk.hist_max.copy()
    buckets = sk.hist_buckets.copy()
    windows = byte_windows(arr)
    for name, target, dtype in (("time", time_ns, "<i8"), ("start", start_ns, "<i8"),
                                ("double", value, "<f8"), ("int", value, "<i8"),
                                ("hist_sum", value, "<f8"), ("hist_count", hist_count, "<u8"),
                                ("hist_min", hist_min, "<f8"), ("hist_max", hist_max, "<f8"),
                                ("bucket", buckets, "<u8")):
        rows, offsets = cols[name]
        if rows.size:
            target[rows] = gather(windows, offsets, dtype)
    return dataclasses.replace(sk, time_ns=time_ns, start_ns=start_ns, value=value,
                               hist_count=hist_count, hist_min=hist_min, hist_max=hist_max,
                               hist_buckets=buckets)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


_CHECKED = ("time_ns", "start_ns", "value", "hist_count", "hist_min", "hist_max",
            "hist_buckets")


def template_from_layout(body: bytes, raw: RawColumns, columns: Columns,
                         layout: int = 0) -> Template:
    """A template of ``body`` whose fixed-width payloads are at ``columns`` offsets."""
    small = {name: (t.astype(np.int32), o.astype(np.int32)) for name, (t, o) in columns.items()}
    static = np.ones(len(body), dtype=bool)
    static[payload_bytes(small)] = False
    return Template(next(_serial), np.frombuffer(body, dtype=np.uint8).copy(),
                    np.packbits(static), raw, small, layout)


def build_template(body: bytes, raw: RawColumns, *, whole: bool) -> Template | None:
    """Scan ``body`` (a whole request, or one ResourceMetrics message when not ``whole``) and
    check that gathering from the offsets reproduces ``raw`` (decoded by upb); None if not."""
    if raw.extra_rows or raw.row_rejects or len(raw.series) == 0 or raw.rejected:
        return None
    try:
        layout = scan(body, 0, len(body), whole)
    except (NoTemplateError, IndexError):
        return None
    if layout.rows != len(raw.series) or layout.buckets != len(raw.hist_buckets) or \
            layout.hist_rows != len(raw.hist_rows):
        return None
    columns = {name: (np.array(t, dtype=np.int32), np.array(o, dtype=np.int32))
               for name, (t, o) in layout.columns.items()}
    template = template_from_layout(body, raw, columns)
    check = apply_template(template, np.frombuffer(body, dtype=np.uint8))
    if not all(_same(getattr(check, f), getattr(raw, f)) for f in _CHECKED):
        return None
    return template


class WireTemplates:
    """Request templates by body length (up to ``per_length`` each, most recently used tried
    first), least recently used first overall. Thread-safe.

    Bounded by ``max_bytes`` (body copies, masks, offsets and skeleton columns; the series
    identities themselves are shared with the series cache). A layout (fingerprint of its
    resource blocks) gets a template the second time it is seen, and only when the layouts
    referenced since its first sighting fit the budget (``ReuseGate``; else ``refused_thrash``):
    a cyclic set of layouts larger than the budget would evict every template before its first
    hit. A template past the reach of an LRU of the budget is released (``dropped``, and
    ``dropped_unused`` when it never hit), so memory follows the workload.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, per_length: int = 16) -> None:
        self.max_bytes = max_bytes
        self.per_length = per_length
        self.gate = ReuseGate(max_bytes, remember=4096)
        self._by_length: dict[int, list[Template]] = {}
        self._order: dict[int, Template] = {}              # key → template, least recent first
        self._lock = threading.Lock()
        self.bytes = 0
        self.counters = {"hits": 0, "misses": 0, "built": 0, "refused": 0, "refused_thrash": 0,
                         "dropped": 0, "dropped_unused": 0}

    def _drop(self, template: Template) -> None:
        del self._order[template.key]
        self.bytes -= template.size
        length = len(template.original)
        same = self._by_length.get(length, [])
        if template in same:
            same.remove(template)
        if not same:
            self._by_length.pop(length, None)
        self.counters["dropped"] += 1
        if template.hits == 0:
            self.counters["dropped_unused"] += 1

    def _release(self) -> None:
        while self._order:
            oldest = next(iter(self._order.values()))
            if not self.gate.stale(oldest.stamp, oldest.size):
                return
            self._drop(oldest)

    def match(self, body: bytes) -> tuple[int, RawColumns] | None:
        """(template key, columns) when ``body`` repeats a known layout, else None."""
        candidates = self._by_length.get(len(body))
        if candidates:
            arr = np.frombuffer(body, dtype=np.uint8)
            for template in list(candidates):
                if template.matches(arr):
                    with self._lock:
                        self.counters["hits"] += 1
                        template.hits += 1
                        self.gate.see(template.layout, template.size)
                        template.stamp = self.gate.clock
                        if self._order.pop(template.key, None) is not None:
                            self._order[template.key] = template
                            candidates.remove(template)      # most recently used first
                            candidates.insert(0, template)   # (the live list: kept, not copied)
                        self._release()
                    return template.key, apply_template(template, arr)
        self.counters["misses"] += 1
        return None

    def saw(self, layout: int, size: int) -> None:
        """Count a request of ``layout`` that no template decoded (``size``: estimated bytes
        of its template)."""
        with self._lock:
            self.gate.see(layout, size)
            self._release()

    def add_composed(self, layout: int, body: bytes, raw: RawColumns, columns: Columns) -> int:
        """Keep a composed layout as a request template once it repeats within the budget."""
        with self._lock:
            distance = self.gate.see(layout, estimate_bytes(len(body), raw))
            self._release()
            if distance is None:
                return 0
            if not self.gate.fits(distance):
                self.counters["refused_thrash"] += 1
                return 0
        return self.add(len(body), template_from_layout(body, raw, columns, layout))

    def add(self, length: int, template: Template) -> int:
        """Keep a template for bodies of ``length`` bytes; returns its key (0 = too big)."""
        size = template.size = template.nbytes()
        if size > self.max_bytes:
            self.counters["refused"] += 1
            return 0
        with self._lock:
            for old in self._by_length.get(length, [])[self.per_length - 1:]:
                self._drop(old)
            while self._order and self.bytes + size > self.max_bytes:
                self._drop(next(iter(self._order.values())))
            self._by_length.setdefault(length, []).insert(0, template)
            self._order[template.key] = template
            template.stamp = self.gate.clock
            self.bytes += size
            self.counters["built"] += 1
        return template.key
