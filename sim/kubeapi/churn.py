"""Scenario driver: explicit cluster changes (rollouts, scaling, crashes, node trouble, events,
policy edits) and a seeded background churn thread that applies them at a steady rate.

Owns what "the controllers and kubelets" would write, with the store as the only channel, so
every change reaches watchers and :meth:`ObjectStore.ground_truth`. Each scenario step is a
public method a test can call directly; :meth:`Churn.step` picks one at random from the
seeded generator. A step that targets a missing object raises the store's 404 ``ApiError``;
the background thread counts such failures in ``Churn.failures`` and carries on.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any

from sim.kubeapi import cluster, objects, status, workloads
from sim.kubeapi.store import Obj, ObjectStore, rfc3339

logger = logging.getLogger(__name__)
PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")


class Churn:
    """Cluster changes on ``store``; ``start()``/``stop()`` run :meth:`step` at ``rate_per_s``."""

    def __init__(self, store: ObjectStore, rate_per_s: float = 5.0, seed: int = 1) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self.store, self.rate_per_s = store, rate_per_s
        self.rng = random.Random(f"churn-{seed}")  # independent of the generator's stream
        self.steps = 0
        self.failures = 0
        self.mechanics = workloads.WorkloadMechanics(store, self.rng)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- helpers
    def _now(self) -> float:
        return self.store.clock()

    def _event(self, involved: Obj, kind: str, api_version: str, reason: str, message: str,
               event_type: str = "Normal", component: str = "kubelet") -> None:
        self.mechanics.event(involved, kind, api_version, reason, message, event_type,
                             component)

    def _require(self, key: str, namespace: str, name: str) -> Obj:
        return self.mechanics.require(key, namespace, name)

    # ------------------------------------------------------------ scenarios
    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set ``spec.replicas`` and converge ReplicaSets and pods, as the controllers do."""
        with self.store.changed:
            self._require("deployments.apps", namespace, name)

            def set_replicas(obj: Obj) -> None:
                obj["spec"]["replicas"] = replicas
            self.store.mutate("deployments.apps", namespace, name, set_replicas)
            self.mechanics.reconcile_deployment(namespace, name)

    def rollout(self, namespace: str, name: str, image: str | None = None) -> str:
        """Roll the deployment to a new image; returns the new ReplicaSet's name."""
        with self.store.changed:
            deploy = self._require("deployments.apps", namespace, name)
            container = deploy["spec"]["template"]["spec"]["containers"][0]
            base = container["image"].rsplit(":", 1)[0]
            new_image = image or f"{base}:2.{self.rng.randrange(1000)}.0"

            def set_image(obj: Obj) -> None:
                obj["spec"]["template"]["spec"]["containers"][0]["image"] = new_image
            self.store.mutate("deployments.apps", namespace, name, set_image)
            return self.mechanics.reconcile_deployment(namespace, name)

    def crash_loop(self, namespace: str, pod_name: str, reason: str = "Error") -> None:
        """Terminate the pod's first container (Error or OOMKilled) into CrashLoopBackOff."""
        pod = self._require("pods", namespace, pod_name)
        restarts = pod["status"]["containerStatuses"][0].get("restartCount", 0) + 1

        def crash(obj: Obj) -> None:
            cluster.crash_loop(obj, self._now(), restarts=restarts, reason=reason)
            first = obj["status"]["containerStatuses"][0]
            started = pod["status"]["containerStatuses"][0]["state"].get("running", {}).get(
                "startedAt")
            if started:  # the run that just ended is the one that was running
                first["lastState"]["terminated"]["startedAt"] = started
                first["lastState"]["terminated"]["finishedAt"] = rfc3339(self._now())
        self.store.mutate("pods", namespace, pod_name, crash)
        container = pod["spec"]["containers"][0]["name"]
        self._event(pod, "Pod", "v1", "BackOff", f"Back-off restarting failed container "
                    f"{container} in pod {pod_name}", "Warning")

    def oom_kill(self, namespace: str, pod_name: str) -> None:
        self.crash_loop(namespace, pod_name, reason="OOMKilled")

    def recover(self, namespace: str, pod_name: str) -> None:
        """Restart the crashed container and let it run."""
        def run(obj: Obj) -> None:
            for container in obj["status"]["containerStatuses"]:
                container.update(ready=True, started=True,
                                 state=objects.running_state(self._now()))
            obj["status"]["conditions"] = objects.pod_conditions(True, self._now())
        self.store.mutate("pods", namespace, pod_name, run)

    def node_condition(self, node: str, *, ready: bool = True, pressure: str = "") -> None:
        """Set a node Ready/NotReady and optionally one of :data:`PRESSURES` to True."""
        if pressure and pressure not in PRESSURES:
            raise ValueError(f"pressure must be one of {PRESSURES}, got {pressure!r}")

        def set_conditions(obj: Obj) -> None:
            obj["status"]["conditions"] = objects.node_conditions(self._now(), ready=ready,
                                                                  pressure=pressure)
        updated = self.store.mutate("nodes", "", node, set_conditions)
        if not ready:
            self._event(updated, "Node", "v1", "NodeNotReady",
                        f"Node {node} status is now: NodeNotReady", "Warning",
                        "node-controller")
        elif pressure:
            self._event(updated, "Node", "v1", f"NodeHas{pressure.replace('PID', 'Insufficient')}",
                        f"Node {node} status is now: NodeHas{pressure}", "Warning")

    def node_not_ready(self, node: str) -> None:
        self.node_condition(node, ready=False)

    def node_pressure(self, node: str, pressure: str = "MemoryPressure") -> None:
        self.node_condition(node, ready=True, pressure=pressure)

    def warning_event(self, namespace: str, pod_name: str, reason: str, message: str) -> None:
        pod = self._require("pods", namespace, pod_name)
        self._event(pod, "Pod", "v1", reason, message, "Warning")

    def edit_policy(self, namespace: str) -> None:
        """Add an ingress port rule to the namespace's default-deny NetworkPolicy and bump the
        CiliumNetworkPolicy with a new allowed label."""
        port = 8000 + self.rng.randrange(1000)

        def add_rule(obj: Obj) -> None:
            obj["spec"].setdefault("ingress", []).append({"ports": [{"port": port,
                                                                     "protocol": "TCP"}]})
        self.store.mutate("networkpolicies.networking.k8s.io", namespace, "default-deny",
                          add_rule)

        def add_label(obj: Obj) -> None:
            obj["spec"]["ingress"].append({"fromEndpoints": [{"matchLabels": {
                "app": f"client-{port}"}}]})
        self.store.mutate("ciliumnetworkpolicies.cilium.io", namespace, "allow-same-namespace",
                          add_label)

    # ------------------------------------------------------------- random
    def _pick(self, key: str, running_pods_only: bool = False) -> Obj | None:
        _, items = self.store.snapshot(key)
        if running_pods_only:
            items = [i for i in items if i.obj.get("status", {}).get("phase") == "Running"]
        return json.loads(self.rng.choice(items).body) if items else None

    def step(self) -> str:
        """Apply one random scenario step; returns its name."""
        with self.store.changed:  # one step is atomic for controllers and other writers
            return self._random_step()

    def _random_step(self) -> str:
        roll = self.rng.random()
        self.steps += 1
        if roll < 0.15 and (deploy := self._pick("deployments.apps")):
            self.rollout(deploy["metadata"]["namespace"], deploy["metadata"]["name"])
            return "rollout"
        if roll < 0.3 and (deploy := self._pick("deployments.apps")):
            replicas = max(1, deploy["spec"]["replicas"] + self.rng.choice((-1, 1)))
            self.scale(deploy["metadata"]["namespace"], deploy["metadata"]["name"], replicas)
            return "scale"
        pod: Any
        if roll < 0.5 and (pod := self._pick("pods", running_pods_only=True)):
            namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            first = pod["status"]["containerStatuses"][0]
            if "waiting" in first.get("state", {}):
                self.recover(namespace, name)
                return "recover"
            self.crash_loop(namespace, name, self.rng.choice(("Error", "OOMKilled")))
            return "crash"
        if roll < 0.6 and (node := self._pick("nodes")):
            self.node_condition(node["metadata"]["name"], ready=self.rng.random() < 0.5,
                                pressure=self.rng.choice(("", *PRESSURES)))
            return "node"
        if roll < 0.7 and (policy := self._pick("networkpolicies.networking.k8s.io")):
            self.edit_policy(policy["metadata"]["namespace"])
            return "policy"
        if (pod := self._pick("pods")) is not None:
            self.warning_event(pod["metadata"]["namespace"], pod["metadata"]["name"],
                               "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                               f"statuscode: {self.rng.choice((500, 503))}")
            return "warning"
        return "idle"

    def run_steps(self, count: int) -> list[str]:
        return [self.step() for _ in range(count)]

    # ------------------------------------------------------------- thread
    def start(self) -> Churn:
        if self._thread is not None:
            raise RuntimeError("churn already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sim-kubeapi-churn",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        interval = 1.0 / self.rate_per_s
        while not self._stop.wait(interval):
            try:
                self.step()
            except status.ApiError as error:  # e.g. a test deleted the object we picked
                self.failures += 1
                logger.info("churn step failed: %s", error.message)
            except (KeyError, IndexError, TypeError) as error:  # an object edited out of shape
                self.failures += 1
                logger.warning("churn step skipped an unexpected object: %r", error)

    def __enter__(self) -> Churn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
