"""Settings of the cloud uplink: endpoints, credential files, spool, window, heartbeats, backoff.

``UplinkSettings.from_mapping`` turns the topology file's plain ``uplink:`` section into typed
settings (unknown keys and wrong types are reported, never raised); ``problems()`` yields
``(key, message)`` pairs for values that would make the uplink unsafe or unable to work.
Secrets are never settings: the OAuth2 client id and secret are read from FILES (mounted
Secrets) by ``token_source``, so a settings dump or a log line can never contain them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from messages.uplink import CloudCommandKind

__all__ = ["DEFAULT_COMMAND_OWNERS", "UplinkSettings"]

DEFAULT_COMMAND_OWNERS: tuple[tuple[str, str], ...] = (
    (CloudCommandKind.K8S_REQUEST.value, "commands"),
    (CloudCommandKind.CILIUM_REQUEST.value, "commands"),
    (CloudCommandKind.SHELL.value, "commands"),
    (CloudCommandKind.YAML_DRY_RUN.value, "commands"),
    (CloudCommandKind.YAML_APPLY.value, "commands"),
    (CloudCommandKind.METRICS_QUERY.value, "metrics_ring"),
    (CloudCommandKind.LOG_TAIL.value, "pod_logs"),
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UplinkSettings:
    """Everything the uplink needs; durations in seconds, sizes in bytes."""

    cluster_id: str = ""
    operator_version: str = "0.1.0"
    server_address: str = ""                  # host:port of the cloud's gRPC endpoint
    server_name: str = ""                     # TLS name to verify ("" = host of the address)
    token_url: str = ""                       # https URL of the OAuth2 token endpoint
    client_id_file: str = ""
    client_secret_file: str = ""
    token_scope: str = "telemetry:write"  # noqa: S105 (a scope, not a secret)
    token_leeway_s: float = 60.0              # refresh this long before expiry
    token_timeout_s: float = 10.0
    ca_file: str = ""                         # trusts the cloud (and the token endpoint)
    cert_file: str = ""                       # mTLS client certificate
    key_file: str = ""
    spool_dir: str = "/var/lib/kestrel/spool"
    spool_max_bytes: int = 256 << 20
    spool_segment_bytes: int = 4 << 20
    fsync_interval_s: float = 0.05            # 0 = fsync every lossless batch
    send_cache_bytes: int = 8 << 20           # newest spooled items kept in memory for sending
    lossy_max_bytes: int = 32 << 20
    lossy_max_batches: int = 10_000
    window_batches: int = 1024                # unacked batches in flight
    window_bytes: int = 8 << 20
    frame_target_bytes: int = 16 << 10        # coalesce small batches up to this
    frame_max_bytes: int = 1 << 20
    linger_s: float = 0.02
    heartbeat_interval_s: float = 20.0
    cloud_silence_timeout_s: float = 90.0     # reconnect when the cloud says nothing this long
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 60.0
    backoff_reset_after_s: float = 60.0
    send_queue_frames: int = 16
    inbox_size: int = 1024
    max_message_bytes: int = 16 << 20
    command_default_timeout_s: float = 60.0   # when the cloud sends no deadline
    max_pending_commands: int = 256
    command_owners: tuple[tuple[str, str], ...] = DEFAULT_COMMAND_OWNERS

    def problems(self) -> Iterator[tuple[str, str]]:
        for key in ("cluster_id", "server_address", "token_url", "client_id_file",
                    "client_secret_file", "ca_file", "cert_file", "key_file", "spool_dir"):
            if not getattr(self, key):
                yield key, "is required"
        if self.server_address and ":" not in self.server_address:
            yield "server_address", "must be host:port"
        if self.token_url and not self.token_url.startswith("https://"):
            yield "token_url", "must be an https:// URL (client secrets never go over plaintext)"
        for key in ("spool_max_bytes", "spool_segment_bytes", "send_cache_bytes", "lossy_max_bytes",
                    "lossy_max_batches", "window_batches", "window_bytes", "frame_target_bytes",
                    "frame_max_bytes", "send_queue_frames", "inbox_size", "max_message_bytes",
                    "max_pending_commands"):
            if getattr(self, key) <= 0:
                yield key, "must be positive"
        if self.spool_max_bytes < 4 * self.spool_segment_bytes:
            yield "spool_max_bytes", "must hold at least 4 segments (acks free whole segments)"
        if self.frame_max_bytes > self.max_message_bytes // 2:
            yield "frame_max_bytes", "must stay well below max_message_bytes"
        if self.frame_target_bytes > self.frame_max_bytes:
            yield "frame_target_bytes", "must not exceed frame_max_bytes"
        for key in ("fsync_interval_s", "linger_s", "token_leeway_s"):
            if getattr(self, key) < 0:
                yield key, "must not be negative"
        for key in ("heartbeat_interval_s", "keepalive_time_s", "keepalive_timeout_s",
                    "connect_timeout_s", "token_timeout_s", "command_default_timeout_s"):
            if getattr(self, key) <= 0:
                yield key, "must be positive"
        if self.keepalive_time_s < 10:
            yield "keepalive_time_s", "below 10 s risks GOAWAY too_many_pings from the server"
        if self.cloud_silence_timeout_s <= 2 * self.heartbeat_interval_s:
            yield "cloud_silence_timeout_s", "must exceed twice heartbeat_interval_s"
        if not 0 < self.backoff_min_s <= self.backoff_max_s:
            yield "backoff_min_s", "needs 0 < backoff_min_s <= backoff_max_s"
        known_kinds = {k.value for k in CloudCommandKind}
        for kind, owner in self.command_owners:
            if kind not in known_kinds:
                yield f"command_owners.{kind}", "unknown command kind"
            if not owner:
                yield f"command_owners.{kind}", "needs an owner component id"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> tuple[UplinkSettings, list[str]]:
        """Typed settings from plain data; unknown keys, bad types and problems as errors."""
        errors: list[str] = []
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            field = known.get(key)
            if field is None:
                errors.append(f"uplink.{key}: unknown setting")
                continue
            try:
                values[key] = _convert(key, value, getattr(cls(), key))
            except (TypeError, ValueError) as exc:
                errors.append(f"uplink.{key}: {exc}")
        settings = cls(**values)
        errors.extend(f"uplink.{key}: {msg}" for key, msg in settings.problems())
        return settings, errors


def _convert(key: str, value: Any, default: Any) -> Any:
    if key == "command_owners":
        if not isinstance(value, Mapping):
            raise TypeError("must be a mapping of command kind to component id")
        merged = dict(DEFAULT_COMMAND_OWNERS)
        merged.update({str(k): str(v or "") for k, v in value.items()})
        # an empty owner turns the kind off: such commands are answered UNSUPPORTED
        return tuple(sorted((k, v) for k, v in merged.items() if v))
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError("must be a string")
        return value
    if isinstance(value, bool):
        raise TypeError("must be a number")
    if isinstance(default, int):
        if not isinstance(value, int):
            raise TypeError("must be an integer")
        return value
    if not isinstance(value, (int, float)):
        raise TypeError("must be a number")
    return float(value)
