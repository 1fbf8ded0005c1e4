"""Cluster generator: a seeded, realistic cluster of nodes, workloads, policies and events.

Owns the initial state a simulated server starts from. ``generate_cluster(scale, seed)`` is a
pure function of its arguments and a reference time: the same seed gives the same names, uids,
IPs and which pods are crash-looping. Scales: ``small`` (3 nodes, ~10 pods), ``medium``
(20 nodes, ~200 pods), ``large`` (500 nodes, 1,000 deployments, 5,500 pods); any count can be
overridden. An unknown scale raises ``ValueError`` naming the valid ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import random
import time
from collections.abc import Iterator
from typing import Any

from sim.kubeapi import objects
from sim.kubeapi.store import ObjectStore, rfc3339

Obj = dict[str, Any]
SCALES = {  # nodes, app namespaces, deployments, replicas per deployment
    "small": (3, 2, 4, 2),
    "medium": (20, 8, 60, 3),
    "large": (500, 50, 1000, 5),
}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_APPS = ("checkout", "cart", "payments", "catalog", "search", "frontend", "orders", "users",
         "inventory", "shipping", "reviews", "ads", "email", "currency", "recommend", "auth")
_CRASH_EVERY = 9  # every 9th deployment has one crash-looping pod
LOAD_ORDER = ("namespaces", "nodes", "leases.coordination.k8s.io", "configmaps", "secrets",
              "deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps",
              "jobs.batch", "cronjobs.batch", "pods", "services", "endpoints",
              "networkpolicies.networking.k8s.io", "ciliumnetworkpolicies.cilium.io",
              "ciliumclusterwidenetworkpolicies.cilium.io",
              "authorizationpolicies.security.istio.io", "events")


@dataclasses.dataclass(slots=True)
class Cluster:
    """Generated objects per storage key, ready to load into an :class:`ObjectStore`."""

    scale: str
    seed: int
    objects: dict[str, list[Obj]]

    def count(self, key: str) -> int:
        return len(self.objects.get(key, []))

    def load_into(self, store: ObjectStore) -> int:
        """Create every object in ``store`` (copies: one Cluster can seed several stores)."""
        loaded = 0
        with gc_paused():
            for key in LOAD_ORDER:
                loaded += store.load(key, json.loads(json.dumps(self.objects.get(key, []))))
        return loaded


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many objects: they are acyclic JSON trees (freed by
    reference counting), and with a large store alive every GC pass would walk all of it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Builder:
    def __init__(self, seed: int, now: float) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.out: dict[str, list[Obj]] = {key: [] for key in LOAD_ORDER}
        self.pod_counter = 0
        self.nodes: list[Obj] = []

    def add(self, key: str, obj: Obj) -> Obj:
        obj["metadata"].setdefault("creationTimestamp", rfc3339(self.now - 86_400 * 10))
        self.out[key].append(obj)
        return obj

    def age(self, low_s: float, high_s: float) -> float:
        return self.now - self.rng.uniform(low_s, high_s)

    def next_pod_ip(self) -> str:
        self.pod_counter += 1
        n = self.pod_counter
        return f"10.{100 + n // 65_000}.{(n // 250) % 260 % 256}.{n % 250 + 2}"

    def place(self) -> tuple[str, str]:
        index = self.rng.randrange(len(self.nodes))
        return self.nodes[index]["metadata"]["name"], objects.node_ip(index)

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.add("namespaces", {"metadata": {
            "name": name, "creationTimestamp": rfc3339(self.now - 86_400 * 30),
            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        self.add("configmaps", {"metadata": {"name": "kube-root-ca.crt", "namespace": name},
                                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n..."}})

    def workload(self, namespace: str, name: str, replicas: int, sidecar: bool,
                 crash: bool) -> None:
        created = self.age(3_600, 86_400 * 7)
        image = f"registry.example.com/{name.rsplit('-', 1)[0]}:1.{self.rng.randrange(30)}.0"
        deploy = self.add("deployments.apps", objects.deployment(
            self.rng, namespace, name, replicas, image, sidecar, created))
        rs = self.add("replicasets.apps", objects.replica_set(self.rng, deploy, 1, created))
        for index in range(replicas):
            node_name, host_ip = self.place()
            pod = objects.pod(self.rng, rs, "ReplicaSet", rs["spec"]["template"], node_name,
                              self.next_pod_ip(), host_ip, self.age(600, 7_200))
            if crash and index == 0:
                crash_loop(pod, self.now, restarts=3 + self.rng.randrange(10), reason="Error")
                deploy["status"] = objects.deployment_status(replicas, replicas - 1, 1)
                self.add("events", objects.core_event(
                    self.rng, pod, "Pod", "v1", "BackOff", "Back-off restarting failed "
                    f"container {pod['spec']['containers'][0]['name']} in pod "
                    f"{pod['metadata']['name']}", "Warning", self.now - 30, "kubelet"))
            self.add("pods", pod)
        self.add("events", objects.core_event(
            self.rng, deploy, "Deployment", "apps/v1", "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} from 0 to {replicas}", "Normal",
            created, "deployment-controller"))
        port = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
        self.add("services", {
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"selector": {"app": name}, "ports": [port], "type": "ClusterIP",
                     "clusterIP": f"10.96.{self.rng.randrange(256)}.{self.rng.randrange(256)}"},
            "status": {"loadBalancer": {}}})
        self.add("endpoints", {"metadata": {"name": name, "namespace": namespace},
                               "subsets": [{"addresses": [], "ports": [
                                   {"name": "http", "port": 8080, "protocol": "TCP"}]}]})


def crash_loop(pod: Obj, now: float, *, restarts: int, reason: str) -> None:
    """Put the pod's first container in CrashLoopBackOff after a terminated run."""
    status = pod["status"]
    first = status["containerStatuses"][0]
    exit_code = 137 if reason == "OOMKilled" else 1
    first.update(ready=False, started=False, restartCount=restarts,
                 state={"waiting": {"reason": "CrashLoopBackOff",
                                    "message": f"back-off 5m0s restarting failed container="
                                               f"{first['name']} pod={pod['metadata']['name']}"}},
                 lastState={"terminated": {"exitCode": exit_code, "reason": reason,
                                           "startedAt": rfc3339(now - 75),
                                           "finishedAt": rfc3339(now - 45),
                                           "containerID": first["containerID"]}})
    status["conditions"] = objects.pod_conditions(False, now - 45)


