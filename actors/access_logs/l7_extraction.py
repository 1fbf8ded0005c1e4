"""Parsed ALS message → L7 aggregation, reading only the fields the aggregation needs.

Owns the hot path of access logs: ``MessageFolder.fold`` walks a parsed
``StreamAccessLogsMessage`` (upb) once and adds every entry straight to the ``L7Aggregator``'s
slots, with the same keys and numbers as ``als_codec`` + ``WorkloadMapper.map`` +
``L7Aggregator.add`` (the unit tests compare the two on every fixture) but without building an
``AccessLogEntry`` or ``MappedPeers`` per entry: every upb attribute read costs ~0.1-0.3 µs, so
each is read once and only where it can change the result.

The peers part of a key comes from ``l7_routes.RouteResolver`` (memoized per stream identity by
the upstream cluster and the relevant peer's filter-state bytes where those decide it, else
``WorkloadMapper.map`` per entry). Whole messages are screened on their serialized bytes: without
``_peer`` no entry carries Istio peer filter state, without ``grpc-status`` no entry has that
trailer (map keys are stored verbatim), so neither is read per entry. Unknown numbers of the
enums a key is made of (request method, protocol version) are counted in the window counters
(``unknown_enum_values.<field>``) and kept as ``UNKNOWN_<n>``; ``access_log_type`` is not read
here (the aggregation has no use for it). Never raises on message content.
"""

from __future__ import annotations

import collections
from typing import Any

from actors.access_logs.als_codec import HTTP_VERSIONS, METHODS
from actors.access_logs.als_fields import duration_ms, response_flags
from actors.access_logs.l7_aggregation import CODE_CLASSES, L7Aggregator, L7Slot
from actors.access_logs.l7_routes import RouteResolver
from actors.access_logs.workload_mapping import ProxyIdentity, WorkloadMapper

__all__ = ["MessageFolder"]


def _enum_name(counters: Any, table: dict[int, str], number: int, what: str) -> str:
    name = table.get(number)
    if name is None:
        counters[f"unknown_enum_values.{what}"] += 1
        return f"UNKNOWN_{number}"
    return name


class MessageFolder:
    """Folds parsed ALS messages of many streams into one aggregator (one consumer thread)."""

    def __init__(self, aggregator: L7Aggregator, mapper: WorkloadMapper) -> None:
        self.aggregator = aggregator
        self.mapper = mapper
        self.routes = RouteResolver(aggregator, mapper)

    def fold(self, identity: ProxyIdentity, message: Any, raw: bytes) -> int:
        """Add every entry of ``message`` (parsed from ``raw``); returns how many it had."""
        kind = message.WhichOneof("log_entries")
        if kind == "http_logs":
            return self._http(identity, message.http_logs.log_entry, raw)
        if kind == "tcp_logs":
            return self._tcp(identity, message.tcp_logs.log_entry, raw)
        return 0

    def _http(self, identity: ProxyIdentity, entries: Any, raw: bytes) -> int:
        aggregator = self.aggregator
        counters, slots, new_slot = aggregator.counters, aggregator.slots, aggregator.new_slot
        normalize, code_classes = aggregator.normalize_path, CODE_CLASSES
        has_states = b"_peer" in raw
        memo, resolve = self.routes.for_stream(identity, has_states)
        trailers = b"grpc-status" in raw
        methods, versions = METHODS, HTTP_VERSIONS
        intermediate = without_duration = 0
        for entry in entries:
            common = entry.common_properties
            if common.intermediate_log_entry:
                intermediate += 1
                continue
            request, response = entry.request, entry.response
            cluster = common.upstream_cluster
            peer_id = -1 if has_states else memo.get(cluster, -1)
            if peer_id < 0:
                peer_id = resolve(common, request, cluster)
            number = request.request_method
            method = methods.get(number) or _enum_name(counters, methods, number,
                                                       "request_method")
            version = entry.protocol_version
            protocol = versions.get(version) or _enum_name(counters, versions, version,
                                                           "protocol_version")
            grpc_status = ""
            if trailers and version >= 3:  # gRPC needs HTTP/2+: its status is in trailers
                grpc_status = response.response_trailers.get("grpc-status", "")
                if grpc_status:
                    protocol = "gRPC"
            code = response.response_code.value  # absent (no response sent) reads as 0
            path = request.path
            key = (peer_id, protocol, method, normalize(path) if path else "",
                   code_classes[code] if code < 1000 else f"{code // 100}xx")
            start = common.start_time
            start_ns = start.seconds * 1_000_000_000 + start.nanos
            slot = slots.get(key) or new_slot(key, start_ns)
            slot.count += 1
            slot.request_bytes += request.request_body_bytes
            slot.response_bytes += response.response_body_bytes
            if code == 0 or code >= 500 or (grpc_status and grpc_status != "0"):
                slot.errors += 1
            if common.HasField("response_flags"):
                self._flags(slot, response_flags(common))
            duration = common.duration
            ms = duration.seconds * 1000.0 + duration.nanos / 1e6
            if ms == 0.0:
                ms = duration_ms(common)
            if ms >= 0:
                slot.latencies.append(ms)
            else:
                without_duration += 1
            if start_ns < slot.first_start_ns:
                slot.first_start_ns = start_ns
            elif start_ns > slot.last_start_ns:
                slot.last_start_ns = start_ns
        return self._counted(len(entries), intermediate, without_duration)

    def _tcp(self, identity: ProxyIdentity, entries: Any, raw: bytes) -> int:
        aggregator = self.aggregator
        slots, new_slot = aggregator.slots, aggregator.new_slot
        has_states = b"_peer" in raw
        memo, resolve = self.routes.for_stream(identity, has_states)
        intermediate = without_duration = 0
        for entry in entries:
            common = entry.common_properties
            if common.intermediate_log_entry:
                intermediate += 1
                continue
            cluster = common.upstream_cluster
            peer_id = -1 if has_states else memo.get(cluster, -1)
            if peer_id < 0:
                peer_id = resolve(common, None, cluster)
            key = (peer_id, "TCP", "", "", "")
            start = common.start_time
            start_ns = start.seconds * 1_000_000_000 + start.nanos
            slot = slots.get(key) or new_slot(key, start_ns)
            slot.count += 1
            connection = entry.connection_properties
            slot.request_bytes += connection.received_bytes
            slot.response_bytes += connection.sent_bytes
            if common.HasField("response_flags"):
                flags = response_flags(common)
                if flags:
                    slot.errors += 1
                    self._flags(slot, flags)
            ms = duration_ms(common)
            if ms >= 0:
                slot.latencies.append(ms)
            else:
                without_duration += 1
            if start_ns < slot.first_start_ns:
                slot.first_start_ns = start_ns
            elif start_ns > slot.last_start_ns:
                slot.last_start_ns = start_ns
        return self._counted(len(entries), intermediate, without_duration)

    @staticmethod
    def _flags(slot: L7Slot, flags: tuple[str, ...]) -> None:
        if flags:
            if slot.flags is None:
                slot.flags = collections.Counter()
            slot.flags.update(flags)

    def _counted(self, total: int, intermediate: int, without_duration: int) -> int:
        counters = self.aggregator.counters
        counters["entries_in"] += total
        counters["entries_aggregated"] += total - intermediate
        if intermediate:
            counters["intermediate_entries"] += intermediate
        if without_duration:
            counters["entries_without_duration"] += without_duration
        self.aggregator.latencies_added(total - intermediate - without_duration)
        return total
