"""``python -m bench inventory``: the initial inventory path against bare ``json.loads``.

Generates realistic LIST pages (pods with managedFields, probes, env, volumes and statuses;
Deployments with their ReplicaSets; Nodes with images and conditions) as JSON bytes, then times
(a) ``json.loads`` of every page alone and (b) the full initial inventory path: ``json.loads``
→ converters → ``WatchState`` (fingerprints, known-object maps) → ``PolicyTargets``/workload
index → ``InventoryTracker`` → a full snapshot drain. ratio = (b) / (a), goal ≤ 2.0, in CPU
time of this process (wall ratio reported too). Also reports a re-list with unchanged content
(which must emit zero deltas). Interleaved runs, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from actors.kube.converters import RESOURCES
from actors.kube.inventory import InventoryTracker
from actors.kube.policy_targets import PolicyTargets
from actors.kube.watch_state import WatchState
from actors.kube.workload_index import WorkloadIndex
from actors.runtime.backoff import Backoff

PAGE = 500


def _managed(manager: str) -> list[dict[str, Any]]:
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1",
             "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                          "f:spec": {"f:containers": {'k:{"name":"app"}': {
                              ".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}}}}},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
             "time": "2026-11-01T10:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
             "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                                       "f:podIP": {}, "f:phase": {}}}}]


def _container(name: str, rng: random.Random) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example.com/team/{name}:1.{rng.randint(0, 99)}",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "env": [{"name": f"VAR_{i}", "value": f"value-{rng.random():.6f}"} for i in range(6)],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "512Mi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"},
                             {"name": "kube-api-access", "mountPath":
                              "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                              "periodSeconds": 10, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}


def make_pod(i: int, rng: random.Random) -> dict[str, Any]:
    ns, app = f"team-{i % 40}", f"svc-{i % 1000}"
    rs = f"{app}-{i % 1000:05x}f9"
    cond = [{"type": t, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": "2026-11-01T10:00:05Z"}
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")]
    return {"metadata": {
        "name": f"{rs}-{i:06d}", "generateName": f"{rs}-", "namespace": ns,
        "uid": f"{i:08x}-1111-2222-3333-444455556666", "resourceVersion": str(100000 + i),
        "creationTimestamp": "2026-11-01T10:00:00Z",
        "labels": {"app": app, "pod-template-hash": f"{i % 1000:05x}f9", "tier": "backend",
                   "version": "v1"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T09:59:00Z"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                             "uid": f"rs-{i % 1000}", "controller": True,
                             "blockOwnerDeletion": True}],
        "managedFields": _managed("kube-controller-manager")},
        "spec": {"containers": [_container("app", rng), _container("sidecar", rng)],
                 "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}},
                             {"name": "kube-api-access", "projected": {"sources": [
                                 {"serviceAccountToken": {"expirationSeconds": 3607,
                                                          "path": "token"}}]}}],
                 "nodeName": f"node-{i % 500}", "serviceAccountName": app,
                 "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                 "schedulerName": "default-scheduler", "priority": 0,
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "conditions": cond, "hostIP": f"10.1.{i % 250}.{i % 200}",
                   "podIP": f"10.{100 + i // 65000}.{(i // 250) % 250}.{i % 250}",
                   "podIPs": [{"ip": f"10.{100 + i // 65000}.{(i // 250) % 250}.{i % 250}"}],
                   "startTime": "2026-11-01T10:00:00Z", "qosClass": "Burstable",
                   "containerStatuses": [
                       {"name": c, "state": {"running": {"startedAt": "2026-11-01T10:00:04Z"}},
                        "lastState": {}, "ready": True, "restartCount": 0,
                        "image": f"registry.example.com/team/{c}:1.0",
                        "imageID": f"registry.example.com/team/{c}@sha256:{'ab' * 32}",
                        "containerID": f"containerd://{'cd' * 32}", "started": True}
                       for c in ("app", "sidecar")]}}


def make_deployment(i: int, rng: random.Random) -> dict[str, Any]:
    app = f"svc-{i}"
    return {"metadata": {"name": app, "namespace": f"team-{i % 40}", "uid": f"dep-{i}",
                         "resourceVersion": str(200000 + i), "generation": 3,
                         "creationTimestamp": "2026-10-01T10:00:00Z", "labels": {"app": app},
                         "annotations": {"deployment.kubernetes.io/revision": "3"},
                         "managedFields": _managed("kubectl")},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [_container("app", rng)],
                                           "serviceAccountName": app}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": "25%", "maxSurge": "25%"}},
                     "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10},
            "status": {"observedGeneration": 3, "replicas": 5, "updatedReplicas": 5,
                       "readyReplicas": 5, "availableReplicas": 5,
                       "conditions": [{"type": "Available", "status": "True",
                                       "reason": "MinimumReplicasAvailable"},
                                      {"type": "Progressing", "status": "True",
                                       "reason": "NewReplicaSetAvailable"}]}}


def make_replicaset(i: int, rng: random.Random) -> dict[str, Any]:
    obj = make_deployment(i, rng)
    meta = obj["metadata"]
    meta["name"] = f"svc-{i}-{i:05x}f9"
    meta["uid"] = f"rs-{i}"
    meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment",
                                "name": f"svc-{i}", "uid": f"dep-{i}", "controller": True}]
    return obj


def make_node(i: int, rng: random.Random) -> dict[str, Any]:
    return {"metadata": {"name": f"node-{i}", "uid": f"node-{i}",
                         "resourceVersion": str(300000 + i),
                         "creationTimestamp": "2026-09-01T10:00:00Z",
                         "labels": {"kubernetes.io/hostname": f"node-{i}",
                                    "node.kubernetes.io/instance-type": "m6i.2xlarge",
                                    "topology.kubernetes.io/zone": f"eu-west-1{'abc'[i % 3]}",
                                    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                         "managedFields": _managed("kubelet")},
            "spec": {"podCIDR": f"10.{100 + i // 250}.{i % 250}.0/24",
                     "providerID": f"aws:///eu-west-1a/i-{i:017x}"},
            "status": {"addresses": [{"type": "InternalIP", "address": f"10.1.{i // 250}.{i}"},
                                     {"type": "Hostname", "address": f"node-{i}"}],
                       "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "7910m", "memory": "30Gi", "pods": "110"},
                       "conditions": [{"type": t, "status": "False",
                                       "lastHeartbeatTime": "2026-11-01T10:00:00Z",
                                       "lastTransitionTime": "2026-09-01T10:00:00Z",
                                       "reason": f"KubeletHas{t}", "message": "ok"}
                                      for t in ("MemoryPressure", "DiskPressure",
                                                "PIDPressure")],
                       "images": [{"names": [f"registry.example.com/img-{j}@sha256:{'ef' * 32}"],
                                   "sizeBytes": 100_000_000 + j} for j in range(12)],
                       "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Bottlerocket",
                                    "containerRuntimeVersion": "containerd://1.7.20"}}}


def pages(items: list[dict[str, Any]], rv: str) -> list[bytes]:
    out = []
    for start in range(0, len(items), PAGE):
        meta: dict[str, Any] = {"resourceVersion": rv}
        if start + PAGE < len(items):
            meta["continue"] = f"c{start + PAGE}"
        out.append(json.dumps({"kind": "List", "apiVersion": "v1", "metadata": meta,
                               "items": items[start:start + PAGE]}).encode())
    return out


def build(pods: int, deployments: int, nodes: int) -> dict[str, list[bytes]]:
    rng = random.Random(7)
    return {"pods": pages([make_pod(i, rng) for i in range(pods)], "400000"),
            "deployments": pages([make_deployment(i, rng) for i in range(deployments)], "4"),
            "replicasets": pages([make_replicaset(i, rng) for i in range(deployments)], "4"),
            "nodes": pages([make_node(i, rng) for i in range(nodes)], "4")}


def loads_only(payload: dict[str, list[bytes]]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of json.loads of every page."""
    cpu, wall = time.process_time(), time.perf_counter()
    for bodies in payload.values():
        for body in bodies:
            json.loads(body)
    return time.process_time() - cpu, time.perf_counter() - wall


