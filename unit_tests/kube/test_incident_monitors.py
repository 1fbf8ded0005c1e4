"""Incident monitors as a table: scenarios of pod/node/rollout/event transitions with signals.

Each step sets the injected clock (seconds after T0), feeds one watch object (or ticks) and
lists the exact signals expected from that step as (signal, state[, container]).
"""

from typing import Any

import pytest

from actors.kube.incident_monitors import IncidentMonitors
from actors.kube.incident_signals import parse_time
from actors.kube.settings import KubeSettings
from unit_tests.kube import k8s_objects as k

T0 = parse_time("2026-11-01T10:10:00Z")
OLD = "2026-11-01T08:00:00Z"


def iso(offset):
    import datetime
    return datetime.datetime.fromtimestamp(T0 + offset, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def term(exit_code=1, reason="Error", finished=OLD, cid="c1"):
    return {"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": finished,
                           "containerID": cid, "startedAt": OLD}}


def waiting(reason):
    return {"waiting": {"reason": reason, "message": f"{reason} message"}}


def cs(name="app", *, restarts=0, state=None, last=None, ready=None):
    return k.container_status(name, restarts=restarts, state=state, last=last,
                              ready=(state is None) if ready is None else ready)


def pod(name="web-1", *, uid=None, phase="Running", ready=True, ready_since=OLD, statuses=None,
        init=None):
    return k.pod(name, uid=uid or f"uid-{name}", phase=phase, ready=ready,
                 ready_since=ready_since, statuses=statuses, init_statuses=init)


def crashing(restarts=5, cid="c5", finished=OLD):
    return pod(ready=False, statuses=[cs(restarts=restarts, state=waiting("CrashLoopBackOff"),
                                         last=term(finished=finished, cid=cid))])


def restarted(restarts, last):
    return pod(statuses=[cs(restarts=restarts, last=last)])


def node(name="n1", **kw):
    obj = k.node(name, **kw)
    obj["metadata"]["uid"] = f"uid-{name}"
    return obj


def node_ready_unknown():
    obj = node()
    obj["status"]["conditions"][-1]["status"] = "Unknown"
    return obj


def deploy(**kw):
    obj = k.deployment("api", **kw)
    obj["metadata"]["uid"] = "uid-api"
    return obj


def sts(current="r1", update="r1", ready=3, strategy="RollingUpdate"):
    return {"metadata": {"name": "db", "namespace": "default", "uid": "uid-db", "generation": 4,
                         "resourceVersion": "1"},
            "spec": {"replicas": 3, "updateStrategy": {"type": strategy}},
            "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                       "readyReplicas": ready, "availableReplicas": ready,
                       "currentRevision": current, "updateRevision": update}}


def ds(desired=5, updated=5, available=5, generation=2, observed=2):
    return {"metadata": {"name": "agent", "namespace": "kube-system", "uid": "uid-agent",
                         "generation": generation, "resourceVersion": "1"},
            "spec": {},
            "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available,
                       "observedGeneration": observed}}


def event(count=1, type_="Warning", last=None, uid="ev-1"):
    obj = k.event("web-1.17f", type_=type_, count=count, uid=uid)
    obj["lastTimestamp"] = last or iso(0)
    return obj


TICK = ("tick", "", None)
DEADLINE_EXCEEDED = [{"type": "Progressing", "status": "False",
                      "reason": "ProgressDeadlineExceeded"}]
REPLICA_FAILURE = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]

