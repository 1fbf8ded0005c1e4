"""Rollout monitor for Deployments, StatefulSets and DaemonSets (plain logic, injected clock).

A rollout starts when ``metadata.generation`` grows (or, on first sight, when the controller has
not caught up: observedGeneration behind, updated replicas short, old replicas left, STS revision
mismatch; with the OnDelete strategy only a generation the controller has not observed); its
start time is our clock at that moment, never the object's creation time. Signals:
- ``RolloutProgressing`` (progress) when a rollout starts;
- ``RolloutComplete`` (resolved) when the controller observed the generation and every replica
  is updated and available (with the rollout's duration);
- ``RolloutFailed`` (firing) when a Deployment reports ReplicaFailure=True;
- ``RolloutTimedOut`` (firing) when the controller reports ProgressDeadlineExceeded, or when the
  rollout has run longer than progressDeadlineSeconds (Deployments) / ``rollout_deadline_s``;
  ``tick()`` re-evaluates this between updates;
- ``WorkloadDegraded`` firing/resolved when a settled workload has had unavailable replicas for
  ``degraded_threshold_s``.
A workload that is first seen settled produces nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from actors.kube.incident_signals import FIRING, PROGRESS, RESOLVED, Signal, make_signal
from actors.kube.settings import KubeSettings

__all__ = ["RolloutMonitor"]


@dataclasses.dataclass(slots=True)
class _Facts:
    generation: int
    in_rollout: bool
    settled: bool
    unavailable: bool
    failure: str          # ReplicaFailure / ProgressDeadlineExceeded reported by the controller
    deadline_s: float
    counts: dict[str, int]


@dataclasses.dataclass(slots=True)
class _Track:
    uid: str
    facts: _Facts
    rollout_started: float | None = None
    rollout_status: str = ""           # "", Progressing, Failed, TimedOut
    unavailable_since: float | None = None
    degraded: bool = False


def _facts(kind: str, obj: dict[str, Any], default_deadline: float) -> _Facts:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or ()}
    failure = ""
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        available = int(status.get("numberAvailable") or 0)
        total = int(status.get("currentNumberScheduled") or 0)
        revision_lag = False
    else:
        desired = int(spec.get("replicas", 1))
        updated = int(status.get("updatedReplicas") or 0)
        available = int(status.get("availableReplicas") or status.get("readyReplicas") or 0)
        total = int(status.get("replicas") or 0)
        revision_lag = kind == "StatefulSet" and bool(status.get("updateRevision")) and \
            status.get("currentRevision") != status.get("updateRevision")
    deadline = default_deadline
    if kind == "Deployment":
        deadline = float(spec.get("progressDeadlineSeconds") or 600)
        replica_failure = conditions.get("ReplicaFailure") or {}
        progressing = conditions.get("Progressing") or {}
        if replica_failure.get("status") == "True":
            failure = "ReplicaFailure"
        elif progressing.get("status") == "False" and \
                progressing.get("reason") == "ProgressDeadlineExceeded":
            failure = "ProgressDeadlineExceeded"
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        # pods are replaced only when someone deletes them: old revisions are not a rollout
        in_rollout = observed < generation
    else:
        in_rollout = observed < generation or updated < desired or total > updated or \
            revision_lag
    settled = not in_rollout and available >= desired
    return _Facts(generation, in_rollout, settled, available < desired, failure, deadline,
                  {"desired": desired, "updated": updated, "available": available,
                   "total": total, "generation": generation, "observed_generation": observed})


class RolloutMonitor:
    """Tracks rollouts and degraded workloads; emits status transitions only."""

    KINDS = ("Deployment", "StatefulSet", "DaemonSet")

    def __init__(self, settings: KubeSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.tracks: dict[tuple[str, str, str], _Track] = {}
        self.rejected = 0

    def observe(self, kind: str, obj: dict[str, Any]) -> list[Signal]:
        try:
            facts = _facts(kind, obj, self.settings.rollout_deadline_s)
            meta = obj["metadata"]
            key = (kind, meta.get("namespace") or "", meta["name"])
            uid = meta.get("uid") or ""
        except (KeyError, TypeError, ValueError, AttributeError):
            self.rejected += 1
            return []
        now = self.clock()
        track = self.tracks.get(key)
        out: list[Signal] = []
        if track is None or track.uid != uid:
            track = self.tracks[key] = _Track(uid, facts)
            if facts.in_rollout:
                out.append(self._start(key, track, now, "FirstSeenProgressing"))
        else:
            grew = facts.generation > track.facts.generation
            track.facts = facts
            if grew and facts.in_rollout:
                out.append(self._start(key, track, now, "NewGeneration"))
        return out + self._evaluate(key, track, now)

    def forget(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self.tracks.pop((kind, meta.get("namespace") or "", meta.get("name") or ""), None)

    def tick(self) -> list[Signal]:
        now, out = self.clock(), []
        for key, track in self.tracks.items():
            out.extend(self._evaluate(key, track, now))
        return out

    def _start(self, key: tuple[str, str, str], track: _Track, now: float,
               reason: str) -> Signal:
        track.rollout_started, track.rollout_status = now, "Progressing"
        return self._signal("RolloutProgressing", PROGRESS, key, track, now, reason)

    def _evaluate(self, key: tuple[str, str, str], track: _Track, now: float) -> list[Signal]:
        facts, out = track.facts, []
        if track.rollout_started is None and facts.in_rollout:
            out.append(self._start(key, track, now, "RolloutDetected"))
        if track.rollout_started is not None:
            if facts.settled:
                duration = now - track.rollout_started
                track.rollout_started, track.rollout_status = None, ""
                out.append(self._signal("RolloutComplete", RESOLVED, key, track, now,
                                        "AllReplicasUpdated", {"duration_s": round(duration, 1)}))
            elif facts.failure == "ReplicaFailure" and track.rollout_status != "Failed":
                track.rollout_status = "Failed"
                out.append(self._signal("RolloutFailed", FIRING, key, track, now,
                                        facts.failure))
            elif track.rollout_status == "Progressing" and (
                    facts.failure == "ProgressDeadlineExceeded"
                    or now - track.rollout_started > facts.deadline_s):
                track.rollout_status = "TimedOut"
                out.append(self._signal("RolloutTimedOut", FIRING, key, track, now,
                                        facts.failure or "DeadlineExceeded",
                                        {"elapsed_s": round(now - track.rollout_started, 1)}))
            track.unavailable_since = None
            return out
        if not facts.unavailable:
            track.unavailable_since = None
            if track.degraded:
                track.degraded = False
                out.append(self._signal("WorkloadDegraded", RESOLVED, key, track, now,
                                        "ReplicasAvailable"))
            return out
        if track.unavailable_since is None:
            track.unavailable_since = now
        if not track.degraded and \
                now - track.unavailable_since >= self.settings.degraded_threshold_s:
            track.degraded = True
            out.append(self._signal("WorkloadDegraded", FIRING, key, track, now,
                                    "ReplicasUnavailable"))
        return out

    @staticmethod
    def _signal(name: str, state: str, key: tuple[str, str, str], track: _Track, now: float,
                reason: str, extra: dict[str, Any] | None = None) -> Signal:
        details: dict[str, Any] = dict(track.facts.counts)
        details.update(extra or {})
        return make_signal(name, state, kind=key[0], namespace=key[1], name=key[2],
                           uid=track.uid, at=now, reason=reason, details=details)
