"""A cheap simulated Hubble Relay: gRPC over plaintext HTTP/2 with the ``h2`` library, no grpcio.

Owns a relay that costs far less CPU per flow than ``relay.RelaySimulator`` (whose grpcio server
pays gRPC Python's per-message cost, ~70-90 µs per flow), so a flows benchmark measures the
operator rather than the simulator, as a real (Go) relay would let it. It serves the same
``FlowSequence`` with the same semantics (``observer_semantics``: filters, ``follow``,
``number``, ``since``, ``until``, unsupported filter fields refused with UNIMPLEMENTED) for
``/observer.Observer/GetFlows``, plus the unary ``GetNodes`` (a sharded ``HubbleFlowClient``
asks it for the nodes to partition) and ``ServerStatus``; any other method gets grpc-status 12
UNIMPLEMENTED. Plaintext only (h2c with prior knowledge, what a grpcio insecure channel speaks).
One thread accepts, one thread per connection serves it (``h2_connection.ConnectionLoop``); a
broken connection ends alone. ``stop()`` sends GOAWAY on every connection and closes them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from google.protobuf.message import DecodeError

from messages.wire.observer import observer_pb2
from sim.hubble import observer_semantics
from sim.hubble.flow_source import FlowSequence
from sim.hubble.h2_connection import ConnectionLoop
from sim.hubble.h2_get_flows import (
    GRPC_INVALID_ARGUMENT,
    GRPC_UNIMPLEMENTED,
    FlowChunks,
    FramedFrames,
    Reply,
    grpc_message,
    parse_message,
)

__all__ = ["H2RelaySimulator"]

logger = logging.getLogger(__name__)
_SERVICE = "/observer.Observer/"


class H2RelaySimulator:
    """One plaintext relay endpoint; ``start()`` returns the bound port."""

    def __init__(self, sequence: FlowSequence, *, host: str = "127.0.0.1", port: int = 0,
                 version: str = "1.19.4-sim") -> None:
        self.sequence = sequence
        self.host, self.port = host, port
        self.version = version
        self._allowed = observer_semantics.AllowedSlots(sequence)
        self._framed = FramedFrames(sequence)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._connections: list[tuple[threading.Thread, ConnectionLoop]] = []
        self.streams_opened = 0
        self.streams_cancelled = 0
        self.frames_sent = 0

    def start(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._accepting = threading.Thread(target=self._accept_loop, args=(listener,),
                                           name="h2-relay-accept", daemon=True)
        self._accepting.start()
        return self.port

    def stop(self, grace: float | None = None) -> None:
        """Stop listening, GOAWAY and close every connection; one still writing after ``grace``
        (default 2 s) seconds is shut down."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if self._accepting is not None:
            self._accepting.join(5)
            self._accepting = None
        if listener is not None:
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        deadline = time.monotonic() + (grace or 2.0)
        for thread, loop in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                loop.abort()
                thread.join(1)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                logger.warning("h2 relay stopped accepting: %r", exc)
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop = ConnectionLoop(sock, self.answer, self._stopping, self._stream_ended)
            thread = threading.Thread(target=loop.run, name="h2-relay-conn", daemon=True)
            thread.start()
            with self._lock:
                self._connections = [(t, c) for t, c in self._connections if t.is_alive()]
                self._connections.append((thread, loop))

    def _stream_ended(self, frames_sent: int, cancelled: bool) -> None:
        with self._lock:
            self.frames_sent += frames_sent
            self.streams_cancelled += cancelled

    def answer(self, path: str, body: bytes) -> Reply:
        """The reply to one call of ``path`` with the framed request ``body``."""
        method = path[len(_SERVICE):] if path.startswith(_SERVICE) else ""
        if method not in ("GetFlows", "GetNodes", "ServerStatus"):
            return Reply(GRPC_UNIMPLEMENTED, f"method {path} is not implemented by the sim relay")
        try:
            message = parse_message(body)
            if method == "GetNodes":
                observer_pb2.GetNodesRequest.FromString(message)
                return Reply(pending=grpc_message(observer_semantics.nodes_response(
                    self.sequence, self.version).SerializeToString()))
            if method == "ServerStatus":
                observer_pb2.ServerStatusRequest.FromString(message)
                return Reply(pending=grpc_message(observer_semantics.status_response(
                    self.sequence, self.version, self._started).SerializeToString()))
            request = observer_pb2.GetFlowsRequest.FromString(message)
        except (ValueError, DecodeError) as exc:
            return Reply(GRPC_INVALID_ARGUMENT, f"bad request: {exc}")
        return self._get_flows(request)

    def _get_flows(self, request: observer_pb2.GetFlowsRequest) -> Reply:
        refused = observer_semantics.unsupported_filters(request)
        if refused:
            return Reply(GRPC_UNIMPLEMENTED, refused)
        just_started = self.sequence.start()
        with self._lock:
            self.streams_opened += 1
        return Reply(chunks=FlowChunks(
            self._framed, self._allowed.for_request(request),
            observer_semantics.first_index(self.sequence, request, just_started),
            observer_semantics.until_ns(request), request.follow))
