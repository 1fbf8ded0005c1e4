"""The real OpenTelemetry SDK exporter (gRPC, gzip) → our receiver → ring store → query."""

import time

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from actors.metrics.ingest_queue import IngestQueue
from actors.metrics.otlp_server import OtlpMetricsServer
from actors.metrics.query import run_query
from actors.metrics.ring_store import RingStore
from actors.metrics.series import MetricKind
from messages.metrics import MetricsQueryRequested

pytestmark = pytest.mark.system

RESOURCE = {
    "k8s.cluster.name": "prod-eu-1", "k8s.namespace.name": "shop",
    "k8s.pod.name": "cart-7d9f8c6b5-x2x4z", "k8s.pod.uid": "0b6d6a2e-7a5c",
    "k8s.replicaset.name": "cart-7d9f8c6b5", "k8s.deployment.name": "cart",
    "k8s.node.name": "node-3", "k8s.container.name": "app", "service.name": "cart",
    "service.instance.id": "shop.cart-7d9f8c6b5-x2x4z.app",
}


@pytest.fixture
def pipeline():
    queue = IngestQueue(max_batches=16)
    server = OtlpMetricsServer(host="127.0.0.1", port=0, sink=queue.offer, workers=2)
    port = server.start()
    store = RingStore(ring_size=60, max_series=1000, retention_ns=1800 * 10**9,
                      clock_ns=time.time_ns)
    exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                  compression=grpc.Compression.Gzip, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create(RESOURCE), metric_readers=[reader],
                             views=[View(instrument_name="cart.batch.size",
                                         aggregation=ExponentialBucketHistogramAggregation(
                                             max_size=40))])
    yield provider, queue, store, server
    provider.shutdown(timeout_millis=5000)
    server.stop(0)


def _flush(provider, queue, store):
    assert provider.force_flush(timeout_millis=10_000)
    batches = queue.drain()
    assert batches, "the exporter delivered nothing"
    for batch in batches:
        store.ingest(batch)


def test_sdk_exporter_gauge_counter_histograms_reach_store_with_k8s_context(pipeline):
    provider, queue, store, server = pipeline
    meter = provider.get_meter("cart", "1.0")
    requests = meter.create_counter("cart.requests", unit="1")
    inflight = meter.create_gauge("cart.inflight")
    latency = meter.create_histogram("cart.latency", unit="s")
    batch_size = meter.create_histogram("cart.batch.size")
    requests.add(5, {"route": "/add"})
    inflight.set(3.5, {"route": "/add"})
    for v in (0.004, 0.02, 0.02, 0.3):
        latency.record(v, {"route": "/add"})
    for v in (1, 2, 4, 8, 8, 100):
        batch_size.record(v)
    _flush(provider, queue, store)
    time.sleep(0.01)          # the SDK's second timestamp must be later than the first
    requests.add(7, {"route": "/add"})
    inflight.set(1.0, {"route": "/add"})
    latency.record(0.02, {"route": "/add"})
    batch_size.record(3)
    _flush(provider, queue, store)
    assert server.counters["requests_accepted"] >= 2
    assert server.counters["points_rejected"] == 0

    now = time.time_ns()
    answer = run_query(store, MetricsQueryRequested(
        request_id="q", namespace="shop", workload_kind="Deployment", workload_name="cart"), now)
    assert answer.error == ""
    by_metric = {s.metric: s for s in answer.series}
    assert set(by_metric) == {"cart.requests", "cart.inflight", "cart.latency", "cart.batch.size"}
    kinds = {store.index.identity(s).metric: store.index.identity(s).kind
             for s in store.index.slot_of.values()}
    assert kinds == {"cart.requests": MetricKind.SUM, "cart.inflight": MetricKind.GAUGE,
                     "cart.latency": MetricKind.HISTOGRAM,
                     "cart.batch.size": MetricKind.EXPONENTIAL_HISTOGRAM}
    labels = dict(by_metric["cart.requests"].labels)
    assert (labels["namespace"], labels["workload_kind"], labels["workload"], labels["pod"],
            labels["container"], labels["node"], labels["route"], labels["service.name"]) == (
        "shop", "Deployment", "cart", "cart-7d9f8c6b5-x2x4z", "app", "node-3", "/add", "cart")
    assert by_metric["cart.requests"].values.tolist() == [5.0, 12.0]
    assert by_metric["cart.inflight"].values.tolist() == [3.5, 1.0]
    assert by_metric["cart.latency"].values[-1] == pytest.approx(0.364)
    assert by_metric["cart.batch.size"].values[-1] == pytest.approx(126.0)

    increase = run_query(store, MetricsQueryRequested(
        request_id="q", metric_names=("cart.requests",), function="increase"), now)
    assert increase.series[0].values.tolist() == [7.0]
    p50 = run_query(store, MetricsQueryRequested(
        request_id="q", metric_names=("cart.latency",), function="quantile", quantile=0.5,
        aggregation="sum", by=("workload",)), now)
    # the only new observation between the exports is 0.02, in the SDK default bucket (0, 5]:
    # rank 0.5 of 1 interpolates to 0 + 5 × 0.5
    assert p50.series[0].labels == (("workload", "cart"),)
    assert p50.series[0].values.tolist() == [2.5]
    exp_p50 = run_query(store, MetricsQueryRequested(
        request_id="q", metric_names=("cart.batch.size",), function="quantile", quantile=0.5),
        now)
    # the only new value is 3: the answer lies inside the exponential bucket holding 3
    assert 2.5 < exp_p50.series[0].values[0] <= 3.5