def generate_cluster(scale: str = "small", seed: int = 1, *, nodes: int | None = None,
                     namespaces: int | None = None, deployments: int | None = None,
                     replicas: int | None = None, now: float | None = None) -> Cluster:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    preset = SCALES[scale]
    node_count, ns_count = nodes or preset[0], namespaces or preset[1]
    deploy_count, replica_count = deployments or preset[2], replicas or preset[3]
    with gc_paused():
        return _generate(scale, seed, node_count, ns_count, deploy_count, replica_count,
                         time.time() if now is None else now)


def _generate(scale: str, seed: int, node_count: int, ns_count: int, deploy_count: int,
              replica_count: int, now: float) -> Cluster:
    build = _Builder(seed, now)
    for name in SYSTEM_NAMESPACES:
        build.namespace(name)
    zones = ("zone-a", "zone-b", "zone-c")
    for index in range(node_count):
        node = build.add("nodes", objects.node(index, build.now - 86_400 * 40, zones[index % 3]))
        build.nodes.append(node)
        build.add("leases.coordination.k8s.io", {
            "metadata": {"name": node["metadata"]["name"], "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": node["metadata"]["name"], "leaseDurationSeconds": 40,
                     "renewTime": rfc3339(build.now).replace("Z", ".000000Z")}})
    app_namespaces = [f"team-{i:02d}" for i in range(ns_count)]
    for index, name in enumerate(app_namespaces):
        build.namespace(name, {"istio-injection": "enabled"} if index % 2 == 0 else None)
        _policies(build, name)
        _stateful_and_batch(build, name)
    for index in range(deploy_count):
        namespace = app_namespaces[index % ns_count]
        name = f"{_APPS[index % len(_APPS)]}-{index}"
        build.workload(namespace, name, replica_count, sidecar=(index % ns_count) % 2 == 0,
                       crash=index % _CRASH_EVERY == 2)
    _node_agents(build)
    build.add("ciliumclusterwidenetworkpolicies.cilium.io", {
        "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "allow-kube-dns"},
        "spec": {"endpointSelector": {}, "egress": [{"toEndpoints": [{"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns"}}]}]}})
    return Cluster(scale, seed, build.out)


def _policies(build: _Builder, namespace: str) -> None:
    build.add("networkpolicies.networking.k8s.io", {
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    build.add("ciliumnetworkpolicies.cilium.io", {
        "metadata": {"name": "allow-same-namespace", "namespace": namespace},
        "spec": {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": namespace}}]}]}})
    build.add("authorizationpolicies.security.istio.io", {
        "metadata": {"name": "allow-frontend", "namespace": namespace},
        "spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"principals": [
            f"cluster.local/ns/{namespace}/sa/frontend"]}}]}]}})
    build.add("secrets", {"metadata": {"name": "app-credentials", "namespace": namespace},
                          "type": "Opaque", "data": {"password": "c2ltdWxhdGVk"}})


