"""Settings of the Envoy ALS receiver: listen address, limits, windows and key bounds.

``AccessLogSettings.from_mapping`` turns the topology file's plain ``access_logs:`` section into
typed settings (unknown keys and wrong types are returned as errors, never raised);
``problems()`` yields ``(key, message)`` pairs for values that would make the receiver unsafe
or useless. Port 8080 is the anchor's (and the chart's) ALS port; the listener binds all
addresses by default because sidecars reach it through a Service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["AccessLogSettings"]


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
