"""A new flow's fields → its ``FlowRecord`` (time 0), through bounded sub-message caches.

Owns the slow half of flow decoding: a flow view (``flow_view_codec.FlowView``) whose shape the
decoder has not seen is read field by field here. Its endpoints, destination service, policies,
addresses and event type arrive as bytes and key bounded caches (``CACHE_LIMIT`` entries each,
cleared when full and counted in ``decode_cache_resets``): an endpoint's bytes repeat for every
connection of the same pod, a policy's for every flow it allowed. Enum numbers this schema does
not know become ``UNKNOWN_<n>`` and their ``unknown_enum_values.*`` counter names are handed
back, so the caller can count them once per flow. Raises ``DecodeError`` when a sub-message
does not parse (the caller counts the flow as malformed); nothing else.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from actors.flows.flow_records import EndpointInfo, FlowRecord
from messages.wire.flow import flow_pb2

__all__ = ["CACHE_LIMIT", "FlowFieldDecoder"]

_VERDICTS = {v.number: v.name for v in flow_pb2.Verdict.DESCRIPTOR.values}
_DROP_REASONS = {v.number: v.name for v in flow_pb2.DropReason.DESCRIPTOR.values}
_DIRECTIONS = {v.number: v.name for v in flow_pb2.TrafficDirection.DESCRIPTOR.values}
_PORTED = frozenset(("TCP", "UDP", "SCTP"))
CACHE_LIMIT = 16_384            # entries per sub-message cache (endpoints, addresses, ...)

_EMPTY_ENDPOINT = EndpointInfo("", "", "", "", 0, (), "")


def _endpoint(raw: bytes) -> EndpointInfo:
    """An endpoint's record; labels are kept only for peers no workload names (reserved/FQDN/
    CIDR identities), where they are the peer's name."""
    if not raw:
        return _EMPTY_ENDPOINT
    endpoint = flow_pb2.Endpoint.FromString(raw)
    workloads = endpoint.workloads
    if workloads:
        first = workloads[0]
        return EndpointInfo(endpoint.namespace, endpoint.pod_name, first.kind, first.name,
                            endpoint.identity, (), endpoint.cluster_name)
    return EndpointInfo(endpoint.namespace, endpoint.pod_name, "", "", endpoint.identity,
                        tuple(endpoint.labels), endpoint.cluster_name)


def _service(raw: bytes) -> str:
    service = flow_pb2.Service.FromString(raw)
    return f"{service.namespace}/{service.name}" if service.name else ""


def _addresses(raw: bytes) -> tuple[int, str, str]:
    ip = flow_pb2.IP.FromString(raw)
    return ip.ipVersion, ip.source, ip.destination


def _event_type(raw: bytes) -> int:
    return flow_pb2.CiliumEventType.FromString(raw).type


def _policy(raw: bytes) -> str:
    policy = flow_pb2.Policy.FromString(raw)
    return f"{policy.kind or 'Policy'}:{policy.namespace}/{policy.name}"


class FlowFieldDecoder:
    """Field-by-field decoding of new flows; ``counters`` is shared with the subclass."""

    def __init__(self) -> None:
        self.counters: collections.Counter[str] = collections.Counter()
        self._endpoints: dict[bytes, EndpointInfo] = {}
        self._services: dict[bytes, str] = {b"": ""}
        self._policies: dict[bytes, str] = {}
        self._addresses: dict[bytes, tuple[int, str, str]] = {}
        self._event_types: dict[bytes, int] = {}

    def _cache_miss(self, cache: dict[bytes, Any], raw: bytes, parse: Any) -> Any:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
            self.counters["decode_cache_resets"] += 1
        value = cache[raw] = parse(raw)
        return value

    def _enum_name(self, table: dict[int, str], number: int, what: str,
                   unknown: list[str] | None = None) -> str:
        """The enum number's name, or ``UNKNOWN_<n>`` counted now (or listed in ``unknown``
        for the caller to count per flow)."""
        name = table.get(number)
        if name is None:
            counter = f"unknown_enum_values.{what}"
            if unknown is None:
                self.counters[counter] += 1
            else:
                unknown.append(counter)
            return f"UNKNOWN_{number}"
        return name

    def _policy_names(self, direction: str, raws: Iterable[bytes]) -> tuple[str, ...]:
        cache = self._policies
        return tuple(f"{direction}:{cache.get(raw) or self._cache_miss(cache, raw, _policy)}"
                     for raw in raws)

    def record(self, flow: Any, unknown: list[str]) -> FlowRecord:
        """The flow's record with ``time_ns`` 0; unknown enum counter names go to ``unknown``."""
        enum = self._enum_name
        verdict = enum(_VERDICTS, flow.verdict, "verdict", unknown)
        drop_number = flow.drop_reason_desc or flow.drop_reason
        drop = enum(_DROP_REASONS, drop_number, "drop_reason", unknown) if drop_number else ""
        l4 = flow.l4
        protocol = l4.WhichOneof("protocol") or ""
        port = getattr(l4, protocol).destination_port if protocol in _PORTED else 0
        direction = enum(_DIRECTIONS, flow.traffic_direction, "traffic_direction", unknown)
        allowed: tuple[str, ...] = ()
        denied: tuple[str, ...] = ()
        if flow.ingress_allowed_by or flow.egress_allowed_by:
            allowed = (self._policy_names("ingress", flow.ingress_allowed_by)
                       + self._policy_names("egress", flow.egress_allowed_by))
        if flow.ingress_denied_by or flow.egress_denied_by:
            denied = (self._policy_names("ingress", flow.ingress_denied_by)
                      + self._policy_names("egress", flow.egress_denied_by))
        endpoints, services, addresses = self._endpoints, self._services, self._addresses
        raw = flow.source
        source = endpoints.get(raw) or self._cache_miss(endpoints, raw, _endpoint)
        raw = flow.destination
        destination = endpoints.get(raw) or self._cache_miss(endpoints, raw, _endpoint)
        raw = flow.destination_service
        service = services.get(raw)
        if service is None:
            service = self._cache_miss(services, raw, _service)
        raw = flow.IP
        ip_version, source_ip, destination_ip = (
            addresses.get(raw) or self._cache_miss(addresses, raw, _addresses))
        raw = flow.event_type
        event_type = self._event_types.get(raw)
        if event_type is None:
            event_type = self._cache_miss(self._event_types, raw, _event_type)
        return FlowRecord(
            0, verdict, drop, ip_version, source_ip, destination_ip, protocol, port, source,
            destination, service, direction,
            flow.is_reply.value if flow.HasField("is_reply") else None,
            allowed, denied, flow.node_name, event_type)
