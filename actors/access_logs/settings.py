"""Settings of the Envoy ALS receiver: listen address, limits, windows and key bounds.

``AccessLogSettings.from_mapping`` turns the topology file's plain ``access_logs:`` section into
typed settings (unknown keys and wrong types are returned as errors, never raised);
``problems()`` yields ``(key, message)`` pairs for values that would make the receiver unsafe
or useless. Port 8080 is the anchor's (and the chart's) ALS port; the listener binds all
addresses by default because sidecars reach it through a Service.

``COMPONENT_TYPES`` registers ``envoy_als`` (the chart renders ``port``; the rest have
defaults); ``receiver_settings(raw)`` merges defaults and maps them onto ``AccessLogSettings``,
raising ``ValueError`` naming the key for a bad value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting, parse_duration

__all__ = ["COMPONENT_TYPES", "ENVOY_ALS_SETTINGS", "AccessLogSettings", "receiver_settings"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogSettings:
    """Everything the access-log receiver reads from the topology file."""

    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8080
    max_message_bytes: int = 4 * 1024 * 1024
    max_concurrent_streams: int = 4096     # open sidecar streams in total (one per sidecar)
    max_streams_per_connection: int = 16   # HTTP/2 limit; an Envoy opens one or two
    window_s: float = 30.0
    max_keys: int = 10_000
    max_path_segments: int = 8
    batch_max_entries: int = 1024
    queue_batches: int = 256
    keepalive_min_interval_s: float = 10.0
    grace_s: float = 2.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> tuple[AccessLogSettings, list[str]]:
        """Typed settings from plain data; unknown keys, bad types and problems are errors."""
        errors: list[str] = []
        known = {f.name for f in dataclasses.fields(cls)}
        defaults = cls()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                errors.append(f"access_logs.{key}: unknown setting")
                continue
            try:
                values[key] = _convert(getattr(defaults, key), value)
            except (TypeError, ValueError) as exc:
                errors.append(f"access_logs.{key}: {exc}")
        settings = cls(**values)
        errors.extend(f"access_logs.{key}: {message}" for key, message in settings.problems())
        return settings, errors

    def problems(self) -> Iterator[tuple[str, str]]:
        if not 0 <= self.port <= 65535:
            yield "port", f"must be in 0..65535, got {self.port}"
        if not self.host:
            yield "host", "must not be empty"
        if self.max_message_bytes < 1024:
            yield "max_message_bytes", "must be >= 1024 (Envoy batches up to 16 KiB)"
        for name in ("max_concurrent_streams", "max_streams_per_connection", "max_keys",
                     "max_path_segments", "batch_max_entries", "queue_batches"):
            if getattr(self, name) < 1:
                yield name, "must be >= 1"
        for name in ("window_s", "keepalive_min_interval_s"):
            if getattr(self, name) <= 0:
                yield name, "must be > 0"
        if self.grace_s < 0:
            yield "grace_s", "must be >= 0"


def _convert(default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {value!r}")
    return value


# ---- the ``envoy_als`` component type --------------------------------------------------------

def _positive_int(name: str, default: int, doc: str, maximum: int = 1 << 30) -> Setting:
    return Setting(name=name, kind=Kind.INT, default=default, minimum=1, maximum=maximum,
                   doc=doc)


def _duration(name: str, default: float, doc: str, *, zero_ok: bool = False) -> Setting:
    return Setting(name=name, kind=Kind.DURATION, default=default, minimum=0,
                   exclusive_minimum=not zero_ok, doc=doc)


ENVOY_ALS_SETTINGS: tuple[Setting, ...] = (
    Setting(name="port", kind=Kind.INT, default=8080, minimum=0, maximum=65535,
            doc="ALS gRPC listen port (0 = any free port)"),
    Setting(name="host", kind=Kind.STR, default="0.0.0.0",
            doc="listen address (sidecars reach it through a Service)"),
    _duration("window_s", 10.0, "aggregation window: one l7 batch per window"),
    _positive_int("max_keys", 10_000, "keys per window; new keys beyond go to one counted "
                  "overflow bucket", 1_000_000),
    _positive_int("max_path_segments", 8, "path segments kept after normalization", 64),
    _positive_int("max_message_bytes", 4 * 1024 * 1024, "largest accepted ALS message",
                  64 * 1024 * 1024),
    _positive_int("max_concurrent_streams", 4096, "open sidecar streams in total"),
    _positive_int("max_streams_per_connection", 16, "HTTP/2 streams per connection", 1024),
    _positive_int("queue_batches", 1024, "ALS messages queued for the actor; a full queue "
                  "drops (counted)", 1_000_000),
    _positive_int("records_per_batch", 5000, "records per emitted batch of a window", 100_000),
    _duration("grace", 2.0, "stop grace for open streams", zero_ok=True),
)


def _merged(raw: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {s.name: s.default_value() for s in ENVOY_ALS_SETTINGS}
    merged.update(raw)
    for field in ENVOY_ALS_SETTINGS:
        if field.kind is Kind.DURATION:
            seconds = parse_duration(merged[field.name])
            if seconds is None or seconds < 0:
                raise ValueError(f"setting {field.name!r} must be a duration, "
                                 f"got {merged[field.name]!r}")
            merged[field.name] = seconds
    return merged


def receiver_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], AccessLogSettings]:
    """(merged component values, ``AccessLogSettings``); ValueError naming a bad key."""
    values = _merged(raw)
    known = {f.name for f in dataclasses.fields(AccessLogSettings)}
    mapped = {key: values[key] for key in known if key in values}
    mapped["grace_s"] = values["grace"]
    settings, errors = AccessLogSettings.from_mapping(mapped)
    if errors:
        raise ValueError("; ".join(errors))
    return values, settings


def _envoy_als_problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    try:
        receiver_settings(values)
    except (TypeError, ValueError) as error:
        yield "", str(error)


COMPONENT_TYPES: tuple[ComponentType, ...] = (ComponentType(
    name="envoy_als", actor_class="actors.access_logs.access_log_actor.AccessLogReceiver",
    doc="Envoy gRPC Access Log Service (grpc.aio) aggregated into l7 records per window",
    settings=ENVOY_ALS_SETTINGS, check=_envoy_als_problems),)
