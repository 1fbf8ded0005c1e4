"""GetFlowsRequest building: relay-side filters, reply dropping and node_name sharding.

Owns what we ask Hubble Relay for. Filters from ``FlowSettings`` (plain dicts in the topology
file) become ``flow.FlowFilter``s via the proto3 JSON mapping (a bad value raises ``ValueError``
naming it); reply packets are blacklisted unless ``drop_replies`` is off (upstream semantics:
``reply: [true]`` matches ``is_reply == true``); a shard's node partition is ANDed into every
whitelist entry. ``shard_nodes`` splits node names by a stable CRC32 hash, identical in every
process and across restarts, so N shard processes cover every node exactly once.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from google.protobuf import json_format

from actors.flows.settings import FlowSettings
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2

__all__ = ["build_request", "shard_nodes"]


def shard_nodes(nodes: Sequence[str], shards: int, index: int) -> list[str]:
    """The nodes shard ``index`` of ``shards`` owns (stable across processes and restarts)."""
    return sorted(n for n in nodes if zlib.crc32(n.encode()) % shards == index)


def build_request(settings: FlowSettings, node_names: Sequence[str] | None,
                  since_ns: int | None) -> observer_pb2.GetFlowsRequest:
    """GetFlows(follow) with the configured filters; ``ValueError`` on a bad filter value."""
    request = observer_pb2.GetFlowsRequest(follow=True)
    try:
        whitelist = [json_format.ParseDict(dict(f), flow_pb2.FlowFilter())
                     for f in settings.whitelist]
        blacklist = [json_format.ParseDict(dict(f), flow_pb2.FlowFilter())
                     for f in settings.blacklist]
    except json_format.ParseError as exc:
        raise ValueError(f"bad flow filter: {exc}") from exc
    if settings.drop_replies:
        blacklist.append(flow_pb2.FlowFilter(reply=[True]))
    if node_names is not None:
        if not whitelist:
            whitelist = [flow_pb2.FlowFilter()]
        for entry in whitelist:
            entry.node_name[:] = list(node_names)
    request.whitelist.extend(whitelist)
    request.blacklist.extend(blacklist)
    if since_ns is not None:
        request.since.FromNanoseconds(since_ns)
    return request
