"""Maps the uplink's plain data to and from the cloud protocol (``kestrel.cloud.v1`` protobuf).

Owns the translation both ways: ``OutgoingFrame`` → serialized ``OperatorMessage``s
(consecutive batches coalesced into one ``TelemetryFrame``, hand-encoded by
``telemetry_frame_codec`` so payloads are copied once; inventory commits and command results as
their own messages, order kept), ``HelloInfo`` → Hello bytes, and ``CloudMessage`` → the typed
events of
``messages.uplink``. A cloud message it cannot understand (empty oneof, unknown command kind)
becomes ``None`` and the caller counts it; decoding never raises on well-formed protobuf.
Command arguments are the request's set fields as a msgpack mapping (maps stay maps, bytes stay
bytes, nested messages become mappings).
"""

from __future__ import annotations

from typing import Any

import msgpack
from google.protobuf.message import Message

from actors.uplink import frames
from actors.uplink.telemetry_frame_codec import encode_telemetry_frame
from messages.uplink import (
    CloudBatchesAcked,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudHeartbeatReceived,
    CloudSessionWelcomed,
)
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb

__all__ = ["decode_cloud_message", "encode_frame", "encode_heartbeat", "encode_hello"]

_STATUS_TO_WIRE = {
    CloudCommandStatus.OK: pb.COMMAND_STATUS_OK,
    CloudCommandStatus.FAILED: pb.COMMAND_STATUS_FAILED,
    CloudCommandStatus.REJECTED: pb.COMMAND_STATUS_REJECTED,
    CloudCommandStatus.DEADLINE_EXCEEDED: pb.COMMAND_STATUS_DEADLINE_EXCEEDED,
    CloudCommandStatus.UNSUPPORTED: pb.COMMAND_STATUS_UNSUPPORTED,
}


def encode_hello(hello: frames.HelloInfo) -> bytes:
    return pb.OperatorMessage(hello=pb.Hello(
        cluster_id=hello.cluster_id, operator_version=hello.operator_version,
        capabilities=list(hello.capabilities), resume_acked_sequence=hello.resume_acked_sequence,
        session_id=hello.session_id, instance_id=hello.instance_id,
        next_sequence=hello.next_sequence)).SerializeToString()


def encode_heartbeat(unix_ms: int) -> bytes:
    return pb.OperatorMessage(heartbeat=pb.Heartbeat(unix_ms=unix_ms)).SerializeToString()


def encode_frame(frame: frames.OutgoingFrame) -> list[bytes]:
    """The serialized wire messages for ``frame``, in order."""
    out: list[bytes] = []
    batches: list[frames.ReliableBatch | frames.LossyBatch] = []
    for item in frame.items:
        if isinstance(item, (frames.ReliableBatch, frames.LossyBatch)):
            batches.append(item)
            continue
        if batches:
            out.append(encode_telemetry_frame(batches))
            batches = []
        if isinstance(item, frames.ReliableInventoryCommit):
            message = pb.OperatorMessage(inventory_commit=pb.InventoryCommit(
                sequence=item.sequence, snapshot_id=item.snapshot_id, counts=dict(item.counts)))
        else:
            message = pb.OperatorMessage(command_result=pb.CommandResult(
                sequence=item.sequence, request_id=item.request_id,
                status=_STATUS_TO_WIRE[item.status], error=item.error, payload=item.payload,
                truncated=item.truncated))
        out.append(message.SerializeToString())
    if batches:
        out.append(encode_telemetry_frame(batches))
    return out


def decode_cloud_message(msg: pb.CloudMessage, epoch: int) -> (
        CloudSessionWelcomed | CloudBatchesAcked | CloudHeartbeatReceived
        | CloudCommandReceived | None):
    """The typed event for ``msg`` on stream ``epoch``; None when it carries nothing we know."""
    which = msg.WhichOneof("body")
    if which == "welcome":
        return CloudSessionWelcomed(epoch=epoch, session_id=msg.welcome.session_id,
                                    last_acked_sequence=msg.welcome.last_acked_sequence,
                                    heartbeat_interval_ms=msg.welcome.heartbeat_interval_ms)
    if which == "ack":
        return CloudBatchesAcked(epoch=epoch, through_sequence=msg.ack.through_sequence,
                                 lossy_through_sequence=msg.ack.lossy_through_sequence)
    if which == "heartbeat":
        return CloudHeartbeatReceived(epoch=epoch, unix_ms=msg.heartbeat.unix_ms)
    if which == "command":
        request = msg.command.WhichOneof("request")
        if request is None:
            return None
        try:
            kind = CloudCommandKind(request)
        except ValueError:
            return None
        fields = _plain(getattr(msg.command, request))
        return CloudCommandReceived(epoch=epoch, request_id=msg.command.request_id, kind=kind,
                                    deadline_unix_ms=msg.command.deadline_unix_ms,
                                    arguments=bytes(msgpack.packb(fields, use_bin_type=True)))
    return None


def _plain(message: Message) -> dict[str, Any]:
    """The set fields of ``message`` as plain msgpack-able values (bytes stay bytes)."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            out[field.name] = dict(value)
        elif field.is_repeated:
            out[field.name] = [_plain(v) if nested is not None else v for v in value]
        elif nested is not None:
            out[field.name] = _plain(value)
        else:
            out[field.name] = value
    return out
