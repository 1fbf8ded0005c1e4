"""Settings of the OTLP receiver and the metrics ring store (Helm: ``operator.otel.*``,
``operator.metricsStore.*``).

Owns the defaults (receiver port 4317, retention "30m", 100,000 series, 60 points per series),
duration parsing (Go-style ``1h30m``, ``45s``, ``500ms``) and validation: ``problems()`` yields
(key, message) pairs for every invalid value instead of raising, so the topology loader can report
all of them with their key paths.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

__all__ = ["MetricsSettings", "parse_duration_s"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration_s(text: str) -> float | None:
    """Seconds in a Go-style duration (``"30m"``, ``"1h30m"``, ``"500ms"``); None if invalid."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """``enabled``/``receiver_port`` from ``operator.otel``; the rest from ``metricsStore``."""

    enabled: bool = False
    receiver_host: str = "0.0.0.0"
    receiver_port: int = 4317
    retention: str = "30m"
    max_series: int = 100_000
    ring_size: int = 60
    max_message_bytes: int = 16 * 1024 * 1024   # decompressed; grpc default is 4 MiB
    receiver_workers: int = 4
    ingest_queue_batches: int = 64
    eviction_interval_s: float = 30.0

    @property
    def retention_s(self) -> float:
        """Retention in seconds (the default's when the text is invalid)."""
        parsed = parse_duration_s(self.retention)
        return parsed if parsed else 1800.0

    @property
    def retention_ns(self) -> int:
        """Retention in nanoseconds."""
        return int(self.retention_s * 1e9)

    def problems(self) -> Iterator[tuple[str, str]]:
        """(key, message) for every invalid value."""
        if not 0 < self.receiver_port < 65536:
            yield "receiverPort", f"must be a TCP port 1..65535, got {self.receiver_port}"
        parsed = parse_duration_s(self.retention)
        if parsed is None or parsed <= 0:
            yield "metricsStore.retention", (
                f"must be a positive duration like '30m' or '1h30m', got {self.retention!r}")
        if self.max_series < 1:
            yield "metricsStore.maxSeries", f"must be >= 1, got {self.max_series}"
        if self.ring_size < 2:
            yield "metricsStore.ringSize", f"must be >= 2, got {self.ring_size}"
        if self.max_message_bytes < 64 * 1024:
            yield "maxMessageBytes", f"must be >= 65536, got {self.max_message_bytes}"
        if self.receiver_workers < 1:
            yield "receiverWorkers", f"must be >= 1, got {self.receiver_workers}"
        if self.ingest_queue_batches < 1:
            yield "ingestQueueBatches", f"must be >= 1, got {self.ingest_queue_batches}"
        if self.eviction_interval_s <= 0:
            yield "evictionInterval", f"must be > 0, got {self.eviction_interval_s}"
