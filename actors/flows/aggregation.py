"""Per-window L3/L4 flow aggregation with a bounded key space and a counted overflow.

Owns the answer to "who talked to whom, how, and was it allowed" for one window. The key is
(source namespace, source kind, source name, destination namespace, destination kind,
destination name, destination port, L4 protocol, direction, verdict, drop reason) — never the
source port (the anchor's mistake). Peers without a workload fall back to pod, then destination
service, then reserved/FQDN identity labels, then the numeric identity. First/last seen come from
the flows' OWN times. At most ``max_keys`` keys live per window; flows with a new key past that
go to one overflow bucket (counted, never silently lost). ``flush()`` swaps the table out and
returns plain dict records plus counters: it never blocks and never waits for a consumer.
Hot path: ``add_many`` takes a ``DecodedFlows`` batch (plain records are wrapped into one) and
links each ``FlowShape`` to its entry once per window (key, policies, reply or overflow decided
then), so a flow costs one identity-hashed lookup, a count and a min/max of its time. The
link table is a cache (at most ``LINK_LIMIT`` shapes, cleared when full).
Plain logic: no sockets, no threads, no clocks except the one injected.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from actors.flows.flow_records import DecodedFlows, EndpointInfo, FlowRecord, FlowShape
from messages.codec import pack_records
from messages.flows import FlowRecordsAggregated

__all__ = ["LINK_LIMIT", "OVERFLOW_KIND", "FlowAggregator", "FlowWindow", "flow_key",
           "peer_identity"]

OVERFLOW_KIND = "Overflow"
LINK_LIMIT = 65_536             # shapes linked to their entry per window (a cache)
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
        self._links: dict[FlowShape, _Entry] = {}   # shape -> its entry (or the replies')
        self._replies = _Entry(0, 0, 0, set(), set(), "")   # counts skipped replies only
        self._flows_in = 0
        self._window_start = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, record: FlowRecord) -> None:
        self.add_many((record,))

    def add_many(self, records: Iterable[FlowRecord]) -> None:
        """Count each flow under its key (hot path: one lookup per flow, locals only)."""
        flows = records if isinstance(records, DecodedFlows) else DecodedFlows.of(records)
        linked = self._links.get
        for shape, time_ns in zip(flows.shapes, flows.times, strict=True):
            entry = linked(shape)
            if entry is None:
                entry = self._link(shape, time_ns)
            entry.count += 1
            if time_ns < entry.first_seen_ns:
                entry.first_seen_ns = time_ns
            elif time_ns > entry.last_seen_ns:
                entry.last_seen_ns = time_ns
        self._flows_in += len(flows.times)

    def _link(self, shape: FlowShape, time_ns: int) -> _Entry:
        """The entry every flow of ``shape`` counts in this window: the replies' counter, the
        key's entry (its policies merged now, once), or the overflow bucket when full."""
        record = shape.record
        if self.skip_replies and record.is_reply:
            entry = self._replies
        else:
            key = flow_key(record)
            entry = self._entries.get(key) or self._new_entry(key, record, time_ns)
            if record.allowed_by:
                entry.allowed_by.update(record.allowed_by)
            if record.denied_by:
                entry.denied_by.update(record.denied_by)
        if len(self._links) >= LINK_LIMIT:
            self._links.clear()
        self._links[shape] = entry
        return entry

    def _new_entry(self, key: FlowKey, record: FlowRecord, time_ns: int) -> _Entry:
        """The entry for a key not in the table: a new one, or the overflow bucket when full
        (a key missing from a full table stays missing until the window ends)."""
        service = record.destination_service
        if len(self._entries) >= self.max_keys:
            key, service = _OVERFLOW_KEY, ""
            entry = self._entries.get(key)
            if entry is not None:
                return entry
        entry = self._entries[key] = _Entry(0, time_ns, time_ns, set(), set(), service)
        return entry

    def flush(self) -> FlowWindow:
        """Hand over this window's records and counters and start an empty window."""
        entries, self._entries = self._entries, {}
        self._links = {}
        replies, self._replies = self._replies.count, _Entry(0, 0, 0, set(), set(), "")
        flows_in, self._flows_in = self._flows_in, 0
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
        counters = {"flows_in": flows_in, "flows_aggregated": flows_in - replies}
        if replies:
            counters["replies_skipped"] = replies
        overflow = entries.get(_OVERFLOW_KEY)
        if overflow is not None:
            counters["overflow_flows"] = overflow.count
        counters["keys"] = len(records)
        return FlowWindow(start_s=start, end_s=self._window_start, records=records,
                          counters=counters)
