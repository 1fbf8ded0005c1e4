import collections
import json

from actors.flows.flow_codec import FlowDecoder
from messages.wire.observer import observer_pb2
from sim.hubble import frames

MANIFEST = json.loads((frames.FIXTURES / "manifest.json").read_text())
COUNTS = next(f for f in MANIFEST["files"] if f["bin"] == "hubble/getflows.bin")["counts"]
RAW = frames.read_frames("hubble/getflows.bin")
EXPECTED = frames.expected_values("hubble/getflows.jsonl")


def _decode_all():
    decoder = FlowDecoder()
    records = [r for r in map(decoder.decode_bytes, RAW) if r is not None]
    return decoder, records


def test_fixture_totals_match_the_manifest():
    decoder, records = _decode_all()
    assert len(records) == COUNTS["response.flow"] == decoder.counters["flows"]
    verdicts = collections.Counter(r.verdict for r in records)
    assert verdicts == {k.split(".", 1)[1]: v for k, v in COUNTS.items()
                        if k.startswith("verdict.")}
    drops = collections.Counter(r.drop_reason for r in records if r.drop_reason)
    assert drops == {k.split(".", 1)[1]: v for k, v in COUNTS.items()
                     if k.startswith("drop_reason_desc.")}
    replies = collections.Counter(r.is_reply for r in records)
    assert replies == {True: COUNTS["is_reply.true"], False: COUNTS["is_reply.false"],
                       None: COUNTS["is_reply.absent"]}
    for state in ("NODE_CONNECTED", "NODE_ERROR", "NODE_UNAVAILABLE"):
        assert decoder.counters[f"node_status.{state}"] == COUNTS[f"node_status.{state}"]
    lost = sum(int(e["lost_events"]["num_events_lost"]) for e in EXPECTED if "lost_events" in e)
    assert decoder.counters["lost_events"] == lost > 0
    assert not any(k.startswith("unknown_enum") for k in decoder.counters)


def test_records_match_expected_json_field_by_field():
    _, records = _decode_all()
    flows = [e["flow"] for e in EXPECTED if "flow" in e]
    for record, flow in zip(records, flows, strict=True):
        assert record.verdict == flow["verdict"]
        assert record.node_name == flow["node_name"]
        assert record.traffic_direction == flow.get("traffic_direction",
                                                    "TRAFFIC_DIRECTION_UNKNOWN")
        assert record.source_ip == flow.get("IP", {}).get("source", "")
        l4 = flow.get("l4", {})
        proto = next(iter(l4), "")
        assert record.l4_protocol == proto
        if proto in ("TCP", "UDP", "SCTP"):
            assert record.destination_port == l4[proto].get("destination_port", 0)
        else:
            assert record.destination_port == 0
        src = flow.get("source", {})
        assert record.source.namespace == src.get("namespace", "")
        assert record.source.workload_name == (src.get("workloads") or [{}])[0].get("name", "")
        assert record.destination.identity == flow.get("destination", {}).get("identity", 0)
        service = flow.get("destination_service")
        assert record.destination_service == (
            f"{service['namespace']}/{service['name']}" if service else "")
        assert len(record.allowed_by) == (len(flow.get("ingress_allowed_by", []))
                                          + len(flow.get("egress_allowed_by", [])))
        assert len(record.denied_by) == (len(flow.get("ingress_denied_by", []))
                                         + len(flow.get("egress_denied_by", [])))


def test_source_port_never_reaches_a_record():
    response = observer_pb2.GetFlowsResponse()
    response.flow.l4.TCP.source_port = 54321
    response.flow.l4.TCP.destination_port = 8080
    record = FlowDecoder().decode(response)
    assert record is not None
    assert "source_port" not in record._fields
    assert 54321 not in [v for v in record if isinstance(v, int)]
    assert (record.l4_protocol, record.destination_port) == ("TCP", 8080)


def test_malformed_bytes_and_unknown_enums_are_counted_not_raised():
    decoder = FlowDecoder()
    assert decoder.decode_bytes(b"\xff\xff\xff") is None
    assert decoder.counters["malformed_frames"] == 1
    response = observer_pb2.GetFlowsResponse()
    response.flow.verdict = 42  # type: ignore[assignment]  # open enum: unknown numbers survive the wire
    response.flow.drop_reason_desc = 999  # type: ignore[assignment]
    response.flow.traffic_direction = 9  # type: ignore[assignment]
    record = decoder.decode_bytes(response.SerializeToString())
    assert record is not None
    assert (record.verdict, record.drop_reason, record.traffic_direction) == (
        "UNKNOWN_42", "UNKNOWN_999", "UNKNOWN_9")
    assert decoder.counters["unknown_enum_values.verdict"] == 1
    assert decoder.counters["unknown_enum_values.drop_reason"] == 1
    assert decoder.decode_bytes(b"") is None
    assert decoder.counters["empty_responses"] == 1


def test_policies_are_named_with_direction_and_kind():
    response = observer_pb2.GetFlowsResponse()
    response.flow.ingress_allowed_by.add(name="allow-web", namespace="shop", kind="NetworkPolicy")
    response.flow.egress_denied_by.add(name="deny", kind="CiliumClusterwideNetworkPolicy")
    record = FlowDecoder().decode(response)
    assert record is not None
    assert record.allowed_by == ("ingress:NetworkPolicy:shop/allow-web",)
    assert record.denied_by == ("egress:CiliumClusterwideNetworkPolicy:/deny",)
