"""Builders of JSON-shaped Kubernetes objects and watch events, as the API server sends them."""

from __future__ import annotations

import copy
from typing import Any

_RV = [1000]


def next_rv() -> str:
    _RV[0] += 1
    return str(_RV[0])


def meta(name, namespace="", *, uid=None, rv=None, labels=None, owners=None, generation=None,
         created="2026-11-01T10:00:00Z", annotations=None):
    md: dict[str, Any] = {"name": name, "uid": uid or f"uid-{namespace}-{name}",
                          "resourceVersion": rv or next_rv(), "creationTimestamp": created,
                          "managedFields": [{"manager": "kubectl", "operation": "Update"}]}
    if namespace:
        md["namespace"] = namespace
    if labels:
        md["labels"] = dict(labels)
    if annotations:
        md["annotations"] = dict(annotations)
    if owners:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": k, "name": n, "uid": f"u-{n}",
                                  "controller": True, "blockOwnerDeletion": True}
                                 for k, n in owners]
    if generation is not None:
        md["generation"] = generation
    return md


def container_status(name="app", *, ready=True, restarts=0, state=None, last=None):
    return {"name": name, "image": f"registry.example/{name}:1.0",
            "imageID": f"registry.example/{name}@sha256:abc", "containerID": "containerd://x",
            "ready": ready, "started": ready, "restartCount": restarts,
            "state": state or {"running": {"startedAt": "2026-11-01T10:00:05Z"}},
            "lastState": last or {}}


def pod(name, namespace="default", *, labels=None, owners=None, ip="10.0.0.1", phase="Running",
        ready=True, ready_since="2026-11-01T10:00:05Z", statuses=None, node="node-1", rv=None,
        uid=None, host_network=False, init_statuses=None):
    conditions = [
        {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-01T10:00:01Z"},
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": ready_since},
        {"type": "ContainersReady", "status": "True" if ready else "False",
         "lastTransitionTime": ready_since},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-01T10:00:00Z"},
    ]
    status: dict[str, Any] = {"phase": phase, "conditions": conditions, "hostIP": "192.168.0.10",
                              "podIP": ip, "podIPs": [{"ip": ip}] if ip else [],
                              "startTime": "2026-11-01T10:00:00Z", "qosClass": "Burstable",
                              "containerStatuses": statuses
                              if statuses is not None else [container_status()]}
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    return {"metadata": meta(name, namespace, labels=labels, owners=owners, rv=rv, uid=uid),
            "spec": {"nodeName": node, "serviceAccountName": "app-sa",
                     "hostNetwork": host_network,
                     "containers": [{"name": "app", "image": "registry.example/app:1.0",
                                     "env": [{"name": "SECRET", "value": "s3cr3t"}]}]},
            "status": status}


def deployment(name, namespace="default", *, generation=1, observed=1, replicas=3, updated=3,
               ready=3, available=3, status_replicas=None, conditions=None, deadline=600,
               rv=None, labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(name, namespace, generation=generation, rv=rv, labels=labels),
            "spec": {"replicas": replicas, "progressDeadlineSeconds": deadline,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"serviceAccountName": f"{name}-sa"}}},
            "status": {"observedGeneration": observed,
                       "replicas": replicas if status_replicas is None else status_replicas,
                       "updatedReplicas": updated, "readyReplicas": ready,
                       "availableReplicas": available,
                       "conditions": conditions or []}}


def replicaset(name, namespace="default", *, owner=None, rv=None):
    return {"metadata": meta(name, namespace, owners=[("Deployment", owner)] if owner else None,
                             rv=rv),
            "spec": {"replicas": 1, "template": {"spec": {}}}, "status": {"replicas": 1}}


def job(name, namespace="default", *, owner=None):
    return {"metadata": meta(name, namespace, owners=[("CronJob", owner)] if owner else None),
            "spec": {"template": {"spec": {"serviceAccountName": "batch"}}}}


def node(name, *, ready=True, pressure=(), network_unavailable=False, heartbeat="t0", rv=None,
         labels=None):
    conditions = [{"type": t, "status": "True" if t in pressure else "False",
                   "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-11-01T09:00:00Z",
                   "reason": f"Kubelet{t}", "message": "ok"}
                  for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    conditions.append({"type": "NetworkUnavailable",
                       "status": "True" if network_unavailable else "False",
                       "lastHeartbeatTime": heartbeat, "reason": "RouteCreated"})
    conditions.append({"type": "Ready", "status": "True" if ready else "False",
                       "lastHeartbeatTime": heartbeat, "reason": "KubeletReady"})
    return {"metadata": meta(name, labels=labels or {
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/zone": "eu-west-1a"}, rv=rv),
            "spec": {"podCIDR": "10.0.1.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.10"},
                                     {"type": "Hostname", "address": name}],
                       "conditions": conditions,
                       "capacity": {"cpu": "4", "memory": "16Gi"}}}


def event(name, namespace="default", *, type_="Warning", reason="BackOff", count=1, uid=None,
          rv=None, involved=("Pod", "web-1")):
    return {"metadata": meta(name, namespace, uid=uid, rv=rv), "type": type_, "reason": reason,
            "message": "Back-off restarting failed container", "count": count,
            "involvedObject": {"kind": involved[0], "namespace": namespace, "name": involved[1],
                               "uid": "u", "fieldPath": "spec.containers{app}"},
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-11-01T10:00:00Z", "lastTimestamp": "2026-11-01T10:05:00Z"}


def netpol(name, namespace="default", *, selector=None, rv=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(name, namespace, rv=rv),
            "spec": {"podSelector": selector if selector is not None else {},
                     "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}}


def namespace(name, *, labels=None, rv=None):
    return {"metadata": meta(name, labels=labels, rv=rv), "status": {"phase": "Active"}}


def with_rv(obj, rv=None):
    out = copy.deepcopy(obj)
    out["metadata"]["resourceVersion"] = rv or next_rv()
    return out


def ev(type_, obj):
    return {"type": type_, "object": obj}


def listing(items, rv="5000", cont=""):
    md = {"resourceVersion": rv}
    if cont:
        md["continue"] = cont
    return {"kind": "List", "apiVersion": "v1", "metadata": md, "items": items}
