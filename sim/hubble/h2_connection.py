"""One client connection of the h2 relay: gRPC over plaintext HTTP/2 (h2c, prior knowledge).

Owns the HTTP/2 side of a connection, with the ``h2`` library doing HPACK, the frame state
machine, SETTINGS/PING acknowledgements and flow-control accounting. A request is read whole
(HEADERS + DATA until END_STREAM, its DATA acknowledged so the client's window stays open), then
``answer(path, body)`` gives a ``Reply``: a non-OK status with nothing to send goes out as a
trailers-only response; otherwise response HEADERS (``:status 200``, ``application/grpc``), the
framed messages in DATA frames as large as the peer allows, as far as the stream and connection
windows allow (the rest waits for WINDOW_UPDATE), then trailers (``grpc-status``). Each loop
turn builds every stream's data first and writes it with one ``sendall``, so a flow costs a few
list operations, not a syscall. RST_STREAM (client cancel, deadline) drops the stream; GOAWAY,
EOF, a socket error or a protocol error end the connection, never the server; ``stopping`` ends
it with a GOAWAY. ``on_stream_end(frames_sent, cancelled)`` reports each stream's end.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from sim.hubble.h2_get_flows import GRPC_INTERNAL, GRPC_OK, Reply

__all__ = ["ConnectionLoop"]

logger = logging.getLogger(__name__)
_CHUNK_LIMIT = 1 << 20          # framed bytes built per stream per turn at most
_FOLLOW_POLL_S = 0.005          # a follower caught up with a paced history polls this often
_IDLE_POLL_S = 0.2              # otherwise wake this often to notice ``stopping``
# sending on a stream the peer reset: h2 says closed, or "too low" once it forgot the stream
_GONE = (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError)


def _grpc_message_header(message: str) -> str:
    """Percent-encode as the gRPC spec asks (``%`` and anything outside printable ASCII)."""
    return "".join(c if " " <= c <= "~" and c != "%" else
                   "".join(f"%{b:02X}" for b in c.encode()) for c in message)


class _Outgoing:
    __slots__ = ("offset", "pending", "reply")

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.pending = reply.pending
        self.offset = 0


class ConnectionLoop:
    """Serves one accepted socket until the peer leaves or ``stopping`` is set."""

    def __init__(self, sock: socket.socket, answer: Callable[[str, bytes], Reply],
                 stopping: threading.Event,
                 on_stream_end: Callable[[int, bool], None]) -> None:
        self.sock = sock
        self.answer = answer
        self.stopping = stopping
        self.on_stream_end = on_stream_end
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding=None))
        self._requests: dict[int, tuple[str, bytearray]] = {}
        self._outgoing: dict[int, _Outgoing] = {}
        self._closed = False

    def abort(self) -> None:
        """Unblock a loop stuck writing to a peer that stopped reading (``stop`` ran out of
        patience): the next socket call fails and the loop ends."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        conn, sock = self.conn, self.sock
        try:
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            while not self._closed and not self.stopping.is_set():
                readable, _, _ = select.select([sock], [], [], self._poll_timeout())
                if readable:
                    data = sock.recv(1 << 20)
                    if not data:
                        break
                    for event in conn.receive_data(data):
                        self._handle(event)
                for stream_id in list(self._outgoing):
                    self._pump(stream_id)
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
            if self.stopping.is_set():
                conn.close_connection()
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError) as exc:
            logger.debug("h2 relay connection ended: %r", exc)
        finally:
            for stream_id in list(self._outgoing):
                self._drop(stream_id, cancelled=True)
            sock.close()

    def _poll_timeout(self) -> float:
        for outgoing in self._outgoing.values():
            chunks = outgoing.reply.chunks
            if chunks is not None and chunks.follow and not chunks.at_end() \
                    and outgoing.offset >= len(outgoing.pending) and chunks.caught_up():
                return _FOLLOW_POLL_S
        return _IDLE_POLL_S

    def _handle(self, event: h2.events.Event) -> None:
        conn = self.conn
        if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
            path = dict(event.headers or []).get(b":path", b"")
            self._requests[event.stream_id] = (path.decode("utf-8", "replace"), bytearray())
        elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
            request = self._requests.get(event.stream_id)
            if request is not None and event.data:
                request[1].extend(event.data)
            if event.flow_controlled_length:
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
            request = self._requests.pop(event.stream_id, None)
            if request is not None:
                try:
                    self._respond(event.stream_id, self._answer(request[0], bytes(request[1])))
                except _GONE:   # reset (and forgotten by h2) in the same read
                    self._drop(event.stream_id, cancelled=True)
        elif isinstance(event, h2.events.StreamReset) and event.stream_id is not None:
            self._requests.pop(event.stream_id, None)
            self._drop(event.stream_id, cancelled=True)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._closed = True

    def _answer(self, path: str, body: bytes) -> Reply:
        try:
            return self.answer(path, body)
        except Exception as exc:  # a bug answers INTERNAL on this call, never kills the loop
            logger.exception("h2 relay failed to answer %s", path)
            return Reply(GRPC_INTERNAL, f"sim relay failed: {exc!r}")

    def _respond(self, stream_id: int, reply: Reply) -> None:
        if reply.status != GRPC_OK and not reply.pending and reply.chunks is None:
            self.conn.send_headers(stream_id, [
                (":status", "200"), ("content-type", "application/grpc"),
                ("grpc-status", str(reply.status)),
                ("grpc-message", _grpc_message_header(reply.message))], end_stream=True)
            self.on_stream_end(0, False)
            return
        self.conn.send_headers(stream_id, [(":status", "200"),
                                           ("content-type", "application/grpc")])
        self._outgoing[stream_id] = _Outgoing(reply)

    def _pump(self, stream_id: int) -> None:
        """Send what the windows allow; finish the stream with trailers once it is done."""
        conn, outgoing = self.conn, self._outgoing[stream_id]
        chunks = outgoing.reply.chunks
        max_frame = conn.max_outbound_frame_size
        try:
            window = conn.local_flow_control_window(stream_id)
            while window > 0:
                pending, offset = outgoing.pending, outgoing.offset
                if offset >= len(pending):
                    pending = chunks.next_chunk(min(window, _CHUNK_LIMIT)) if chunks else b""
                    if not pending:
                        if chunks is None or chunks.done:
                            self._finish(stream_id, outgoing.reply)
                        return
                    outgoing.pending, offset = pending, 0
                size = min(window, max_frame, len(pending) - offset)
                conn.send_data(stream_id, pending[offset:offset + size])
                outgoing.offset = offset + size
                window -= size
        except _GONE:
            self._drop(stream_id, cancelled=True)

    def _finish(self, stream_id: int, reply: Reply) -> None:
        trailers = [("grpc-status", str(reply.status))]
        if reply.message:
            trailers.append(("grpc-message", _grpc_message_header(reply.message)))
        self.conn.send_headers(stream_id, trailers, end_stream=True)
        self._drop(stream_id, cancelled=False)

    def _drop(self, stream_id: int, *, cancelled: bool) -> None:
        outgoing = self._outgoing.pop(stream_id, None)
        if outgoing is not None:
            chunks = outgoing.reply.chunks
            self.on_stream_end(chunks.sent if chunks is not None else 0, cancelled)