SCENARIOS: dict[str, list[tuple[Any, ...]]] = {
    "healthy pod: nothing": [(0, "pods", "ADDED", pod(), [])],
    "crashloop fires once, lifetime restarts ignored, heals": [
        (0, "pods", "ADDED", crashing(), [("CrashLoopBackOff", "firing", "app")]),
        (5, "pods", "MODIFIED", crashing(), []),
        (9, "pods", "MODIFIED", pod(statuses=[cs(restarts=5, last=term(cid="c5"))]),
         [("CrashLoopBackOff", "resolved", "app")]),
    ],
    "new restarts classified by termination": [
        (0, "pods", "ADDED", restarted(0, None), []),
        (10, "pods", "MODIFIED", restarted(1, term(137, "OOMKilled", iso(9), "c1")),
         [("OOMKilled", "occurred", "app")]),
        (20, "pods", "MODIFIED", restarted(2, term(1, "Error", iso(19), "c2")),
         [("ContainerError", "occurred", "app")]),
        (30, "pods", "MODIFIED", restarted(3, term(0, "Completed", iso(29), "c3")),
         [("ContainerRestarted", "occurred", "app")]),
        (40, "pods", "MODIFIED", restarted(3, term(0, "Completed", iso(29), "c3")), []),
    ],
    "first sight: old terminations are history, fresh OOM counts": [
        (0, "pods", "ADDED", restarted(7, term(1, "Error", OLD)), []),
        (0, "pods", "ADDED", pod("w2", statuses=[cs(restarts=1, last=term(
            137, "OOMKilled", iso(-60)))]), [("OOMKilled", "occurred", "app")]),
    ],
    "image pull failure variants are one problem": [
        (0, "pods", "ADDED", pod(ready=False, statuses=[cs(state=waiting("ErrImagePull"))]),
         [("ImagePullFailure", "firing", "app")]),
        (5, "pods", "MODIFIED", pod(ready=False, statuses=[cs(state=waiting(
            "ImagePullBackOff"))]), []),
    ],
    "config errors, init containers included": [
        (0, "pods", "ADDED", pod(ready=False, phase="Pending", statuses=[], init=[
            cs("init-db", state=waiting("CreateContainerConfigError"))]),
         [("CreateContainerConfigError", "firing", "init-db")]),
        (5, "pods", "MODIFIED", pod(ready=False, statuses=[cs(state=waiting(
            "CreateContainerError"))], init=[cs("init-db", state=None)]),
         [("CreateContainerError", "firing", "app"),
          ("CreateContainerConfigError", "resolved", "init-db")]),
    ],
    "failed and unknown phases": [
        (0, "pods", "ADDED", pod(phase="Failed", ready=False), [("PodFailed", "firing", "")]),
        (0, "pods", "ADDED", pod("w2", phase="Unknown"), [("PodUnknown", "firing", "")]),
        (5, "pods", "MODIFIED", pod("w2"), [("PodUnknown", "resolved", "")]),
    ],
    "NotReady judged over time by tick": [
        (0, "pods", "ADDED", pod(ready=False, ready_since=iso(-30)), []),
        (60, *TICK, []),
        (100, *TICK, [("PodNotReady", "firing", "")]),
        (110, *TICK, []),
        (120, "pods", "MODIFIED", pod(ready=False, ready_since=iso(-30)), []),
        (130, "pods", "MODIFIED", pod(), [("PodNotReady", "resolved", "")]),
    ],
    "NotReady long before first sight, but not for finished pods": [
        (0, "pods", "ADDED", pod(ready=False, ready_since=OLD), [("PodNotReady", "firing", "")]),
        (0, "pods", "ADDED", pod("job-1", phase="Succeeded", ready=False), []),
        (500, *TICK, []),
    ],
    "deletion resolves and clears; no second resolve": [
        (0, "pods", "ADDED", crashing(), [("CrashLoopBackOff", "firing", "app")]),
        (5, "pods", "DELETED", crashing(), [("CrashLoopBackOff", "resolved", "app")]),
        (6, "pods", "DELETED", crashing(), []),
        (7, "pods", "DELETED", pod("never-seen"), []),
    ],
    "same name, new uid is a new pod": [
        (0, "pods", "ADDED", crashing(), [("CrashLoopBackOff", "firing", "app")]),
        (5, "pods", "ADDED", pod(uid="uid-new"), [("CrashLoopBackOff", "resolved", "app")]),
    ],
    "node conditions flip": [
        (0, "nodes", "ADDED", node(), []),
        (5, "nodes", "MODIFIED", node(ready=False), [("NodeNotReady", "firing", "")]),
        (9, "nodes", "MODIFIED", node(), [("NodeNotReady", "resolved", "")]),
        (10, "nodes", "MODIFIED", node(pressure=("MemoryPressure",)),
         [("NodeMemoryPressure", "firing", "")]),
        (20, "nodes", "MODIFIED", node(pressure=("MemoryPressure", "DiskPressure",
                                                 "PIDPressure"), heartbeat="t9"),
         [("NodeDiskPressure", "firing", ""), ("NodePIDPressure", "firing", "")]),
        (30, "nodes", "MODIFIED", node(pressure=("MemoryPressure", "DiskPressure",
                                                 "PIDPressure"), heartbeat="t10"), []),
        (40, "nodes", "MODIFIED", node(network_unavailable=True),
         [("NodeNetworkUnavailable", "firing", ""), ("NodeDiskPressure", "resolved", ""),
          ("NodeMemoryPressure", "resolved", ""), ("NodePIDPressure", "resolved", "")]),
        (50, "nodes", "DELETED", node(), [("NodeDeleted", "occurred", "")]),
    ],
    "node not ready on first sight and Unknown": [
        (0, "nodes", "ADDED", node(ready=False), [("NodeNotReady", "firing", "")]),
        (0, "nodes", "ADDED", node_ready_unknown(), []),
    ],
    "rollout from generation change to complete": [
        (0, "deployments", "ADDED", deploy(), []),
        (10, "deployments", "MODIFIED", deploy(generation=2, observed=1),
         [("RolloutProgressing", "progress", "")]),
        (20, "deployments", "MODIFIED", deploy(generation=2, observed=2, updated=1,
                                               status_replicas=4), []),
        (60, "deployments", "MODIFIED", deploy(generation=2, observed=2),
         [("RolloutComplete", "resolved", "")]),
    ],
    "rollout timed out by our clock, then by the controller": [
        (0, "deployments", "ADDED", deploy(deadline=120), []),
        (10, "deployments", "MODIFIED", deploy(generation=2, observed=2, updated=1,
                                               status_replicas=4, deadline=120),
         [("RolloutProgressing", "progress", "")]),
        (100, *TICK, []),
        (140, *TICK, [("RolloutTimedOut", "firing", "")]),
        (150, *TICK, []),
        (160, "deployments", "MODIFIED", deploy(generation=3, observed=3, updated=0,
                                                conditions=DEADLINE_EXCEEDED),
         [("RolloutProgressing", "progress", ""), ("RolloutTimedOut", "firing", "")]),
    ],
    "replica failure": [
        (0, "deployments", "ADDED", deploy(generation=5, observed=5, updated=2,
                                           conditions=REPLICA_FAILURE),
         [("RolloutProgressing", "progress", ""), ("RolloutFailed", "firing", "")]),
    ],
    "old deployment with an unready replica is degraded only after a while": [
        (0, "deployments", "ADDED", deploy(available=2, ready=2), []),
        (200, *TICK, []),
        (301, *TICK, [("WorkloadDegraded", "firing", "")]),
        (310, "deployments", "MODIFIED", deploy(), [("WorkloadDegraded", "resolved", "")]),
    ],
    "statefulset revision rollout times out": [
        (0, "statefulsets", "ADDED", sts(current="r1", update="r2"),
         [("RolloutProgressing", "progress", "")]),
        (601, *TICK, [("RolloutTimedOut", "firing", "")]),
        (700, "statefulsets", "MODIFIED", sts(current="r2", update="r2"),
         [("RolloutComplete", "resolved", "")]),
    ],
    "statefulset with OnDelete: old revision is not a rollout": [
        (0, "statefulsets", "ADDED", sts(current="r1", update="r2", strategy="OnDelete"), []),
        (700, *TICK, []),
    ],
    "daemonset rollout": [
        (0, "daemonsets", "ADDED", ds(), []),
        (5, "daemonsets", "MODIFIED", ds(generation=3, updated=1, observed=3),
         [("RolloutProgressing", "progress", "")]),
        (50, "daemonsets", "MODIFIED", ds(generation=3, observed=3),
         [("RolloutComplete", "resolved", "")]),
    ],
    "warning events by uid and count": [
        (0, "events", "ADDED", event(1), [("WarningEvent", "occurred", "")]),
        (5, "events", "MODIFIED", event(1), []),
        (10, "events", "MODIFIED", event(3), [("WarningEvent", "occurred", "")]),
        (15, "events", "MODIFIED", event(2), []),
        (20, "events", "ADDED", event(1, type_="Normal", uid="ev-2"), []),
        (25, "events", "ADDED", event(4, last=OLD, uid="ev-3"), []),
        (30, "events", "MODIFIED", event(5, last=iso(30), uid="ev-3"),
         [("WarningEvent", "occurred", "")]),
    ],
}


