"""The hand-written TelemetryFrame encoding is what the generated protobuf code produces."""

import pytest

from actors.uplink import frames
from actors.uplink.telemetry_frame_codec import WIRE_KIND, encode_telemetry_frame, varint
from messages.uplink import UplinkRecordKind
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb


def _generated(batches: list[frames.ReliableBatch | frames.LossyBatch]) -> pb.OperatorMessage:
    wire = []
    for item in batches:
        batch = pb.TelemetryBatch(kind=pb.RecordKind.ValueType(WIRE_KIND[item.kind]),
                                  record_count=item.count,
                                  payload=item.payload, accepted_unix_ms=item.accepted_unix_ms)
        if isinstance(item, frames.ReliableBatch):
            batch.sequence, batch.lossless = item.sequence, True
        else:
            batch.lossy_sequence = item.lossy_sequence
        wire.append(batch)
    return pb.OperatorMessage(frame=pb.TelemetryFrame(batches=wire))


def test_wire_kinds_match_the_generated_enum():
    for kind, number in WIRE_KIND.items():
        assert pb.RecordKind.Value(f"RECORD_KIND_{kind.name}") == number
    assert set(WIRE_KIND) == set(UplinkRecordKind)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**21 - 1, 2**21,
                                   2**32 - 1, 2**63 - 1,
                                   2**64 - 1, -1, -(2**63)])
def test_varint_matches_protobuf(value):
    msg = pb.Heartbeat(unix_ms=value) if value < 2**63 else None
    if msg is not None:
        assert msg.SerializeToString() == (b"\x08" + varint(value) if value else b"")
    assert pb.Ack(through_sequence=value & (2**64 - 1)).SerializeToString() == (
        b"\x08" + varint(value) if value else b"")


@pytest.mark.parametrize("batches", [
    [frames.ReliableBatch(1, UplinkRecordKind.EVENTS, 2, b"ab", 5)],
    [frames.ReliableBatch(2**40, UplinkRecordKind.LOGS, 0, b"", 0),
     frames.LossyBatch(7, UplinkRecordKind.FLOWS, 3, b"c" * 70_000, -12),
     frames.LossyBatch(0, UplinkRecordKind.L7, 1, b"\x00" * 200, 1_764_000_000_000),
     frames.ReliableBatch(99, UplinkRecordKind.METRICS_ANSWERS, 2**31, b"x" * 13_571, 1)],
    [],
])
def test_frame_bytes_equal_the_generated_encoding(batches):
    encoded = encode_telemetry_frame(batches)
    expected = _generated(batches)
    assert encoded == expected.SerializeToString()
    assert pb.OperatorMessage.FromString(encoded) == expected
