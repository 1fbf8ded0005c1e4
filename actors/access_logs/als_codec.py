"""StreamAccessLogsMessage → plain L7/L4 access-log entries, with per-stream identity.

Owns the translation from Envoy's ALS wire types into ``AccessLogEntry`` tuples. Envoy sends the
``identifier`` (node + log name) ONLY in a stream's first message, so one ``AlsStreamDecoder``
lives per stream and keeps the ``ProxyIdentity``. HTTP entries carry method, authority, path,
response code (0 when Envoy sent none), gRPC status, Envoy's short response flags, body bytes,
duration (``duration``, else ``time_to_last_downstream_tx_byte``) and the protocol; TCP entries
carry received/sent bytes. Errors are values, not crashes: an undecodable frame or a first
message without identifier raises ``AlsProtocolError`` (the server turns it into a clear
INVALID_ARGUMENT status) and is counted; enum numbers this schema does not know are counted and
kept as ``UNKNOWN_<n>``.

``parse`` is the cheap half the ALS server runs on its event loop: parse, identify, count, but no
per-entry work; the consumer folds the parsed message straight into the aggregation
(``l7_extraction``) or, for tests and replays, ``entries(message)`` makes the tuples.
The per-field readers both use (flags, duration, peer principal, Istio peer state) live in
``als_fields``.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, NamedTuple

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from actors.access_logs.als_fields import duration_ms, peer_principal, peer_state, response_flags
from actors.access_logs.workload_mapping import ProxyIdentity, proxy_identity
from messages.wire.envoy.config.core.v3 import base_pb2
from messages.wire.envoy.data.accesslog.v3 import accesslog_pb2
from messages.wire.envoy.service.accesslog.v3 import als_pb2

__all__ = ["HTTP_VERSIONS", "LOG_TYPES", "METHODS", "AccessLogEntry", "AlsProtocolError",
           "AlsStreamDecoder", "ParsedMessage"]

METHODS = {v.number: v.name for v in base_pb2.RequestMethod.DESCRIPTOR.values}
LOG_TYPES = {v.number: v.name for v in accesslog_pb2.AccessLogType.DESCRIPTOR.values}
HTTP_VERSIONS = {0: "HTTP", 1: "HTTP/1.0", 2: "HTTP/1.1", 3: "HTTP/2", 4: "HTTP/3"}


class AlsProtocolError(ValueError):
    """The stream broke the ALS protocol; ``counter`` names the counter it was charged to."""

    def __init__(self, counter: str, message: str) -> None:
        super().__init__(message)
        self.counter = counter


class AccessLogEntry(NamedTuple):
    """One access-log entry, plain values only (no protobuf objects)."""

    kind: str                 # "http" or "tcp"
    start_ns: int
    duration_ms: float        # -1.0 when Envoy reported no timing
    protocol: str             # HTTP/1.1, HTTP/2, gRPC, TCP ...
    method: str
    authority: str
    path: str
    response_code: int        # 0: no response was sent
    grpc_status: str
    response_flags: tuple[str, ...]
    request_bytes: int
    response_bytes: int
    upstream_cluster: str
    downstream_remote_ip: str
    downstream_local_ip: str
    downstream_local_port: int
    upstream_remote_ip: str
    upstream_remote_port: int
    peer_principal: str       # first URI SAN of the peer certificate (SPIFFE under Istio mTLS)
    downstream_peer: Mapping[str, Any] | None
    upstream_peer: Mapping[str, Any] | None
    access_log_type: str
    intermediate: bool


class ParsedMessage(NamedTuple):
    """One parsed ALS message: which oneof it carries and how many entries."""

    message: als_pb2.StreamAccessLogsMessage
    kind: str                 # "http_logs", "tcp_logs" or "" (no entries)
    size: int                 # entries


class AlsStreamDecoder:
    """Decodes one stream's messages; ``counters`` may be shared across streams."""

    def __init__(self, counters: collections.Counter[str] | None = None) -> None:
        self.counters = counters if counters is not None else collections.Counter()
        self.identity: ProxyIdentity | None = None

    def parse(self, raw: bytes) -> ParsedMessage:
        """Parse and identify one message, count its entries; no per-entry work."""
        try:
            message = als_pb2.StreamAccessLogsMessage.FromString(raw)
        except DecodeError as exc:
            self.counters["malformed_frames"] += 1
            raise AlsProtocolError("malformed_frames",
                                   f"malformed StreamAccessLogsMessage ({len(raw)} bytes): {exc}"
                                   ) from exc
        self.identify(message)
        kind = message.WhichOneof("log_entries")
        if kind == "http_logs":
            count = len(message.http_logs.log_entry)
        elif kind == "tcp_logs":
            count = len(message.tcp_logs.log_entry)
        else:
            self.counters["empty_messages"] += 1
            return ParsedMessage(message, "", 0)
        self.counters[f"{kind}_entries"] += count
        return ParsedMessage(message, kind, count)

    def decode_bytes(self, raw: bytes) -> list[AccessLogEntry]:
        return self.entries(self.parse(raw).message)

    def decode(self, message: als_pb2.StreamAccessLogsMessage) -> list[AccessLogEntry]:
        self.identify(message)
        kind = message.WhichOneof("log_entries")
        if kind:
            self.counters[f"{kind}_entries"] += len(getattr(message, kind).log_entry)
        else:
            self.counters["empty_messages"] += 1
        return self.entries(message)

    def identify(self, message: als_pb2.StreamAccessLogsMessage) -> None:
        """Keep the stream's identity from its first message; raise if it never came."""
        if message.HasField("identifier"):
            if self.identity is not None:
                self.counters["identifier_repeated"] += 1
            node = message.identifier.node
            metadata = json_format.MessageToDict(node.metadata) if node.HasField(
                "metadata") else {}
            self.identity = proxy_identity(node.id, message.identifier.log_name, metadata)
            self.counters["streams_identified"] += 1
        elif self.identity is None:
            self.counters["missing_identifier"] += 1
            raise AlsProtocolError("missing_identifier",
                                   "first StreamAccessLogsMessage of a stream has no identifier")

    def entries(self, message: als_pb2.StreamAccessLogsMessage) -> list[AccessLogEntry]:
        """The message's entries as plain tuples (enum names, peers as dicts)."""
        kind = message.WhichOneof("log_entries")
        if kind == "http_logs":
            return [self._http(e) for e in message.http_logs.log_entry]
        if kind == "tcp_logs":
            return [self._tcp(e) for e in message.tcp_logs.log_entry]
        return []

    def _enum(self, table: dict[int, str], number: int, what: str) -> str:
        name = table.get(number)
        if name is None:
            self.counters[f"unknown_enum_values.{what}"] += 1
            return f"UNKNOWN_{number}"
        return name

    def _common(self, kind: str, common: accesslog_pb2.AccessLogCommon, protocol: str,
                method: str, authority: str, path: str, code: int, grpc_status: str,
                request_bytes: int, response_bytes: int) -> AccessLogEntry:
        flags = response_flags(common) if common.HasField("response_flags") else ()
        duration = duration_ms(common)
        cluster = common.upstream_cluster
        down_peer = up_peer = None
        states = common.filter_state_objects
        if states:
            down_peer = peer_state(states, "downstream_peer", self.counters)[1]
            up_peer = peer_state(states, "upstream_peer", self.counters)[1]
        principal = peer_principal(common, cluster, down_peer)
        down_remote = common.downstream_remote_address.socket_address
        down_local = common.downstream_local_address.socket_address
        up_remote = common.upstream_remote_address.socket_address
        start = common.start_time
        log_type = common.access_log_type
        return AccessLogEntry(
            kind, start.seconds * 1_000_000_000 + start.nanos, duration, protocol, method,
            authority, path, code, grpc_status, flags, request_bytes, response_bytes, cluster,
            down_remote.address, down_local.address, down_local.port_value, up_remote.address,
            up_remote.port_value, principal, down_peer, up_peer,
            LOG_TYPES.get(log_type) or self._enum(LOG_TYPES, log_type, "access_log_type"),
            common.intermediate_log_entry)

    def _http(self, entry: accesslog_pb2.HTTPAccessLogEntry) -> AccessLogEntry:
        request, response = entry.request, entry.response
        number = request.request_method
        method = METHODS.get(number) or self._enum(METHODS, number, "request_method")
        version = entry.protocol_version
        protocol = HTTP_VERSIONS.get(version) or self._enum(HTTP_VERSIONS, version,
                                                             "protocol_version")
        grpc_status = ""
        if version >= 3:  # gRPC needs HTTP/2+: its status is in the trailers
            grpc_status = response.response_trailers.get("grpc-status", "")
            if grpc_status:
                protocol = "gRPC"
        code = response.response_code.value  # absent (no response sent) reads as 0
        return self._common("http", entry.common_properties, protocol, method,
                            request.authority, request.path, code, grpc_status,
                            request.request_body_bytes, response.response_body_bytes)

    def _tcp(self, entry: accesslog_pb2.TCPAccessLogEntry) -> AccessLogEntry:
        connection = entry.connection_properties
        return self._common("tcp", entry.common_properties, "TCP", "", "", "", 0, "",
                            connection.received_bytes, connection.sent_bytes)
