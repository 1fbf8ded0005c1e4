"""``BulkOtlpFiller``: fill an OTLP/gRPC metrics receiver with N series x R points, fast.

A load driver for memory benchmarks, not an SDK: it builds the Export requests of one cycle
once (``pods`` resources, each with ``metrics_per_pod`` cumulative monotonic sums of one data
point, ``k8s.*`` resource attributes so every series has its namespace, pod and deployment),
with a sentinel ``time_unix_nano``, and for each of ``rounds`` cycles patches the sentinel's
fixed64 bytes to that cycle's timestamp (``round_step_s`` apart, ending now, so every point
is inside a 30-minute retention and strictly newer than the previous one of its series). The
requests go as raw bytes on a generic unary call with ``in_flight`` calls outstanding; a call
answered UNAVAILABLE or RESOURCE_EXHAUSTED (the receiver's backpressure) is retried after a
short pause, any other error raises ``BulkFillError``. It imports no operator code.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections import deque

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

__all__ = ["BulkFillError", "BulkOtlpFiller", "FillReport"]

EXPORT_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
_SENTINEL_NS = 0x5EED_5EED_5EED_5EED       # no real timestamp or start time looks like this
_TIME_TAG = b"\x19"                          # field 3 (time_unix_nano), wire type fixed64
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


class BulkFillError(RuntimeError):
    """The receiver refused a request for a reason other than backpressure."""


@dataclasses.dataclass(frozen=True, slots=True)
class FillReport:
    """What was sent: requests, points (and how many the receiver rejected in a partial
    success), backpressure retries and the wall time it took."""

    requests: int
    points: int
    rejected: int
    retries: int
    seconds: float


def _resource(rm: metrics_pb2.ResourceMetrics, pod: int, namespaces: int,
              pods_per_workload: int) -> None:
    workload = pod // pods_per_workload
    attrs = (("k8s.namespace.name", f"ns{workload % namespaces}"),
             ("k8s.pod.name", f"wl{workload}-7d9f8c6b5-p{pod % pods_per_workload}"),
             ("k8s.deployment.name", f"wl{workload}"), ("k8s.node.name", f"node-{pod % 6}"),
             ("k8s.container.name", "app"), ("service.name", f"wl{workload}"))
    for key, value in attrs:
        rm.resource.attributes.add(key=key).value.string_value = value


def cycle_bodies(pods: int, metrics_per_pod: int, pods_per_request: int, *,
                 namespaces: int = 10, pods_per_workload: int = 4) -> list[bytes]:
    """Serialized requests of one cycle (every series once), time = the sentinel."""
    bodies = []
    for first in range(0, pods, pods_per_request):
        request = ExportMetricsServiceRequest()
        for pod in range(first, min(pods, first + pods_per_request)):
            rm = request.resource_metrics.add()
            _resource(rm, pod, namespaces, pods_per_workload)
            scope = rm.scope_metrics.add()
            scope.scope.name = "bulk-filler"
            for m in range(metrics_per_pod):
                metric = scope.metrics.add(name=f"metric.{m}", unit="1")
                metric.sum.aggregation_temporality = \
                    metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = True
                point = metric.sum.data_points.add(
                    time_unix_nano=_SENTINEL_NS, start_time_unix_nano=1, as_double=pod + m)
                point.attributes.add(key="route").value.string_value = f"/r{m % 5}"
        bodies.append(request.SerializeToString())
    return bodies


def retimed(body: bytes, time_ns: int) -> bytes:
    """``body`` with every sentinel timestamp replaced by ``time_ns``."""
    return body.replace(_TIME_TAG + struct.pack("<Q", _SENTINEL_NS),
                        _TIME_TAG + struct.pack("<Q", time_ns))


class BulkOtlpFiller:
    """Sends ``rounds`` cycles of ``pods`` x ``metrics_per_pod`` series to ``endpoint``."""

    def __init__(self, endpoint: str, *, pods: int = 2000, metrics_per_pod: int = 50,
                 rounds: int = 60, round_step_s: float = 10.0, pods_per_request: int = 200,
                 in_flight: int = 4, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self.pods = pods
        self.metrics_per_pod = metrics_per_pod
        self.rounds = rounds
        self.round_step_ns = int(round_step_s * 1e9)
        self.pods_per_request = pods_per_request
        self.in_flight = in_flight
        self.timeout_s = timeout_s

    def fill(self, deadline_s: float = 600.0) -> FillReport:
        """Send every cycle (oldest first); raises BulkFillError on a refusal or timeout.

        At most ``in_flight`` (< requests per cycle) calls are outstanding and they are taken
        in order, so a series' next point is only sent after its previous one was accepted."""
        bodies = cycle_bodies(self.pods, self.metrics_per_pod, self.pods_per_request)
        if self.in_flight >= len(bodies):
            raise ValueError("in_flight must be smaller than the requests of one cycle")
        limit = max(len(b) for b in bodies) + (1 << 20)
        options = [("grpc.max_send_message_length", limit),
                   ("grpc.max_receive_message_length", limit)]
        started = time.monotonic()
        end = started + deadline_s
        last_ns = time.time_ns()
        retries = requests = rejected = 0
        with grpc.insecure_channel(self.endpoint, options=options) as channel:
            export = channel.unary_unary(EXPORT_METHOD, request_serializer=None,
                                         response_deserializer=None)
            todo = deque(retimed(body, last_ns - (self.rounds - 1 - r) * self.round_step_ns)
                         for r in range(self.rounds) for body in bodies)
            pending: deque[tuple[bytes, grpc.Future]] = deque()
            while todo or pending:
                if time.monotonic() > end:
                    raise BulkFillError(f"fill not done within {deadline_s}s")
                while todo and len(pending) < self.in_flight:
                    body = todo.popleft()
                    pending.append((body, export.future(body, timeout=self.timeout_s)))
                body, call = pending.popleft()
                if call.exception() is None:
                    requests += 1
                    answer = ExportMetricsServiceResponse.FromString(call.result())
                    rejected += answer.partial_success.rejected_data_points
                    continue
                if call.code() not in _RETRYABLE:
                    raise BulkFillError(f"Export refused: {call.code()} {call.details()}")
                retries += 1
                time.sleep(0.05)
                pending.appendleft((body, export.future(body, timeout=self.timeout_s)))
        return FillReport(requests=requests, points=self.pods * self.metrics_per_pod * self.rounds,
                          rejected=rejected, retries=retries, seconds=time.monotonic() - started)
