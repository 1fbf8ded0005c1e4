"""Settings of the Hubble flow pipeline: relay target, TLS, relay-side filters, shards, windows.

``FlowSettings.from_mapping`` turns the topology file's plain ``flows:`` section into typed
settings (unknown keys and wrong types are returned as errors, never raised); ``problems()``
yields ``(key, message)`` pairs for values that would make the pipeline unsafe or useless (a
shard index outside the shard count, TLS half-configured, a filter key Hubble does not have).
Defaults follow the anchor's discovery (kube-system, then GKE's managed namespace) but drop reply
packets at the relay and never fall back to plaintext silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FILTER_KEYS", "TLS_MODES", "FlowSettings"]

TLS_MODES = frozenset({"auto", "tls", "plaintext"})
# FlowFilter fields (flow.proto) a topology file may use in whitelist/blacklist entries.
FILTER_KEYS = frozenset({
    "source_ip", "source_pod", "source_fqdn", "source_label", "source_service",
    "destination_ip", "destination_pod", "destination_fqdn", "destination_label",
    "destination_service", "verdict", "event_type", "protocol", "source_port",
    "destination_port", "reply", "source_identity", "destination_identity", "traffic_direction",
    "drop_reason_desc", "node_name", "node_labels", "ip_version", "tcp_flags",
    "source_workload", "destination_workload", "http_status_code", "http_method", "http_path",
    "dns_query", "source_cluster_name", "destination_cluster_name", "source_ip_xlated"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlowSettings:
    """Everything the flow collector reads from the topology file."""

    disable_flows: bool = False
    relay_address: str = ""                 # explicit host:port; "" = discover the Service
    relay_service: str = "hubble-relay"
    relay_namespaces: tuple[str, ...] = ("kube-system", "gke-managed-dpv2-observability")
    tls_mode: str = "auto"                  # auto: TLS iff the Service port is 443
    tls_ca_file: str = ""                   # else ca.crt of tls_ca_secret in the relay namespace
    tls_ca_secret: str = "hubble-relay-server-certs"  # noqa: S105 - a Secret's name
    tls_server_name: str = "instance.hubble-relay.cilium.io"
    tls_client_cert_file: str = ""
    tls_client_key_file: str = ""
    shards: int = 1                         # processes splitting the nodes by node_name
    shard_index: int = 0
    shard_refresh_s: float = 300.0          # re-partition nodes (new nodes join a shard)
    drop_replies: bool = True               # relay-side blacklist {reply: [true]}
    whitelist: tuple[Mapping[str, Any], ...] = ()
    blacklist: tuple[Mapping[str, Any], ...] = ()
    resume_with_since: bool = True          # on reconnect ask for flows since the last one seen
    window_s: float = 30.0
    max_keys: int = 20_000
    batch_max_records: int = 512
    batch_max_delay_s: float = 0.2
    queue_batches: int = 64
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    reconnect_reset_after_s: float = 60.0
    keepalive_s: float = 30.0
    max_message_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> tuple[FlowSettings, list[str]]:
        """Typed settings from plain data; unknown keys, bad types and problems are errors."""
        errors: list[str] = []
        known = {f.name: f for f in dataclasses.fields(cls)}
        defaults = cls()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                errors.append(f"flows.{key}: unknown setting")
                continue
            try:
                values[key] = _convert(getattr(defaults, key), value)
            except (TypeError, ValueError) as exc:
                errors.append(f"flows.{key}: {exc}")
        settings = cls(**values)
        errors.extend(f"flows.{key}: {message}" for key, message in settings.problems())
        return settings, errors

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.tls_mode not in TLS_MODES:
            yield "tls_mode", f"must be one of {sorted(TLS_MODES)}, got {self.tls_mode!r}"
        if bool(self.tls_client_cert_file) != bool(self.tls_client_key_file):
            yield "tls_client_cert_file", "client certificate and key must be set together"
        if self.tls_mode == "plaintext" and (self.tls_ca_file or self.tls_client_cert_file):
            yield "tls_mode", "plaintext with TLS files configured: pick one"
        if self.shards < 1:
            yield "shards", f"must be >= 1, got {self.shards}"
        elif not 0 <= self.shard_index < self.shards:
            yield "shard_index", f"must be in [0, {self.shards}), got {self.shard_index}"
        if self.relay_address and ":" not in self.relay_address:
            yield "relay_address", f"needs host:port, got {self.relay_address!r}"
        if not self.relay_address and not self.relay_namespaces:
            yield "relay_namespaces", "empty and no relay_address: nowhere to look"
        for name in ("whitelist", "blacklist"):
            for index, entry in enumerate(getattr(self, name)):
                if not isinstance(entry, Mapping) or not entry:
                    yield f"{name}[{index}]", "must be a non-empty mapping of FlowFilter fields"
                    continue
                for key in sorted(set(entry) - FILTER_KEYS):
                    yield f"{name}[{index}].{key}", "not a FlowFilter field we support"
                for key, value in entry.items():
                    if not isinstance(value, list | tuple):
                        yield f"{name}[{index}].{key}", "must be a list (FlowFilter is repeated)"
        for name in ("window_s", "batch_max_delay_s", "reconnect_min_s", "keepalive_s",
                     "shard_refresh_s"):
            if getattr(self, name) <= 0:
                yield name, "must be > 0"
        if self.reconnect_max_s < self.reconnect_min_s:
            yield "reconnect_max_s", "must be >= reconnect_min_s"
        for name in ("max_keys", "batch_max_records", "queue_batches", "max_message_bytes"):
            if getattr(self, name) < 1:
                yield name, "must be >= 1"


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
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise TypeError(f"must be a list, got {value!r}")
        return tuple(value)
    raise TypeError(f"unsupported value {value!r}")
