"""What a simulated relay answers, independent of the transport serving it (grpcio or h2).

Owns the Observer semantics both relays share, so they serve exactly the same flows:
``unsupported_filters`` (only ``node_name``, ``reply`` and ``verdict`` are honoured; anything else
must be refused, not silently ignored), ``filter_matches`` (upstream semantics: a ``node_name``
pattern without ``/`` matches the node in any cluster; an unknown ``is_reply`` counts as false
only for DROPPED flows), ``AllowedSlots`` (which pool slots pass a request's filter set, computed
once per distinct set and shared by every stream), ``first_index`` / ``until_ns`` (where a
GetFlows stream starts and stops: ``since``, ``number``, ``follow`` on a paced history start at
"now") and the GetNodes / ServerStatus responses. Pure functions over a ``FlowSequence``; nothing
here raises for a valid request.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from typing import Any

from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from messages.wire.relay import relay_pb2
from sim.hubble.flow_source import FlowSequence, PoolEntry

__all__ = ["SUPPORTED_FILTERS", "AllowedSlots", "filter_matches", "first_index",
           "nodes_response", "relay_nodes", "status_response", "unsupported_filters", "until_ns"]

SUPPORTED_FILTERS = frozenset({"node_name", "reply", "verdict"})
_FilterKey = tuple[tuple[bytes, ...], tuple[bytes, ...]]   # serialized whitelist, blacklist


def unsupported_filters(request: observer_pb2.GetFlowsRequest) -> str:
    """An UNIMPLEMENTED message when a filter uses a field the simulator does not honour, else
    the empty string."""
    for flow_filter in [*request.whitelist, *request.blacklist]:
        unsupported = {f.name for f, _ in flow_filter.ListFields()} - SUPPORTED_FILTERS
        if unsupported:
            return (f"sim relay supports filters {sorted(SUPPORTED_FILTERS)} only, "
                    f"got {sorted(unsupported)}")
    return ""


def _node_matches(node: str, patterns: Any) -> bool:
    for pattern in patterns:
        full = pattern if "/" in pattern else f"*/{pattern}"
        if fnmatch.fnmatchcase(node, full):
            return True
    return False


def filter_matches(entry: PoolEntry, flow_filter: flow_pb2.FlowFilter) -> bool:
    """True when every field set in ``flow_filter`` matches the frame (non-flows never match
    field filters, as upstream's filters only look at flows)."""
    if flow_filter.node_name and not _node_matches(entry.node_name, flow_filter.node_name):
        return False
    if flow_filter.reply:
        if not entry.is_flow:
            return False
        if entry.is_reply is None and entry.verdict != flow_pb2.DROPPED:
            return False
        if bool(entry.is_reply) not in flow_filter.reply:
            return False
    return not flow_filter.verdict or (entry.is_flow and entry.verdict in flow_filter.verdict)


class AllowedSlots:
    """Which pool slots pass a request's filters, computed once per distinct filter set (every
    shard's reconnect and every bench pass reuses it); thread-safe."""

    def __init__(self, sequence: FlowSequence) -> None:
        self.sequence = sequence
        self._lock = threading.Lock()
        self._by_filters: dict[_FilterKey, list[bool]] = {}

    def for_request(self, request: observer_pb2.GetFlowsRequest) -> list[bool]:
        key = (tuple(f.SerializeToString(deterministic=True) for f in request.whitelist),
               tuple(f.SerializeToString(deterministic=True) for f in request.blacklist))
        with self._lock:
            found = self._by_filters.get(key)
        if found is None:
            found = [(not request.whitelist
                      or any(filter_matches(e, f) for f in request.whitelist))
                     and not any(filter_matches(e, f) for f in request.blacklist)
                     for e in self.sequence.pool]
            with self._lock:
                found = self._by_filters.setdefault(key, found)
        return found


def first_index(sequence: FlowSequence, request: observer_pb2.GetFlowsRequest,
                just_started: bool) -> int:
    """The first frame a GetFlows stream sends (the stream that started the clock: frame 0)."""
    if just_started:
        return 0
    if request.HasField("since"):
        return sequence.first_index_since(request.since.ToNanoseconds())
    available = sequence.available()
    if request.number:
        return max(0, available - request.number)
    return available if request.follow and sequence.rate > 0 else 0


def until_ns(request: observer_pb2.GetFlowsRequest) -> int | None:
    """The stream ends after the last frame not later than this (None: no end time)."""
    return request.until.ToNanoseconds() if request.HasField("until") else None


def relay_nodes(sequence: FlowSequence) -> list[str]:
    return sorted({e.node_name for e in sequence.pool if e.is_flow and e.node_name})


def nodes_response(sequence: FlowSequence, version: str) -> observer_pb2.GetNodesResponse:
    return observer_pb2.GetNodesResponse(nodes=[
        observer_pb2.Node(name=name, version=version, state=relay_pb2.NODE_CONNECTED,
                          address=f"10.0.0.{i + 1}:4244")
        for i, name in enumerate(relay_nodes(sequence))])


def status_response(sequence: FlowSequence, version: str,
                    started_monotonic: float) -> observer_pb2.ServerStatusResponse:
    seen = sequence.available() if sequence.started else 0
    status = observer_pb2.ServerStatusResponse(
        num_flows=seen, max_flows=sequence.total, seen_flows=seen,
        uptime_ns=int((time.monotonic() - started_monotonic) * 1e9), version=version)
    status.num_connected_nodes.value = len(relay_nodes(sequence))
    status.num_unavailable_nodes.value = 0
    return status
