"""``metric_points`` link payloads: decoded OTLP batches as compact bytes between two processes.

Owns the frame format the OtlpReceiver actor sends to the MetricsRing actor: one msgpack array
per link batch, one frame per decoded request. A frame is ``[shape_key, series_blob, columns,
hist_bounds, extras, extra_rows, points_seen, no_recorded_value, rejected]``: the numeric
columns of ``DecodedMetrics`` travel as raw little-endian array bytes (no per-point Python
objects), the series identities and metadata as one msgpack blob per request layout (once
per payload: a later frame of the same layout names the earlier frame's index). Both ends
keep a bounded cache keyed by the decoder's ``shape_key``: the sender packs a layout's blob
once and reuses the bytes; the receiver unpacks it once and reuses the very identity objects
(the store's fastest lookup), and hands the store its OWN shape keys, so keys of an earlier
receiver incarnation can never alias another layout. Bad payloads raise ``FrameError`` (the
actor counts and drops them).
"""

from __future__ import annotations

import collections
import itertools
import sys
from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from actors.metrics.decoded import DecodedMetrics, ExponentialHistogramPoint, SummaryPoint
from actors.metrics.series import MetricKind, SeriesIdentity, SeriesMeta, Temporality

__all__ = ["FrameDecoder", "FrameEncoder", "FrameError"]

# (DecodedMetrics attribute, dtype) of the numeric columns, in frame order.
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("series", "<i4"), ("time_ns", "<i8"), ("start_ns", "<i8"), ("value", "<f8"),
    ("hist_rows", "<i8"), ("hist_count", "<f8"), ("hist_min", "<f8"), ("hist_max", "<f8"),
    ("hist_bounds_id", "<i8"), ("hist_offsets", "<i8"), ("hist_buckets", "<f8"))
_KINDS = {int(k): k for k in MetricKind}
_TEMPORALITIES = {int(t): t for t in Temporality}


class FrameError(ValueError):
    """A ``metric_points`` payload that is not a list of well-formed frames."""


def _pack_series(batch: DecodedMetrics) -> bytes:
    identities = [(i.metric, int(i.kind), i.namespace, i.pod, i.container, i.node,
                   i.workload_kind, i.workload_name, i.labels) for i in batch.identities]
    metas = [(int(m.temporality), m.monotonic, m.unit, m.description, m.scope_name,
              m.scope_version, m.pod_uid) for m in batch.metas]
    return bytes(msgpack.packb((identities, metas), use_bin_type=True))


class _Canonical:
    """Shared copies of what unpacked series blobs repeat: strings (``sys.intern``: freed once
    unused), label tuples and metadata. msgpack builds a new ``str`` per occurrence, so without
    this every stored identity owned ~30 objects (~1.6 KB a series); with it, identities of one
    namespace, metric or pod share them. The tuple tables are cleared past ``max_entries``
    (they only deduplicate: clearing never changes a value)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.labels: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        self.metas: dict[tuple[Any, ...], SeriesMeta] = {}

    def label_set(self, raw: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        found = self.labels.get(raw)
        if found is None:
            if len(self.labels) >= self.max_entries:
                self.labels.clear()
            found = self.labels[raw] = tuple((sys.intern(k), sys.intern(v)) for k, v in raw)
        return found

    def meta(self, raw: tuple[Any, ...]) -> SeriesMeta:
        found = self.metas.get(raw)
        if found is None:
            if len(self.metas) >= self.max_entries:
                self.metas.clear()
            t, mono, unit, desc, scope, version, uid = raw
            found = self.metas[raw] = SeriesMeta(
                _TEMPORALITIES[t], bool(mono), sys.intern(unit), sys.intern(desc),
                sys.intern(scope), sys.intern(version), sys.intern(uid))
        return found


def _unpack_series(blob: bytes, canonical: _Canonical | None = None) -> tuple[
        list[SeriesIdentity], list[SeriesMeta]]:
    canonical = canonical or _Canonical()
    raw_identities, raw_metas = msgpack.unpackb(blob, raw=False, use_list=False)
    intern, label_set = sys.intern, canonical.label_set
    identities = [SeriesIdentity(intern(m), _KINDS[k], intern(ns), intern(pod),
                                 intern(container), intern(node), intern(wk), intern(wn),
                                 label_set(labels))
                  for m, k, ns, pod, container, node, wk, wn, labels in raw_identities]
    metas = [canonical.meta(raw) for raw in raw_metas]
    if len(metas) != len(identities):
        raise FrameError("series blob holds a different number of identities and metas")
    return identities, metas


def _pack_extra(point: ExponentialHistogramPoint | SummaryPoint) -> tuple[Any, ...]:
    if isinstance(point, SummaryPoint):
        return ("s", point.count, [list(q) for q in point.quantiles])
    return ("e", point.scale, point.zero_count, point.zero_threshold, point.positive_offset,
            np.ascontiguousarray(point.positive, dtype="<f8").tobytes(), point.negative_offset,
            np.ascontiguousarray(point.negative, dtype="<f8").tobytes(), point.count,
            point.minimum, point.maximum)


def _unpack_extra(raw: Sequence[Any]) -> ExponentialHistogramPoint | SummaryPoint:
    if raw[0] == "s":
        return SummaryPoint(float(raw[1]), tuple((float(q), float(v)) for q, v in raw[2]))
    (_, scale, zero_count, zero_threshold, pos_offset, positive, neg_offset, negative, count,
     minimum, maximum) = raw
    return ExponentialHistogramPoint(
        int(scale), float(zero_count), float(zero_threshold), int(pos_offset),
        np.frombuffer(positive, dtype="<f8"), int(neg_offset),
        np.frombuffer(negative, dtype="<f8"), float(count), float(minimum), float(maximum))


class _Lru:
    """Entries by key, oldest dropped first once ``max_bytes`` of blobs are held."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: collections.OrderedDict[int, tuple[Any, ...]] = collections.OrderedDict()
        self.dropped = 0

    def get(self, key: int) -> tuple[Any, ...] | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key: int, entry: tuple[Any, ...], size: int) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old[0])
        self.entries[key] = entry
        self.bytes += size
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            _, gone = self.entries.popitem(last=False)
            self.bytes -= len(gone[0])
            self.dropped += 1


