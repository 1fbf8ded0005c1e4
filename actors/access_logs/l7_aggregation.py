"""Per-window L7 aggregation of access-log entries with latency quantiles and a counted overflow.

Owns the L7 summary the cloud receives. Key = (reporter, source ns/kind/name, destination
ns/kind/name, port, protocol, method, normalized path, response-code class); ``reporter``
(source = outbound view, destination = inbound view) keeps the two sidecars' views of one request
apart, so summing one reporter never double-counts. Per key: count, request/response bytes,
errors (5xx, no response, or a non-zero gRPC status; for TCP any response flag), Envoy
response-flag counts, first/last start time, and latency p50/p95/p99 from a ``LatencySketch``
(±2 % relative error, ≤ 256 buckets per key). Intermediate entries (periodic and "upstream
connected" logs of long streams) are counted but not aggregated: the final entry of the same
stream carries the totals. At most ``max_keys`` keys per window; entries with a new key past that
go to one overflow bucket (counted).

Two ways in, one table: ``add(peers, entry)`` for decoded ``AccessLogEntry`` values, and
``l7_extraction.MessageFolder`` straight from a parsed ALS message. Inside, the
(reporter, source, destination, port) part of a key is interned to a small int (``peer_id``), a
slot is a slotted object, and latencies are appended to a flat ``array('d')`` per slot and folded
into the sketch with numpy at flush (or once ``max_pending_latencies`` wait). ``flush()`` swaps
tables and never blocks; ``unknown_peer_entries`` counts aggregated entries with an ``Unknown``
peer.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from actors.access_logs.als_codec import AccessLogEntry
from actors.access_logs.latency_sketch import LatencySketch, add_many_each
from actors.access_logs.path_normalization import PathNormalizer
from actors.access_logs.workload_mapping import MappedPeers, WorkloadRef
from messages.access_logs import AccessLogRecordsAggregated
from messages.codec import pack_records

__all__ = ["CODE_CLASSES", "L7Aggregator", "L7Slot", "L7Window", "code_class"]

_KEY_FIELDS = ("reporter", "source_namespace", "source_kind", "source_name",
               "destination_namespace", "destination_kind", "destination_name", "port",
               "protocol", "method", "path", "code_class")
# (peer_id, protocol, method, normalized path, code class)
L7SlotKey = tuple[int, str, str, str, str]
_OVERFLOW_PEERS = MappedPeers("", WorkloadRef("", "Overflow", ""),
                              WorkloadRef("", "Overflow", ""), 0)
CODE_CLASSES = ["none"] + [f"{code // 100}xx" for code in range(1, 1000)]


def code_class(entry: AccessLogEntry) -> str:
    if entry.kind != "http":
        return ""
    code = entry.response_code
    return CODE_CLASSES[code] if code < 1000 else f"{code // 100}xx"


def _is_error(entry: AccessLogEntry) -> bool:
    if entry.kind == "http":
        return (entry.response_code == 0 or entry.response_code >= 500
                or entry.grpc_status not in ("", "0"))
    return bool(entry.response_flags)


class L7Slot:
    """One key's running totals; ``latencies`` waits to be folded into ``sketch``."""

    __slots__ = ("count", "errors", "first_start_ns", "flags", "last_start_ns", "latencies",
                 "request_bytes", "response_bytes", "sketch")

    def __init__(self, start_ns: int) -> None:
        self.count = self.errors = self.request_bytes = self.response_bytes = 0
        self.first_start_ns = self.last_start_ns = start_ns
        self.flags: collections.Counter[str] | None = None
        self.latencies = array.array("d")
        self.sketch = LatencySketch()



