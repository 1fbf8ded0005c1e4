"""Simulated Hubble Relay gRPC server: ``observer.Observer`` GetFlows, GetNodes, ServerStatus.

Owns the relay's behaviour as clients see it: GetFlows honours ``follow``, ``number``, ``since``
and ``until`` and the whitelist/blacklist fields ``node_name`` (glob; a pattern without ``/``
matches the node in any cluster), ``reply`` (upstream semantics: an unknown ``is_reply`` counts
as false only for DROPPED flows) and ``verdict``. Any other filter field is refused with
UNIMPLEMENTED rather than silently ignored. Flows come from a shared ``FlowSequence`` that starts
when the first stream opens, so a restarted server (``stop`` then ``start`` on the same port)
serves the same history and resuming clients can be counted exactly. Which pool slots pass a
filter set is computed once per distinct set; frames are the sequence's pre-stamped bytes, sent
with no serializer.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from messages.wire.relay import relay_pb2
from sim.hubble.flow_source import FlowSequence, PoolEntry

__all__ = ["RelaySimulator", "filter_matches"]

logger = logging.getLogger(__name__)
_SUPPORTED_FILTERS = frozenset({"node_name", "reply", "verdict"})
_FilterKey = tuple[tuple[bytes, ...], tuple[bytes, ...]]   # serialized whitelist, blacklist


def _node_matches(node: str, patterns: Any) -> bool:
    for pattern in patterns:
        full = pattern if "/" in pattern else f"*/{pattern}"
        if fnmatch.fnmatchcase(node, full):
            return True
    return False


def filter_matches(entry: PoolEntry, flow_filter: flow_pb2.FlowFilter) -> bool:
    """True when every field set in ``flow_filter`` matches the frame (non-flows never match
    field filters, as upstream's filters only look at flows)."""
    if flow_filter.node_name and not _node_matches(entry.node_name, flow_filter.node_name):
        return False
    if flow_filter.reply:
        if not entry.is_flow:
            return False
        if entry.is_reply is None and entry.verdict != flow_pb2.DROPPED:
            return False
        if bool(entry.is_reply) not in flow_filter.reply:
            return False
    return not flow_filter.verdict or (entry.is_flow and entry.verdict in flow_filter.verdict)


class RelaySimulator:
    """One relay endpoint; ``start()`` returns the bound port."""

    def __init__(self, sequence: FlowSequence, *, host: str = "127.0.0.1", port: int = 0,
                 max_workers: int = 16, version: str = "1.19.4-sim",
                 server_credentials: grpc.ServerCredentials | None = None) -> None:
        self.sequence = sequence
        self.host, self.port = host, port
        self.max_workers = max_workers
        self.version = version
        self._credentials = server_credentials
        self._server: grpc.Server | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.streams_opened = 0
        self.frames_sent = 0
        self._allowed_by_filters: dict[_FilterKey, list[bool]] = {}

    def start(self) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_workers),
                             options=[("grpc.so_reuseport", 1)])
        handlers = {
            "GetFlows": grpc.unary_stream_rpc_method_handler(
                self._get_flows, request_deserializer=observer_pb2.GetFlowsRequest.FromString,
                response_serializer=None),
            "GetNodes": grpc.unary_unary_rpc_method_handler(
                self._get_nodes, request_deserializer=observer_pb2.GetNodesRequest.FromString,
                response_serializer=observer_pb2.GetNodesResponse.SerializeToString),
            "ServerStatus": grpc.unary_unary_rpc_method_handler(
                self._server_status,
                request_deserializer=observer_pb2.ServerStatusRequest.FromString,
                response_serializer=observer_pb2.ServerStatusResponse.SerializeToString)}
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("observer.Observer", handlers),))
        address = f"{self.host}:{self.port}"
        if self._credentials is not None:
            self.port = server.add_secure_port(address, self._credentials)
        else:
            self.port = server.add_insecure_port(address)
        server.start()
        self._server = server
        return self.port

    def stop(self, grace: float | None = None) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait(10)

    @property
    def nodes(self) -> list[str]:
        return sorted({e.node_name for e in self.sequence.pool if e.is_flow and e.node_name})

    def _get_nodes(self, request: Any, context: grpc.ServicerContext) -> Any:
        return observer_pb2.GetNodesResponse(nodes=[
            observer_pb2.Node(name=name, version=self.version, state=relay_pb2.NODE_CONNECTED,
                              address=f"10.0.0.{i + 1}:4244")
            for i, name in enumerate(self.nodes)])

    def _server_status(self, request: Any, context: grpc.ServicerContext) -> Any:
        seen = self.sequence.available() if self.sequence.started else 0
        status = observer_pb2.ServerStatusResponse(
            num_flows=seen, max_flows=self.sequence.total, seen_flows=seen,
            uptime_ns=int((time.monotonic() - self._started) * 1e9), version=self.version)
        status.num_connected_nodes.value = len(self.nodes)
        status.num_unavailable_nodes.value = 0
        return status

    def _get_flows(self, request: observer_pb2.GetFlowsRequest,
                   context: grpc.ServicerContext) -> Iterator[bytes]:
        for flow_filter in [*request.whitelist, *request.blacklist]:
            unsupported = {f.name for f, _ in flow_filter.ListFields()} - _SUPPORTED_FILTERS
            if unsupported:
                context.abort(grpc.StatusCode.UNIMPLEMENTED,
                              f"sim relay supports filters {sorted(_SUPPORTED_FILTERS)} only, "
                              f"got {sorted(unsupported)}")
        sequence = self.sequence
        just_started = sequence.start()
        with self._lock:
            self.streams_opened += 1
        allowed = self._allowed(request)
        index = 0 if just_started else self._first_index(request)
        until_ns = request.until.ToNanoseconds() if request.HasField("until") else None
        size = len(allowed)
        sent = 0
        try:
            while context.is_active():
                available = sequence.available()
                if index >= available:
                    if not request.follow:
                        return
                    time.sleep(0.005 if index < sequence.total else 0.05)
                    continue
                end = min(available, index + 256)
                for i in range(index, end):
                    if allowed[i % size]:
                        if until_ns is not None and sequence.time_ns(i) > until_ns:
                            return
                        sent += 1
                        yield sequence.frame(i)
                index = end
        finally:
            with self._lock:
                self.frames_sent += sent

    def _allowed(self, request: observer_pb2.GetFlowsRequest) -> list[bool]:
        """Which pool slots pass the request's filters, computed once per distinct filter set
        (every shard's reconnect and every bench pass reuses it)."""
        key = (tuple(f.SerializeToString(deterministic=True) for f in request.whitelist),
               tuple(f.SerializeToString(deterministic=True) for f in request.blacklist))
        with self._lock:
            found = self._allowed_by_filters.get(key)
        if found is None:
            found = [(not request.whitelist
                      or any(filter_matches(e, f) for f in request.whitelist))
                     and not any(filter_matches(e, f) for f in request.blacklist)
                     for e in self.sequence.pool]
            with self._lock:
                self._allowed_by_filters[key] = found
        return found

    def _first_index(self, request: observer_pb2.GetFlowsRequest) -> int:
        sequence = self.sequence
        if request.HasField("since"):
            return sequence.first_index_since(request.since.ToNanoseconds())
        available = sequence.available()
        if request.number:
            return max(0, available - request.number)
        return available if request.follow and sequence.rate > 0 else 0
