"""Who talked to whom in an Envoy access log entry: the reporting proxy, its peer, the direction.

Owns Istio's identity conventions. The reporting sidecar is named by its node metadata (``NAME``,
``NAMESPACE``, ``WORKLOAD_NAME``, ``OWNER`` → kind, ``LABELS``, ``INSTANCE_IPS``), falling back
to the node id ``sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local``. The direction comes from the
upstream cluster (``inbound|…`` / ``outbound|…`` / passthrough / blackhole) or, when the cluster
is empty (no route), from whether the local address is one of the proxy's own IPs. The peer is
taken, best first, from Istio's ``downstream_peer``/``upstream_peer`` filter state, the peer's
SPIFFE identity ``spiffe://<td>/ns/<ns>/sa/<sa>``, an injected pod-IP index, and the
``outbound|port|subset|svc.ns.svc…`` cluster name. Inbound and outbound views of one request are
both kept, labelled with Istio's ``reporter`` (destination/source), so a consumer that sums one
reporter never double-counts. Plain logic: no I/O; bad or missing metadata degrades to
``Unknown`` and is counted by the caller, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

__all__ = ["MappedPeers", "PodIpIndex", "ProxyIdentity", "WorkloadIndexPods", "WorkloadMapper",
           "WorkloadRef", "cluster_route", "is_inbound_cluster", "parse_spiffe", "peer_workload",
           "proxy_identity"]

_OWNER_KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet",
                "daemonsets": "DaemonSet", "replicasets": "ReplicaSet", "jobs": "Job",
                "cronjobs": "CronJob", "pods": "Pod", "replicationcontrollers":
                "ReplicationController"}
_PEER_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet",
               "daemonset": "DaemonSet", "replicaset": "ReplicaSet", "job": "Job",
               "cronjob": "CronJob", "pod": "Pod"}
_INBOUND_PASSTHROUGH = ("InboundPassthroughCluster", "InboundPassthroughClusterIpv4",
                        "InboundPassthroughClusterIpv6")


class WorkloadRef(NamedTuple):
    """A peer named with bounded cardinality: (namespace, kind, name)."""

    namespace: str
    kind: str
    name: str


UNKNOWN = WorkloadRef("", "Unknown", "")


class ProxyIdentity(NamedTuple):
    """The sidecar that sent a stream, from the stream's first message."""

    node_id: str
    log_name: str
    pod: str
    namespace: str
    workload: WorkloadRef
    service_account: str
    canonical_service: str
    instance_ips: frozenset[str]
    labels: tuple[tuple[str, str], ...] = ()   # pod labels from LABELS, sorted


class MappedPeers(NamedTuple):
    """The entry's two peers as Istio's reporter sees them, and the destination port."""

    reporter: str            # "source" (outbound view) or "destination" (inbound view)
    source: WorkloadRef
    destination: WorkloadRef
    port: int


class PodIpIndex(Protocol):
    """Pod IP → workload, kept by whoever watches pods (the informer cache)."""

    def workload_for_ip(self, ip: str) -> WorkloadRef | None: ...


class WorkloadIndexPods:
    """``PodIpIndex`` over the kube domain's ``WorkloadIndex`` (duck-typed: ``pod_by_ip`` and
    ``workload_of_pod``), so ALS peers resolve from the inventory already in memory."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def workload_for_ip(self, ip: str) -> WorkloadRef | None:
        key = self.index.pod_by_ip(ip)
        if key is None:
            return None
        namespace, pod = key
        found = self.index.workload_of_pod(namespace, pod)
        kind, name = found if found else ("Pod", pod)
        return WorkloadRef(namespace, kind, name)

    def is_empty(self) -> bool:
        """True while the index holds no pod at all (no IP can resolve)."""
        return not getattr(self.index, "pods", True)


def _string(metadata: Mapping[str, Any], key: str) -> str:
    value = metadata.get(key)
    return value if isinstance(value, str) else ""


def proxy_identity(node_id: str, log_name: str, metadata: Mapping[str, Any]) -> ProxyIdentity:
    """Name the reporting proxy from Istio node metadata, else from the node id."""
    parts = node_id.split("~")
    id_pod, id_namespace, id_ip = "", "", ""
    if len(parts) == 4:
        id_ip = parts[1]
        id_pod, _, id_namespace = parts[2].partition(".")
    pod = _string(metadata, "NAME") or id_pod
    namespace = _string(metadata, "NAMESPACE") or id_namespace
    owner = _string(metadata, "OWNER").rstrip("/").split("/")
    kind, name = "", _string(metadata, "WORKLOAD_NAME")
    if len(owner) >= 2 and owner[-2] in _OWNER_KINDS:
        kind = _OWNER_KINDS[owner[-2]]
        name = name or owner[-1]
    if not name:
        kind, name = "Pod", pod
    labels = metadata.get("LABELS")
    labels = labels if isinstance(labels, Mapping) else {}
    ips = {ip.strip() for ip in _string(metadata, "INSTANCE_IPS").split(",") if ip.strip()}
    if id_ip:
        ips.add(id_ip)
    return ProxyIdentity(
        node_id=node_id, log_name=log_name, pod=pod, namespace=namespace,
        workload=WorkloadRef(namespace, kind or "Workload", name) if name else UNKNOWN,
        service_account=_string(metadata, "SERVICE_ACCOUNT"),
        canonical_service=str(labels.get("service.istio.io/canonical-name", "")),
        instance_ips=frozenset(ips),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())))


def parse_spiffe(uri: str) -> WorkloadRef | None:
    """``spiffe://<trust domain>/ns/<ns>/sa/<sa>`` → (ns, "ServiceAccount", sa)."""
    if not uri.startswith("spiffe://"):
        return None
    parts = uri[len("spiffe://"):].split("/")
    if len(parts) == 5 and parts[1] == "ns" and parts[3] == "sa" and parts[2] and parts[4]:
        return WorkloadRef(parts[2], "ServiceAccount", parts[4])
    return None


