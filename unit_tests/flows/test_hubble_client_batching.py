"""The reader's hot loop queues raw bytes; batches are decoded in bulk, nothing is lost or late.

``_consume`` is fed a plain iterator of serialized responses (what the gRPC call yields), so no
relay is needed here; the system tests run the same client against the simulated relay.
"""

import threading

from actors.flows.hubble_client_adapter import FlowBatch, HubbleFlowClient
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import FlowSettings
from messages.wire.observer import observer_pb2


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _flow(time_ns):
    response = observer_pb2.GetFlowsResponse()
    response.flow.time.FromNanoseconds(time_ns)
    response.flow.source.pod_name = "web-1"
    response.flow.l4.TCP.destination_port = 80
    return response.SerializeToString()


def _lost(count):
    response = observer_pb2.GetFlowsResponse()
    response.lost_events.num_events_lost = count
    return response.SerializeToString()


def _client(batches, clock, **settings):
    def sink(batch):
        batches.append(batch)
        return True
    return HubbleFlowClient(RelayTarget("127.0.0.1:1", None, "test"),
                            FlowSettings(**settings), sink, clock=clock)


def test_full_batches_go_at_once_and_flush_takes_the_rest():
    batches: list[FlowBatch] = []
    clock = FakeClock()
    client = _client(batches, clock, batch_max_records=4, batch_max_delay_s=3600.0)
    raws = [_flow(1_000 + i) for i in range(10)] + [_lost(3)]
    clock.now = 102.5
    assert client._consume(iter(raws), down_since=100.0) is None
    assert client.streaming
    assert client.counters["gap_ms"] == 2500          # down since 100.0, first response at 102.5
    assert [len(b.records) for b in batches] == [4, 4]
    assert client.last_time_ns == 1_007
    client.flush_pending()                            # the consumer's timer: 2 flows + lost events
    assert [len(b.records) for b in batches] == [4, 4, 2]
    assert [r.time_ns for b in batches for r in b.records] == [1_000 + i for i in range(10)]
    assert client.last_time_ns == 1_009
    assert client.counters["lost_events"] == 3
    assert client.counters["flows"] == 10


def test_an_old_partial_batch_is_handed_over_by_the_reader():
    batches: list[FlowBatch] = []
    clock = FakeClock()
    client = _client(batches, clock, batch_max_records=1_000, batch_max_delay_s=0.2)

    def slow_stream():
        for i in range(3):
            clock.now += 0.15
            yield _flow(i + 1)
    client._consume(slow_stream(), None)
    assert sum(len(b.records) for b in batches) == 2  # the third is not old yet
    client.flush_pending()
    assert sum(len(b.records) for b in batches) == 3


def test_a_concurrent_flusher_neither_loses_nor_reorders_flows():
    batches: list[FlowBatch] = []
    client = _client(batches, FakeClock(), batch_max_records=64, batch_max_delay_s=3600.0)
    raws = [_flow(i + 1) for i in range(5_000)]
    stop = threading.Event()

    def flusher():
        while not stop.is_set():
            client.flush_pending()
    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        client._consume(iter(raws), None)
    finally:
        stop.set()
        thread.join()
    client.flush_pending()
    times = [r.time_ns for b in batches for r in b.records]
    assert times == list(range(1, 5_001))
    assert client.last_time_ns == 5_000
