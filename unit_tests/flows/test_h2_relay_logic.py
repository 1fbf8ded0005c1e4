"""The h2 relay's answers without sockets: framing, and GetFlows equal to the grpcio relay's."""

import pytest

from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from sim.hubble.h2_connection import _grpc_message_header
from sim.hubble.h2_get_flows import (
    GRPC_INVALID_ARGUMENT,
    GRPC_OK,
    GRPC_UNIMPLEMENTED,
    grpc_message,
    parse_message,
)
from sim.hubble.h2_relay import H2RelaySimulator
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator


class _ActiveContext:
    def is_active(self):
        return True

    def abort(self, code, details):
        raise AssertionError(f"aborted {code}: {details}")


def _split(data):
    messages, offset = [], 0
    while offset < len(data):
        assert data[offset] == 0
        length = int.from_bytes(data[offset + 1:offset + 5], "big")
        messages.append(data[offset + 5:offset + 5 + length])
        offset += 5 + length
    assert offset == len(data)
    return messages


def _drain(chunks, max_bytes=64_000):
    data = b""
    while not chunks.done:
        chunk = chunks.next_chunk(max_bytes)
        if not chunk:
            break
        data += chunk
    return _split(data)


def test_grpc_message_framing_round_trips_and_refuses_bad_bodies():
    assert grpc_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert parse_message(grpc_message(b"abc")) == b"abc"
    assert parse_message(grpc_message(b"")) == b""
    with pytest.raises(ValueError, match="prefix"):
        parse_message(b"\x00\x00")
    with pytest.raises(ValueError, match="compressed"):
        parse_message(b"\x01\x00\x00\x00\x01x")
    with pytest.raises(ValueError, match="prefix says"):
        parse_message(b"\x00\x00\x00\x00\x05abc")


def _requests(sequence):
    node_1 = flow_pb2.FlowFilter(node_name=["sim/node-1", "node-3"])
    replies = flow_pb2.FlowFilter(reply=[True])
    return {
        "all": observer_pb2.GetFlowsRequest(),
        "shard_without_replies": observer_pb2.GetFlowsRequest(whitelist=[node_1],
                                                              blacklist=[replies]),
        "dropped": observer_pb2.GetFlowsRequest(
            whitelist=[flow_pb2.FlowFilter(verdict=[flow_pb2.DROPPED])]),
        "number": observer_pb2.GetFlowsRequest(number=37),
        "since_until": observer_pb2.GetFlowsRequest(
            since=_timestamp(sequence.time_ns(100)), until=_timestamp(sequence.time_ns(400))),
    }


def _timestamp(ns):
    request = observer_pb2.GetFlowsRequest()
    request.since.FromNanoseconds(ns)
    return request.since


@pytest.mark.parametrize("name", ["all", "shard_without_replies", "dropped", "number",
                                  "since_until"])
def test_get_flows_serves_exactly_what_the_grpcio_relay_serves(name):
    sequence = build_sequence("synthetic", total=1500, nodes=4, pool_size=512)
    sequence.start()   # both relays see a running history (no stream restarts the clock)
    request = _requests(sequence)[name]
    grpcio_frames = list(RelaySimulator(sequence)._get_flows(request, _ActiveContext()))
    reply = H2RelaySimulator(sequence).answer("/observer.Observer/GetFlows",
                                              grpc_message(request.SerializeToString()))
    assert reply.status == GRPC_OK
    assert reply.chunks is not None
    assert _drain(reply.chunks, max_bytes=3000) == grpcio_frames
    assert reply.chunks.done
    assert reply.chunks.sent == len(grpcio_frames)
    assert 0 < len(grpcio_frames) <= sequence.total


def test_a_follower_waits_at_the_end_of_the_history_and_chunks_respect_the_size():
    sequence = build_sequence("synthetic", total=300, pool_size=64)
    relay = H2RelaySimulator(sequence)
    request = observer_pb2.GetFlowsRequest(follow=True)
    chunks = relay.answer("/observer.Observer/GetFlows",
                          grpc_message(request.SerializeToString())).chunks
    assert chunks is not None
    assert len(_split(chunks.next_chunk(1))) == 1          # at least one message
    middle = chunks.next_chunk(4000)
    assert 4000 <= len(middle) < 4000 + max(len(sequence.frame(i)) + 5 for i in range(300))
    rest = _drain(chunks)
    assert 1 + len(_split(middle)) + len(rest) == 300
    assert not chunks.done
    assert chunks.caught_up()
    assert chunks.at_end()
    assert chunks.next_chunk(4000) == b""
    assert relay.streams_opened == 1


def test_unknown_methods_unsupported_filters_and_bad_bodies_are_refused():
    relay = H2RelaySimulator(build_sequence("synthetic", total=10))
    unknown = relay.answer("/observer.Observer/GetAgentEvents", grpc_message(b""))
    assert unknown.status == GRPC_UNIMPLEMENTED
    assert unknown.chunks is None
    assert relay.answer("/other.Service/GetFlows", b"").status == GRPC_UNIMPLEMENTED
    pods = observer_pb2.GetFlowsRequest(whitelist=[flow_pb2.FlowFilter(source_pod=["x"])])
    refused = relay.answer("/observer.Observer/GetFlows", grpc_message(pods.SerializeToString()))
    assert refused.status == GRPC_UNIMPLEMENTED
    assert "source_pod" in refused.message
    assert relay.answer("/observer.Observer/GetFlows", b"\x00\x00").status == \
        GRPC_INVALID_ARGUMENT
    assert relay.answer("/observer.Observer/GetFlows", grpc_message(b"\xff\xff")).status == \
        GRPC_INVALID_ARGUMENT
    assert relay.streams_opened == 0
    assert not relay.sequence.started


def test_get_nodes_and_server_status_answer_like_the_grpcio_relay():
    sequence = build_sequence("synthetic", total=10, nodes=3)
    relay = H2RelaySimulator(sequence)
    nodes = relay.answer("/observer.Observer/GetNodes", grpc_message(b""))
    names = [n.name for n in observer_pb2.GetNodesResponse.FromString(
        _split(nodes.pending)[0]).nodes]
    assert names == RelaySimulator(sequence).nodes
    assert len(names) == 3
    status = relay.answer("/observer.Observer/ServerStatus", grpc_message(b""))
    decoded = observer_pb2.ServerStatusResponse.FromString(_split(status.pending)[0])
    assert decoded.max_flows == 10
    assert decoded.num_connected_nodes.value == 3


def test_grpc_message_header_is_percent_encoded():
    assert _grpc_message_header("plain [text] 'ok'") == "plain [text] 'ok'"
    assert _grpc_message_header("100% é\n") == "100%25 %C3%A9%0A"
