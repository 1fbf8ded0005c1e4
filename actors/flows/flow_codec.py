"""GetFlowsResponse → compact flow records, node-status and lost-event accounting.

Owns the only translation from Hubble's wire bytes into plain ``FlowRecord`` tuples the
aggregation understands. Every response is one of: a flow (→ a record), a relay ``node_status``
event (counted per state, nodes remembered), or ``lost_events`` (the relay/agent says N events
were lost: summed per source, never hidden). Bad input never raises: undecodable bytes count
``malformed_frames``, enum numbers this schema does not know count ``unknown_enum_values`` and
are kept as ``UNKNOWN_<n>``; an empty response counts ``empty``.
Hot path: responses are parsed with the ``flow_view_codec`` view (endpoints, service, policies,
addresses and event type as bytes); those byte strings key bounded caches (``CACHE_LIMIT``
entries each, cleared when full and counted in ``decode_cache_resets``), so a pod seen before
costs one dict lookup instead of a dozen upb reads. The source port is not even parsed: it never
reaches a record.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from actors.flows.flow_view_codec import ResponseView
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from messages.wire.relay import relay_pb2

__all__ = ["CACHE_LIMIT", "EndpointInfo", "FlowDecoder", "FlowRecord"]

_VERDICTS = {v.number: v.name for v in flow_pb2.Verdict.DESCRIPTOR.values}
_DROP_REASONS = {v.number: v.name for v in flow_pb2.DropReason.DESCRIPTOR.values}
_DIRECTIONS = {v.number: v.name for v in flow_pb2.TrafficDirection.DESCRIPTOR.values}
_NODE_STATES = {v.number: v.name for v in relay_pb2.NodeState.DESCRIPTOR.values}
_LOST_SOURCES = {v.number: v.name for v in flow_pb2.LostEventSource.DESCRIPTOR.values}
_PORTED = frozenset(("TCP", "UDP", "SCTP"))
CACHE_LIMIT = 16_384            # entries per sub-message cache (endpoints, addresses, ...)


class EndpointInfo(NamedTuple):
    """One side of a flow, as Hubble enriched it (namespace and workload may be empty)."""

    namespace: str
    pod: str
    workload_kind: str
    workload_name: str
    identity: int
    labels: tuple[str, ...]     # only for peers without a workload (see _endpoint)
    cluster: str


class FlowRecord(NamedTuple):
    """One decoded flow; ``time_ns`` is the flow's own observation time (not ours)."""

    time_ns: int
    verdict: str
    drop_reason: str
    ip_version: int
    source_ip: str
    destination_ip: str
    l4_protocol: str            # TCP/UDP/SCTP/ICMPv4/ICMPv6/VRRP/IGMP or "" when absent
    destination_port: int       # 0 for protocols without ports
    source: EndpointInfo
    destination: EndpointInfo
    destination_service: str    # "namespace/name" or ""
    traffic_direction: str
    is_reply: bool | None       # None = the datapath did not know
    allowed_by: tuple[str, ...]  # "ingress:Kind:namespace/name" / "egress:..."
    denied_by: tuple[str, ...]
    node_name: str
    event_type: int


_EMPTY_ENDPOINT = EndpointInfo("", "", "", "", 0, (), "")
_parse_view = ResponseView.FromString


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


class FlowDecoder:
    """Decodes responses and keeps the counters the status endpoint and the uplink report."""

    def __init__(self) -> None:
        self.counters: collections.Counter[str] = collections.Counter()
        self.node_states: dict[str, str] = {}   # node name -> last reported state
        self._endpoints: dict[bytes, EndpointInfo] = {}
        self._services: dict[bytes, str] = {b"": ""}
        self._policies: dict[bytes, str] = {}
        self._addresses: dict[bytes, tuple[int, str, str]] = {}
        self._event_types: dict[bytes, int] = {}

    def _enum_name(self, table: dict[int, str], number: int, what: str) -> str:
        name = table.get(number)
        if name is None:
            self.counters[f"unknown_enum_values.{what}"] += 1
            return f"UNKNOWN_{number}"
        return name

    def _cache_miss(self, cache: dict[bytes, Any], raw: bytes, parse: Any) -> Any:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
            self.counters["decode_cache_resets"] += 1
        value = cache[raw] = parse(raw)
        return value

    def decode_many(self, raws: Iterable[bytes]) -> list[FlowRecord]:
        """The flow records of many serialized responses (others only counted), in order."""
        return [record for record in map(self.decode_bytes, raws) if record is not None]

    def decode(self, response: observer_pb2.GetFlowsResponse) -> FlowRecord | None:
        """``decode_bytes`` of an already-built response (tests and tools)."""
        return self.decode_bytes(response.SerializeToString())

    def decode_bytes(self, raw: bytes) -> FlowRecord | None:
        """A record for a flow; ``None`` (after counting) for status, lost events, empties and
        undecodable bytes."""
        try:
            response = _parse_view(raw)
        except DecodeError:
            self.counters["malformed_frames"] += 1
            return None
        return self._response(response)

    def _response(self, response: Any) -> FlowRecord | None:
        try:
            kind = response.WhichOneof("response_types")
            if kind == "flow":
                record = self._flow(response.flow)
                self.counters["flows"] += 1
                return record
            if kind == "node_status":
                self._node_status(relay_pb2.NodeStatusEvent.FromString(response.node_status))
            elif kind == "lost_events":
                self._lost_events(flow_pb2.LostEvent.FromString(response.lost_events))
            else:
                self.counters["empty_responses"] += 1
        except DecodeError:  # a sub-message (endpoint, policy, event) that does not parse
            self.counters["malformed_frames"] += 1
        return None

    def _node_status(self, status: relay_pb2.NodeStatusEvent) -> None:
        state = self._enum_name(_NODE_STATES, status.state_change, "node_state")
        self.counters[f"node_status.{state}"] += 1
        for name in status.node_names:
            self.node_states[name] = state

    def _lost_events(self, lost: flow_pb2.LostEvent) -> None:
        source = self._enum_name(_LOST_SOURCES, lost.source, "lost_event_source")
        self.counters["lost_events"] += lost.num_events_lost
        self.counters[f"lost_events.{source}"] += lost.num_events_lost

    def _policy_names(self, direction: str, raws: Iterable[bytes]) -> tuple[str, ...]:
        cache = self._policies
        return tuple(f"{direction}:{cache.get(raw) or self._cache_miss(cache, raw, _policy)}"
                     for raw in raws)

    def _flow(self, flow: Any) -> FlowRecord:
        verdict = _VERDICTS.get(flow.verdict) or self._enum_name(_VERDICTS, flow.verdict,
                                                                 "verdict")
        drop_number = flow.drop_reason_desc or flow.drop_reason
        drop = "" if not drop_number else (
            _DROP_REASONS.get(drop_number)
            or self._enum_name(_DROP_REASONS, drop_number, "drop_reason"))
        l4 = flow.l4
        protocol = l4.WhichOneof("protocol") or ""
        port = getattr(l4, protocol).destination_port if protocol in _PORTED else 0
        direction = _DIRECTIONS.get(flow.traffic_direction) or self._enum_name(
            _DIRECTIONS, flow.traffic_direction, "traffic_direction")
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
        timestamp = flow.time
        return FlowRecord(  # positional: keyword construction costs twice as much
            timestamp.seconds * 1_000_000_000 + timestamp.nanos, verdict, drop, ip_version,
            source_ip, destination_ip, protocol, port, source, destination, service, direction,
            flow.is_reply.value if flow.HasField("is_reply") else None,
            allowed, denied, flow.node_name, event_type)
