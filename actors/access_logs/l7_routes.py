"""Who talked to whom, per access-log entry, memoized where the cluster and peer state decide it.

Owns the peers part of an L7 key for the hot path (``l7_extraction``): the aggregator's interned
``peer_id`` of ``WorkloadMapper.map``'s answer. ``WorkloadMapper.map`` stays the one rule; this
module only decides when its answer may be reused. Per stream identity (and per "pod IPs can
resolve" state, since pods arriving change answers) a bounded memo maps the upstream cluster,
or (cluster, the relevant peer's filter-state bytes), to the peer id, but only where nothing
else of the entry can change it:

- a valid Istio peer filter state with a cluster port: always;
- inbound without it: by (that, the TLS peer principal) where the principal is a SPIFFE id or
  pod IPs cannot resolve; without a principal, when pod IPs cannot resolve (``inbound|`` memo
  values are stored complemented, ``~peer_id``: the entry's principal is read first);
- outbound without it: when pod IPs cannot resolve and the cluster names a service and port.

Everything else (no cluster, IP-resolved peers, Passthrough/BlackHole/unrouted authorities)
is read in full and mapped per entry. Memos are dropped when the aggregator forgets
its interned peers, and bounded: all are reset past ``max_routes`` remembered routes in total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from actors.access_logs.als_fields import peer_principal, peer_state
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.workload_mapping import (
    ProxyIdentity,
    WorkloadMapper,
    cluster_route,
    is_inbound_cluster,
    parse_spiffe,
    peer_workload,
)

__all__ = ["RouteResolver"]

RouteMemo = dict[Any, int]
Resolve = Callable[[Any, Any, str], int]
# an inbound| route known only with TLS peer principals so far (peer id 0 is the overflow
# bucket, never a mapping's answer, so ~0 is free)
_NO_PRINCIPAL_YET = ~0


class _EntryFields(NamedTuple):
    """What ``WorkloadMapper.map`` reads of an entry (duck-typed ``AccessLogEntry``)."""

    upstream_cluster: str
    downstream_local_ip: str
    downstream_local_port: int
    downstream_remote_ip: str
    upstream_remote_ip: str
    upstream_remote_port: int
    authority: str
    peer_principal: str
    downstream_peer: Mapping[str, Any] | None
    upstream_peer: Mapping[str, Any] | None


class RouteResolver:
    """Peer ids for one aggregator's entries, memoized per stream identity."""

    def __init__(self, aggregator: L7Aggregator, mapper: WorkloadMapper, *,
                 max_routes: int = 65_536) -> None:
        self.aggregator = aggregator
        self.mapper = mapper
        self.max_routes = max_routes
        self.routes = 0   # remembered in all memos (each stream's memo counts one too)
        self._memos: dict[tuple[ProxyIdentity, bool], RouteMemo] = {}
        self._sides: dict[str, tuple[str, str]] = {}
        self._generation = aggregator.peer_generation

    def for_stream(self, identity: ProxyIdentity, has_states: bool) -> tuple[RouteMemo, Resolve]:
        """(memo by cluster, resolve(common, request or None, cluster) → peer id) for one
        message of ``identity``; ``has_states``: its bytes may hold peer filter state."""
        if self.aggregator.peer_generation != self._generation or self.routes >= self.max_routes:
            self._memos.clear()
            self.routes = 0
            self._generation = self.aggregator.peer_generation
        by_ip = self.mapper.resolves_ips()
        memo = self._memos.get((identity, by_ip))
        if memo is None:
            memo = self._memos[(identity, by_ip)] = {}
            self.routes += 1
        sides, map_entry = self._sides, self._map

        def resolve(common: Any, request: Any, cluster: str) -> int:
            states = common.filter_state_objects if has_states else None
            key: Any = cluster
            if states and cluster:   # the relevant peer's state bytes (not parsed on a hit)
                side = sides.get(cluster) or self._side(cluster)
                packed = states.get(side[0]) or states.get(side[1])
                key = (cluster, packed.value if packed is not None else b"")
            known = memo.get(key)
            if known is not None:
                if known >= 0:
                    return known
                principal = peer_principal(common, cluster, None)   # an inbound| route
                if not principal:
                    if known != _NO_PRINCIPAL_YET:
                        return ~known
                else:
                    known = memo.get((key, principal))
                    if known is not None:
                        return known
            return map_entry(identity, memo, by_ip, key, common, request, cluster, states)
        return memo, resolve

    def _side(self, cluster: str) -> tuple[str, str]:
        """The filter-state keys of the peer that names the other side of ``cluster``."""
        name = "downstream_peer" if is_inbound_cluster(cluster) else "upstream_peer"
        if len(self._sides) >= 4096:
            self._sides.clear()
        side = self._sides[cluster] = (name, f"wasm.{name}")
        return side

    def _map(self, identity: ProxyIdentity, memo: RouteMemo, by_ip: bool, key: Any,
             common: Any, request: Any, cluster: str, states: Any) -> int:
        counters = self.aggregator.counters
        down_peer = up_peer = state = None
        if states:
            down_peer = peer_state(states, "downstream_peer", counters)[1]
            up_peer = peer_state(states, "upstream_peer", counters)[1]
            state = down_peer if is_inbound_cluster(cluster) else up_peer
        principal = peer_principal(common, cluster, down_peer)
        down_remote = common.downstream_remote_address.socket_address
        down_local = common.downstream_local_address.socket_address
        up_remote = common.upstream_remote_address.socket_address
        fields = _EntryFields(
            cluster, down_local.address, down_local.port_value, down_remote.address,
            up_remote.address, up_remote.port_value,
            request.authority if request is not None else "", principal, down_peer, up_peer)
        peer_id = self.aggregator.peer_id(self.mapper.map(identity, fields))
        for memo_key, value in self._reusable(key, cluster, state, by_ip, principal, peer_id):
            if self.routes < self.max_routes and (
                    value != _NO_PRINCIPAL_YET or memo_key not in memo):
                memo[memo_key] = value
                self.routes += 1
        return peer_id

    @staticmethod
    def _reusable(key: Any, cluster: str, state: Mapping[str, Any] | None, by_ip: bool,
                  principal: str, peer_id: int) -> list[tuple[Any, int]]:
        """What to remember of this answer: nothing where other fields of an entry decide."""
        if not cluster:
            return []                         # direction from the local address
        port, service = cluster_route(cluster)
        if port == 0:
            return []                         # port from the entry's addresses
        if peer_workload(state) is not None:
            return [(key, peer_id)]
        if is_inbound_cluster(cluster):
            if not cluster.startswith("inbound|"):
                return [] if by_ip else [(key, peer_id)]    # (no principal read there)
            if not principal:
                return [] if by_ip else [(key, ~peer_id)]
            if by_ip and parse_spiffe(principal) is None:
                return []                     # the source is named by its IP
            return [(key, _NO_PRINCIPAL_YET), ((key, principal), peer_id)]
        return [] if by_ip or service is None else [(key, peer_id)]
