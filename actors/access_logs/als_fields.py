"""Readers of single ALS entry fields, shared by the tuple decoder and the fold.

Owns Envoy's response-flag short codes, the duration rule (``duration``, else
``time_to_last_downstream_tx_byte``), the peer certificate's URI SAN and Istio's peer filter
state (Any(Struct) → dict). The last two conversions are memoized by the bytes they read in
bounded module-level dicts (cleared when full): flag combinations and peers recur, and a
Struct → dict costs ~50 µs. Never raises on data: a filter state that is not a Struct is counted
(``filter_state_not_struct``) and read as absent.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

__all__ = ["RESPONSE_FLAG_CODES", "duration_ms", "peer_principal", "peer_state", "response_flags"]

RESPONSE_FLAG_CODES = {
    "failed_local_healthcheck": "LH", "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT", "local_reset": "LR", "upstream_remote_reset": "UR",
    "upstream_connection_failure": "UF", "upstream_connection_termination": "UC",
    "upstream_overflow": "UO", "no_route_found": "NR", "delay_injected": "DI",
    "fault_injected": "FI", "rate_limited": "RL", "unauthorized_details": "UAEX",
    "rate_limit_service_error": "RLSE", "downstream_connection_termination": "DC",
    "upstream_retry_limit_exceeded": "URX", "stream_idle_timeout": "SI",
    "invalid_envoy_request_headers": "IH", "downstream_protocol_error": "DPE",
    "upstream_max_stream_duration_reached": "UMSDR", "response_from_cache_filter": "RFCF",
    "no_filter_config_found": "NFCF", "duration_timeout": "DT", "upstream_protocol_error": "UPE",
    "no_cluster_found": "NC", "overload_manager": "OM", "dns_resolution_failure": "DF",
    "downstream_remote_reset": "DR"}
# serialized Istio peer Struct -> dict; peers repeat, Struct → dict costs ~50 µs. Read-only.
_PEER_CACHE: dict[bytes, Mapping[str, Any] | None] = {}
_FLAGS_CACHE: dict[bytes, tuple[str, ...]] = {}   # serialized ResponseFlags -> short codes


def _duration_ms(duration: Any) -> float:
    return float(duration.seconds * 1000.0 + duration.nanos / 1e6)


def response_flags(common: Any) -> tuple[str, ...]:
    """Envoy's short codes (``UH``, ``NR`` ...) of the flags set in ``response_flags``
    (memoized by the flags' bytes: a handful of combinations recur)."""
    flags = common.response_flags
    raw = flags.SerializeToString()
    known = _FLAGS_CACHE.get(raw)
    if known is None:
        known = tuple(RESPONSE_FLAG_CODES.get(f.name, f.name) for f, _ in flags.ListFields())
        if len(_FLAGS_CACHE) >= 1024:
            _FLAGS_CACHE.clear()
        _FLAGS_CACHE[raw] = known
    return known


def duration_ms(common: Any) -> float:
    """``duration``, else ``time_to_last_downstream_tx_byte``, in ms; -1.0 when neither."""
    duration_pb = common.duration
    duration = duration_pb.seconds * 1000.0 + duration_pb.nanos / 1e6
    if duration == 0.0 and not common.HasField("duration"):
        if common.HasField("time_to_last_downstream_tx_byte"):
            return _duration_ms(common.time_to_last_downstream_tx_byte)
        return -1.0
    return float(duration)


def peer_principal(common: Any, cluster: str, down_peer: Mapping[str, Any] | None) -> str:
    """The peer certificate's first URI SAN, read only where the mapping can use it: on the
    inbound view when the downstream peer's filter state did not name it."""
    if (not cluster or cluster.startswith("inbound|")) and down_peer is None \
            and common.HasField("tls_properties"):
        sans = common.tls_properties.peer_certificate_properties.subject_alt_name
        if sans:
            return str(sans[0].uri)
    return ""


def peer_state(states: Any, key: str, counters: collections.Counter[str]
               ) -> tuple[bytes, Mapping[str, Any] | None]:
    """(raw bytes, dict) of the ``key`` (or ``wasm.<key>``) peer filter state; (b"", None)
    when absent, (raw, None) when it is not a Struct (counted)."""
    packed = states.get(key) or states.get(f"wasm.{key}")
    if packed is None:
        return b"", None
    raw = packed.value
    cached = _PEER_CACHE.get(raw)
    if cached is None:
        value = struct_pb2.Struct()
        if not packed.Unpack(value):
            counters["filter_state_not_struct"] += 1
            return raw, None
        cached = json_format.MessageToDict(value)
        if len(_PEER_CACHE) >= 4096:
            _PEER_CACHE.clear()
        _PEER_CACHE[raw] = cached
    return raw, cached
