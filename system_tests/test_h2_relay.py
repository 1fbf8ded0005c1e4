"""The h2 relay (sim/hubble/h2_relay.py) against the real gRPC client stack, over loopback.

It must be a drop-in for the grpcio relay: the real ``HubbleFlowClient`` (follow, then cancel on
stop) gets exactly the records, in order, that the grpcio relay delivers for the same filters
and node_name partitions; two shards on two connections at once split a pass exactly; unknown
methods and unsupported filters get UNIMPLEMENTED; clients cancelling mid-stream and a relay
restart (resume with ``since``) leave it serving exactly.
"""

import collections
import queue
import subprocess
import sys
import time

import grpc
import pytest

from actors.flows.aggregation import FlowAggregator, flow_key
from actors.flows.flow_codec import FlowDecoder, FlowRecord
from actors.flows.flow_request_codec import build_request, shard_nodes
from actors.flows.hubble_client_adapter import FlowBatch, HubbleFlowClient
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import FlowSettings
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2, observer_pb2_grpc
from sim.hubble.h2_relay import H2RelaySimulator
from sim.hubble.history import build_sequence
from sim.hubble.observer_semantics import AllowedSlots, relay_nodes
from sim.hubble.relay import RelaySimulator

pytestmark = pytest.mark.system


@pytest.fixture
def relays():
    started = []

    def make(kind, sequence, port=0):
        relay = (H2RelaySimulator if kind == "h2" else RelaySimulator)(sequence, port=port)
        relay.start()
        started.append(relay)
        return relay
    yield make
    for relay in started:
        relay.stop(0)


def _expected_count(sequence, settings):
    nodes = (shard_nodes(relay_nodes(sequence), settings.shards, settings.shard_index)
             if settings.shards > 1 else None)
    allowed = AllowedSlots(sequence).for_request(build_request(settings, nodes, None))
    return sum(allowed[i % len(allowed)] for i in range(sequence.total))


def _collect(relay, settings, want, deadline_s=20.0, settle_s=0.3):
    """Records the real client delivers (in order): ``want`` of them, then nothing more for
    ``settle_s``; the client stop cancels the follow stream."""
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=10_000)
    client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", None, "t"), settings, sink)
    records: list[FlowRecord] = []
    client.start()
    try:
        deadline = time.monotonic() + deadline_s
        quiet_until = None
        while time.monotonic() < deadline:
            if len(records) >= want:
                quiet_until = quiet_until or time.monotonic() + settle_s
                if time.monotonic() >= quiet_until:
                    break
            try:
                records.extend(sink.get(timeout=0.05).records)
            except queue.Empty:
                client.flush_pending()
    finally:
        client.stop()
    return records, client.stats()


_SETTINGS = {
    "default": FlowSettings(),
    "shard_0_of_2": FlowSettings(shards=2, shard_index=0),
    "shard_1_of_2": FlowSettings(shards=2, shard_index=1),
    "dropped_only_with_replies": FlowSettings(whitelist=({"verdict": ["DROPPED"]},),
                                              drop_replies=False),
}


@pytest.mark.parametrize("name", sorted(_SETTINGS))
def test_h2_relay_delivers_exactly_what_the_grpcio_relay_delivers(relays, name):
    settings = _SETTINGS[name]
    sequence = build_sequence("synthetic", total=4000, nodes=6, pool_size=1024)
    want = _expected_count(sequence, settings)
    assert 0 < want < sequence.total
    grpcio_records, _ = _collect(relays("grpcio", sequence), settings, want)
    h2_records, stats = _collect(relays("h2", sequence), settings, want)
    assert len(grpcio_records) == want
    assert h2_records == grpcio_records
    assert stats.get("stream_errors", 0) == 0


def test_two_shards_on_two_connections_split_one_pass_exactly(relays):
    sequence = build_sequence("synthetic", total=20_000, nodes=6, pool_size=2048)
    relay = relays("h2", sequence)
    settings = [FlowSettings(shards=2, shard_index=i) for i in range(2)]
    sinks: list[queue.Queue[FlowBatch]] = [queue.Queue(maxsize=10_000) for _ in settings]
    clients = [HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", None, "t"), s, sink)
               for s, sink in zip(settings, sinks, strict=True)]
    wants = [_expected_count(sequence, s) for s in settings]
    aggregators = [FlowAggregator(), FlowAggregator()]
    got = [0, 0]
    for client in clients:
        client.start()
    try:
        deadline = time.monotonic() + 30
        while got != wants and time.monotonic() < deadline:
            for i, (client, sink) in enumerate(zip(clients, sinks, strict=True)):
                try:
                    batch = sink.get(timeout=0.02)
                except queue.Empty:
                    client.flush_pending()
                    continue
                aggregators[i].add_many(batch.records)
                got[i] += len(batch.records)
        time.sleep(0.3)
        for i, (client, sink) in enumerate(zip(clients, sinks, strict=True)):
            client.flush_pending()
            while not sink.empty():
                got[i] += len(sink.get_nowait().records)   # nothing more may arrive
    finally:
        for client in clients:
            client.stop()
    assert got == wants
    assert sum(wants) == _expected_count(sequence, FlowSettings())
    windows = [a.flush() for a in aggregators]
    assert [sum(r["count"] for r in w.records) for w in windows] == wants
    assert relay.streams_opened == 2


