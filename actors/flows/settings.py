"""Settings of the Hubble flow pipeline: relay target, TLS, relay-side filters, shards, windows.

``FlowSettings.from_mapping`` turns the topology file's plain ``flows:`` section into typed
settings (unknown keys and wrong types are returned as errors, never raised); ``problems()``
yields ``(key, message)`` pairs for values that would make the pipeline unsafe or useless (a
shard index outside the shard count, TLS half-configured, a filter key Hubble does not have).
Defaults follow the anchor's discovery (kube-system, then GKE's managed namespace) but drop reply
packets at the relay and never fall back to plaintext silently.

``COMPONENT_TYPES`` registers ``hubble_flows`` (keys rendered by the chart: ``relay_address``,
``tls_enabled``, ``tls_server_name``, ``tls_ca_secret``, ``tls_client_secret``, ``shard_index``,
``shard_count``; the rest have defaults); ``collector_settings(raw)`` merges defaults and maps
them onto ``FlowSettings`` (``tls_enabled`` → ``tls_mode`` tls/plaintext, ``shard_count`` →
``shards``), raising ``ValueError`` naming the key for a bad value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting, parse_duration

__all__ = ["COMPONENT_TYPES", "FILTER_KEYS", "HUBBLE_FLOWS_SETTINGS", "TLS_MODES", "FlowSettings",
           "collector_settings", "server_name"]

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


# ---- the ``hubble_flows`` component type (topology keys; the chart renders the first seven) ----

_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
WILDCARD_SERVER_NAME_HOST = "instance"   # "*.hubble-relay.cilium.io" → "instance.hubble-…"


def _text(name: str, default: str, doc: str) -> Setting:
    """A string that may be empty (the chart renders unset values as "")."""
    return Setting(name=name, kind=Kind.ANY, default=default, doc=doc + " (a string)")


def _duration(name: str, default: float, doc: str) -> Setting:
    return Setting(name=name, kind=Kind.DURATION, default=default, minimum=0,
                   exclusive_minimum=True, doc=doc)


HUBBLE_FLOWS_SETTINGS: tuple[Setting, ...] = (
    _text("relay_address", "", "relay host:port; empty = discover Service hubble-relay"),
    Setting(name="tls_enabled", kind=Kind.BOOL, default=True,
            doc="TLS to the relay; never falls back to plaintext when the CA is missing"),
    Setting(name="tls_server_name", kind=Kind.STR, default="*.hubble-relay.cilium.io",
            doc="name the relay certificate must carry; a leading '*.' becomes 'instance.'"),
    Setting(name="tls_ca_secret", kind=Kind.STR, default="hubble-relay-server-certs",
            doc="Secret with ca.crt in the relay's namespace"),
    _text("tls_client_secret", "", "Secret with tls.crt/tls.key for relay mTLS; empty = none"),
    Setting(name="shard_index", kind=Kind.INT, default=0, minimum=0,
            doc="this shard's index among shard_count (node_name partition)"),
    Setting(name="shard_count", kind=Kind.INT, default=1, minimum=1, maximum=64,
            doc="flow collector shards splitting the relay's nodes"),
    _text("tls_ca_file", "", "explicit relay CA file (wins over tls_ca_secret)"),
    _duration("window_s", 10.0, "aggregation window: one flows batch per window"),
    Setting(name="max_keys", kind=Kind.INT, default=20_000, minimum=1, maximum=1_000_000,
            doc="keys per window; new keys beyond go to one counted overflow bucket"),
    Setting(name="drop_replies", kind=Kind.BOOL, default=True,
            doc="drop reply packets at the relay (and in aggregation)"),
    Setting(name="records_per_batch", kind=Kind.INT, default=5000, minimum=1,
            maximum=100_000, doc="records per emitted batch of a window"),
    Setting(name="queue_batches", kind=Kind.INT, default=64, minimum=1, maximum=100_000,
            doc="decoded batches queued for the actor; a full queue drops (counted)"),
    Setting(name="batch_max_records", kind=Kind.INT, default=512, minimum=1,
            maximum=100_000, doc="flows per batch handed from the gRPC thread"),
    _duration("reconnect_min", 0.5, "first reconnect/rediscovery delay (full jitter)"),
    _duration("reconnect_max", 30.0, "cap of the reconnect/rediscovery delay"),
    _duration("rediscover_after", 120.0,
              "a discovered relay that did not stream this long is discovered again"),
    Setting(name="relay_service", kind=Kind.STR, default="hubble-relay",
            doc="Service name discovery looks for"),
    Setting(name="relay_namespaces", kind=Kind.STR_LIST,
            default=("kube-system", "gke-managed-dpv2-observability"),
            doc="namespaces searched, in order, for the relay Service and its Secrets"),
    _text("api_url", "", "API server URL; empty = in-cluster"),
    Setting(name="token_file", kind=Kind.STR, default=f"{_SA_DIR}/token",
            doc="bearer token file (re-read on every request)"),
    Setting(name="ca_file", kind=Kind.STR, default=f"{_SA_DIR}/ca.crt",
            doc="CA bundle of an https API server"),
    _duration("request_timeout", 10.0, "timeout of one discovery API request"),
)
_STRING_KEYS = ("relay_address", "tls_client_secret", "tls_ca_file", "api_url")


def _merged(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` over the defaults with durations in seconds (in-code topologies skip checks)."""
    merged: dict[str, Any] = {s.name: s.default_value() for s in HUBBLE_FLOWS_SETTINGS}
    merged.update(raw)
    for field in HUBBLE_FLOWS_SETTINGS:
        if field.kind is Kind.DURATION:
            seconds = parse_duration(merged[field.name])
            if seconds is None or seconds <= 0:
                raise ValueError(f"setting {field.name!r} must be a positive duration, "
                                 f"got {merged[field.name]!r}")
            merged[field.name] = seconds
    for key in _STRING_KEYS:
        if not isinstance(merged[key], str):
            raise ValueError(f"setting {key!r} must be a string, got {merged[key]!r}")
    return merged


