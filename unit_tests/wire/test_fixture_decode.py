"""Every golden frame decodes with our subset stubs to the upstream-decoded values, field by field.

For each frame: our message → MessageToDict(preserving_proto_field_name=True), with int32-declared
enums mapped back to names through the fixtures' enums.json, is compared against the expected
JSON for every field our subset declares (recursively); fields we left out are skipped (they stay
unknown fields in our decoder and must survive a re-encode).
"""

from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from messages.wire.envoy.service.accesslog.v3 import als_pb2
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from sim.hubble import frames

# subset fields declared int32 where upstream has an enum: (message, field) -> enums.json table
INT32_ENUMS = {
    ("flow.Flow", "auth_type"): "flow.AuthType",
    ("flow.Flow", "trace_observation_point"): "flow.TraceObservationPoint",
    ("flow.Flow", "trace_reason"): "flow.TraceReason",
    ("flow.Layer7", "type"): "flow.L7FlowType",
    ("flow.Tunnel", "protocol"): "flow.Tunnel.Protocol",
}


class Comparison:
    def __init__(self, tables: dict[str, dict[str, int]]):
        self.names = {key: {v: k for k, v in tables[t].items()} for key, t in INT32_ENUMS.items()
                      if t in tables}
        self.compared = 0
        self.fields_seen: set[str] = set()

    def message(self, desc: Descriptor, ours: dict[str, Any], expected: dict[str, Any],
                path: str) -> None:
        for key in ours:
            assert key in expected, f"{path}.{key}: decoded but not in the expected values"
        for key, want in expected.items():
            field = desc.fields_by_name.get(key)
            if field is None:
                continue  # not in our subset: an unknown field for us
            assert key in ours, f"{path}.{key}: expected {want!r}, our decode lacks it"
            self.value(desc, field, ours[key], want, f"{path}.{key}")

    def value(self, desc: Descriptor, field: FieldDescriptor, got: Any, want: Any,
              path: str) -> None:
        self.fields_seen.add(f"{desc.full_name}.{field.name}")
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            value_type = sub.fields_by_name["value"].message_type
            assert set(got) == set(want), path
            for key in want:
                self.leaf_or_message(value_type, got[key], want[key], f"{path}[{key}]")
            return
        if field.is_repeated:
            assert len(got) == len(want), path
            for index, (g, w) in enumerate(zip(got, want, strict=True)):
                self.leaf_or_message(sub, g, w, f"{path}[{index}]", desc, field)
            return
        self.leaf_or_message(sub, got, want, path, desc, field)

    def leaf_or_message(self, sub: Descriptor | None, got: Any, want: Any, path: str,
                        desc: Descriptor | None = None,
                        field: FieldDescriptor | None = None) -> None:
        self.compared += 1
        if sub is not None and not sub.full_name.startswith("google.protobuf."):
            self.message(sub, got, want, path)
            return
        if desc is not None and field is not None and (desc.full_name, field.name) in self.names:
            got = self.names[(desc.full_name, field.name)][got]
        assert got == want, f"{path}: decoded {got!r}, expected {want!r}"


def _check_file(binary: str, jsonl: str, message_type: Any, folder: str) -> Comparison:
    comparison = Comparison(frames.enum_tables(folder))
    raw_frames = frames.read_frames(binary)
    expected = frames.expected_values(jsonl)
    assert len(raw_frames) == len(expected) > 0
    for index, (raw, want) in enumerate(zip(raw_frames, expected, strict=True)):
        decoded = message_type.FromString(raw)
        ours = json_format.MessageToDict(decoded, preserving_proto_field_name=True)
        comparison.message(message_type.DESCRIPTOR, ours, want, f"frame{index}")
        # unknown fields re-encode after the known ones, so compare sizes, not byte order
        assert len(decoded.SerializeToString()) == len(raw), f"frame{index}: re-encode lost bytes"
    return comparison


def test_hubble_getflows_frames_decode_field_by_field():
    result = _check_file("hubble/getflows.bin", "hubble/getflows.jsonl",
                         observer_pb2.GetFlowsResponse, "hubble")
    assert result.compared > 50_000
    for name in ("flow.Flow.verdict", "flow.Flow.drop_reason_desc", "flow.Endpoint.workloads",
                 "flow.Flow.ingress_allowed_by", "flow.Flow.egress_denied_by",
                 "flow.Flow.is_reply", "flow.TCP.source_port", "flow.Flow.trace_reason",
                 "relay.NodeStatusEvent.state_change", "flow.LostEvent.num_events_lost",
                 "observer.GetFlowsResponse.node_name", "flow.Flow.destination_service",
                 "flow.Layer7.type", "flow.Flow.Summary"):
        assert name in result.fields_seen, name


@pytest.mark.parametrize("name", ["http", "tcp"])
def test_envoy_als_frames_decode_field_by_field(name):
    result = _check_file(f"envoy-als/{name}.bin", f"envoy-als/{name}.jsonl",
                         als_pb2.StreamAccessLogsMessage, "envoy-als")
    assert result.compared > 2_000
    for field in ("envoy.config.core.v3.Node.metadata",
                  "envoy.data.accesslog.v3.AccessLogCommon.duration",
                  "envoy.data.accesslog.v3.AccessLogCommon.access_log_type",
                  "envoy.data.accesslog.v3.AccessLogCommon.filter_state_objects",
                  "envoy.data.accesslog.v3.AccessLogCommon.upstream_cluster"):
        assert field in result.fields_seen, field


def test_unknown_fields_survive_and_can_be_discarded():
    raw = frames.read_frames("hubble/getflows.bin")[1]
    decoded = observer_pb2.GetFlowsResponse.FromString(raw)
    assert decoded.SerializeToString() == raw
    decoded.DiscardUnknownFields()
    assert len(decoded.SerializeToString()) <= len(raw)
    assert decoded.flow.verdict == flow_pb2.FORWARDED