def peer_workload(state: Mapping[str, Any] | None) -> WorkloadRef | None:
    if not state:
        return None
    name = state.get("workload") or state.get("name")
    namespace = state.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str) or not name:
        return None
    kind = _PEER_KINDS.get(str(state.get("type", "")).lower(), "Workload")
    return WorkloadRef(namespace, kind, name)


_CLUSTERS: dict[str, tuple[int, WorkloadRef | None]] = {}


def cluster_route(cluster: str) -> tuple[int, WorkloadRef | None]:
    """``outbound|8080|subset|cart.shop.svc.cluster.local`` → (8080, (shop, Service, cart)),
    memoized (a mesh has a bounded set of clusters; the memo is reset past 4,096)."""
    known = _CLUSTERS.get(cluster)
    if known is None:
        if len(_CLUSTERS) >= 4096:
            _CLUSTERS.clear()
        known = _CLUSTERS[cluster] = _parse_cluster(cluster)
    return known


def _parse_cluster(cluster: str) -> tuple[int, WorkloadRef | None]:
    parts = cluster.split("|")
    if len(parts) != 4:
        return 0, None
    port = int(parts[1]) if parts[1].isdigit() else 0
    host = parts[3].split(".")
    if len(host) >= 3 and host[2] == "svc":
        return port, WorkloadRef(host[1], "Service", host[0])
    return port, (WorkloadRef("", "ServiceEntry", parts[3]) if parts[3] else None)


def is_inbound_cluster(cluster: str) -> bool:
    """An ``inbound|…`` or inbound passthrough cluster: the destination sidecar's view."""
    return cluster.startswith("inbound|") or cluster in _INBOUND_PASSTHROUGH


class WorkloadMapper:
    """Maps (proxy, entry fields) to reporter, source, destination and port."""

    def __init__(self, pod_index: PodIpIndex | None = None) -> None:
        self.pod_index = pod_index

    def resolves_ips(self) -> bool:
        """Whether a pod IP can name a peer now (an index that may hold pods)."""
        index = self.pod_index
        if index is None:
            return False
        is_empty = getattr(index, "is_empty", None)
        return not is_empty() if is_empty is not None else True

    def _by_ip(self, ip: str) -> WorkloadRef | None:
        if self.pod_index is None or not ip:
            return None
        return self.pod_index.workload_for_ip(ip)

    def direction(self, proxy: ProxyIdentity, cluster: str, local_ip: str) -> str:
        if is_inbound_cluster(cluster):
            return "inbound"
        if cluster:
            return "outbound"
        return "inbound" if local_ip in proxy.instance_ips else "outbound"

    def map(self, proxy: ProxyIdentity, entry: Any) -> MappedPeers:
        """``entry`` is an ``als_codec.AccessLogEntry`` (duck-typed to keep this module pure)."""
        cluster: str = entry.upstream_cluster
        if self.direction(proxy, cluster, entry.downstream_local_ip) == "inbound":
            source = (peer_workload(entry.downstream_peer)
                      or parse_spiffe(entry.peer_principal)
                      or self._by_ip(entry.downstream_remote_ip) or UNKNOWN)
            port = cluster_route(cluster)[0] or entry.downstream_local_port
            return MappedPeers("destination", source, proxy.workload, port)
        port, service = cluster_route(cluster)
        destination = peer_workload(entry.upstream_peer) or self._by_ip(
            entry.upstream_remote_ip) or service
        if destination is None:
            host = entry.authority.rpartition(":")[0] or entry.authority
            if cluster == "BlackHoleCluster":
                destination = WorkloadRef("", "BlackHole", "")
            elif cluster == "PassthroughCluster":
                destination = WorkloadRef("", "External", host)
            else:
                destination = WorkloadRef("", "Unrouted", host)
        port = port or entry.upstream_remote_port or entry.downstream_local_port
        return MappedPeers("source", proxy.workload, destination, port)