def _stateful_and_batch(build: _Builder, namespace: str) -> None:
    """A one-replica database StatefulSet and a CronJob with one finished Job per namespace."""
    created = build.age(86_400, 86_400 * 20)
    labels = {"app": "db"}
    template = {"metadata": {"labels": dict(labels)}, "spec": {
        "containers": [{"name": "postgres", "image": "docker.io/library/postgres:17",
                        "ports": [{"containerPort": 5432, "protocol": "TCP"}]}],
        "restartPolicy": "Always"}}
    sts = build.add("statefulsets.apps", {
        "metadata": {"name": "db", "namespace": namespace, "uid": objects.new_uid(build.rng),
                     "labels": dict(labels), "creationTimestamp": rfc3339(created)},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": labels},
                 "template": template, "podManagementPolicy": "OrderedReady"},
        "status": {"replicas": 1, "readyReplicas": 1, "currentReplicas": 1,
                   "updatedReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}})
    node_name, host_ip = build.place()
    build.add("pods", objects.pod(build.rng, sts, "StatefulSet", template, node_name,
                                  build.next_pod_ip(), host_ip, created, name="db-0"))
    job_template = {"metadata": {"labels": {"job-name": "report"}}, "spec": {
        "containers": [{"name": "report", "image": "registry.example.com/report:3.2"}],
        "restartPolicy": "OnFailure"}}
    cron = build.add("cronjobs.batch", {
        "metadata": {"name": "nightly-report", "namespace": namespace,
                     "uid": objects.new_uid(build.rng), "creationTimestamp": rfc3339(created)},
        "spec": {"schedule": "0 2 * * *", "concurrencyPolicy": "Forbid", "suspend": False,
                 "jobTemplate": {"spec": {"template": job_template}}},
        "status": {"lastScheduleTime": rfc3339(build.now - 3_600)}})
    finished = build.now - 3_000
    job = build.add("jobs.batch", {
        "metadata": {"name": "nightly-report-29100000", "namespace": namespace,
                     "uid": objects.new_uid(build.rng), "labels": {"job-name": "report"},
                     "ownerReferences": [objects.owner("CronJob", "batch/v1", cron)],
                     "creationTimestamp": rfc3339(build.now - 3_600)},
        "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                 "template": job_template},
        "status": {"succeeded": 1, "startTime": rfc3339(build.now - 3_600),
                   "completionTime": rfc3339(finished),
                   "conditions": [{"type": "Complete", "status": "True",
                                   "lastTransitionTime": rfc3339(finished)}]}})
    pod = objects.pod(build.rng, job, "Job", job_template, node_name, build.next_pod_ip(),
                      host_ip, build.now - 3_600, name="nightly-report-29100000-" + objects.suffix(
                          build.rng))
    first = pod["status"]["containerStatuses"][0]
    first.update(ready=False, started=False, state={"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": rfc3339(build.now - 3_598),
        "finishedAt": rfc3339(finished), "containerID": first["containerID"]}})
    pod["status"].update(phase="Succeeded", conditions=objects.pod_conditions(False, finished))
    build.add("pods", pod)


def _node_agents(build: _Builder) -> None:
    created = build.now - 86_400 * 40
    agent = build.add("daemonsets.apps", {
        "metadata": {"name": "node-agent", "namespace": "kube-system", "uid": objects.new_uid(
            build.rng), "labels": {"k8s-app": "node-agent"}, "creationTimestamp": rfc3339(
            created)},
        "spec": {"selector": {"matchLabels": {"k8s-app": "node-agent"}},
                 "template": {"metadata": {"labels": {"k8s-app": "node-agent"}}, "spec": {
                     "containers": [{"name": "agent", "image": "registry.example.com/agent:2.1"}],
                     "restartPolicy": "Always"}}},
        "status": {"desiredNumberScheduled": len(build.nodes), "numberMisscheduled": 0,
                   "numberReady": len(build.nodes), "currentNumberScheduled": len(build.nodes),
                   "observedGeneration": 1}})
    for index, node in enumerate(build.nodes):
        build.add("pods", objects.pod(
            build.rng, agent, "DaemonSet", agent["spec"]["template"], node["metadata"]["name"],
            objects.node_ip(index), objects.node_ip(index), build.age(86_400, 86_400 * 2)))
