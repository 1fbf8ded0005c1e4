"""The fast-path view of GetFlowsResponse against the full generated classes, and the decoder's
bounded sub-message caches."""

from google.protobuf import descriptor

from actors.flows import flow_codec, flow_fields_codec
from actors.flows.flow_codec import FlowDecoder
from actors.flows.flow_view_codec import FlowView, ResponseView
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from sim.hubble import frames
from sim.hubble.history import build_sequence

FD = descriptor.FieldDescriptor
# view message -> the full message whose numbers it mirrors (by the view field's name)
_FULL = {"Response": observer_pb2.GetFlowsResponse.DESCRIPTOR, "Flow": flow_pb2.Flow.DESCRIPTOR,
         "Layer4": flow_pb2.Layer4.DESCRIPTOR, "Ports": flow_pb2.TCP.DESCRIPTOR}


def _views():
    pending, seen = [ResponseView.DESCRIPTOR], {}
    while pending:
        view = pending.pop()
        seen[view.name] = view
        pending += [f.message_type for f in view.fields
                    if f.message_type is not None and f.message_type.name not in seen]
    return seen


def test_every_view_field_has_the_full_schemas_number_and_a_compatible_type():
    views = _views()
    assert set(_FULL) <= set(views)
    for name, full in _FULL.items():
        for field in views[name].fields:
            upstream = full.fields_by_name[field.name]
            assert field.number == upstream.number, (name, field.name)
            assert field.is_repeated == upstream.is_repeated, (name, field.name)
            if field.type == FD.TYPE_BYTES:  # a sub-message (or bytes) kept as its bytes
                assert upstream.type in (FD.TYPE_MESSAGE, FD.TYPE_BYTES), (name, field.name)
            elif upstream.type == FD.TYPE_ENUM:
                assert field.type == FD.TYPE_INT32, (name, field.name)
            else:
                assert field.type == upstream.type, (name, field.name)
    for ported in (flow_pb2.UDP.DESCRIPTOR, flow_pb2.SCTP.DESCRIPTOR):
        assert ported.fields_by_name["destination_port"].number == 2


def test_the_source_port_is_not_in_the_view_at_all():
    response = observer_pb2.GetFlowsResponse()
    response.flow.l4.UDP.source_port = 40000
    response.flow.l4.UDP.destination_port = 53
    flow = ResponseView.FromString(response.SerializeToString()).flow
    assert "source_port" not in flow.l4.UDP.DESCRIPTOR.fields_by_name
    assert flow.l4.UDP.destination_port == 53
    assert FlowView.DESCRIPTOR.fields_by_name["source"].type == FD.TYPE_BYTES


def _reference(flow):
    """Key fields read the slow way, from the full generated classes."""
    l4 = flow.l4.WhichOneof("protocol") or ""
    return (flow.time.ToNanoseconds(), flow.IP.source, flow.IP.destination, l4,
            getattr(flow.l4, l4).destination_port if l4 in ("TCP", "UDP", "SCTP") else 0,
            flow.source.namespace, flow.source.pod_name,
            flow.source.workloads[0].name if flow.source.workloads else "",
            flow.destination.identity, tuple(flow.destination.labels),
            flow.destination.workloads[0].kind if flow.destination.workloads else "",
            flow.node_name, flow.is_reply.value if flow.HasField("is_reply") else None,
            len(flow.ingress_allowed_by) + len(flow.egress_allowed_by),
            len(flow.ingress_denied_by) + len(flow.egress_denied_by))


def _fast(record):
    return (record.time_ns, record.source_ip, record.destination_ip, record.l4_protocol,
            record.destination_port, record.source.namespace, record.source.pod,
            record.source.workload_name, record.destination.identity,
            record.destination.labels,
            record.destination.workload_kind, record.node_name, record.is_reply,
            len(record.allowed_by), len(record.denied_by))


def test_fast_decoding_equals_the_full_classes_on_fixture_and_synthetic_frames():
    sequence = build_sequence("synthetic", total=3000)
    sequence.start(1000.0)
    raws = frames.read_frames("hubble/getflows.bin") + [sequence.frame(i) for i in range(3000)]
    decoder = FlowDecoder()
    records = iter(decoder.decode_many(raws))
    compared = 0
    for raw in raws:
        response = observer_pb2.GetFlowsResponse.FromString(raw)
        if response.WhichOneof("response_types") != "flow":
            continue
        want, got = _reference(response.flow), _fast(next(records))
        if want[10]:  # labels are kept only for peers without a workload
            want = (*want[:9], (), *want[10:])
        assert got == want
        compared += 1
    assert compared == decoder.counters["flows"] > 3000
    assert next(records, None) is None


def test_caches_stay_bounded_and_count_their_resets(monkeypatch):
    monkeypatch.setattr(flow_codec, "CACHE_LIMIT", 8)          # the shape memo
    monkeypatch.setattr(flow_fields_codec, "CACHE_LIMIT", 8)   # endpoints, policies, ...
    decoder = FlowDecoder()
    raws = []
    for i in range(50):
        response = observer_pb2.GetFlowsResponse()
        response.flow.source.pod_name = f"pod-{i}"
        response.flow.source.namespace = "shop"
        response.flow.ingress_allowed_by.add(name=f"p{i}", namespace="shop")
        raws.append(response.SerializeToString())
    records = decoder.decode_many(raws)
    assert [r.source.pod for r in records] == [f"pod-{i}" for i in range(50)]
    assert [r.allowed_by for r in records] == [(f"ingress:Policy:shop/p{i}",) for i in range(50)]
    assert len(decoder._endpoints) <= 8
    assert len(decoder._policies) <= 8
    assert len(decoder._shapes) <= 8
    assert decoder.counters["decode_cache_resets"] > 0


def test_a_malformed_endpoint_inside_a_flow_is_a_malformed_frame_not_a_flow():
    broken_endpoint = b"\x42\x03\x0a\xff\xff"   # flow.source = bytes that do not parse
    raw = b"\x0a" + bytes([len(broken_endpoint)]) + broken_endpoint
    decoder = FlowDecoder()
    assert decoder.decode_bytes(raw) is None
    assert decoder.counters["malformed_frames"] == 1
    assert decoder.counters["flows"] == 0
