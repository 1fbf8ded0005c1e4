"""Plain data the uplink sends: reliable items, lossy batches, frames and the Hello contents.

Owns the spool body format: a reliable item (lossless batch, inventory commit or command result) is
stored as a msgpack array tagged with its type; its sequence lives in the spool framing, not in the
body (``reliable_batch_parts`` gives a batch's body as head, payload, tail, so the spool writes the
payload without copying it). ``decode_reliable`` raises ``FrameDecodeError`` (with the reason) for
bodies it cannot read, so a damaged spool entry is reported and skipped, never fatal. No sockets, no
wire code: ``cloud_codec`` maps these types to and from protobuf.
"""

from __future__ import annotations

import dataclasses

import msgpack

from messages.uplink import CloudCommandStatus, UplinkRecordKind

__all__ = [
    "FrameDecodeError",
    "HelloInfo",
    "LossyBatch",
    "OutgoingFrame",
    "OutgoingItem",
    "ReliableBatch",
    "ReliableCommandResult",
    "ReliableInventoryCommit",
    "ReliableItem",
    "decode_reliable",
    "encode_reliable",
    "reliable_batch_parts",
]

_BATCH, _COMMIT, _RESULT = 1, 2, 3
_BATCH_HEAD = b"\x95\x01"         # msgpack: a 5-element array, then the tag _BATCH
_PACKED_KINDS: dict[str, bytes] = {}
_pack = msgpack.Packer(use_bin_type=True).pack


class FrameDecodeError(ValueError):
    """A spool body is not a valid reliable item."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReliableBatch:
    """A lossless telemetry batch (reliable sequence space)."""

    sequence: int
    kind: UplinkRecordKind
    count: int
    payload: bytes
    accepted_unix_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReliableInventoryCommit:
    """Closes an inventory snapshot (reliable sequence space)."""

    sequence: int
    snapshot_id: str
    counts: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ReliableCommandResult:
    """The answer to a cloud command (reliable sequence space)."""

    sequence: int
    request_id: str
    status: CloudCommandStatus
    error: str
    payload: bytes
    truncated: bool


@dataclasses.dataclass(frozen=True, slots=True)
class LossyBatch:
    """A flow/L7 batch numbered in the per-instance lossy sequence space."""

    lossy_sequence: int
    kind: UplinkRecordKind
    count: int
    payload: bytes
    accepted_unix_ms: int


ReliableItem = ReliableBatch | ReliableInventoryCommit | ReliableCommandResult
OutgoingItem = ReliableItem | LossyBatch


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingFrame:
    """What the core hands the stream adapter for one stream ``epoch``, in send order."""

    epoch: int
    items: tuple[OutgoingItem, ...]

    @property
    def payload_bytes(self) -> int:
        return sum(len(getattr(item, "payload", b"")) for item in self.items)

    def __repr__(self) -> str:
        return f"OutgoingFrame(e{self.epoch},{len(self.items)} items,{self.payload_bytes}B)"


@dataclasses.dataclass(frozen=True, slots=True)
class HelloInfo:
    """The contents of the Hello that opens every stream."""

    cluster_id: str
    operator_version: str
    capabilities: tuple[str, ...]
    resume_acked_sequence: int
    session_id: str
    instance_id: str
    next_sequence: int


def encode_reliable(item: ReliableItem) -> bytes:
    """Spool body of ``item`` (its sequence is stored by the spool framing)."""
    if isinstance(item, ReliableBatch):
        fields: list[object] = [_BATCH, item.kind.value, item.count, item.payload,
                                item.accepted_unix_ms]
    elif isinstance(item, ReliableInventoryCommit):
        fields = [_COMMIT, item.snapshot_id, [list(pair) for pair in item.counts]]
    else:
        fields = [_RESULT, item.request_id, item.status.value, item.error, item.payload,
                  item.truncated]
    return bytes(msgpack.packb(fields, use_bin_type=True))


def reliable_batch_parts(item: ReliableBatch) -> tuple[bytes, bytes, bytes]:
    """``encode_reliable(item)`` as (head, payload, tail), without copying the payload.

    The spool writes the three parts with one ``writev``; joined they are byte-for-byte the
    msgpack array ``encode_reliable`` builds.
    """
    size = len(item.payload)
    if size < 1 << 8:
        bin_header = b"\xc4" + size.to_bytes(1, "big")
    elif size < 1 << 16:
        bin_header = b"\xc5" + size.to_bytes(2, "big")
    else:
        bin_header = b"\xc6" + size.to_bytes(4, "big")
    head = b"".join((_BATCH_HEAD, _packed_kind(item.kind), _pack(item.count), bin_header))
    return head, item.payload, _pack(item.accepted_unix_ms)


def _packed_kind(kind: UplinkRecordKind) -> bytes:
    packed = _PACKED_KINDS.get(kind._value_)       # a str key hashes in C, an Enum in Python
    if packed is None:
        packed = _PACKED_KINDS[kind._value_] = _pack(kind._value_)
    return packed


def decode_reliable(sequence: int, body: bytes) -> ReliableItem:
    """The item stored under ``sequence``; raises ``FrameDecodeError`` on a bad body."""
    try:
        fields = msgpack.unpackb(body, use_list=True, raw=False)
        tag = fields[0]
        if tag == _BATCH:
            return ReliableBatch(sequence, UplinkRecordKind(fields[1]), int(fields[2]),
                                 bytes(fields[3]), int(fields[4]))
        if tag == _COMMIT:
            counts = tuple((str(name), int(value)) for name, value in fields[2])
            return ReliableInventoryCommit(sequence, str(fields[1]), counts)
        if tag == _RESULT:
            return ReliableCommandResult(sequence, str(fields[1]), CloudCommandStatus(fields[2]),
                                         str(fields[3]), bytes(fields[4]), bool(fields[5]))
    except (ValueError, TypeError, IndexError, KeyError, msgpack.ExtraData,
            msgpack.FormatError, msgpack.StackError) as exc:
        raise FrameDecodeError(f"spool entry {sequence}: {exc}") from exc
    raise FrameDecodeError(f"spool entry {sequence}: unknown item tag {tag!r}")
