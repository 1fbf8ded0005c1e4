"""One in-memory index of pods and their workloads, shared by policies, flows and access logs.

Fed with inventory deltas (``Pod``, ``ReplicaSet``, ``Job`` and ``Namespace`` records), it
answers without any API call:
- ``workload_of_pod(ns, pod)`` → (kind, name): ReplicaSet → its Deployment, Job → its CronJob,
  StatefulSet/DaemonSet directly, a bare pod → ("Pod", name). When the ReplicaSet is not (yet)
  known, the ``pod-template-hash`` label recovers the Deployment name as kube does it;
- ``pod_by_ip(ip)`` → (ns, pod) for running pods that own their IP (hostNetwork pods share the
  node's IP and finished pods may have their IP reused, so neither is indexed);
- ``pods_matching(ns, selector)`` → pods whose labels match a LabelSelector (matchLabels and
  matchExpressions In/NotIn/Exists/DoesNotExist). A selector with an unknown operator matches
  nothing and is counted in ``bad_selectors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actors.kube.converters import Record
from actors.kube.watch_state import DELETE, Delta

__all__ = ["WorkloadIndex", "selector_matches"]

PodKey = tuple[str, str]
_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything.

    Raises ``ValueError`` for an unknown operator (the caller decides how to count it).
    """
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = expr.get("values") or ()
        if op == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise ValueError(f"unknown selector operator {op!r}")
    return True


class WorkloadIndex:
    """Pods by namespace, pod IPs, ReplicaSet/Job owners and namespace labels."""

    KINDS = frozenset({"Pod", "ReplicaSet", "Job", "Namespace"})

    def __init__(self) -> None:
        self.pods: dict[str, dict[str, Record]] = {}
        self.by_ip: dict[str, PodKey] = {}
        self.owners: dict[tuple[str, str, str], tuple[str, str]] = {}   # (kind, ns, name)
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.bad_selectors = 0

    def apply(self, deltas: Iterable[Delta]) -> set[str]:
        """Update from deltas; returns the namespaces whose pods (or owners) changed."""
        touched: set[str] = set()
        for op, kind, (_, ns, name), record in deltas:
            if kind == "Pod":
                self._apply_pod(op, ns, name, record)
                touched.add(ns)
            elif kind in ("ReplicaSet", "Job"):
                if op == DELETE:
                    self.owners.pop((kind, ns, name), None)
                else:
                    self.owners[(kind, ns, name)] = (record.get("owner_kind") or "",
                                                     record.get("owner_name") or "")
                touched.add(ns)
            elif kind == "Namespace":
                if op == DELETE:
                    self.namespace_labels.pop(name, None)
                else:
                    self.namespace_labels[name] = record.get("labels") or {}
                touched.add(name)
        return touched

    def _apply_pod(self, op: str, ns: str, name: str, record: Record) -> None:
        pods = self.pods.setdefault(ns, {})
        old = pods.pop(name, None)
        if old is not None:
            for ip in old.get("pod_ips") or (old.get("pod_ip"),):
                if ip and self.by_ip.get(ip) == (ns, name):
                    del self.by_ip[ip]
        if op == DELETE:
            if not pods:
                del self.pods[ns]
            return
        pods[name] = record
        if record.get("host_network") or record.get("phase") in ("Succeeded", "Failed"):
            return
        for ip in record.get("pod_ips") or (record.get("pod_ip"),):
            if ip:
                self.by_ip[ip] = (ns, name)

    # -- read API --------------------------------------------------------------------------
    def pod(self, namespace: str, name: str) -> Record | None:
        return self.pods.get(namespace, {}).get(name)

    def pod_by_ip(self, ip: str) -> PodKey | None:
        return self.by_ip.get(ip)

    def workload_of_pod(self, namespace: str, name: str) -> tuple[str, str] | None:
        pod = self.pod(namespace, name)
        if pod is None:
            return None
        kind, owner = pod.get("owner_kind") or "", pod.get("owner_name") or ""
        if not kind:
            return ("Pod", name)
        if kind in ("ReplicaSet", "Job"):
            parent = self.owners.get((kind, namespace, owner))
            if parent is not None:
                return parent if parent[0] else (kind, owner)
            template_hash = (pod.get("labels") or {}).get("pod-template-hash", "")
            if kind == "ReplicaSet" and template_hash and owner.endswith("-" + template_hash):
                return ("Deployment", owner[: -len(template_hash) - 1])
        return (kind, owner)

    def pods_matching(self, namespace: str | None, selector: Mapping[str, Any],
                      extra_labels: bool = False) -> list[PodKey]:
        """Pods in ``namespace`` (all namespaces for None) whose labels match ``selector``.

        ``extra_labels`` adds Cilium's implicit labels (``io.kubernetes.pod.namespace``,
        ``io.cilium.k8s.policy.serviceaccount``, ``io.cilium.k8s.namespace.labels.*``).
        """
        spaces = [namespace] if namespace is not None else sorted(self.pods)
        out: list[PodKey] = []
        try:
            for ns in spaces:
                ns_extra: dict[str, str] = {}
                if extra_labels:
                    ns_extra = {f"io.cilium.k8s.namespace.labels.{k}": v
                                for k, v in self.namespace_labels.get(ns, {}).items()}
                    ns_extra["io.kubernetes.pod.namespace"] = ns
                for name, pod in self.pods.get(ns, {}).items():
                    labels = pod.get("labels") or {}
                    if extra_labels:
                        labels = {**labels, **ns_extra, "io.cilium.k8s.policy.serviceaccount":
                                  pod.get("service_account") or "default"}
                    if selector_matches(selector, labels):
                        out.append((ns, name))
        except ValueError:
            self.bad_selectors += 1
            return []
        return sorted(out)