class Clock:
    now = T0

    def __call__(self):
        return self.now


def test_table_has_at_least_30_transitions():
    assert sum(len(steps) for steps in SCENARIOS.values()) >= 30


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name):
    clock = Clock()
    monitors = IncidentMonitors(KubeSettings(), clock)
    for index, (offset, resource, event_type, obj, expected) in enumerate(SCENARIOS[name]):
        clock.now = T0 + offset
        if resource == "tick":
            signals = monitors.tick()
        else:
            signals = monitors.observe(resource, event_type, obj)
        got = [(s["signal"], s["state"], s["container"]) for s in signals]
        assert got == [((*e, ""))[:3] for e in expected], f"step {index} of {name!r}"
        assert all(s["at"] == clock.now for s in signals)
    assert monitors.rejected == 0


def test_signal_details_carry_counts():
    clock = Clock()
    monitors = IncidentMonitors(KubeSettings(), clock)
    monitors.observe("pods", "ADDED", restarted(2, None))
    (sig,) = monitors.observe("pods", "MODIFIED", restarted(5, term(1, "Error", iso(0), "cX")))
    assert sig["details"]["new_restarts"] == 3
    assert sig["details"]["exit_code"] == 1
    assert sig["severity"] == "warning"
    assert sig["namespace"] == "default"
    monitors.observe("events", "ADDED", event(2))
    (sig,) = monitors.observe("events", "MODIFIED", event(6))
    assert sig["details"]["new_occurrences"] == 4
    assert sig["reason"] == "BackOff"


def test_malformed_objects_are_counted():
    monitors = IncidentMonitors(KubeSettings(), Clock())
    assert monitors.observe("nodes", "ADDED", {"metadata": {}}) == []
    assert monitors.observe("pods", "ADDED", {"status": {}}) == []
    assert monitors.rejected == 1
    assert monitors.pods.rejected == 1