def server_name(configured: str) -> str:
    """A wildcard name (the chart's default) as a concrete name the wildcard cert matches."""
    if configured.startswith("*."):
        return f"{WILDCARD_SERVER_NAME_HOST}.{configured[2:]}"
    return configured


def collector_settings(raw: Mapping[str, Any]) -> tuple[dict[str, Any], FlowSettings]:
    """(merged component values, the client's ``FlowSettings``); ValueError naming a bad key."""
    values = _merged(raw)
    settings = FlowSettings(
        relay_address=values["relay_address"], relay_service=values["relay_service"],
        relay_namespaces=tuple(values["relay_namespaces"]),
        tls_mode="tls" if values["tls_enabled"] else "plaintext",
        tls_ca_file=values["tls_ca_file"] if values["tls_enabled"] else "",
        tls_ca_secret=values["tls_ca_secret"],
        tls_server_name=server_name(values["tls_server_name"]),
        shards=int(values["shard_count"]), shard_index=int(values["shard_index"]),
        drop_replies=bool(values["drop_replies"]), window_s=values["window_s"],
        max_keys=int(values["max_keys"]), batch_max_records=int(values["batch_max_records"]),
        queue_batches=int(values["queue_batches"]), reconnect_min_s=values["reconnect_min"],
        reconnect_max_s=max(values["reconnect_max"], values["reconnect_min"]))
    problems = [f"{key}: {message}" for key, message in settings.problems()]
    if problems:
        raise ValueError("; ".join(problems))
    return values, settings


def _hubble_flows_problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in _STRING_KEYS:
        if not isinstance(values.get(key, ""), str):
            yield key, "must be a string"
    if values.get("shard_index", 0) >= values.get("shard_count", 1):
        yield "shard_index", "must be < shard_count"
    address = values.get("relay_address", "")
    if isinstance(address, str) and address and not address.rpartition(":")[2].isdigit():
        yield "relay_address", f"needs host:port, got {address!r}"
    if values.get("reconnect_min", 0) > values.get("reconnect_max", 0):
        yield "reconnect_min", "must be <= reconnect_max"
    if not values.get("relay_address") and not values.get("relay_namespaces"):
        yield "relay_namespaces", "empty and no relay_address: nowhere to look"


COMPONENT_TYPES: tuple[ComponentType, ...] = (ComponentType(
    name="hubble_flows", actor_class="actors.flows.flow_collector_actor.FlowCollector",
    doc="Hubble Relay GetFlows (one node_name shard) aggregated into flows records per window",
    settings=HUBBLE_FLOWS_SETTINGS, check=_hubble_flows_problems),)
