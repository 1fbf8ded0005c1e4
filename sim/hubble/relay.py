"""Simulated Hubble Relay gRPC server: ``observer.Observer`` GetFlows, GetNodes, ServerStatus.

Owns the relay's behaviour as clients see it: GetFlows honours ``follow``, ``number``, ``since``
and ``until`` and the whitelist/blacklist fields ``node_name`` (glob; a pattern without ``/``
matches the node in any cluster), ``reply`` (upstream semantics: an unknown ``is_reply`` counts
as false only for DROPPED flows) and ``verdict``. Any other filter field is refused with
UNIMPLEMENTED rather than silently ignored. Flows come from a shared ``FlowSequence`` that starts
when the first stream opens, so a restarted server (``stop`` then ``start`` on the same port)
serves the same history and resuming clients can be counted exactly. Which pool slots pass a
filter set is computed once per distinct set; frames are the sequence's pre-stamped bytes, sent
with no serializer. The semantics (filters, start/end of a stream, GetNodes, ServerStatus) live in
``observer_semantics``, shared with the cheaper ``h2_relay``; this module owns the grpcio server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from messages.wire.observer import observer_pb2
from sim.hubble import observer_semantics
from sim.hubble.flow_source import FlowSequence
from sim.hubble.observer_semantics import AllowedSlots, filter_matches

__all__ = ["RelaySimulator", "filter_matches"]

logger = logging.getLogger(__name__)


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
        self._allowed_slots = AllowedSlots(sequence)

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
        return observer_semantics.relay_nodes(self.sequence)

    def _get_nodes(self, request: Any, context: grpc.ServicerContext) -> Any:
        return observer_semantics.nodes_response(self.sequence, self.version)

    def _server_status(self, request: Any, context: grpc.ServicerContext) -> Any:
        return observer_semantics.status_response(self.sequence, self.version, self._started)

    def _get_flows(self, request: observer_pb2.GetFlowsRequest,
                   context: grpc.ServicerContext) -> Iterator[bytes]:
        refused = observer_semantics.unsupported_filters(request)
        if refused:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, refused)
        sequence = self.sequence
        just_started = sequence.start()
        with self._lock:
            self.streams_opened += 1
        allowed = self._allowed(request)
        index = observer_semantics.first_index(sequence, request, just_started)
        until_ns = observer_semantics.until_ns(request)
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
        return self._allowed_slots.for_request(request)
