"""OTLP receiver over real loopback gRPC: fixtures with gzip, bad input, backpressure, limits."""

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from actors.metrics.ingest_queue import IngestQueue
from actors.metrics.otlp_server import EXPORT_METHOD, OtlpMetricsServer
from unit_tests.metrics.fixtures import NAMES, frames
from unit_tests.metrics.otlp_builders import T0, gauge, pod_resource, request


@pytest.fixture
def receiver():
    queue = IngestQueue(max_batches=4)
    server = OtlpMetricsServer(host="127.0.0.1", port=0, sink=queue.offer,
                               max_message_bytes=2 * 1024 * 1024, workers=2,
                               ready=queue.has_room)
    port = server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    export = channel.unary_unary(EXPORT_METHOD)
    yield server, queue, export
    channel.close()
    server.stop(0)


def _call(export, body, **kw):
    raw = export(body, timeout=10, compression=grpc.Compression.Gzip, **kw)
    return ExportMetricsServiceResponse.FromString(raw)


def _good():
    return request([(pod_resource(), [gauge("g", [(T0, 1.0)])])])


def test_fixtures_replayed_with_gzip_reach_the_sink(receiver):
    server, queue, export = receiver
    sent = 0
    for name in NAMES:
        for body in frames(name):
            assert not _call(export, body).HasField("partial_success")
            sent += 1
            drained = queue.drain()
            assert len(drained) == 1
    assert server.counters["requests_accepted"] == sent
    assert server.counters["points_accepted"] == server.counters["points_received"] - 1  # stale
    stats = server.stats()
    assert stats["series_cache_entries"] > 0
    assert stats["template_misses"] == sent


def test_malformed_protobuf_is_invalid_argument_and_receiver_keeps_serving(receiver):
    server, queue, export = receiver
    with pytest.raises(grpc.RpcError) as err:
        export(b"\x0a\xff\xff\xff\xff\x0f junk", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an ExportMetricsServiceRequest" in err.value.details()
    assert server.counters["requests_malformed"] == 1
    _call(export, _good())
    assert len(queue.drain()) == 1


def test_gzip_bomb_and_oversized_message_are_refused_by_grpc(receiver):
    server, _, export = receiver
    bomb = b"\x0a" + b"\0" * (16 * 1024 * 1024)   # 16 MiB that gzip squeezes to ~16 KiB
    for compression in (grpc.Compression.Gzip, grpc.Compression.NoCompression):
        with pytest.raises(grpc.RpcError) as err:
            export(bomb, timeout=20, compression=compression)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in err.value.details()
    assert server.counters["requests"] == 0       # refused before the handler ran
    assert _call(export, _good()) is not None


def test_nan_and_inf_points_answer_partial_success(receiver):
    server, queue, export = receiver
    body = request([(pod_resource(), [gauge("g", [(T0, float("nan")), (T0 + 1, float("-inf")),
                                                  (T0 + 2, 3.0)])])])
    response = _call(export, body)
    assert response.partial_success.rejected_data_points == 2
    assert "non_finite_value=2" in response.partial_success.error_message
    assert queue.drain()[0].value.tolist() == [3.0]
    assert server.counters["points_rejected"] == 2


def test_full_queue_answers_unavailable_so_the_sender_retries(receiver):
    server, queue, export = receiver
    for _ in range(4):
        _call(export, _good())
    with pytest.raises(grpc.RpcError) as err:
        _call(export, _good())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry" in err.value.details()
    assert server.counters["requests_busy"] == 1
    assert server.counters["requests_malformed"] == 0
    assert server.counters["points_received"] == 4     # the refused request was not decoded
    assert len(queue.drain()) == 4
    _call(export, _good())
    assert len(queue.drain()) == 1


def test_sink_refusal_after_decoding_is_unavailable_too():
    server = OtlpMetricsServer(host="127.0.0.1", port=0, sink=lambda batch: False, workers=1)
    port = server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        with pytest.raises(grpc.RpcError) as err:
            _call(channel.unary_unary(EXPORT_METHOD), _good())
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.counters["requests_busy"] == 1
        assert server.counters["points_received"] == 1
    finally:
        channel.close()
        server.stop(0)
