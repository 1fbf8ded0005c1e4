"""Workload mechanics: what the deployment and replica-set controllers write.

Owns the object-level steps shared by the churn driver and the in-process controllers:
reconciling a Deployment to its pod template (finding or creating the ReplicaSet for the
template hash, scaling it to ``spec.replicas`` and older ones to zero, recording the revision
and ``observedGeneration``), resizing a ReplicaSet by creating or deleting pods, and the Events
those controllers emit. Writes happen only when something differs, so reconciling a settled
object is a no-op (controllers can react to their own writes without looping). Missing objects
raise the store's 404 :class:`~sim.kubeapi.status.ApiError`.
"""

from __future__ import annotations

import json
import random

from sim.kubeapi import objects, status
from sim.kubeapi.store import Obj, ObjectStore

REVISION = "deployment.kubernetes.io/revision"


class WorkloadMechanics:
    """Controller-style writes on ``store``; randomness (names, nodes) from ``rng``."""

    def __init__(self, store: ObjectStore, rng: random.Random) -> None:
        self.store, self.rng = store, rng
        self._ip = 0

    def event(self, involved: Obj, kind: str, api_version: str, reason: str, message: str,
              event_type: str = "Normal", component: str = "kubelet") -> None:
        """Record a core Event (also served by events.k8s.io/v1: one storage)."""
        self.store.create("events", objects.core_event(
            self.rng, involved, kind, api_version, reason, message, event_type,
            self.store.clock(), component))

    def require(self, key: str, namespace: str, name: str) -> Obj:
        found = self.store.get(key, namespace, name)
        if found is None:
            plural, _, group = key.partition(".")
            raise status.not_found(plural, group, name)
        return found

    def owned(self, key: str, owner_uid: str) -> list[Obj]:
        _, items = self.store.snapshot(key)
        return [json.loads(i.body) for i in items
                if any(o.get("uid") == owner_uid
                       for o in i.obj["metadata"].get("ownerReferences", []))]

    def _new_pod(self, rs: Obj) -> None:
        _, nodes = self.store.snapshot("nodes")
        if not nodes:
            raise status.ApiError(409, "no nodes to schedule on")
        index = self.rng.randrange(len(nodes))
        self._ip += 1
        pod_ip = f"10.250.{(self._ip // 250) % 256}.{self._ip % 250 + 2}"
        pod = objects.pod(self.rng, rs, "ReplicaSet", rs["spec"]["template"],
                          nodes[index].name, pod_ip, objects.node_ip(index), self.store.clock())
        del pod["metadata"]["uid"]
        created = self.store.create("pods", pod)
        self.event(created, "Pod", "v1", "Scheduled", f"Successfully assigned "
                   f"{created['metadata']['namespace']}/{created['metadata']['name']} to "
                   f"{nodes[index].name}", component="default-scheduler")

    def resize(self, rs: Obj, replicas: int) -> None:
        """Create/delete pods until ``replicas`` run; set the ReplicaSet's spec and status."""
        pods = self.owned("pods", rs["metadata"]["uid"])
        for pod in pods[replicas:]:
            self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.event(pod, "Pod", "v1", "Killing",
                       f"Stopping container {pod['spec']['containers'][0]['name']}")
        for _ in range(replicas - len(pods)):
            self._new_pod(rs)
        wanted = {"replicas": replicas, "readyReplicas": replicas,
                  "availableReplicas": replicas, "fullyLabeledReplicas": replicas}
        current = self.require("replicasets.apps", rs["metadata"]["namespace"],
                               rs["metadata"]["name"])
        if current["spec"].get("replicas") == replicas and all(
                current.get("status", {}).get(k) == v for k, v in wanted.items()):
            return

        def set_replicas(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas
            obj.setdefault("status", {}).update(wanted)
        self.store.mutate("replicasets.apps", rs["metadata"]["namespace"],
                          rs["metadata"]["name"], set_replicas)

    def reconcile_replica_set(self, namespace: str, name: str) -> None:
        rs = self.require("replicasets.apps", namespace, name)
        pods = self.owned("pods", rs["metadata"]["uid"])
        if len(pods) != rs["spec"].get("replicas", 0):
            self.resize(rs, rs["spec"].get("replicas", 0))

    def reconcile_deployment(self, namespace: str, name: str) -> str:
        """Converge the deployment on its template; returns the active ReplicaSet's name."""
        deploy = self.require("deployments.apps", namespace, name)
        wanted_hash = objects.template_hash(deploy["spec"]["template"])
        sets = self.owned("replicasets.apps", deploy["metadata"]["uid"])
        active = next((rs for rs in sets if rs["metadata"].get("labels", {}).get(
            "pod-template-hash") == wanted_hash), None)
        replicas = int(deploy["spec"].get("replicas", 1))
        if active is None:
            revision = 1 + max((int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
                                for rs in sets), default=0)
            fresh = objects.replica_set(self.rng, deploy, revision, self.store.clock())
            del fresh["metadata"]["uid"]
            fresh["spec"]["replicas"] = 0
            active = self.store.create("replicasets.apps", fresh)
            self._annotate_revision(namespace, name, str(revision))
        old_replicas = active["spec"].get("replicas", 0)
        if old_replicas != replicas or len(self.owned("pods", active["metadata"]["uid"])) != (
                replicas):
            self.resize(active, replicas)
            if old_replicas != replicas:
                verb = "up" if replicas > old_replicas else "down"
                self.event(deploy, "Deployment", "apps/v1", "ScalingReplicaSet",
                           f"Scaled {verb} replica set {active['metadata']['name']} from "
                           f"{old_replicas} to {replicas}", component="deployment-controller")
        for rs in sets:
            if rs["metadata"]["name"] != active["metadata"]["name"] and rs["spec"].get(
                    "replicas"):
                previous = rs["spec"]["replicas"]
                self.resize(rs, 0)
                self.event(deploy, "Deployment", "apps/v1", "ScalingReplicaSet",
                           f"Scaled down replica set {rs['metadata']['name']} from {previous} "
                           "to 0", component="deployment-controller")
        self._settle_status(namespace, name, active)
        return str(active["metadata"]["name"])

    def _annotate_revision(self, namespace: str, name: str, revision: str) -> None:
        def annotate(obj: Obj) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
        self.store.mutate("deployments.apps", namespace, name, annotate)

    def _settle_status(self, namespace: str, name: str, active: Obj) -> None:
        deploy = self.require("deployments.apps", namespace, name)
        pods = self.owned("pods", active["metadata"]["uid"])
        ready = sum(1 for p in pods if all(c.get("ready") for c in p.get("status", {}).get(
            "containerStatuses", [])))
        wanted = objects.deployment_status(int(deploy["spec"].get("replicas", 1)), ready,
                                           deploy["metadata"].get("generation", 1))
        if deploy.get("status") == wanted:
            return

        def settle(obj: Obj) -> None:
            obj["status"] = wanted
        self.store.mutate("deployments.apps", namespace, name, settle)
