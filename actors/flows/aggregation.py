"""Per-window L3/L4 flow aggregation with a bounded key space and a counted overflow.

Owns the answer to "who talked to whom, how, and was it allowed" for one window. The key is
(source namespace, source kind, source name, destination namespace, destination kind,
destination name, destination port, L4 protocol, direction, verdict, drop reason) — never the
source port (the anchor's mistake). Peers without a workload fall back to pod, then destination
service, then reserved/FQDN identity labels, then the numeric identity. First/last seen come from
the flows' OWN times. At most ``max_keys`` keys live per window; flows with a new key past that
go to one overflow bucket (counted, never silently lost). ``flush()`` swaps the table out and
returns plain dict records plus counters: it never blocks and never waits for a consumer.
Plain logic: no sockets, no threads, no clocks except the one injected.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from actors.flows.flow_codec import EndpointInfo, FlowRecord
from messages.codec import pack_records
from messages.flows import FlowRecordsAggregated

__all__ = ["OVERFLOW_KIND", "FlowAggregator", "FlowWindow", "flow_key", "peer_identity"]

OVERFLOW_KIND = "Overflow"
_RESERVED_PREFIXES = ("reserved:", "fqdn:", "cidr:")

FlowKey = tuple[str, str, str, str, str, str, int, str, str, str, str]


def peer_identity(endpoint: EndpointInfo, service: str = "") -> tuple[str, str, str]:
    """(namespace, kind, name) naming a peer with bounded cardinality (no IPs, no ports)."""
    if endpoint.workload_name:
        return endpoint.namespace, endpoint.workload_kind or "Workload", endpoint.workload_name
    if endpoint.pod:
        return endpoint.namespace, "Pod", endpoint.pod
    if service:
        namespace, _, name = service.partition("/")
        return namespace, "Service", name
    special = sorted(label for label in endpoint.labels if label.startswith(_RESERVED_PREFIXES))
    if special:
        fqdn = [label.removeprefix("fqdn:") for label in special if label.startswith("fqdn:")]
        if fqdn:
            return "", "FQDN", fqdn[0]
        return "", "Reserved", "|".join(label.partition(":")[2] for label in special)
    if endpoint.identity:
        return endpoint.namespace, "Identity", str(endpoint.identity)
    return endpoint.namespace, "Unknown", ""


_PEERS: dict[tuple[EndpointInfo, str], tuple[str, str, str]] = {}


def _peer(endpoint: EndpointInfo, service: str) -> tuple[str, str, str]:
    """Memoized ``peer_identity`` (endpoints repeat; the memo resets past 16,384 entries)."""
    memo_key = (endpoint, service)
    found = _PEERS.get(memo_key)
    if found is None:
        if len(_PEERS) >= 16_384:
            _PEERS.clear()
        found = _PEERS[memo_key] = peer_identity(endpoint, service)
    return found


def flow_key(record: FlowRecord) -> FlowKey:
    source, destination = record.source, record.destination
    if source.workload_name and destination.workload_name:  # the common case, memo-free
        return (source.namespace, source.workload_kind or "Workload", source.workload_name,
                destination.namespace, destination.workload_kind or "Workload",
                destination.workload_name, record.destination_port, record.l4_protocol,
                record.traffic_direction, record.verdict, record.drop_reason)
    return (*_peer(source, ""), *_peer(destination, record.destination_service),
            record.destination_port, record.l4_protocol, record.traffic_direction,
            record.verdict, record.drop_reason)


_KEY_FIELDS = ("source_namespace", "source_kind", "source_name", "destination_namespace",
               "destination_kind", "destination_name", "destination_port", "l4_protocol",
               "direction", "verdict", "drop_reason")
_OVERFLOW_KEY: FlowKey = ("", OVERFLOW_KIND, "", "", OVERFLOW_KIND, "", 0, "", "", "", "")


@dataclasses.dataclass(slots=True)
class _Entry:
    count: int
    first_seen_ns: int
    last_seen_ns: int
    allowed_by: set[str]
    denied_by: set[str]
    destination_service: str


@dataclasses.dataclass(frozen=True, slots=True)
class FlowWindow:
    """What one flush hands over: records (plain dicts, msgpack-ready) and window counters."""

    start_s: float
    end_s: float
    records: list[dict[str, Any]]
    counters: dict[str, int]

    def to_message(self, shard_index: int = 0) -> FlowRecordsAggregated:
        """The window as the actor message for the uplink (records packed with msgpack)."""
        return FlowRecordsAggregated(
            window_start_s=self.start_s, window_end_s=self.end_s,
            record_count=len(self.records), payload=pack_records(self.records),
            counters=tuple(sorted(self.counters.items())), shard_index=shard_index)


class FlowAggregator:
    """Counts flows per key for the current window; ``flush`` starts a new window."""

    def __init__(self, *, max_keys: int = 20_000, skip_replies: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.max_keys = max_keys
        self.skip_replies = skip_replies
        self._clock = clock
        self._entries: dict[FlowKey, _Entry] = {}
        self._counters: collections.Counter[str] = collections.Counter()
        self._window_start = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, record: FlowRecord) -> None:
        self.add_many((record,))

    def add_many(self, records: Iterable[FlowRecord]) -> None:
        """Count each record under its key (hot path: locals only, counters summed once)."""
        entries, skip_replies = self._entries, self.skip_replies
        flows_in = replies = 0
        for record in records:
            flows_in += 1
            if skip_replies and record.is_reply:
                replies += 1
                continue
            entry = entries.get(flow_key(record))
            if entry is None:
                entry = self._new_entry(record)
            time_ns = record.time_ns
            entry.count += 1
            if time_ns < entry.first_seen_ns:
                entry.first_seen_ns = time_ns
            elif time_ns > entry.last_seen_ns:
                entry.last_seen_ns = time_ns
            if record.allowed_by:
                entry.allowed_by.update(record.allowed_by)
            if record.denied_by:
                entry.denied_by.update(record.denied_by)
        counters = self._counters
        counters["flows_in"] += flows_in
        counters["flows_aggregated"] += flows_in - replies
        if replies:
            counters["replies_skipped"] += replies

    def _new_entry(self, record: FlowRecord) -> _Entry:
        """The entry for a key not in the table: a new one, or the overflow bucket when full."""
        key = flow_key(record)
        if len(self._entries) >= self.max_keys:
            self._counters["overflow_flows"] += 1
            key = _OVERFLOW_KEY
            entry = self._entries.get(key)
            if entry is not None:
                return entry
        service = "" if key is _OVERFLOW_KEY else record.destination_service
        entry = self._entries[key] = _Entry(0, record.time_ns, record.time_ns, set(), set(),
                                            service)
        return entry

    def flush(self) -> FlowWindow:
        """Hand over this window's records and counters and start an empty window."""
        entries, self._entries = self._entries, {}
        counters, self._counters = self._counters, collections.Counter()
        start, self._window_start = self._window_start, self._clock()
        records = []
        for key, entry in entries.items():
            record: dict[str, Any] = dict(zip(_KEY_FIELDS, key, strict=True))
            record.update(count=entry.count, first_seen_ns=entry.first_seen_ns,
                          last_seen_ns=entry.last_seen_ns,
                          allowed_by=sorted(entry.allowed_by),
                          denied_by=sorted(entry.denied_by),
                          destination_service=entry.destination_service)
            records.append(record)
        counters["keys"] = len(records)
        return FlowWindow(start_s=start, end_s=self._window_start, records=records,
                          counters=dict(counters))
