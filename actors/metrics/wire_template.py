"""Wire templates: decode a request that repeats an earlier request's layout without upb.

Exporters resend the same resources, metrics and series every interval; only timestamps and
values change, and in OTLP those are fixed-width fields (fixed64 times, counts and bucket
counts, double values, sums, min/max). A template keeps, for one request layout, the body, a
mask of the bytes that must match (all but those payloads), the payload offsets (found by
``wire_scan``) and the decoded skeleton (series, metadata). A body of the same length whose
masked bytes are identical has, by construction of the protobuf
encoding, exactly the same parse with new fixed-width payloads — so its columns are gathered
with numpy from the offsets and the same ``finish`` rules apply. Anything unusual (exponential
histograms or summaries, non-packed buckets, rejected rows, a self-check mismatch) simply gets
no template: the upb path stays the reference. Never raises on input.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading

import numpy as np

from actors.metrics.point_columns import RawColumns
from actors.metrics.wire_scan import NoTemplateError, scan

__all__ = ["Template", "WireTemplates", "apply_columns", "apply_template", "build_template",
           "template_from_layout"]

_R8 = np.arange(8)
_serial = itertools.count(1)


@dataclasses.dataclass(slots=True)
class Template:
    """One learned layout: original bytes, which bytes must match, skeleton, offsets."""

    key: int
    original: np.ndarray         # the template body
    static: np.ndarray           # bool per byte: must match (False on fixed-width payloads)
    skeleton: RawColumns
    columns: dict[str, tuple[np.ndarray, np.ndarray]]

    def matches(self, arr: np.ndarray) -> bool:
        return not bool(np.logical_and(arr != self.original, self.static).any())

    def nbytes(self) -> int:
        sk = self.skeleton
        arrays = [self.original, self.static, sk.series, sk.time_ns, sk.start_ns, sk.value,
                  sk.has_value, sk.no_recorded, sk.number_rows, sk.hist_rows, sk.hist_count,
                  sk.hist_min, sk.hist_max, sk.hist_sizes, sk.hist_buckets, sk.hist_bounds_id]
        arrays += [a for pair in self.columns.values() for a in pair]
        return sum(int(a.nbytes) for a in arrays) + 64 * len(sk.identities)


def _gather(arr: np.ndarray, offsets: np.ndarray, dtype: str) -> np.ndarray:
    """The 8-byte little-endian values at ``offsets`` (unaligned) of the byte array ``arr``."""
    return arr[offsets[:, None] + _R8].view(dtype)[:, 0]


def apply_template(template: Template, arr: np.ndarray) -> RawColumns:
    """The columns of a body that matched ``template`` (payloads gathered from ``arr``)."""
    return apply_columns(template.skeleton, template.columns, arr)


def apply_columns(sk: RawColumns, cols: dict[str, tuple[np.ndarray, np.ndarray]],
                  arr: np.ndarray) -> RawColumns:
    """``sk`` with every fixed-width payload replaced by the bytes at ``cols`` offsets."""
    time_ns, start_ns, value = sk.time_ns.copy(), sk.start_ns.copy(), sk.value.copy()
    hist_count, hist_min, hist_max = sk.hist_count.copy(), sk.hist_min.copy(), sk.hist_max.copy()
    buckets = sk.hist_buckets.copy()
    for name, target, dtype in (("time", time_ns, "<i8"), ("start", start_ns, "<i8"),
                                ("double", value, "<f8"), ("int", value, "<i8"),
                                ("hist_sum", value, "<f8"), ("hist_count", hist_count, "<u8"),
                                ("hist_min", hist_min, "<f8"), ("hist_max", hist_max, "<f8"),
                                ("bucket", buckets, "<u8")):
        rows, offsets = cols[name]
        if rows.size:
            target[rows] = _gather(arr, offsets, dtype)
    return dataclasses.replace(sk, time_ns=time_ns, start_ns=start_ns, value=value,
                               hist_count=hist_count, hist_min=hist_min, hist_max=hist_max,
                               hist_buckets=buckets)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


_CHECKED = ("time_ns", "start_ns", "value", "hist_count", "hist_min", "hist_max",
            "hist_buckets")


def template_from_layout(body: bytes, raw: RawColumns,
                         columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> Template:
    """A template of ``body`` whose fixed-width payloads are at ``columns`` offsets."""
    arr = np.frombuffer(body, dtype=np.uint8)
    starts = np.concatenate([o for _, o in columns.values()])
    static = np.ones(len(arr), dtype=bool)
    static[(starts[:, None] + _R8).ravel()] = False
    return Template(next(_serial), arr.copy(), static, raw, columns)


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
    columns = {name: (np.array(t, dtype=np.int64), np.array(o, dtype=np.int64))
               for name, (t, o) in layout.columns.items()}
    template = template_from_layout(body, raw, columns)
    check = apply_template(template, np.frombuffer(body, dtype=np.uint8))
    if not all(_same(getattr(check, f), getattr(raw, f)) for f in _CHECKED):
        return None
    return template


class WireTemplates:
    """Templates by body length; built the second time a length is seen. Thread-safe.

    Bounded by ``max_bytes`` (body copies, offsets and skeleton columns; the series identities
    themselves are shared with the store): the oldest templates are dropped first.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, per_length: int = 4) -> None:
        self.max_bytes = max_bytes
        self.per_length = per_length
        self._by_length: dict[int, list[Template]] = {}
        self._order: dict[int, tuple[int, int]] = {}      # key → (body length, bytes), oldest first
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.counters = {"hits": 0, "misses": 0, "built": 0, "refused": 0, "dropped": 0}

    def _drop(self, key: int) -> None:
        length, size = self._order.pop(key)
        self.bytes -= size
        self._by_length[length] = [t for t in self._by_length.get(length, []) if t.key != key]
        if not self._by_length[length]:
            del self._by_length[length]
        self.counters["dropped"] += 1

    def match(self, body: bytes) -> tuple[int, RawColumns] | None:
        """(template key, columns) when ``body`` repeats a known layout, else None."""
        candidates = self._by_length.get(len(body))
        if candidates:
            arr = np.frombuffer(body, dtype=np.uint8)
            for template in list(candidates):
                if template.matches(arr):
                    self.counters["hits"] += 1
                    return template.key, apply_template(template, arr)
        self.counters["misses"] += 1
        return None

    def saw(self, length: int) -> None:
        """Count a body length that no template could decode."""
        with self._lock:
            self._seen[length] = self._seen.get(length, 0) + 1
            if len(self._seen) > 4096:
                self._seen.clear()

    def add_composed(self, body: bytes, raw: RawColumns,
                     columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
        """Keep a composed layout as a request template once its length repeats."""
        with self._lock:
            seen = self._seen[len(body)] = self._seen.get(len(body), 0) + 1
        if seen < 2:
            return 0
        return self.add(len(body), template_from_layout(body, raw, columns))

    def add(self, length: int, template: Template) -> int:
        """Keep a template for bodies of ``length`` bytes; returns its key (0 = too big)."""
        size = template.nbytes()
        if size > self.max_bytes:
            self.counters["refused"] += 1
            return 0
        with self._lock:
            for old in self._by_length.get(length, [])[self.per_length - 1:]:
                self._drop(old.key)
            while self._order and self.bytes + size > self.max_bytes:
                self._drop(next(iter(self._order)))
            self._by_length.setdefault(length, []).insert(0, template)
            self._order[template.key] = (length, size)
            self.bytes += size
            self.counters["built"] += 1
        return template.key