def _fold_latencies(slots: list[L7Slot]) -> None:
    """Move every slot's waiting latencies into its sketch (one numpy pass for all)."""
    waiting = [slot for slot in slots if slot.latencies]
    add_many_each([slot.sketch for slot in waiting], [slot.latencies for slot in waiting])
    for slot in waiting:
        slot.latencies = array.array("d")


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
                 clock: Callable[[], float] = time.time,
                 max_pending_latencies: int = 1_000_000) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.max_keys = max_keys
        self.max_path_segments = max_path_segments
        self.max_pending_latencies = max_pending_latencies
        self._clock = clock
        self.slots: dict[L7SlotKey, L7Slot] = {}
        self.counters: collections.Counter[str] = collections.Counter()
        self._window_start = clock()
        self.normalize_path = PathNormalizer(max_segments=max_path_segments)
        self.peer_ids: dict[MappedPeers, int] = {}
        self.peers: list[MappedPeers] = []
        self.pending_latencies = 0
        self.peer_generation = 0        # bumped when interned peer ids are forgotten
        self.peer_id(_OVERFLOW_PEERS)   # id 0: the overflow bucket

    def __len__(self) -> int:
        return len(self.slots)

    def peer_id(self, peers: MappedPeers) -> int:
        """The small int standing for (reporter, source, destination, port) in slot keys."""
        known = self.peer_ids.get(peers)
        if known is None:
            known = self.peer_ids[peers] = len(self.peers)
            self.peers.append(peers)
        return known

    def new_slot(self, key: L7SlotKey, start_ns: int) -> L7Slot:
        """The slot for a key not yet in the table, or the overflow slot past ``max_keys``."""
        slots = self.slots
        if len(slots) >= self.max_keys:
            self.counters["overflow_entries"] += 1
            key = (0, "", "", "", "")
            slot = slots.get(key)
            if slot is not None:
                return slot
        slot = slots[key] = L7Slot(start_ns)
        return slot

    def add(self, peers: MappedPeers, entry: AccessLogEntry) -> None:
        counters = self.counters
        counters["entries_in"] += 1
        if entry.intermediate:
            counters["intermediate_entries"] += 1
            return
        key = (self.peer_id(peers), entry.protocol, entry.method,
               self.normalize_path(entry.path) if entry.path else "", code_class(entry))
        start_ns = entry.start_ns
        slot = self.slots.get(key) or self.new_slot(key, start_ns)
        counters["entries_aggregated"] += 1
        slot.count += 1
        slot.request_bytes += entry.request_bytes
        slot.response_bytes += entry.response_bytes
        if _is_error(entry):
            slot.errors += 1
        if entry.response_flags:
            flags = slot.flags
            if flags is None:
                flags = slot.flags = collections.Counter()
            flags.update(entry.response_flags)
        if entry.duration_ms >= 0:
            slot.latencies.append(entry.duration_ms)
            self.latencies_added(1)
        else:
            counters["entries_without_duration"] += 1
        if start_ns < slot.first_start_ns:
            slot.first_start_ns = start_ns
        if start_ns > slot.last_start_ns:
            slot.last_start_ns = start_ns

    def latencies_added(self, count: int) -> None:
        self.pending_latencies += count
        if self.pending_latencies >= self.max_pending_latencies:
            _fold_latencies(list(self.slots.values()))
            self.pending_latencies = 0

    def flush(self) -> L7Window:
        slots, self.slots = self.slots, {}
        counters, self.counters = self.counters, collections.Counter()
        start, self._window_start = self._window_start, self._clock()
        self.pending_latencies = 0
        peers = self.peers
        records = []
        unknown = 0
        _fold_latencies(list(slots.values()))
        for (peer_id, protocol, method, path, klass), slot in slots.items():
            reporter, source, destination, port = peers[peer_id]
            if "Unknown" in (source.kind, destination.kind):
                unknown += slot.count
            latency = slot.sketch
            p50, p95, p99 = latency.quantiles(0.50, 0.95, 0.99)
            record: dict[str, Any] = dict(zip(_KEY_FIELDS, (
                reporter, *source, *destination, port, protocol, method, path, klass),
                strict=True))
            record.update(
                count=slot.count, errors=slot.errors, request_bytes=slot.request_bytes,
                response_bytes=slot.response_bytes, response_flags=dict(slot.flags or {}),
                latency_count=latency.count, latency_p50_ms=round(p50, 3),
                latency_p95_ms=round(p95, 3), latency_p99_ms=round(p99, 3),
                latency_max_ms=round(latency.max_ms, 3),
                first_start_ns=slot.first_start_ns, last_start_ns=slot.last_start_ns)
            records.append(record)
        if len(self.peers) > 8 * self.max_keys:  # interned peers are bounded across windows
            self.peer_ids.clear()
            self.peers.clear()
            self.peer_id(_OVERFLOW_PEERS)
            self.peer_generation += 1
        counters["keys"] = len(records)
        if unknown:
            counters["unknown_peer_entries"] = unknown
        return L7Window(start_s=start, end_s=self._window_start, records=records,
                        counters=dict(counters))
