"""``pod_index`` records for enrichment consumers, coalesced per consumer link (no I/O).

``PodIndexFeed.update(deltas, index)`` turns Pod deltas (after ``PolicyTargets.process`` has fed
the ``WorkloadIndex``) into records ``{op: UPSERT|DELETE, namespace, pod, uid, ip, ips, node,
workload_kind, workload_name, labels, host_network, phase}``; a ReplicaSet or Job arriving
after its pods re-resolves their workload (a Job's pods move from ``Job`` to ``CronJob``).
Each consumer link has its own queue keyed by (namespace, pod) — newest record wins — so a slow
consumer costs at most one entry per pod and never a flood. ``attach(link)`` (a new consumer
incarnation) queues the whole current index, because a restarted consumer lost its copy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from actors.kube.watch_state import DELETE, Delta
from actors.kube.workload_index import WorkloadIndex

__all__ = ["DELETE_OP", "UPSERT", "PodIndexFeed"]

UPSERT, DELETE_OP = "UPSERT", "DELETE"
PodKey = tuple[str, str]


def _record(index: WorkloadIndex, ns: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    workload = index.workload_of_pod(ns, name) or ("Pod", name)
    return {"op": UPSERT, "namespace": ns, "pod": name, "uid": pod.get("uid") or "",
            "ip": pod.get("pod_ip") or "", "ips": list(pod.get("pod_ips") or ()),
            "node": pod.get("node_name") or "", "workload_kind": workload[0],
            "workload_name": workload[1], "labels": dict(pod.get("labels") or {}),
            "host_network": bool(pod.get("host_network")), "phase": pod.get("phase") or ""}


class PodIndexFeed:
    """Current pod facts plus one coalescing queue per consumer link."""

    def __init__(self) -> None:
        self.current: dict[PodKey, dict[str, Any]] = {}
        self.queues: dict[str, OrderedDict[PodKey, dict[str, Any]]] = {}
        self.counters = {"pod_index_updates": 0, "pod_index_coalesced": 0}

    def update(self, deltas: Iterable[Delta], index: WorkloadIndex) -> None:
        owners: set[tuple[str, str, str]] = set()
        for op, kind, (_, ns, name), record in deltas:
            if kind == "Pod":
                if op == DELETE:
                    if self.current.pop((ns, name), None) is not None:
                        self._queue((ns, name), {"op": DELETE_OP, "namespace": ns, "pod": name,
                                                 "uid": record.get("uid") or ""})
                    continue
                self._set(ns, name, _record(index, ns, name, record))
            elif kind in ("ReplicaSet", "Job") and op != DELETE:
                owners.add((kind, ns, name))
        for kind, ns, name in owners:
            for pod_name, pod in list(index.pods.get(ns, {}).items()):
                if pod.get("owner_kind") == kind and pod.get("owner_name") == name:
                    fresh = _record(index, ns, pod_name, pod)
                    old = self.current.get((ns, pod_name))
                    if old is None or (old["workload_kind"], old["workload_name"]) != (
                            fresh["workload_kind"], fresh["workload_name"]):
                        self._set(ns, pod_name, fresh)

    def _set(self, ns: str, name: str, record: dict[str, Any]) -> None:
        self.current[(ns, name)] = record
        self._queue((ns, name), record)

    def _queue(self, key: PodKey, record: dict[str, Any]) -> None:
        self.counters["pod_index_updates"] += 1
        for pending in self.queues.values():
            if key in pending:
                self.counters["pod_index_coalesced"] += 1
                pending.move_to_end(key)
            pending[key] = record

    def attach(self, link_id: str) -> None:
        """A (new incarnation of a) consumer: queue every current pod for it."""
        self.queues[link_id] = OrderedDict(self.current)

    def pending(self, link_id: str) -> int:
        return len(self.queues.get(link_id, ()))

    def take(self, link_id: str, limit: int) -> list[dict[str, Any]]:
        pending = self.queues.get(link_id)
        out: list[dict[str, Any]] = []
        while pending and len(out) < limit:
            out.append(pending.popitem(last=False)[1])
        return out
