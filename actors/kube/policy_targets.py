"""``target_workloads`` of network and mesh policies, from the in-memory workload index.

``PolicyTargets.process(deltas)`` is a pass-through stage between the watchers and the inventory:
it feeds pod/owner/namespace deltas to the ``WorkloadIndex``, fills ``target_workloads``
("<ns>.<Kind>.<name>", sorted) into every policy record passing by, and appends an UPDATE for a
known policy whose targets changed because pods changed — only when they changed. No API call.

Selectors: NetworkPolicy ``spec.podSelector`` in its namespace (``{}`` = every pod there);
CiliumNetworkPolicy ``endpointSelector`` (in ``spec`` and each of ``specs``) in its namespace;
CiliumClusterwideNetworkPolicy across namespaces, with Cilium's ``k8s:``/``any:`` key prefixes
and the implicit ``io.kubernetes.pod.namespace`` label; a ``nodeSelector`` policy targets nodes,
not workloads (empty). Istio AuthorizationPolicy ``selector.matchLabels`` in its namespace, no
selector = the whole namespace; in the root namespace the policy spans the whole mesh;
``targetRef(s)`` policies attach to gateways/services and get no workload targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.kube.converters import Record
from actors.kube.watch_state import DELETE, UPDATE, Delta
from actors.kube.workload_index import WorkloadIndex

__all__ = ["POLICY_KINDS", "PolicyTargets"]

POLICY_KINDS = frozenset({"NetworkPolicy", "CiliumNetworkPolicy",
                          "CiliumClusterwideNetworkPolicy", "AuthorizationPolicy"})
_CILIUM_PREFIXES = ("k8s:", "any:")


def _cilium_selector(selector: dict[str, Any]) -> dict[str, Any]:
    def strip(key: str) -> str:
        for prefix in _CILIUM_PREFIXES:
            if key.startswith(prefix):
                return key[len(prefix):]
        return key
    return {"matchLabels": {strip(k): v for k, v in (selector.get("matchLabels") or {}).items()},
            "matchExpressions": [{**e, "key": strip(e.get("key", ""))}
                                 for e in selector.get("matchExpressions") or ()]}


class PolicyTargets:
    """Keeps policy records with their targets current as pods and policies change."""

    def __init__(self, index: WorkloadIndex, istio_root_namespace: str = "istio-system") -> None:
        self.index = index
        self.root_namespace = istio_root_namespace
        self.policies: dict[tuple[str, str, str], Record] = {}
        self.recomputed = 0

    def process(self, deltas: Iterable[Delta]) -> list[Delta]:
        batch = list(deltas)
        touched = self.index.apply(d for d in batch if d[1] in WorkloadIndex.KINDS)
        passed: set[tuple[str, str, str]] = set()
        for op, kind, key, record in batch:
            if kind not in POLICY_KINDS:
                continue
            passed.add(key)
            if op == DELETE:
                self.policies.pop(key, None)
                continue
            record["target_workloads"] = self.targets_of(record)
            self.policies[key] = record
        if touched:
            for key, record in list(self.policies.items()):
                if key in passed or not self._affected(record, touched):
                    continue
                targets = self.targets_of(record)
                if targets != list(record.get("target_workloads") or ()):
                    updated = {**record, "target_workloads": targets}
                    self.policies[key] = updated
                    batch.append((UPDATE, key[0], key, updated))
        return batch

    def _affected(self, record: Record, touched: set[str]) -> bool:
        ns = record.get("namespace") or ""
        if record["kind"] == "CiliumClusterwideNetworkPolicy":
            return True
        if record["kind"] == "AuthorizationPolicy" and ns == self.root_namespace:
            return True
        return ns in touched

    def targets_of(self, record: Record) -> list[str]:
        self.recomputed += 1
        kind, ns = record["kind"], record.get("namespace") or ""
        spec = record.get("spec") or {}
        pods: set[tuple[str, str]] = set()
        if kind == "NetworkPolicy":
            pods.update(self.index.pods_matching(ns, spec.get("podSelector") or {}))
        elif kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
            scope = None if kind == "CiliumClusterwideNetworkPolicy" else ns
            for rule in [spec, *(record.get("specs") or ())]:
                selector = (rule or {}).get("endpointSelector")
                if selector is not None:
                    pods.update(self.index.pods_matching(scope, _cilium_selector(selector),
                                                         extra_labels=True))
        elif kind == "AuthorizationPolicy":
            if spec.get("targetRef") or spec.get("targetRefs"):
                return []
            selector = spec.get("selector")
            match = {"matchLabels": (selector or {}).get("matchLabels") or {}}
            scope = None if ns == self.root_namespace else ns
            pods.update(self.index.pods_matching(scope, match))
        workloads = set()
        for pod_ns, pod_name in pods:
            workload = self.index.workload_of_pod(pod_ns, pod_name)
            if workload is not None:
                workloads.add(f"{pod_ns}.{workload[0]}.{workload[1]}")
        return sorted(workloads)
