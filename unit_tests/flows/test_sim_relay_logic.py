"""The simulated relay's history and filter semantics (the peer our system tests rely on)."""

import pytest

from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from sim.hubble.flow_source import FlowSequence, PoolEntry
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator, filter_matches


def _entry(node="c/n1", reply=None, verdict=flow_pb2.FORWARDED, is_flow=True):
    return PoolEntry(b"", is_flow, 0, node, reply, verdict)


def test_frames_carry_stamped_times_and_decode():
    sequence = build_sequence("replay", loops=2)
    n = len(sequence.pool)
    first = observer_pb2.GetFlowsResponse.FromString(sequence.frame(1))
    again = observer_pb2.GetFlowsResponse.FromString(sequence.frame(n + 1))
    assert first.flow.uuid == again.flow.uuid
    assert again.flow.time.ToNanoseconds() > first.flow.time.ToNanoseconds()
    assert first.time == first.flow.time
    times = [sequence.time_ns(i) for i in range(2 * n)]
    assert times == sorted(times)
    for index in (0, 5, n - 1, n, n + 7, 2 * n - 1):
        assert sequence.first_index_since(sequence.time_ns(index)) <= index
        assert sequence.time_ns(sequence.first_index_since(sequence.time_ns(index))) == \
            sequence.time_ns(index)
    assert sequence.first_index_since(times[-1] + 1) == 2 * n


def test_synthetic_pacing_and_since():
    sequence = build_sequence("synthetic", total=1000, rate=100.0)
    assert sequence.available() == 0  # not started: nobody is watching yet
    assert sequence.start(1000.0)
    assert not sequence.start(2000.0)
    assert sequence.available(1000.5) == 51
    assert sequence.available(1e9) == 1000
    assert sequence.first_index_since(sequence.time_ns(42)) == 42
    assert sequence.first_index_since(sequence.time_ns(42) + 1) == 43


def test_filters_follow_upstream_semantics():
    reply_filter = flow_pb2.FlowFilter(reply=[True])
    assert filter_matches(_entry(reply=True), reply_filter)
    assert not filter_matches(_entry(reply=False), reply_filter)
    assert not filter_matches(_entry(reply=None), reply_filter)  # unknown: no match
    not_reply = flow_pb2.FlowFilter(reply=[False])
    assert filter_matches(_entry(reply=None, verdict=flow_pb2.DROPPED), not_reply)
    nodes = flow_pb2.FlowFilter(node_name=["c/n1", "n3"])
    assert filter_matches(_entry(node="c/n1"), nodes)
    assert filter_matches(_entry(node="other/n3"), nodes)
    assert not filter_matches(_entry(node="c/n2"), nodes)
    glob = flow_pb2.FlowFilter(node_name=["c/*"])
    assert filter_matches(_entry(node="c/n9"), glob)
    verdicts = flow_pb2.FlowFilter(verdict=[flow_pb2.DROPPED])
    assert not filter_matches(_entry(), verdicts)
    assert not filter_matches(_entry(is_flow=False), verdicts)


def test_empty_pool_is_refused():
    with pytest.raises(ValueError, match="empty"):
        FlowSequence([], total=1)


def test_stamped_frames_are_cached_only_once_their_times_are_known():
    sequence = build_sequence("synthetic", total=50)
    early = sequence.frame(3)                         # not started: stamped, never kept
    sequence.start(1000.0)
    first = sequence.frame(3)
    assert first != early
    assert sequence.frame(3) is first                 # kept once stamped
    assert first == sequence._stamp(3)
    decoded = observer_pb2.GetFlowsResponse.FromString(first)
    assert decoded.flow.time.ToNanoseconds() == sequence.time_ns(3)


def test_the_relay_filters_each_distinct_filter_set_once():
    sequence = build_sequence("synthetic", total=100, nodes=4)
    relay = RelaySimulator(sequence)
    nodes = observer_pb2.GetFlowsRequest(whitelist=[flow_pb2.FlowFilter(node_name=["sim/node-1"])])
    same = observer_pb2.GetFlowsRequest(whitelist=[flow_pb2.FlowFilter(node_name=["sim/node-1"])])
    other = observer_pb2.GetFlowsRequest(whitelist=[flow_pb2.FlowFilter(node_name=["sim/node-2"])])
    allowed = relay._allowed(nodes)
    assert relay._allowed(same) is allowed
    assert allowed == [e.node_name == "sim/node-1" for e in sequence.pool]
    assert relay._allowed(other) == [e.node_name == "sim/node-2" for e in sequence.pool]
