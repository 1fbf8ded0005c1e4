"""A 200k-series explosion over real gRPC: the store refuses new series beyond max_series,
counts them, keeps the existing ones, and the receiver keeps serving."""

import struct
import time

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from actors.metrics.ingest_queue import IngestQueue
from actors.metrics.otlp_server import EXPORT_METHOD, OtlpMetricsServer
from actors.metrics.query import run_query
from actors.metrics.ring_store import RingStore
from messages.metrics import MetricsQueryRequested

pytestmark = pytest.mark.system

SERIES, PER_REQUEST, MAX_SERIES = 200_000, 50_000, 20_000


def _len(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _len(len(payload)) + payload


def _explosion_request(first: int, now_ns: int) -> bytes:
    """One Sum metric with PER_REQUEST points, each its own series (``user.id``), encoded
    directly on the wire (200k points through the protobuf builder would dominate the test)."""
    head = ExportMetricsServiceRequest()
    rm = head.resource_metrics.add()
    for key, value in (("k8s.namespace.name", "shop"), ("k8s.pod.name", "cart-1"),
                       ("k8s.deployment.name", "cart")):
        rm.resource.attributes.add(key=key).value.string_value = value
    resource = rm.resource.SerializeToString()
    fixed = b"\x19" + struct.pack("<Q", now_ns)
    points = b"".join(
        _field(0x0A, fixed + b"\x31" + struct.pack("<q", i) + _field(
            0x3A, _field(0x0A, b"user.id") + _field(0x12, _field(0x0A, f"u{i}".encode()))))
        for i in range(first, first + PER_REQUEST))
    cumulative = bytes([0x10, metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE, 0x18, 1])
    metric = _field(0x0A, b"http.requests.by_user") + _field(0x3A, points + cumulative)
    scope_metrics = _field(0x12, metric)
    return _field(0x0A, _field(0x0A, resource) + _field(0x12, scope_metrics))


def test_series_explosion_is_refused_counted_and_receiver_keeps_serving():
    queue = IngestQueue(max_batches=8)
    server = OtlpMetricsServer(host="127.0.0.1", port=0, sink=queue.offer, workers=2,
                               max_message_bytes=32 * 1024 * 1024)
    store = RingStore(ring_size=8, max_series=MAX_SERIES, retention_ns=1800 * 10**9,
                      clock_ns=time.time_ns)
    port = server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                    options=[("grpc.max_send_message_length", 64 << 20)])
    try:
        export = channel.unary_unary(EXPORT_METHOD)
        now = time.time_ns()
        decoded = ExportMetricsServiceRequest.FromString(_explosion_request(7, now))
        metric = decoded.resource_metrics[0].scope_metrics[0].metrics[0]
        assert metric.sum.is_monotonic
        assert metric.sum.data_points[1].as_int == 8
        assert metric.sum.data_points[1].attributes[0].value.string_value == "u8"
        for first in range(0, SERIES, PER_REQUEST):
            raw = export(_explosion_request(first, now), timeout=60,
                         compression=grpc.Compression.Gzip)
            assert not ExportMetricsServiceResponse.FromString(raw).HasField("partial_success")
            for batch in queue.drain():
                store.ingest(batch)
        stats = store.stats()
        assert stats["series"] == MAX_SERIES
        assert stats["series_refused"] == SERIES - MAX_SERIES
        assert stats["points_refused_series_limit"] == SERIES - MAX_SERIES
        assert stats["memory_bytes"] < 64 * 1024 * 1024
        # existing series keep getting points; the receiver still answers
        again = _explosion_request(0, now + 10**9)
        export(again, timeout=60, compression=grpc.Compression.Gzip)
        result = store.ingest(queue.drain()[0])
        assert result.stored == MAX_SERIES
        assert result.series_refused == PER_REQUEST - MAX_SERIES
        answer = run_query(store, MetricsQueryRequested(
            request_id="q", namespace="shop", max_series=10), time.time_ns())
        assert answer.truncated
        assert answer.total_series_matched == MAX_SERIES
        assert [dict(s.labels)["user.id"] for s in answer.series][:2] == ["u0", "u1"]
    finally:
        channel.close()
        server.stop(0)