def full_path(payload: dict[str, list[bytes]]) -> tuple[float, float, float, int, int]:
    """(CPU s, wall s) of the initial inventory path, CPU s of an unchanged re-list, counts."""
    clock = time.monotonic
    kinds = [kind for resource in payload for kind, _ in RESOURCES[resource].views]
    states = {r: WatchState(RESOURCES[r], Backoff(clock=clock), clock) for r in payload}
    targets = PolicyTargets(WorkloadIndex())
    inventory = InventoryTracker(kinds)
    inventory.open_session("bench")
    cpu, wall = time.process_time(), time.perf_counter()
    for resource, bodies in payload.items():
        for body in bodies:
            inventory.apply(targets.process(states[resource].on_list_body(body)))
        inventory.mark_synced(kind for kind, _ in RESOURCES[resource].views)
    sent = 0
    while (piece := inventory.drain(1000)) is not None:
        sent += len(piece.deltas)
    elapsed_cpu, elapsed_wall = time.process_time() - cpu, time.perf_counter() - wall
    cpu = time.process_time()
    resync = 0
    for resource, bodies in payload.items():
        for body in bodies:
            resync += len(states[resource].on_list_body(body))
    return elapsed_cpu, elapsed_wall, time.process_time() - cpu, sent, resync


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inventory")
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args(argv)
    payload = build(args.pods, args.deployments, args.nodes)
    size = sum(len(b) for bodies in payload.values() for b in bodies)
    loads, loads_wall, full, full_wall, relist, sent, resync = [], [], [], [], [], 0, 0
    for _ in range(args.repeat):     # interleaved, best of N: the machine is shared and noisy
        cpu, wall = loads_only(payload)
        loads.append(cpu)
        loads_wall.append(wall)
        cpu, wall, relist_cpu, sent, resync = full_path(payload)
        full.append(cpu)
        full_wall.append(wall)
        relist.append(relist_cpu)
    objects = args.pods + 2 * args.deployments + args.nodes
    # CPU time of this process: other processes on the machine inflate wall time unevenly
    result = {"bench": "inventory", "ratio": round(min(full) / min(loads), 3), "goal": 2.0,
              "clock": "process_time", "objects": objects, "payload_bytes": size,
              "loads_s": round(min(loads), 4), "full_path_s": round(min(full), 4),
              "wall_ratio": round(min(full_wall) / min(loads_wall), 3),
              "relist_unchanged_s": round(min(relist), 4),
              "relist_ratio": round(min(relist) / min(loads), 3),
              "snapshot_deltas": sent, "relist_deltas": resync,
              "objects_per_s": round(objects / min(full))}
    print(f"inventory: {objects} objects, {size / 1e6:.1f} MB JSON; json.loads "
          f"{min(loads) * 1e3:.0f} ms, full path {min(full) * 1e3:.0f} ms (CPU), unchanged "
          f"re-list {min(relist) * 1e3:.0f} ms ({resync} deltas)")
    print(json.dumps(result))
    ok = sent == objects and resync == 0
    return 0 if ok else 1
