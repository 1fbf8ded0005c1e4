"""OTLP/gRPC metrics receiver: ``MetricsService/Export`` on a configurable host:port.

Owns the socket side only: a sync ``grpc.server`` with a small thread pool (unary calls) whose
handler takes the raw request bytes, decodes them with ``otlp_codec`` and offers the batch to an
injected sink (normally ``IngestQueue.offer``); the store lives with its owner. Failure mapping:
- not a protobuf → INVALID_ARGUMENT with the decoder's reason;
- sink full (or ``ready()`` false, checked before decoding) → UNAVAILABLE ("retry"), which
  OTLP exporters and Collectors retry with backoff;
- bad points → accepted request with ``partial_success`` (rejected_data_points + reasons);
- a message larger than ``max_message_bytes`` *after decompression* → RESOURCE_EXHAUSTED from
  grpc core itself ("Decompressed message larger than max"): verified with grpcio 1.85 — grpc
  applies ``grpc.max_receive_message_length`` to the decompressed message and stops there, so a
  gzip bomb is refused before the handler runs (and is therefore not in our counters).
grpcio accepts gzip and deflate (``grpc-accept-encoding: identity,deflate,gzip``), not zstd.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from actors.metrics.decoded import DecodedMetrics
from actors.metrics.otlp_codec import MalformedRequestError, OtlpDecoder

__all__ = ["EXPORT_METHOD", "OtlpMetricsServer", "published_counters"]

logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
EXPORT_METHOD = f"/{SERVICE}/Export"


class OtlpMetricsServer:
    """The receiver; ``start()`` returns the bound port, ``stop()`` ends it."""

    def __init__(self, *, host: str, port: int, sink: Callable[[DecodedMetrics], bool],
                 max_message_bytes: int = 16 * 1024 * 1024, workers: int = 4,
                 decoder: OtlpDecoder | None = None,
                 ready: Callable[[], bool] | None = None) -> None:
        self.host = host
        self.port = port
        self._sink = sink
        self._max_message_bytes = max_message_bytes
        self._workers = workers
        self._server: grpc.Server | None = None
        self.decoder = decoder if decoder is not None else OtlpDecoder()
        self._ready = ready
        self._lock = threading.Lock()
        self.counters = {"requests": 0, "requests_accepted": 0, "requests_malformed": 0,
                         "requests_busy": 0, "requests_empty": 0, "points_received": 0,
                         "points_accepted": 0, "points_rejected": 0,
                         "points_no_recorded_value": 0, "bytes_received": 0}

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self.counters[key] += delta

    def export(self, body: bytes, context: Any) -> bytes:
        """Handle one Export call (raw request bytes in, response bytes out)."""
        self._count(requests=1, bytes_received=len(body))
        if self._ready is not None and not self._ready():     # refuse before paying to decode
            self._count(requests_busy=1)
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          "metrics store is busy, retry with backoff")
        try:
            batch = self.decoder.decode(body)
        except MalformedRequestError as exc:
            self._count(requests_malformed=1)
            logger.info("OTLP export refused from %s: %s", context.peer(), exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises
        self._count(points_received=batch.points_seen, points_rejected=batch.rejected_points,
                    points_no_recorded_value=batch.no_recorded_value)
        if batch.points == 0:
            self._count(requests_empty=1)
        elif not self._sink(batch):
            self._count(requests_busy=1)
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          "metrics store is busy, retry with backoff")
        self._count(requests_accepted=1, points_accepted=batch.points)
        response = ExportMetricsServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_data_points = batch.rejected_points
            response.partial_success.error_message = batch.rejection_message()
        return bytes(response.SerializeToString())

    def stats(self) -> dict[str, int]:
        """Request/point counters plus the decoder's template and cache figures."""
        with self._lock:
            counters = dict(self.counters)
        return {**counters, **self.decoder.stats()}

    def start(self) -> int:
        """Bind and start serving; returns the port (useful with port 0)."""
        options = [("grpc.max_receive_message_length", self._max_message_bytes),
                   ("grpc.max_send_message_length", 1024 * 1024)]
        server = grpc.server(futures.ThreadPoolExecutor(self._workers,
                                                        thread_name_prefix="otlp-receiver"),
                             options=options)
        handler = grpc.unary_unary_rpc_method_handler(self.export)  # raw bytes both ways
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
        bound = int(server.add_insecure_port(f"{self.host}:{self.port}"))
        if bound == 0:
            raise OSError(f"cannot bind the OTLP receiver to {self.host}:{self.port}")
        server.start()
        self._server, self.port = server, bound
        logger.info("OTLP metrics receiver listening on %s:%s", self.host, bound)
        return bound

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop serving and wait for in-flight calls (at most ``grace_s``)."""
        if self._server is not None:
            self._server.stop(grace_s).wait(grace_s + 1.0)
            self._server = None


_SERVER_TOTALS = {"requests": "requests_total", "requests_accepted": "requests_accepted_total",
                  "requests_malformed": "decode_errors_total",
                  "requests_busy": "unavailable_total", "requests_empty": "requests_empty_total",
                  "points_received": "points_received_total",
                  "points_accepted": "points_accepted_total",
                  "points_rejected": "points_rejected_total",
                  "points_no_recorded_value": "points_no_recorded_value_total",
                  "bytes_received": "bytes_received_total"}
_GAUGES = ("series_cache_entries", "template_bytes")


def published_counters(stats: dict[str, int]) -> dict[str, float]:
    """``OtlpMetricsServer.stats()`` under the names /status shows (totals end in ``_total``;
    the cache sizes are gauges), whichever actor hosts the server."""
    out: dict[str, float] = {}
    for key, value in stats.items():
        if key in _SERVER_TOTALS:
            out[_SERVER_TOTALS[key]] = value
        elif key in _GAUGES:
            out[key] = value
        else:
            out[f"{key}_total"] = value
    return out
