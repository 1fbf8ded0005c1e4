"""In-process controllers: the deployment and replica-set loops of kube-controller-manager.

Owns the reactions a cluster has to API writes, so clients that ``kubectl scale``,
``rollout restart`` or delete a pod see ReplicaSets and pods follow as on a real cluster.
A background thread follows the store's event history: a Deployment whose ``generation`` is
ahead of ``status.observedGeneration`` is reconciled; a ReplicaSet whose pod was deleted or
whose ``spec.replicas`` changed gets pods created or deleted. Each reconcile holds the store
lock, so it never interleaves with a :class:`~sim.kubeapi.churn.Churn` step. If the thread
falls out of the history window it resynchronises every deployment. Failures of one reconcile
(e.g. the object was deleted meanwhile) are counted in ``errors`` and logged.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from sim.kubeapi import status, workloads
from sim.kubeapi.store import ObjectStore, StoreEvent

logger = logging.getLogger(__name__)
POLL_S = 0.1


class Controllers:
    """Runs the deployment and replica-set reconcilers against ``store`` on one thread."""

    def __init__(self, store: ObjectStore, seed: int = 0) -> None:
        self.store = store
        self.mechanics = workloads.WorkloadMechanics(store, random.Random(f"controllers-{seed}"))
        self.reconciled = 0
        self.errors = 0
        self._cursor = store.resource_version
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Controllers:
        if self._thread is not None:
            raise RuntimeError("controllers already running")
        self._cursor = self.store.resource_version
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sim-kubeapi-controllers",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.store.wake_watchers()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.store.wait(self._cursor, POLL_S)
            self.run_once()

    def run_once(self) -> int:
        """Reconcile everything changed since the last call; returns how many reconciles."""
        try:
            events = self.store.events_after(self._cursor)
        except status.ApiError:  # fell behind the history window: resync everything
            self._cursor = self.store.resource_version
            _, everything = self.store.snapshot("deployments.apps")
            return self._reconcile({(d.namespace, d.name) for d in everything}, set())
        if not events:
            return 0
        self._cursor = events[-1].rv
        deployments: set[tuple[str, str]] = set()
        replica_sets: set[tuple[str, str]] = set()
        for event in events:
            self._classify(event, deployments, replica_sets)
        return self._reconcile(deployments, replica_sets)

    @staticmethod
    def _classify(event: StoreEvent, deployments: set[tuple[str, str]],
                  replica_sets: set[tuple[str, str]]) -> None:
        item = event.item
        meta = item.obj["metadata"]
        if item.key == "deployments.apps" and event.type != "DELETED":
            observed = item.obj.get("status", {}).get("observedGeneration")
            if meta.get("generation") != observed:
                deployments.add((item.namespace, item.name))
        elif item.key == "replicasets.apps" and event.type == "MODIFIED":
            replica_sets.add((item.namespace, item.name))
        elif item.key == "pods" and event.type == "DELETED":
            for ref in meta.get("ownerReferences", []):
                if ref.get("kind") == "ReplicaSet":
                    replica_sets.add((item.namespace, str(ref.get("name"))))

    def _reconcile(self, deployments: set[tuple[str, str]],
                   replica_sets: set[tuple[str, str]]) -> int:
        done = 0
        with self.store.changed:
            for namespace, name in sorted(deployments):
                done += self._guarded(self.mechanics.reconcile_deployment, namespace, name)
            for namespace, name in sorted(replica_sets):
                if self.store.get_stored("replicasets.apps", namespace, name) is not None:
                    done += self._guarded(self.mechanics.reconcile_replica_set, namespace, name)
        self.reconciled += done
        return done

    def _guarded(self, reconcile: Callable[[str, str], object], namespace: str,
                 name: str) -> int:
        try:
            reconcile(namespace, name)
        except status.ApiError as error:
            self.errors += 1
            logger.info("reconcile of %s/%s failed: %s", namespace, name, error.message)
            return 0
        except (KeyError, TypeError, ValueError) as error:  # an object written out of shape
            self.errors += 1
            logger.warning("cannot reconcile %s/%s: %r", namespace, name, error)
            return 0
        return 1

    def __enter__(self) -> Controllers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
