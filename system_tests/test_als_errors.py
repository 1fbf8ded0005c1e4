"""The ALS server under bad input: clear gRPC statuses and counters, never a crash.

Malformed frames and a first message without identifier end that stream with INVALID_ARGUMENT;
a message over ``max_message_bytes`` is refused with RESOURCE_EXHAUSTED; unknown enum values are
delivered, then counted and kept by the consumer. After all of it the server still serves a good
stream.
"""

import asyncio
import queue
import time

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.als_server import AccessLogBatch, AccessLogServer
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.l7_extraction import MessageFolder
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import WorkloadMapper
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.envoy.sidecars import run_sidecars
from sim.envoy.streams import fixture_stream, replay_stream

pytestmark = pytest.mark.system


@pytest.fixture
def server_and_sink():
    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=10_000)
    srv = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0,
                                            max_message_bytes=64 * 1024), sink)
    srv.start()
    yield srv, sink
    srv.stop()


def _send(srv, streams):
    return asyncio.run(run_sidecars(f"127.0.0.1:{srv.port}", streams, timeout=20))


def test_malformed_missing_identifier_and_huge_messages(server_and_sink):
    server, _ = server_and_sink
    http = fixture_stream("http")
    huge = als_pb2.StreamAccessLogsMessage.FromString(http[0])
    huge.identifier.node.metadata.fields["PADDING"].string_value = "x" * (100 * 1024)
    giant = als_pb2.StreamAccessLogsMessage()
    giant.identifier.node.id = "y" * (300 * 1024)  # past gRPC's own hard cap (4x)
    report = _send(server, [
        [http[0], b"\x0a\xff\xff\xff\xff\x0f"],     # good first message, then garbage
        [http[1]],                                  # no identifier on the first message
        [huge.SerializeToString()],                 # over max_message_bytes
        [giant.SerializeToString()],                # refused by gRPC before our handler
    ])
    statuses = "\n".join(report.statuses)
    assert report.streams_failed == 4
    assert "INVALID_ARGUMENT: malformed StreamAccessLogsMessage" in statuses
    assert "INVALID_ARGUMENT: first StreamAccessLogsMessage of a stream has no identifier" \
        in statuses
    assert "RESOURCE_EXHAUSTED: StreamAccessLogsMessage of 1" in statuses
    assert "RESOURCE_EXHAUSTED: SERVER: Received message larger than max" in statuses
    stats = server.stats()
    assert stats["malformed_frames"] == 1
    assert stats["missing_identifier"] == 1
    assert stats["oversized_messages"] == 1
    assert stats["streams_without_messages"] == 1
    assert stats["streams_rejected"] == 3
    assert _send(server, [replay_stream(http, 1, max_messages=2)]).streams_ok == 1
    assert server.stats()["streams_identified"] == 2


def test_unknown_enum_values_are_counted_not_rejected(server_and_sink):
    server, sink = server_and_sink
    message = als_pb2.StreamAccessLogsMessage()
    message.identifier.node.id = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local"
    entry = message.http_logs.log_entry.add()
    entry.request.request_method = 99  # type: ignore[assignment]
    entry.common_properties.access_log_type = 55  # type: ignore[assignment]
    report = _send(server, [[message.SerializeToString()]])
    assert report.streams_ok == 1
    assert server.stats()["entries_delivered"] == 1
    batch = sink.get(timeout=5)
    aggregator = L7Aggregator()
    assert MessageFolder(aggregator, WorkloadMapper()).fold(
        batch.identity, batch.message, batch.raw) == 1
    window = aggregator.flush()
    assert window.counters["unknown_enum_values.request_method"] == 1
    assert [record["method"] for record in window.records] == ["UNKNOWN_99"]
    decoder = AlsStreamDecoder()   # the tuple decoder (replays, tests) counts every enum
    assert decoder.decode(batch.message)[0].method == "UNKNOWN_99"
    assert decoder.counters["unknown_enum_values.access_log_type"] == 1


def test_full_sink_drops_and_counts_instead_of_blocking():
    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=1)
    srv = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    srv.start()
    try:
        report = _send(srv, [replay_stream(fixture_stream("http"), 0, max_messages=4)])
    finally:
        srv.stop()
    assert report.streams_ok == 1
    stats = srv.stats()
    assert stats["batches_delivered"] == 1
    assert stats["batches_dropped"] == 3
    assert stats["entries_dropped_sink_full"] > 0


def test_port_in_use_is_a_clear_start_error(server_and_sink):
    server, _ = server_and_sink
    clash = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=server.port), queue.Queue())
    with pytest.raises(OSError, match="failed to start"):
        clash.start()
    clash.stop()


def test_stream_limit_rejects_the_excess_with_a_clear_status():
    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=1000)
    srv = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0,
                                            max_concurrent_streams=3), sink)
    srv.start()
    try:
        http = fixture_stream("http")
        streams = [replay_stream(http, i, max_messages=1) for i in range(5)]

        async def excess_refused():
            deadline = time.monotonic() + 10
            while srv.stats().get("streams_over_limit", 0) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

        report = asyncio.run(run_sidecars(f"127.0.0.1:{srv.port}", streams, hold_open=True,
                                          hold_until=excess_refused, timeout=20))
    finally:
        srv.stop()
    assert report.streams_ok == 3
    assert report.statuses["RESOURCE_EXHAUSTED: more than 3 concurrent ALS streams"] == 2
    assert srv.stats()["streams_over_limit"] == 2