def test_unknown_methods_and_unsupported_filters_get_unimplemented(relays):
    relay = relays("h2", build_sequence("synthetic", total=100))
    with grpc.insecure_channel(f"127.0.0.1:{relay.port}") as channel:
        with pytest.raises(grpc.RpcError) as unknown:
            channel.unary_unary("/observer.Observer/GetAgentEvents")(b"", timeout=5)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
        stub = observer_pb2_grpc.ObserverStub(channel)
        pods = observer_pb2.GetFlowsRequest(
            whitelist=[flow_pb2.FlowFilter(source_pod=["shop/web"])])
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.GetFlows(pods, timeout=5))
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "source_pod" in (refused.value.details() or "")
        status = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)
        assert status.max_flows == 100


def test_clients_cancelling_mid_stream_do_not_break_the_server(relays):
    sequence = build_sequence("synthetic", total=30_000, pool_size=1024)
    relay = relays("h2", sequence)
    with grpc.insecure_channel(f"127.0.0.1:{relay.port}") as channel:
        stub = observer_pb2_grpc.ObserverStub(channel)
        for _ in range(3):
            call = stub.GetFlows(observer_pb2.GetFlowsRequest(follow=True), timeout=20)
            for count, _ in enumerate(call, 1):
                if count == 500:
                    break
            call.cancel()
        everything = list(stub.GetFlows(observer_pb2.GetFlowsRequest(), timeout=30))
    with grpc.insecure_channel(f"127.0.0.1:{relay.port}") as channel:
        again = list(observer_pb2_grpc.ObserverStub(channel).GetFlows(
            observer_pb2.GetFlowsRequest(number=10), timeout=10))
    assert len(everything) == sequence.total
    assert again == [observer_pb2.GetFlowsResponse.FromString(sequence.frame(i))
                     for i in range(sequence.total - 10, sequence.total)]
    deadline = time.monotonic() + 5
    while relay.streams_cancelled < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relay.streams_cancelled == 3
    assert relay.streams_opened == 5


def test_relay_restart_mid_stream_is_resumed_exactly(relays):
    sequence = build_sequence("synthetic", total=6000, rate=1500.0, nodes=4)
    settings = FlowSettings(batch_max_records=64, batch_max_delay_s=0.05,
                            reconnect_min_s=0.1, reconnect_max_s=0.5)
    want = _expected_count(sequence, settings)
    relay = relays("h2", sequence)
    port = relay.port
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=10_000)
    client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{port}", None, "t"), settings, sink)
    records: list[FlowRecord] = []
    client.start()
    try:
        while len(records) < 1000:
            records.extend(sink.get(timeout=10).records)
        relay.stop(0)
        time.sleep(0.5)
        relays("h2", sequence, port=port)
        deadline = time.monotonic() + 20
        while len(records) < want and time.monotonic() < deadline:
            try:
                records.extend(sink.get(timeout=0.2).records)
            except queue.Empty:
                client.flush_pending()
    finally:
        client.stop()
    assert len(records) == want
    assert collections.Counter(flow_key(r) for r in records) == collections.Counter(
        flow_key(r) for r in _collect_direct(sequence, settings))
    assert client.stats()["since_resumes"] >= 1


def _collect_direct(sequence, settings):
    decoder = FlowDecoder()
    records = [decoder.decode_bytes(sequence.frame(i)) for i in range(sequence.total)]
    return [r for r in records if r is not None and not r.is_reply]


def test_cli_engine_h2_prints_the_ready_line_and_serves():
    relay = subprocess.Popen([sys.executable, "-m", "sim.hubble", "--engine", "h2", "--mode",
                              "synthetic", "--total", "300", "--seconds", "30"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout is not None
        line = relay.stdout.readline().strip()
        assert line.startswith("sim.hubble listening on 127.0.0.1:")
        with grpc.insecure_channel(line.rsplit(" ", 1)[1]) as channel:
            flows = list(observer_pb2_grpc.ObserverStub(channel).GetFlows(
                observer_pb2.GetFlowsRequest(), timeout=10))
        assert len(flows) == 300
    finally:
        relay.terminate()
        assert relay.wait(10) is not None
