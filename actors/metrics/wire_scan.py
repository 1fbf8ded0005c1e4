"""Minimal protobuf wire walking for OTLP metrics requests (no generated code).

Owns the offsets of the fixed-width payloads of every data point — number points' start/time
and as_double/as_int, histogram points' start/time/count/sum/min/max and packed bucket counts —
in document order (the order upb decodes rows in), the split of a request into its
ResourceMetrics blocks, and what identifies a block (``resource_key``) and a request's layout
(``layout_key``), and the numpy reads of the payloads at those offsets (gather, mask). Anything
it does not expect (exponential histograms, summaries, non-packed buckets, groups, truncated
fields) raises ``NoTemplateError``: callers then simply do not build a template.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["Columns", "Layout", "NoTemplateError", "byte_windows", "fields", "gather",
           "layout_key", "masked", "payload_bytes", "resource_key", "resource_segments", "scan",
           "scan_resource"]

Columns = dict[str, tuple[np.ndarray, np.ndarray]]     # name → (target rows, byte offsets)
_R8 = np.arange(8)

_NUMBER_CONTAINERS = {5, 7}        # Metric.gauge, Metric.sum
_HISTOGRAM = 9                      # Metric.histogram
_UNSUPPORTED = {10, 11}             # exponential_histogram, summary: variable-width payloads


class NoTemplateError(ValueError):
    """The bytes hold something a template cannot represent."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise NoTemplateError


def fields(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field, wire type, payload start, payload end) of one message."""
    out, pos = [], start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            begin = pos
            _, pos = _varint(buf, pos)
            out.append((field, 0, begin, pos))
        elif wire == 1:
            out.append((field, 1, pos, pos + 8))
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            out.append((field, 2, pos, pos + length))
            pos += length
        elif wire == 5:
            out.append((field, 5, pos, pos + 4))
            pos += 4
        else:
            raise NoTemplateError
    if pos != end:
        raise NoTemplateError
    return out


@dataclasses.dataclass(slots=True)
class Layout:
    """Offsets of the fixed-width payloads, per target column."""

    columns: dict[str, tuple[list[int], list[int]]] = dataclasses.field(
        default_factory=lambda: {name: ([], []) for name in (
            "time", "start", "double", "int", "hist_count", "hist_sum", "hist_min",
            "hist_max", "bucket")})
    rows: int = 0
    hist_rows: int = 0
    buckets: int = 0

    def add(self, column: str, target: int, offset: int) -> None:
        targets, offsets = self.columns[column]
        targets.append(target)
        offsets.append(offset)


_NUMBER_FIELDS = {2: "start", 3: "time", 4: "double", 6: "int"}
_HIST_FIELDS = {2: "start", 3: "time", 4: "hist_count", 5: "hist_sum", 11: "hist_min",
                12: "hist_max"}


def _scan_point(body: bytes, start: int, end: int, layout: Layout, histogram: bool) -> None:
    names = _HIST_FIELDS if histogram else _NUMBER_FIELDS
    for field, wire, begin, stop in fields(body, start, end):
        name = names.get(field)
        if name is not None and wire == 1:
            target = layout.hist_rows if name.startswith("hist_") and name != "hist_sum" \
                else layout.rows
            layout.add(name, target, begin)
        elif histogram and field == 6:
            if wire != 2 or (stop - begin) % 8:
                raise NoTemplateError
            for k, offset in enumerate(range(begin, stop, 8)):
                layout.add("bucket", layout.buckets + k, offset)
            layout.buckets += (stop - begin) // 8
        elif name is not None:
            raise NoTemplateError
    layout.rows += 1
    if histogram:
        layout.hist_rows += 1


def scan_resource(body: bytes, start: int, end: int, layout: Layout) -> None:
    """Add the fixed-width payload offsets of one ResourceMetrics message to ``layout``."""
    for f2, w2, s2, e2 in fields(body, start, end):
        if f2 != 2 or w2 != 2:
            continue
        for f3, w3, s3, e3 in fields(body, s2, e2):
            if f3 != 2 or w3 != 2:
                continue
            for f4, w4, s4, e4 in fields(body, s3, e3):
                if f4 in _UNSUPPORTED:
                    raise NoTemplateError
                if w4 != 2 or (f4 not in _NUMBER_CONTAINERS and f4 != _HISTOGRAM):
                    continue
                for f5, w5, s5, e5 in fields(body, s4, e4):
                    if f5 == 1 and w5 == 2:
                        _scan_point(body, s5, e5, layout, f4 == _HISTOGRAM)


def resource_segments(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of every ResourceMetrics payload of a request, in order."""
    return [(s1, e1) for f1, w1, s1, e1 in fields(body, 0, len(body)) if f1 == 1 and w1 == 2]


def resource_key(body: bytes, start: int, end: int) -> tuple[bytes, int]:
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


def layout_key(length: int, keys: Sequence[tuple[bytes, int]]) -> int:
    """A request layout's fingerprint: its length and its blocks' ``resource_key``s."""
    return hash((length, tuple(keys)))


def scan(body: bytes, start: int = 0, end: int = -1, whole: bool = True) -> Layout:
    """Offsets of a whole request, or (``whole`` False) of one ResourceMetrics message."""
    layout = Layout()
    if whole:
        for s1, e1 in resource_segments(body):
            scan_resource(body, s1, e1, layout)
    else:
        scan_resource(body, start, end, layout)
    return layout


def payload_bytes(columns: Columns) -> np.ndarray:
    """Positions of the 8 bytes at every offset of ``columns``."""
    starts = np.concatenate([o for _, o in columns.values()])
    return (starts[:, None] + _R8).ravel()


def masked(arr: np.ndarray, columns: Columns) -> np.ndarray:
    """A copy of ``arr`` with the 8 bytes at every offset of ``columns`` zeroed."""
    out = arr.copy()
    out[payload_bytes(columns)] = 0
    return out


def byte_windows(arr: np.ndarray) -> np.ndarray:
    """Every 8-byte window of the bytes ``arr`` (a strided view, nothing copied)."""
    if arr.size < 8:
        return np.zeros((0, 8), dtype=np.uint8)
    arr = np.ascontiguousarray(arr)
    return np.ndarray((arr.size - 7, 8), dtype=np.uint8, buffer=arr, strides=(1, 1))


def gather(windows: np.ndarray, offsets: np.ndarray, dtype: str) -> np.ndarray:
    """The 8-byte little-endian values at ``offsets`` (unaligned), ``windows`` being the
    8-byte sliding windows of the body (one row copied per value)."""
    return np.ascontiguousarray(windows[offsets]).view(dtype)[:, 0]
