"""Kubernetes context of OTLP resources: the k8sattributes keys, and the pod→workload fallback.

Owns which resource attributes name the namespace, pod, pod uid, container, node and workload
(kind + name, first present of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob —
a ReplicaSet or Job named after its owner yields the owner), and the ``PodWorkloadResolver``
seam used when the Collector attached no workload key. Every other resource attribute becomes a
series label. It never fails: unknown or empty attributes simply leave a field empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from actors.metrics.series import ResourceContext

__all__ = [
    "WORKLOAD_KEYS",
    "PodWorkloadResolver",
    "StaticPodWorkloadResolver",
    "context_from_attributes",
    "deployment_from_replicaset",
    "resolve_workload",
]

# (attribute key, workload kind) in priority order, as the Go operator reads them.
WORKLOAD_KEYS: tuple[tuple[str, str], ...] = (
    ("k8s.deployment.name", "Deployment"),
    ("k8s.statefulset.name", "StatefulSet"),
    ("k8s.daemonset.name", "DaemonSet"),
    ("k8s.replicaset.name", "ReplicaSet"),
    ("k8s.job.name", "Job"),
    ("k8s.cronjob.name", "CronJob"),
)
_CONTEXT_KEYS = {
    "k8s.namespace.name": "namespace", "namespace": "namespace",
    "k8s.pod.name": "pod", "pod": "pod",
    "k8s.pod.uid": "pod_uid",
    "k8s.container.name": "container", "container": "container",
    "k8s.node.name": "node", "node": "node",
}
_WORKLOAD_KIND = dict(WORKLOAD_KEYS)
_REPLICASET_HASH = re.compile(r"^(?P<owner>.+)-[a-z0-9]{8,10}$")


class PodWorkloadResolver(Protocol):
    """Maps a pod to its top-level workload (fed from the pod inventory by the owning actor)."""

    def workload_of(self, namespace: str, pod: str, pod_uid: str) -> tuple[str, str] | None:
        """(kind, name) of the pod's top-level controller, or None when unknown."""


class StaticPodWorkloadResolver:
    """A resolver backed by dicts: by pod uid first, then by ``namespace/pod``."""

    def __init__(self) -> None:
        self._by_uid: dict[str, tuple[str, str]] = {}
        self._by_name: dict[tuple[str, str], tuple[str, str]] = {}

    def register(self, namespace: str, pod: str, pod_uid: str, kind: str, name: str) -> None:
        """Remember a pod's owner; a ReplicaSet owner is turned into its Deployment."""
        workload = deployment_from_replicaset(kind, name)
        if pod_uid:
            self._by_uid[pod_uid] = workload
        self._by_name[(namespace, pod)] = workload

    def forget(self, namespace: str, pod: str, pod_uid: str) -> None:
        """Drop a deleted pod."""
        self._by_uid.pop(pod_uid, None)
        self._by_name.pop((namespace, pod), None)

    def workload_of(self, namespace: str, pod: str, pod_uid: str) -> tuple[str, str] | None:
        """(kind, name) by uid, else by namespace/name, else None."""
        if pod_uid and pod_uid in self._by_uid:
            return self._by_uid[pod_uid]
        return self._by_name.get((namespace, pod))


def deployment_from_replicaset(kind: str, name: str) -> tuple[str, str]:
    """``("ReplicaSet", "cart-7d9f8c6b5")`` → ``("Deployment", "cart")``; others unchanged."""
    if kind == "ReplicaSet":
        match = _REPLICASET_HASH.match(name)
        if match:
            return "Deployment", match.group("owner")
    return kind, name


def context_from_attributes(attributes: Iterable[tuple[str, str]]) -> ResourceContext:
    """Split resource attributes (already stringified) into Kubernetes context and labels."""
    fields: dict[str, str] = {}
    workloads: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key, value in attributes:
        target = _CONTEXT_KEYS.get(key)
        if target is not None:
            if value and target not in fields:
                fields[target] = value
        elif key in _WORKLOAD_KIND:
            if value:
                workloads[key] = value
        else:
            labels[key] = value
    kind = name = ""
    for key, workload_kind in WORKLOAD_KEYS:
        if key in workloads:
            kind, name = deployment_from_replicaset(workload_kind, workloads[key])
            break
    return ResourceContext(
        namespace=fields.get("namespace", ""), pod=fields.get("pod", ""),
        pod_uid=fields.get("pod_uid", ""), container=fields.get("container", ""),
        node=fields.get("node", ""), workload_kind=kind, workload_name=name,
        labels=tuple(sorted(labels.items())))


def resolve_workload(context: ResourceContext,
                     resolver: PodWorkloadResolver | None) -> ResourceContext:
    """Fill a missing workload through ``resolver`` (only when a pod is named)."""
    if context.workload_name or resolver is None or not (context.pod or context.pod_uid):
        return context
    found = resolver.workload_of(context.namespace, context.pod, context.pod_uid)
    if found is None:
        return context
    kind, name = deployment_from_replicaset(*found)
    return ResourceContext(
        namespace=context.namespace, pod=context.pod, pod_uid=context.pod_uid,
        container=context.container, node=context.node, workload_kind=kind,
        workload_name=name, labels=context.labels)
