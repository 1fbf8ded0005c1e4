"""``OtelMetricsDriver``: the real OpenTelemetry SDK exporter, one MeterProvider per fake pod.

No Collector binary can be had here, so the OTLP sender is the SDK's own ``OTLPMetricExporter``
(gRPC, gzip) — the same encoder a Collector's otlp exporter uses. Each simulated pod has its
own Resource with the k8sattributes keys (namespace, pod, uid, node, container, deployment),
records a counter, a gauge, an explicit-bucket histogram and an exponential histogram on a
background thread, and exports every ``interval_s``. ``stop()`` flushes and shuts down; the
driver counts what it recorded so a demo or test can compare with what the operator stored.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading

import grpc
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

__all__ = ["FakePod", "OtelMetricsDriver", "default_pods"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class FakePod:
    """The Kubernetes identity one MeterProvider reports as."""

    namespace: str
    deployment: str
    pod: str
    node: str
    container: str = "app"

    def resource(self) -> Resource:
        replicaset = self.pod.rsplit("-", 1)[0]
        return Resource.create({
            "k8s.namespace.name": self.namespace, "k8s.pod.name": self.pod,
            "k8s.pod.uid": f"uid-{self.pod}", "k8s.node.name": self.node,
            "k8s.container.name": self.container, "k8s.replicaset.name": replicaset,
            "k8s.deployment.name": self.deployment, "service.name": self.deployment})


def default_pods() -> list[FakePod]:
    return [FakePod("shop", "cart", "cart-7d9f8c6b5-x2x4z", "node-1"),
            FakePod("shop", "cart", "cart-7d9f8c6b5-q8w1k", "node-2"),
            FakePod("shop", "checkout", "checkout-5c4b9d7f6-m3n4p", "node-1")]


class OtelMetricsDriver:
    """Pushes metrics for ``pods`` to ``endpoint`` (host:port) until ``stop()``."""

    def __init__(self, endpoint: str, pods: list[FakePod] | None = None, *,
                 interval_s: float = 2.0, record_every_s: float = 0.25, seed: int = 7) -> None:
        self.endpoint = endpoint
        self.pods = pods or default_pods()
        self.interval_s = interval_s
        self.record_every_s = record_every_s
        self.recorded = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._providers: list[tuple[FakePod, MeterProvider]] = []

    def start(self) -> OtelMetricsDriver:
        for pod in self.pods:
            exporter = OTLPMetricExporter(endpoint=self.endpoint, insecure=True,
                                          compression=grpc.Compression.Gzip, timeout=5)
            reader = PeriodicExportingMetricReader(
                exporter, export_interval_millis=int(self.interval_s * 1000))
            view = View(instrument_name="http.server.request.body.size",
                        aggregation=ExponentialBucketHistogramAggregation(max_size=40))
            self._providers.append((pod, MeterProvider(resource=pod.resource(),
                                                       metric_readers=[reader], views=[view])))
        self._thread = threading.Thread(target=self._record_loop, name="otel-driver",
                                        daemon=True)
        self._thread.start()
        return self

    def _record_loop(self) -> None:
        instruments = []
        for pod, provider in self._providers:
            meter = provider.get_meter(pod.deployment, "1.0")
            instruments.append((
                meter.create_counter("http.server.requests", unit="1"),
                meter.create_gauge("process.inflight.requests"),
                meter.create_histogram("http.server.duration", unit="s"),
                meter.create_histogram("http.server.request.body.size", unit="By")))
        while not self._stop.wait(self.record_every_s):
            for requests, inflight, duration, body in instruments:
                route = self._rng.choice(("/cart", "/checkout", "/health"))
                requests.add(self._rng.randint(1, 20), {"route": route})
                inflight.set(self._rng.randint(0, 30), {"route": route})
                duration.record(self._rng.expovariate(20.0), {"route": route})
                body.record(self._rng.randint(10, 5000))
                self.recorded += 4

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for _pod, provider in self._providers:
            try:
                provider.shutdown(timeout_millis=3000)
            except Exception:  # the receiver may already be gone
                logger.warning("OTel provider shutdown failed", exc_info=True)
        self._providers.clear()
