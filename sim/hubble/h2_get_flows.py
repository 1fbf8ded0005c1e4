"""The h2 relay's answers as gRPC-framed bytes: one ``Reply`` per call, GetFlows in big chunks.

Owns what goes into a stream's DATA frames and trailers, with no sockets and no HTTP/2: the
gRPC length prefix (``grpc_message``, uncompressed), the request's framed body
(``parse_message``: ``ValueError`` for a compressed or truncated one), and ``FlowChunks``, which
walks the shared ``FlowSequence`` exactly as ``relay.RelaySimulator`` does (same allowed slots,
same first index, ``until`` ends the stream at the first allowed frame past it, ``follow``
waits for more, without it the stream ends at the frames available) but hands out many
length-prefixed messages joined into one ``bytes`` per call, so the transport pays per chunk,
not per flow. ``FramedFrames`` keeps each prefixed frame once built (histories up to
``FRAME_CACHE_LIMIT``), so every stream and shard is served the same cached bytes.
"""

from __future__ import annotations

import dataclasses
import struct

from sim.hubble.flow_source import FRAME_CACHE_LIMIT, FlowSequence

__all__ = ["GRPC_INTERNAL", "GRPC_INVALID_ARGUMENT", "GRPC_OK", "GRPC_UNIMPLEMENTED",
           "FlowChunks", "FramedFrames", "Reply", "grpc_message", "parse_message"]

GRPC_OK = 0
GRPC_INVALID_ARGUMENT = 3
GRPC_UNIMPLEMENTED = 12
GRPC_INTERNAL = 13
_PREFIX = struct.Struct(">BI")


def grpc_message(body: bytes) -> bytes:
    """``body`` as one uncompressed gRPC message (1 flag byte, 4-byte big-endian length)."""
    return _PREFIX.pack(0, len(body)) + body


def parse_message(data: bytes) -> bytes:
    """The single message of a unary request body; ``ValueError`` if compressed or truncated."""
    if len(data) < _PREFIX.size:
        raise ValueError(f"request body of {len(data)} bytes has no gRPC message prefix")
    compressed, length = _PREFIX.unpack_from(data)
    if compressed:
        raise ValueError("compressed gRPC requests are not supported")
    if len(data) != _PREFIX.size + length:
        raise ValueError(f"request body is {len(data)} bytes, its prefix says {length} + 5")
    return data[_PREFIX.size:]


class FramedFrames:
    """Frame ``i`` of the sequence with its gRPC prefix, built once (small histories)."""

    def __init__(self, sequence: FlowSequence) -> None:
        self.sequence = sequence
        self._framed: list[bytes | None] = ([None] * sequence.total
                                            if sequence.total <= FRAME_CACHE_LIMIT else [])

    def get(self, index: int) -> bytes:
        framed = self._framed
        if index < len(framed) and self.sequence.started:  # times are final once started
            found = framed[index]
            if found is None:
                found = framed[index] = grpc_message(self.sequence.frame(index))
            return found
        return grpc_message(self.sequence.frame(index))


class FlowChunks:
    """One GetFlows stream's frames, ``next_chunk`` at a time; ``done`` once it must end."""

    def __init__(self, framed: FramedFrames, allowed: list[bool], first: int,
                 until_ns: int | None, follow: bool) -> None:
        self.framed = framed
        self.sequence = framed.sequence
        self.allowed = allowed
        self.index = first
        self.until_ns = until_ns
        self.follow = follow
        self.done = False
        self.sent = 0

    def caught_up(self) -> bool:
        """True when every frame available now has been handed out (a follower waits)."""
        return self.index >= self.sequence.available()

    def at_end(self) -> bool:
        """True when no frame will ever become available to this stream again."""
        return self.done or self.index >= self.sequence.total

    def next_chunk(self, max_bytes: int) -> bytes:
        """Up to about ``max_bytes`` of framed messages (at least one if any is available);
        ``b""`` when none is available now (then ``done`` says whether more may come)."""
        if self.done:
            return b""
        available = self.sequence.available()
        allowed, size, get = self.allowed, len(self.allowed), self.framed.get
        until_ns, time_ns = self.until_ns, self.sequence.time_ns
        parts: list[bytes] = []
        total = 0
        index = self.index
        while index < available and total < max_bytes:
            if allowed[index % size]:
                if until_ns is not None and time_ns(index) > until_ns:
                    self.done = True
                    break
                frame = get(index)
                parts.append(frame)
                total += len(frame)
            index += 1
        self.index = index
        if index >= available and not self.follow:
            self.done = True
        self.sent += len(parts)
        return b"".join(parts)


@dataclasses.dataclass(slots=True)
class Reply:
    """What one call sends: ``pending`` framed bytes now, then whatever ``chunks`` yields, then
    trailers with ``status`` (a non-OK status with nothing to send is a trailers-only reply)."""

    status: int = GRPC_OK
    message: str = ""
    pending: bytes = b""
    chunks: FlowChunks | None = None
