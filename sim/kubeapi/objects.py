"""Builders for realistic object bodies (pods, ReplicaSets, deployments, nodes, events...).

Owns the shape of the objects the cluster generator and the churn driver create, so both
produce what kubelet and the controllers would: owner references, pod-template-hash labels,
container statuses with running/waiting/terminated states and restart counts, node conditions.
Pure functions of their arguments (randomness comes in through an explicit ``random.Random``).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from typing import Any

from sim.kubeapi.store import rfc3339

Obj = dict[str, Any]
_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for name suffixes


def new_uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(_ALPHANUM) for _ in range(length))


def template_hash(template: Obj) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_ALPHANUM[b % len(_ALPHANUM)] for b in digest[:10])


def owner(kind: str, api_version: str, obj: Obj) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_template(app: str, image: str, sidecar: bool) -> Obj:
    containers = [{"name": app.rsplit("-", 1)[0], "image": image,
                   "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                 "limits": {"memory": "256Mi"}}}]
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.27.0",
                           "ports": [{"containerPort": 15090, "protocol": "TCP",
                                      "name": "http-envoy-prom"}]})
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": containers, "restartPolicy": "Always",
                     "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst"}}


def deployment(rng: random.Random, namespace: str, name: str, replicas: int, image: str,
               sidecar: bool, created: float) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace, "uid": new_uid(rng),
                         "labels": {"app": name}, "creationTimestamp": rfc3339(created),
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": pod_template(name, image, sidecar),
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": "25%", "maxSurge": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": deployment_status(replicas, replicas, 1)}


def deployment_status(replicas: int, ready: int, observed: int) -> Obj:
    return {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if ready else "False",
                            "reason": "MinimumReplicasAvailable"},
                           {"type": "Progressing", "status": "True",
                            "reason": "NewReplicaSetAvailable"}]}


def replica_set(rng: random.Random, deploy: Obj, revision: int, created: float) -> Obj:
    template = json.loads(json.dumps(deploy["spec"]["template"]))
    pod_hash = template_hash(template)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    name, replicas = deploy["metadata"]["name"], deploy["spec"]["replicas"]
    return {"metadata": {"name": f"{name}-{pod_hash}", "namespace": deploy["metadata"][
                "namespace"], "uid": new_uid(rng),
                "labels": {"app": name, "pod-template-hash": pod_hash},
                "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(replicas)},
                "ownerReferences": [owner("Deployment", "apps/v1", deploy)],
                "creationTimestamp": rfc3339(created)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {
                "app": name, "pod-template-hash": pod_hash}}, "template": template},
            "status": {"replicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "fullyLabeledReplicas": replicas,
                       "observedGeneration": 1}}


def running_state(started: float) -> Obj:
    return {"running": {"startedAt": rfc3339(started)}}


def container_status(container: Obj, started: float, restarts: int = 0,
                     state: Obj | None = None, last: Obj | None = None) -> Obj:
    ready = state is None or "running" in state
    runtime_id = hashlib.sha256(f"{container['name']}/{started}".encode()).hexdigest()
    status: Obj = {"name": container["name"], "ready": ready, "started": ready,
                   "restartCount": restarts, "image": container["image"],
                   "imageID": f"{container['image'].split(':')[0]}@sha256:{'ab' * 32}",
                   "containerID": f"containerd://{runtime_id}",
                   "state": state or running_state(started), "lastState": last or {}}
    return status


def pod(rng: random.Random, owner_obj: Obj, owner_kind: str, template: Obj, node: str,
        pod_ip: str, host_ip: str, created: float, name: str | None = None) -> Obj:
    namespace = owner_obj["metadata"]["namespace"]
    spec = json.loads(json.dumps(template["spec"]))
    spec["nodeName"] = node
    spec["schedulerName"] = "default-scheduler"
    started = created + 2
    return {"metadata": {"name": name or f"{owner_obj['metadata']['name']}-{suffix(rng)}",
                         "namespace": namespace, "uid": new_uid(rng),
                         "labels": dict(template["metadata"]["labels"]),
                         "ownerReferences": [owner(owner_kind, "apps/v1" if owner_kind != "Job"
                                                   else "batch/v1", owner_obj)],
                         "creationTimestamp": rfc3339(created)},
            "spec": spec,
            "status": {"phase": "Running", "hostIP": host_ip, "podIP": pod_ip,
                       "podIPs": [{"ip": pod_ip}], "startTime": rfc3339(created),
                       "qosClass": "Burstable",
                       "conditions": pod_conditions(True, created),
                       "containerStatuses": [container_status(c, started)
                                             for c in spec["containers"]]}}


def pod_conditions(ready: bool, when: float) -> list[Obj]:
    flag = "True" if ready else "False"
    return [{"type": t, "status": s, "lastTransitionTime": rfc3339(when)} for t, s in (
        ("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", flag),
        ("ContainersReady", flag), ("PodScheduled", "True"))]


def node(index: int, created: float, zone: str) -> Obj:
    name = f"node-{index:03d}"
    machine_id = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return {"metadata": {"name": name, "creationTimestamp": rfc3339(created),
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "topology.kubernetes.io/zone": zone,
                                    "node.kubernetes.io/instance-type": "m6i.xlarge"}},
            "spec": {"podCIDR": f"10.{index // 250}.{index % 250}.0/24"},
            "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": node_ip(index)},
                                     {"type": "Hostname", "address": name}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian 12",
                                    "containerRuntimeVersion": "containerd://2.0.0",
                                    "architecture": "amd64", "operatingSystem": "linux",
                                    "kernelVersion": "6.1.0-28-cloud-amd64",
                                    "kubeProxyVersion": "", "machineID": machine_id,
                                    "systemUUID": str(uuid.UUID(machine_id)),
                                    "bootID": str(uuid.UUID(machine_id[::-1]))},
                       "conditions": node_conditions(created, ready=True)}}


def node_ip(index: int) -> str:
    return f"192.168.{index // 250}.{index % 250 + 2}"


_PRESSURE_REASONS = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "KubeletHasInsufficientMemory"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "KubeletHasDiskPressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "KubeletHasInsufficientPID"),
}


def node_conditions(when: float, *, ready: bool, pressure: str = "") -> list[Obj]:
    out = []
    for kind, (calm, pressed) in _PRESSURE_REASONS.items():
        on = kind == pressure
        out.append({"type": kind, "status": "True" if on else "False",
                    "reason": pressed if on else calm,
                    "lastHeartbeatTime": rfc3339(when), "lastTransitionTime": rfc3339(when)})
    out.append({"type": "Ready", "status": "True" if ready else "Unknown",
                "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                "message": "kubelet is posting ready status" if ready else
                "Kubelet stopped posting node status.",
                "lastHeartbeatTime": rfc3339(when), "lastTransitionTime": rfc3339(when)})
    return out


def core_event(rng: random.Random, involved: Obj, kind: str, api_version: str, reason: str,
               message: str, event_type: str, when: float, component: str) -> Obj:
    meta = involved["metadata"]
    namespace = meta.get("namespace", "default")
    # Upstream names events "<object>.<unix nanoseconds in hex>"; the random part keeps two
    # events from one fixed test clock apart.
    unique = int(when * 1e9) + rng.randrange(1 << 30)
    return {"metadata": {"name": f"{meta['name']}.{unique:x}",
                         "namespace": namespace, "creationTimestamp": rfc3339(when)},
            "involvedObject": {"kind": kind, "namespace": meta.get("namespace", ""),
                               "name": meta["name"], "uid": meta.get("uid", ""),
                               "apiVersion": api_version},
            "reason": reason, "message": message, "type": event_type, "count": 1,
            "source": {"component": component}, "firstTimestamp": rfc3339(when),
            "lastTimestamp": rfc3339(when), "reportingComponent": component,
            "reportingInstance": f"{component}-sim", "action": reason,
            # MicroTime; recorders set it, and events.k8s.io/v1 clients require it
            "eventTime": rfc3339(when).replace("Z", ".000000Z")}
