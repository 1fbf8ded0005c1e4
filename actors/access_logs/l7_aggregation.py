"""Per-window L7 aggregation of access-log entries with latency quantiles and a counted overflow.

Owns the L7 summary the cloud receives. Key = (reporter, source ns/kind/name, destination
ns/kind/name, port, protocol, method, normalized path, response-code class); ``reporter``
(source = outbound view, destination = inbound view) keeps the two sidecars' views of one request
apart, so summing one reporter never double-counts. Per key: count, request/response bytes,
errors (5xx, no response, or a non-zero gRPC status), Envoy response-flag counts, and latency
p50/p95/p99 from a ``LatencySketch`` (±2 % relative error, ≤ 256 buckets per key).
Intermediate entries (periodic and "upstream connected" logs of long streams) are counted but
not aggregated: the final entry of the same stream carries the totals. At most ``max_keys`` keys
per window; entries with a new key past that go to one overflow bucket (counted). ``flush()``
swaps tables and never blocks.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from actors.access_logs.als_codec import AccessLogEntry
from actors.access_logs.latency_sketch import LatencySketch
from actors.access_logs.path_normalization import normalize_path
from actors.access_logs.workload_mapping import MappedPeers
from messages.access_logs import AccessLogRecordsAggregated
from messages.codec import pack_records

__all__ = ["L7Aggregator", "L7Window", "code_class"]

_KEY_FIELDS = ("reporter", "source_namespace", "source_kind", "source_name",
               "destination_namespace", "destination_kind", "destination_name", "port",
               "protocol", "method", "path", "code_class")
L7Key = tuple[str, str, str, str, str, str, str, int, str, str, str, str]
_OVERFLOW_KEY: L7Key = ("", "", "Overflow", "", "", "Overflow", "", 0, "", "", "", "")


def code_class(entry: AccessLogEntry) -> str:
    if entry.kind != "http":
        return ""
    if entry.response_code == 0:
        return "none"
    return f"{entry.response_code // 100}xx"


def _is_error(entry: AccessLogEntry) -> bool:
    if entry.kind == "http":
        return (entry.response_code == 0 or entry.response_code >= 500
                or entry.grpc_status not in ("", "0"))
    return bool(entry.response_flags)


@dataclasses.dataclass(slots=True)
class _Entry:
    count: int = 0
    errors: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    flags: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    latency: LatencySketch = dataclasses.field(default_factory=LatencySketch)
    first_start_ns: int = 0
    last_start_ns: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class L7Window:
    """What one flush hands over: records (plain dicts, msgpack-ready) and window counters."""

    start_s: float
    end_s: float
    records: list[dict[str, Any]]
    counters: dict[str, int]

    def to_message(self) -> AccessLogRecordsAggregated:
        """The window as the actor message for the uplink (records packed with msgpack)."""
        return AccessLogRecordsAggregated(
            window_start_s=self.start_s, window_end_s=self.end_s,
            record_count=len(self.records), payload=pack_records(self.records),
            counters=tuple(sorted(self.counters.items())))


class L7Aggregator:
    """Aggregates mapped entries for the current window; ``flush`` starts a new one."""

    def __init__(self, *, max_keys: int = 10_000, max_path_segments: int = 8,
                 clock: Callable[[], float] = time.time) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.max_keys = max_keys
        self.max_path_segments = max_path_segments
        self._clock = clock
        self._entries: dict[L7Key, _Entry] = {}
        self._counters: collections.Counter[str] = collections.Counter()
        self._window_start = clock()
        self._paths: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _path(self, path: str) -> str:
        normalized = self._paths.get(path)
        if normalized is None:
            normalized = normalize_path(path, max_segments=self.max_path_segments)
            if len(self._paths) >= 4096:
                self._paths.clear()
            self._paths[path] = normalized
        return normalized

    def add(self, peers: MappedPeers, entry: AccessLogEntry) -> None:
        counters = self._counters
        counters["entries_in"] += 1
        if entry.intermediate:
            counters["intermediate_entries"] += 1
            return
        src, dst = peers.source, peers.destination
        key = (peers.reporter, src.namespace, src.kind, src.name, dst.namespace, dst.kind,
               dst.name, peers.port, entry.protocol, entry.method,
               self._path(entry.path) if entry.path else "", code_class(entry))
        slot = self._entries.get(key)
        if slot is None:
            if len(self._entries) >= self.max_keys:
                counters["overflow_entries"] += 1
                key = _OVERFLOW_KEY
                slot = self._entries.get(key)
            if slot is None:
                slot = self._entries[key] = _Entry(first_start_ns=entry.start_ns,
                                                   last_start_ns=entry.start_ns)
        counters["entries_aggregated"] += 1
        slot.count += 1
        slot.request_bytes += entry.request_bytes
        slot.response_bytes += entry.response_bytes
        if _is_error(entry):
            slot.errors += 1
        for flag in entry.response_flags:
            slot.flags[flag] += 1
        if entry.duration_ms >= 0:
            slot.latency.add(entry.duration_ms)
        else:
            counters["entries_without_duration"] += 1
        if entry.start_ns < slot.first_start_ns:
            slot.first_start_ns = entry.start_ns
        if entry.start_ns > slot.last_start_ns:
            slot.last_start_ns = entry.start_ns

    def flush(self) -> L7Window:
        entries, self._entries = self._entries, {}
        counters, self._counters = self._counters, collections.Counter()
        start, self._window_start = self._window_start, self._clock()
        records = []
        for key, slot in entries.items():
            record: dict[str, Any] = dict(zip(_KEY_FIELDS, key, strict=True))
            latency = slot.latency
            record.update(
                count=slot.count, errors=slot.errors, request_bytes=slot.request_bytes,
                response_bytes=slot.response_bytes, response_flags=dict(slot.flags),
                latency_count=latency.count,
                latency_p50_ms=round(latency.quantile(0.50), 3),
                latency_p95_ms=round(latency.quantile(0.95), 3),
                latency_p99_ms=round(latency.quantile(0.99), 3),
                latency_max_ms=round(latency.max_ms, 3),
                first_start_ns=slot.first_start_ns, last_start_ns=slot.last_start_ns)
            records.append(record)
        counters["keys"] = len(records)
        return L7Window(start_s=start, end_s=self._window_start, records=records,
                        counters=dict(counters))
