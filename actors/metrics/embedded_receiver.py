"""``EmbeddedReceiver``: the OTLP/gRPC receiver run inside the metrics ring's own process.

The chart's default (``metrics_ring.receiver.enabled``): one process less than a separate
``otlp_receiver`` (each actor process costs ~10-15 MiB PSS at rest) and no link hop, so decoded
requests reach the store without being framed, pickled, sent and unframed. Owns an
``OtlpMetricsServer`` (gRPC threads decode, exactly as in the standalone receiver) and the
bounded ``IoBridge`` between those threads and the owning actor, which drains it into the store
on its own thread; the store is never touched from a gRPC thread.

Backpressure without loss: while the owner does not drain (holding for its first pod_index,
draining for shutdown) the bridge fills, ``ready`` turns false and Export calls are answered
UNAVAILABLE before they are decoded, which OTLP exporters and Collectors retry with backoff.
Bad requests are the server's business (INVALID_ARGUMENT, partial_success), counted under the
names the standalone receiver publishes. A port that cannot be bound raises ``OSError`` from
``start`` (the owner's incarnation fails and its supervisor retries with backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from actors.metrics.decoded import DecodedMetrics
from actors.metrics.otlp_server import OtlpMetricsServer, published_counters
from actors.metrics.settings import receiver_settings
from actors.runtime.io_bridge import IoBridge

__all__ = ["EmbeddedReceiver"]

logger = logging.getLogger(__name__)


class EmbeddedReceiver:
    """gRPC MetricsService → bounded bridge, for an owner that ingests on its own thread."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        """``values``: the ring's merged ``receiver`` mapping (``enabled`` is ignored here)."""
        merged, settings = receiver_settings({k: v for k, v in values.items() if k != "enabled"})
        self.grace_s = float(merged["grace"])
        self.bridge: IoBridge[DecodedMetrics] = IoBridge(int(merged["queue_requests"]))
        self.accepting = False       # read by gRPC threads
        self.server: OtlpMetricsServer | None = OtlpMetricsServer(
            host=settings.receiver_host, port=int(merged["port"]), sink=self._offer,
            ready=self._ready, max_message_bytes=settings.max_message_bytes,
            workers=settings.receiver_workers)
        self.port = 0

    def start(self) -> int:
        """Bind and serve; returns the bound port."""
        if self.server is None:
            raise RuntimeError("embedded OTLP receiver already stopped")
        self.port = self.server.start()
        self.accepting = True
        return self.port

    def stop_accepting(self) -> None:
        """Answer UNAVAILABLE from now on; what the bridge holds stays for the owner to drain."""
        self.accepting = False

    def stop(self) -> None:
        """Stop serving (in-flight calls get ``grace`` seconds); the owner closes the bridge."""
        self.accepting = False
        if self.server is not None:
            self.server.stop(self.grace_s)
            self.server = None

    def counters(self) -> dict[str, float]:
        out: dict[str, float] = {"port": self.port, "accepting": float(self.accepting)}
        if self.server is not None:
            out.update(published_counters(self.server.stats()))
        return out

    # ---- gRPC threads ----------------------------------------------------------------------

    def _ready(self) -> bool:
        """Checked before decoding: refuse (UNAVAILABLE) while the bridge is full."""
        return self.accepting and self.bridge.pending() < self.bridge.capacity

    def _offer(self, batch: DecodedMetrics) -> bool:
        return self.accepting and self.bridge.offer(batch)
