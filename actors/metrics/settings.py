"""Settings of the OTLP receiver and the metrics ring store (Helm: ``operator.otel.*``,
``operator.metricsStore.*``).

Owns the defaults (receiver port 4317, retention "30m", 100,000 series, 60 points per series),
duration parsing (Go-style ``1h30m``, ``45s``, ``500ms``) and validation: ``problems()`` yields
(key, message) pairs for every invalid value instead of raising, so the topology loader can report
all of them with their key paths.

``COMPONENT_TYPES`` registers ``otlp_receiver`` and ``metrics_ring`` for the topology file;
``receiver_settings`` / ``ring_settings`` merge a component's values with the defaults and map
them onto ``MetricsSettings``, raising ``ValueError`` that names every bad key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting, parse_duration

__all__ = ["COMPONENT_TYPES", "RECEIVER_SETTINGS", "RING_SETTINGS", "MetricsSettings",
           "parse_duration_s", "receiver_settings", "ring_settings"]

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


# ---- component types: ``otlp_receiver`` and ``metrics_ring`` ---------------------------------
# The chart renders ``otlp_receiver/main: {port}`` and ``metrics_ring/main: {retention,
# max_series, ring_size}``; every other key has a default here.

_DEFAULTS = MetricsSettings()


def _int(name: str, default: int, doc: str, minimum: int = 1, maximum: int = 1 << 30) -> Setting:
    return Setting(name=name, kind=Kind.INT, default=default, minimum=minimum, maximum=maximum,
                   doc=doc)


RECEIVER_SETTINGS: tuple[Setting, ...] = (
    _int("port", _DEFAULTS.receiver_port, "OTLP/gRPC listen port (0 = any free port)", 0, 65535),
    Setting(name="host", kind=Kind.STR, default=_DEFAULTS.receiver_host,
            doc="listen address (Collectors reach it through a Service)"),
    _int("max_message_bytes", _DEFAULTS.max_message_bytes,
         "largest request accepted after decompression", 64 * 1024, 1 << 30),
    _int("workers", _DEFAULTS.receiver_workers, "gRPC handler threads", 1, 64),
    _int("queue_requests", 32, "decoded requests waiting for the actor; full → UNAVAILABLE",
         1, 100_000),
    _int("batch_points", 50_000, "points per link batch to the ring (requests are never split)",
         1, 10_000_000),
    Setting(name="grace", kind=Kind.DURATION, default=1.0, minimum=0,
            doc="stop grace for in-flight Export calls"),
)

# ``metrics_ring.receiver``: the same receiver run inside the ring's own process (no link hop,
# one process less: the chart's default); ``batch_points`` has no meaning there.
EMBEDDED_RECEIVER_SETTINGS: tuple[Setting, ...] = (
    Setting(name="enabled", kind=Kind.BOOL, default=False,
            doc="serve OTLP/gRPC from the ring's process (then no otlp_receiver is needed)"),
    *(field for field in RECEIVER_SETTINGS if field.name != "batch_points"),
)

RING_SETTINGS: tuple[Setting, ...] = (
    Setting(name="retention", kind=Kind.DURATION, default=_DEFAULTS.retention_s, minimum=0,
            exclusive_minimum=True,
            doc="points older than this are refused and idle series evicted ('30m' or seconds)"),
    _int("max_series", _DEFAULTS.max_series, "series kept; new series beyond are refused",
         1, 10_000_000),
    _int("ring_size", _DEFAULTS.ring_size, "newest points kept per series", 2, 100_000),
    Setting(name="eviction_interval_s", kind=Kind.DURATION,
            default=_DEFAULTS.eviction_interval_s, minimum=0, exclusive_minimum=True,
            doc="how often idle series are evicted"),
    _int("gc_refreeze_series", 10_000, "gc.freeze() again after this many new series", 1),
    Setting(name="pod_index_wait_s", kind=Kind.DURATION, default=5.0, minimum=0,
            doc="hold metric points after a start until the first pod_index batch, at most "
                "this long (0 = do not wait)"),
    Setting(name="receiver", kind=Kind.MAPPING, fields=EMBEDDED_RECEIVER_SETTINGS,
            doc="an OTLP/gRPC receiver inside this process (same keys as otlp_receiver)"),
)


def _merged(fields: tuple[Setting, ...], raw: Mapping[str, Any]) -> dict[str, Any]:
    values = {field.name: field.default_value() for field in fields}
    values.update(raw)
    return values


def _retention_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"retention must be a duration like '30m' or seconds, got {value!r}")
    return value if isinstance(value, str) else f"{float(value)}s"


def receiver_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], MetricsSettings]:
    """(merged ``otlp_receiver`` values, ``MetricsSettings``); ValueError naming bad keys."""
    values = _merged(RECEIVER_SETTINGS, raw)
    grace = parse_duration(values["grace"])
    if grace is None or grace < 0:
        raise ValueError(f"grace must be a duration, got {values['grace']!r}")
    values["grace"] = grace
    port = values["port"]
    settings = MetricsSettings(
        enabled=True, receiver_host=str(values["host"]), receiver_port=int(port) or 1,
        max_message_bytes=int(values["max_message_bytes"]),
        receiver_workers=int(values["workers"]))
    problems = list(settings.problems())
    if problems or not isinstance(port, int) or not 0 <= port < 65536:
        raise ValueError("; ".join([f"{k}: {m}" for k, m in problems] or [f"port: bad {port!r}"]))
    return values, settings


def ring_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], MetricsSettings]:
    """(merged ``metrics_ring`` values, ``MetricsSettings``); ValueError naming bad keys (an
    enabled embedded ``receiver`` is checked like an ``otlp_receiver``)."""
    values = _merged(RING_SETTINGS, raw)
    interval = parse_duration(values["eviction_interval_s"])
    if interval is None or interval <= 0:
        raise ValueError(f"eviction_interval_s must be a positive duration, "
                         f"got {values['eviction_interval_s']!r}")
    values["eviction_interval_s"] = interval
    wait = parse_duration(values["pod_index_wait_s"])
    if wait is None or wait < 0:
        raise ValueError(f"pod_index_wait_s must be a duration, got {values['pod_index_wait_s']!r}")
    values["pod_index_wait_s"] = wait
    values["receiver"] = _merged(EMBEDDED_RECEIVER_SETTINGS, values.get("receiver") or {})
    if values["receiver"]["enabled"]:
        receiver_settings({k: v for k, v in values["receiver"].items() if k != "enabled"})
    settings = MetricsSettings(
        enabled=True, retention=_retention_text(values["retention"]),
        max_series=int(values["max_series"]), ring_size=int(values["ring_size"]),
        eviction_interval_s=interval)
    problems = list(settings.problems())
    if problems:
        raise ValueError("; ".join(f"{k}: {m}" for k, m in problems))
    return values, settings


def _problems_of(build: Any) -> Any:
    def check(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        try:
            build(values)
        except (TypeError, ValueError) as error:
            yield "", str(error)
    return check


COMPONENT_TYPES: tuple[ComponentType, ...] = (
    ComponentType(
        name="otlp_receiver", actor_class="actors.metrics.otlp_receiver_actor.OtlpReceiver",
        doc="OTLP/gRPC metrics receiver; decoded requests go to the ring as metric_points "
            "(no credit → UNAVAILABLE, which Collectors retry)",
        settings=RECEIVER_SETTINGS, check=_problems_of(receiver_settings)),
    ComponentType(
        name="metrics_ring", actor_class="actors.metrics.metrics_ring_actor.MetricsRingActor",
        doc="numpy ring store of OTLP series; answers metrics_query commands",
        settings=RING_SETTINGS, check=_problems_of(ring_settings)),
)
