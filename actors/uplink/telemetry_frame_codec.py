"""Protobuf wire bytes of ``OperatorMessage{frame: TelemetryFrame}``, written by hand.

Owns the encoding of the uplink's bulk traffic: a run of telemetry batches (lossless
``ReliableBatch`` and lossy ``LossyBatch``) becomes one serialized ``OperatorMessage`` whose
``frame`` field holds the batches, byte-for-byte what ``kestrel.cloud.v1`` protobuf would
produce (fields in number order, proto3 defaults left out). Building protobuf objects copies
every payload twice (into the message, then into the serialized string) and costs 1-2 ns per
byte in Python; here each payload is copied once, by the final ``b"".join``. Only this message
is hand-encoded; everything else goes through the generated code in ``cloud_codec``.

How it fails: it does not. Values are masked to the field's width the way protobuf does
(negative int64 as ten-byte two's complement varints).
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.uplink import frames
from messages.uplink import UplinkRecordKind

__all__ = ["encode_telemetry_frame", "varint"]

# RecordKind numbers of kestrel.cloud.v1 (unit tests check them against the generated enum)
WIRE_KIND = {
    UplinkRecordKind.INVENTORY: 1,
    UplinkRecordKind.EVENTS: 2,
    UplinkRecordKind.LOGS: 3,
    UplinkRecordKind.FLOWS: 4,
    UplinkRecordKind.L7: 5,
    UplinkRecordKind.OPERATOR_STATS: 6,
    UplinkRecordKind.METRICS_ANSWERS: 7,
}

_FRAME_TAG = b"\x12"           # OperatorMessage.frame = 2, length-delimited
_BATCH_TAG = b"\x0a"           # TelemetryFrame.batches = 1, length-delimited
_SMALL = [bytes([n]) for n in range(128)]
_KIND_FIELD = {kind.value: b"\x18" + _SMALL[number] for kind, number in WIRE_KIND.items()}
_U64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """Base-128 varint of ``value`` (negative values as 64-bit two's complement)."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    if 0 < value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    if 0 < value < 0x200000:
        return bytes((value & 0x7F | 0x80, value >> 7 & 0x7F | 0x80, value >> 14))
    value &= _U64
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _TailCache:
    """The fields after the payload, which repeat from batch to batch (same millisecond)."""

    __slots__ = ("key", "tail")

    def __init__(self) -> None:
        self.key: tuple[bool, int] = (False, 0)
        self.tail = b""

    def get(self, lossless: bool, accepted_unix_ms: int) -> bytes:
        if (lossless, accepted_unix_ms) != self.key:
            self.key = (lossless, accepted_unix_ms)
            self.tail = (b"\x30\x01" if lossless else b"") + (
                b"\x38" + varint(accepted_unix_ms) if accepted_unix_ms else b"")
        return self.tail


def encode_telemetry_frame(batches: Sequence[frames.ReliableBatch | frames.LossyBatch]) -> bytes:
    """One serialized ``OperatorMessage`` carrying ``batches`` in order in its frame."""
    parts: list[bytes] = [_FRAME_TAG, b""]
    frame_len = 0
    tails = _TailCache()
    for item in batches:
        if isinstance(item, frames.ReliableBatch):
            head = b"\x08" + varint(item.sequence) if item.sequence else b""
            lossless = True
        else:
            head = b"\x10" + varint(item.lossy_sequence) if item.lossy_sequence else b""
            lossless = False
        head += _KIND_FIELD[item.kind._value_]
        if item.count:
            head += b"\x20" + varint(item.count & 0xFFFFFFFF)
        payload = item.payload
        if payload:
            head += b"\x2a" + varint(len(payload))
        tail = tails.get(lossless, item.accepted_unix_ms)
        size = len(head) + len(payload) + len(tail)
        prefix = _BATCH_TAG + varint(size)
        parts += (prefix, head, payload, tail)
        frame_len += len(prefix) + size
    parts[1] = varint(frame_len)
    return b"".join(parts)
