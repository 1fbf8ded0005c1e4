"""One-shot Hubble Relay queries for the command runner: ``HubbleQueryPort`` over gRPC.

``HubbleRelayQueries`` talks plaintext gRPC to ``hubble_relay_address`` (the relay's in-cluster
service; TLS to the relay is not wired here) and implements the three calls ``cilium_request``
needs: ``observe`` (GetFlows without ``follow``: the last ``number`` flows, filtered), ``status``
(ServerStatus) and ``nodes`` (GetNodes), each bounded by the caller's timeout. Answers are plain
dicts (protobuf JSON mapping, proto field names). ``observe_request`` maps a validated
``FlowQuery`` onto relay filters the way the hubble CLI does: "either side" filters
(namespaces, pods, labels, ips, ports) become one source-side and one destination-side
``FlowFilter``; combining them with ``from_pods``/``to_pods`` is refused as ambiguous. Every
gRPC failure raises ``HubbleQueryError`` with the status code name and details.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import json_format

from actors.commands.cilium_request import FlowQuery, HubbleQueryError
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2, observer_pb2_grpc

__all__ = ["HubbleRelayQueries", "observe_request"]


def observe_request(query: FlowQuery, *, now: float) -> observer_pb2.GetFlowsRequest:
    """The GetFlows request for ``query`` (``now``: Unix seconds, for ``since_s``)."""
    either = {"pod": [f"{ns}/" for ns in query.namespaces] + list(query.pods),
              "label": list(query.labels), "ip": list(query.ips),
              "port": [str(port) for port in query.ports]}
    if any(either.values()) and (query.from_pods or query.to_pods):
        raise HubbleQueryError("combine pods/namespaces/labels/ips/ports (either direction) "
                               "or from_pods/to_pods, not both")
    common: dict[str, list[Any]] = {}
    if query.verdicts:
        common["verdict"] = [flow_pb2.Verdict.Value(v) for v in query.verdicts]
    if query.protocols:
        common["protocol"] = list(query.protocols)
    filters: list[flow_pb2.FlowFilter] = []
    if any(either.values()):
        for side in ("source", "destination"):
            fields = {f"{side}_{key}": values for key, values in either.items() if values}
            filters.append(_flow_filter({**fields, **common}))
    elif query.from_pods or query.to_pods or common:
        fields = dict(common)
        if query.from_pods:
            fields["source_pod"] = list(query.from_pods)
        if query.to_pods:
            fields["destination_pod"] = list(query.to_pods)
        filters.append(_flow_filter(fields))
    request = observer_pb2.GetFlowsRequest(number=query.number, follow=False, whitelist=filters)
    if query.since_s:
        request.since.FromNanoseconds(int((now - query.since_s) * 1e9))
    return request


class HubbleRelayQueries:
    """Plaintext gRPC to one Hubble Relay; safe to call from several worker threads."""

    def __init__(self, address: str, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = observer_pb2_grpc.ObserverStub(self._channel)
        self._wall = wall_clock

    def observe(self, query: FlowQuery, *, timeout_s: float) -> Sequence[Mapping[str, Any]]:
        request = observe_request(query, now=self._wall())
        flows: list[Mapping[str, Any]] = []
        stream = self._stub.GetFlows(request, timeout=timeout_s)
        try:
            for response in stream:
                if response.HasField("flow"):
                    flows.append(_plain(response.flow))
                    if len(flows) >= query.number:
                        break
        except grpc.RpcError as exc:
            raise _query_error(exc) from None
        finally:
            stream.cancel()
        return flows

    def server_status(self, *, timeout_s: float) -> Mapping[str, Any]:
        try:
            status = self._stub.ServerStatus(observer_pb2.ServerStatusRequest(),
                                             timeout=timeout_s)
        except grpc.RpcError as exc:
            raise _query_error(exc) from None
        return _plain(status)

    def nodes(self, *, timeout_s: float) -> Sequence[Mapping[str, Any]]:
        try:
            answer = self._stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise _query_error(exc) from None
        return [_plain(node) for node in answer.nodes]

    def close(self) -> None:
        self._channel.close()


def _flow_filter(fields: Mapping[str, list[Any]]) -> flow_pb2.FlowFilter:
    flow_filter = flow_pb2.FlowFilter()
    for name, values in fields.items():
        getattr(flow_filter, name).extend(values)
    return flow_filter


def _plain(message: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _query_error(exc: grpc.RpcError) -> HubbleQueryError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    return HubbleQueryError(f"{name}: {details}"[:500])
