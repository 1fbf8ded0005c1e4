"""Settings of the cloud uplink: endpoints, credential files, spool, window, heartbeats, backoff.

``UplinkSettings.from_mapping`` turns the topology file's plain ``uplink:`` section into typed
settings (unknown keys and wrong types are reported, never raised); ``problems()`` yields
``(key, message)`` pairs for values that would make the uplink unsafe or unable to work.
Secrets are never settings: the OAuth2 client id and secret are read from FILES (mounted
Secrets) by ``token_source``, so a settings dump or a log line can never contain them.
``COMPONENT_TYPES`` registers the ``cloud_uplink`` topology component (the chart's keys plus
tuning knobs); ``uplink_settings_for_component`` maps its checked values onto UplinkSettings.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting
from messages.uplink import CloudCommandKind

__all__ = ["CLOUD_UPLINK_SETTINGS", "COMPONENT_TYPES", "DEFAULT_COMMAND_OWNERS", "UplinkSettings",
           "command_owners_from", "uplink_settings_for_component"]

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


# ---------------------------------------------------------------------- topology component
# The ``cloud_uplink`` type: the keys the Helm chart renders (helm/.../_topology.tpl) plus
# tuning knobs with defaults; ``uplink_settings_for_component`` maps them onto UplinkSettings.

_SECRETS, _TLS = "/var/run/secrets/kestrel/auth", "/var/run/secrets/kestrel/tls"
COMPONENT_COMMAND_OWNERS: dict[str, str] = {
    **dict.fromkeys((CloudCommandKind.K8S_REQUEST.value, CloudCommandKind.CILIUM_REQUEST.value,
                     CloudCommandKind.SHELL.value, CloudCommandKind.YAML_DRY_RUN.value,
                     CloudCommandKind.YAML_APPLY.value), "command_runner/main"),
    CloudCommandKind.METRICS_QUERY.value: "metrics_ring/main",
    CloudCommandKind.LOG_TAIL.value: "pod_logs/main",
}
# component key -> UplinkSettings field, for keys whose names differ
_RENAMED = {"fsync_interval": "fsync_interval_s", "heartbeat_interval": "heartbeat_interval_s",
            "cloud_silence_timeout": "cloud_silence_timeout_s",
            "connect_timeout": "connect_timeout_s", "keepalive_time": "keepalive_time_s",
            "backoff_min": "backoff_min_s", "backoff_max": "backoff_max_s",
            "command_default_timeout": "command_default_timeout_s"}
_ACTOR_ONLY = ("cluster_id", "server_name", "command_owners", "command_queue", "tick_interval",
               "link_grace")


def _path(name: str, default: str, doc: str) -> Setting:
    return Setting(name=name, kind=Kind.STR, default=default, doc=doc)


def _duration(name: str, default: float, doc: str, *, zero_ok: bool = False) -> Setting:
    return Setting(name=name, kind=Kind.DURATION, default=default, minimum=0,
                   exclusive_minimum=not zero_ok, doc=doc)


def _size(name: str, default: int, doc: str) -> Setting:
    return Setting(name=name, kind=Kind.INT, default=default, minimum=1, doc=doc)


CLOUD_UPLINK_SETTINGS: tuple[Setting, ...] = (
    _path("server_address", "", "host:port of the cloud's gRPC stream (mTLS); required"),
    Setting(name="server_name", kind=Kind.ANY, default="",
            doc="TLS name to verify; empty = the host of server_address"),
    _path("token_url", "", "https URL of the OAuth2 token endpoint; required"),
    _path("client_id_file", f"{_SECRETS}/client-id", "file holding the OAuth2 client id"),
    _path("client_secret_file", f"{_SECRETS}/client-secret",
          "file holding the OAuth2 client secret"),
    _path("cert_file", f"{_TLS}/tls.crt", "mTLS client certificate (PEM)"),
    _path("key_file", f"{_TLS}/tls.key", "mTLS client key (PEM)"),
    _path("ca_file", f"{_TLS}/ca.crt", "CA that signs the cloud's and the token server's certs"),
    _path("spool_dir", "/var/lib/kestrel/spool", "directory of the lossless disk spool"),
    Setting(name="cluster_id", kind=Kind.ANY, default="",
            doc="cluster id in Hello; empty = $KESTREL_CLUSTER_NAME, else $POD_NAMESPACE"),
    _path("token_scope", "telemetry:write", "OAuth2 scope requested"),
    _size("spool_max_bytes", 256 << 20, "spool bound; full = producers are pushed back"),
    _size("spool_segment_bytes", 4 << 20, "spool segment size (acks delete whole segments)"),
    _duration("fsync_interval", 0.05, "spool fsync delay; 0 = every batch", zero_ok=True),
    _size("lossy_max_bytes", 32 << 20, "flows/L7 buffer; oldest dropped (counted) beyond"),
    _size("window_batches", 1024, "unacknowledged batches in flight to the cloud"),
    _duration("heartbeat_interval", 20.0, "heartbeat when nothing else was sent this long"),
    _duration("cloud_silence_timeout", 90.0, "reconnect when the cloud is silent this long"),
    _duration("connect_timeout", 10.0, "a stream without Welcome this long is abandoned"),
    _duration("keepalive_time", 30.0, "HTTP/2 keepalive ping interval (>= 10s)"),
    _duration("backoff_min", 0.5, "first reconnect delay (full jitter)"),
    _duration("backoff_max", 60.0, "cap of the reconnect delay"),
    _duration("command_default_timeout", 60.0, "deadline of a command that carries none"),
    _size("max_pending_commands", 256, "commands in progress; more are answered rejected"),
    Setting(name="command_owners", kind=Kind.ANY, default=COMPONENT_COMMAND_OWNERS,
            doc="command kind -> owner component id (merged over the defaults; '' = off)"),
    _size("command_queue", 64, "commands waiting for an owner's link credit"),
    _duration("tick_interval", 0.05, "housekeeping period (deadlines, linger, fsync)"),
    _duration("link_grace", 5.0, "after start, a missing owner link is waited for this long"),
)


def command_owners_from(value: object) -> tuple[tuple[str, str], ...]:
    """The routing table: ``value`` (a mapping) over the component defaults; '' turns off."""
    if not isinstance(value, Mapping):
        raise TypeError("command_owners must be a mapping of command kind to component id")
    merged = {**COMPONENT_COMMAND_OWNERS, **{str(k): str(v or "") for k, v in value.items()}}
    return tuple(sorted((kind, owner) for kind, owner in merged.items() if owner))


def uplink_settings_for_component(values: Mapping[str, Any],
                                  env: Mapping[str, str] | None = None) -> UplinkSettings:
    """UplinkSettings from a ``cloud_uplink`` component's checked values (defaults merged)."""
    environment = os.environ if env is None else env
    cluster_id = str(values.get("cluster_id") or "") or environment.get(
        "KESTREL_CLUSTER_NAME", "") or environment.get("POD_NAMESPACE", "")
    fields = {f.name for f in dataclasses.fields(UplinkSettings)}
    mapped: dict[str, Any] = {}
    for key, value in values.items():
        target = _RENAMED.get(key, key)
        if key not in _ACTOR_ONLY and target in fields:
            mapped[target] = value
    return UplinkSettings(**mapped, cluster_id=cluster_id,
                          server_name=str(values.get("server_name") or ""),
                          command_owners=command_owners_from(values.get("command_owners", {})))


def _cloud_uplink_problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("server_name", "cluster_id"):
        if not isinstance(values.get(key, ""), str):
            yield key, "must be a string"
    try:
        settings = uplink_settings_for_component(values)
    except (TypeError, ValueError) as error:
        yield "command_owners", str(error)
        return
    back = {field: key for key, field in _RENAMED.items()}
    for key, message in settings.problems():
        if key == "cluster_id":
            message = "is required (or set KESTREL_CLUSTER_NAME / POD_NAMESPACE)"
        yield back.get(key, key), message


COMPONENT_TYPES: tuple[ComponentType, ...] = (ComponentType(
    name="cloud_uplink", actor_class="actors.uplink.cloud_uplink_actor.CloudUplink",
    doc="the one mTLS stream to Kestrel Cloud: spools lossless input, routes cloud commands",
    settings=CLOUD_UPLINK_SETTINGS, check=_cloud_uplink_problems),)