class FrameEncoder:
    """Sender side: ``DecodedMetrics`` batches → one payload (series blobs cached per layout)."""

    def __init__(self, max_cache_bytes: int = 2 * 1024 * 1024) -> None:
        self._cache = _Lru(max_cache_bytes)
        self.counters = {"frames_encoded": 0, "series_blobs_packed": 0}

    def cache_bytes(self) -> int:
        """Bytes of packed series blobs held for known layouts."""
        return self._cache.bytes

    def _series_blob(self, batch: DecodedMetrics) -> bytes:
        if batch.shape_key:
            cached = self._cache.get(batch.shape_key)
            if cached is not None and cached[1] is batch.identities and cached[2] is batch.metas:
                return bytes(cached[0])
        blob = _pack_series(batch)
        self.counters["series_blobs_packed"] += 1
        if batch.shape_key:
            self._cache.put(batch.shape_key, (blob, batch.identities, batch.metas), len(blob))
        return blob

    def encode(self, batches: Sequence[DecodedMetrics]) -> bytes:
        """One payload holding every batch, in order."""
        frames = []
        first_frame: dict[int, int] = {}     # shape key → first frame of this payload with it
        for index, batch in enumerate(batches):
            columns = [np.ascontiguousarray(getattr(batch, name), dtype=dtype).tobytes()
                       for name, dtype in _COLUMNS]
            blob: bytes | int = self._series_blob(batch)
            if batch.shape_key:
                earlier = first_frame.setdefault(batch.shape_key, index)
                if earlier != index:
                    blob = earlier                  # same layout earlier in this payload
            frames.append((batch.shape_key, blob, columns,
                           [list(b) for b in batch.hist_bounds],
                           [_pack_extra(p) for p in batch.extra], list(batch.extra_rows),
                           batch.points_seen, batch.no_recorded_value, dict(batch.rejected)))
        self.counters["frames_encoded"] += len(frames)
        return bytes(msgpack.packb(frames, use_bin_type=True))


class FrameDecoder:
    """Receiver side: payload → ``DecodedMetrics`` batches with ring-local shape keys."""

    def __init__(self, max_cache_bytes: int = 2 * 1024 * 1024) -> None:
        self._cache = _Lru(max_cache_bytes)
        self._local_keys = itertools.count(1)
        self._canonical = _Canonical()
        self.counters = {"frames_decoded": 0, "series_blobs_unpacked": 0}

    def cache_bytes(self) -> int:
        """Bytes of series blobs held to recognise known layouts."""
        return self._cache.bytes

    def _series(self, wire_key: int, blob: bytes) -> tuple[list[SeriesIdentity],
                                                           list[SeriesMeta], int]:
        if wire_key:
            cached = self._cache.get(wire_key)
            if cached is not None and cached[0] == blob:
                return cached[1], cached[2], cached[3]
        identities, metas = _unpack_series(blob, self._canonical)
        self.counters["series_blobs_unpacked"] += 1
        if not wire_key:
            return identities, metas, 0
        local_key = next(self._local_keys)
        self._cache.put(wire_key, (blob, identities, metas, local_key), len(blob))
        return identities, metas, local_key

    def decode(self, payload: bytes) -> list[DecodedMetrics]:
        """Every frame of ``payload``; FrameError when it is malformed."""
        try:
            frames = msgpack.unpackb(payload, raw=False, use_list=True, strict_map_key=False)
            blobs: list[bytes] = []
            out = []
            for frame in frames:
                if isinstance(frame[1], int):       # the blob of an earlier frame
                    if not 0 <= frame[1] < len(blobs):
                        raise FrameError(f"frame refers to a missing series blob {frame[1]}")
                    frame[1] = blobs[frame[1]]
                blobs.append(bytes(frame[1]))
                out.append(self._frame(frame))
            return out
        except FrameError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException) as exc:
            raise FrameError(f"malformed metric_points payload: {type(exc).__name__}: {exc}") \
                from exc

    def _frame(self, frame: list[Any]) -> DecodedMetrics:
        (wire_key, blob, columns, bounds, extras, extra_rows, points_seen, no_recorded,
         rejected) = frame
        if len(columns) != len(_COLUMNS):
            raise FrameError(f"frame has {len(columns)} columns, expected {len(_COLUMNS)}")
        arrays = {name: np.frombuffer(raw, dtype=dtype)
                  for (name, dtype), raw in zip(_COLUMNS, columns, strict=True)}
        identities, metas, local_key = self._series(int(wire_key), bytes(blob))
        rows = len(arrays["series"])
        if any(len(arrays[n]) != rows for n in ("time_ns", "start_ns", "value")) or (
                rows and int(arrays["series"].max()) >= len(identities)):
            raise FrameError("frame columns disagree with each other or with its series")
        self.counters["frames_decoded"] += 1
        return DecodedMetrics(
            identities=identities, metas=metas, extra_rows=[int(r) for r in extra_rows],
            hist_bounds=[tuple(float(x) for x in b) for b in bounds],
            extra=[_unpack_extra(e) for e in extras], points_seen=int(points_seen),
            no_recorded_value=int(no_recorded),
            rejected={str(k): int(v) for k, v in rejected.items()}, shape_key=local_key,
            **arrays)
