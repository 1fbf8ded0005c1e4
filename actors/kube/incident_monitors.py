"""Node-condition and Warning-event monitors, and ``IncidentMonitors``, the one entry point.

``IncidentMonitors.observe(resource, event_type, obj)`` routes a raw watch object (ADDED,
MODIFIED, DELETED; list items count as ADDED) to the pod, node, rollout or event monitor and
returns signals; ``tick()`` re-evaluates the time-based rules (pod NotReady, rollout deadlines,
degraded workloads). All logic is plain and driven by the injected clock.

- Nodes: NodeNotReady (Ready not True), NodeMemoryPressure, NodeDiskPressure, NodePIDPressure,
  NodeNetworkUnavailable fire when they appear (also on first sight) and resolve when they go;
  a deleted node yields one NodeDeleted listing what was still firing.
- Warning events: de-duplicated by uid + count — a repeat is a new signal only when its count
  grew; on first sight an event last seen more than ``stale_after_s`` ago is history (a re-list
  after a restart does not replay the past hour). At most ``event_memory`` uids are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from actors.kube.incident_signals import (
    FIRING,
    OCCURRED,
    RESOLVED,
    Signal,
    make_signal,
    parse_time,
)
from actors.kube.pod_monitor import PodMonitor
from actors.kube.rollout_monitor import RolloutMonitor
from actors.kube.settings import KubeSettings

__all__ = ["EventMonitor", "IncidentMonitors", "NodeMonitor"]

_NODE_PROBLEMS = (("Ready", "False", "NodeNotReady"),
                  ("MemoryPressure", "True", "NodeMemoryPressure"),
                  ("DiskPressure", "True", "NodeDiskPressure"),
                  ("PIDPressure", "True", "NodePIDPressure"),
                  ("NetworkUnavailable", "True", "NodeNetworkUnavailable"))


class NodeMonitor:
    """Fires and resolves node condition problems."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.active: dict[str, tuple[str, set[str]]] = {}   # node -> (uid, firing signals)

    def observe(self, node: dict[str, Any]) -> list[Signal]:
        meta = node["metadata"]
        name, uid = meta["name"], meta.get("uid") or ""
        conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions")
                      or ()}
        now, out = self.clock(), []
        current: dict[str, dict[str, Any]] = {}
        for cond_type, bad, signal in _NODE_PROBLEMS:
            cond = conditions.get(cond_type)
            if cond is None:
                continue
            is_bad = cond.get("status") != "True" if cond_type == "Ready" else \
                cond.get("status") == bad
            if is_bad:
                current[signal] = cond
        _, firing = self.active.get(name, (uid, set()))
        for signal, cond in current.items():
            if signal not in firing:
                out.append(make_signal(signal, FIRING, kind="Node", namespace="", name=name,
                                       uid=uid, at=now, reason=cond.get("reason") or "",
                                       message=cond.get("message") or "",
                                       details={"status": cond.get("status") or ""}))
        out.extend(make_signal(signal, RESOLVED, kind="Node", namespace="", name=name,
                               uid=uid, at=now) for signal in sorted(firing - current.keys()))
        self.active[name] = (uid, set(current))
        return out

    def forget(self, node: dict[str, Any]) -> list[Signal]:
        meta = node["metadata"]
        uid, firing = self.active.pop(meta["name"], (meta.get("uid") or "", set()))
        return [make_signal("NodeDeleted", OCCURRED, kind="Node", namespace="",
                            name=meta["name"], uid=uid, at=self.clock(),
                            details={"firing": sorted(firing)})]


class EventMonitor:
    """Warning events, de-duplicated by uid and count."""

    def __init__(self, settings: KubeSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.counts: OrderedDict[str, int] = OrderedDict()

    def observe(self, event: dict[str, Any]) -> list[Signal]:
        if event.get("type") != "Warning":
            return []
        meta = event["metadata"]
        uid = meta.get("uid") or f"{meta.get('namespace')}/{meta['name']}"
        series = event.get("series") or {}
        count = int(event.get("count") or series.get("count") or 1)
        now = self.clock()
        previous = self.counts.get(uid)
        if previous is not None and count <= previous:
            return []
        self.counts[uid] = count
        self.counts.move_to_end(uid)
        while len(self.counts) > self.settings.event_memory:
            self.counts.popitem(last=False)
        last = parse_time(event.get("lastTimestamp") or series.get("lastObservedTime")
                          or event.get("eventTime"))
        if previous is None and last is not None and now - last > self.settings.stale_after_s:
            return []
        involved = event.get("involvedObject") or {}
        return [make_signal("WarningEvent", OCCURRED, kind=involved.get("kind") or "",
                            namespace=involved.get("namespace") or meta.get("namespace") or "",
                            name=involved.get("name") or "", uid=involved.get("uid") or "",
                            at=now, reason=event.get("reason") or "",
                            message=event.get("message") or "",
                            details={"event_uid": uid, "count": count,
                                     "new_occurrences": count - (previous or 0),
                                     "source": (event.get("source") or {}).get("component")
                                     or ""})]

    def forget(self, event: dict[str, Any]) -> None:
        meta = event.get("metadata") or {}
        self.counts.pop(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}", None)


_WORKLOADS = {"deployments": "Deployment", "statefulsets": "StatefulSet",
              "daemonsets": "DaemonSet"}


class IncidentMonitors:
    """Routes raw watch objects to the right monitor; counts what it could not read."""

    RESOURCES = ("pods", "nodes", "events", *_WORKLOADS)

    def __init__(self, settings: KubeSettings, clock: Callable[[], float]) -> None:
        self.pods = PodMonitor(settings, clock)
        self.nodes = NodeMonitor(clock)
        self.rollouts = RolloutMonitor(settings, clock)
        self.events = EventMonitor(settings, clock)
        self.rejected = 0

    def observe(self, resource: str, event_type: str, obj: dict[str, Any]) -> list[Signal]:
        deleted = event_type == "DELETED"
        try:
            if resource == "pods":
                return self.pods.forget(obj) if deleted else self.pods.observe(obj)
            if resource == "nodes":
                return self.nodes.forget(obj) if deleted else self.nodes.observe(obj)
            if resource == "events":
                if deleted:
                    self.events.forget(obj)
                    return []
                return self.events.observe(obj)
            kind = _WORKLOADS.get(resource)
            if kind is not None:
                if deleted:
                    self.rollouts.forget(kind, obj)
                    return []
                return self.rollouts.observe(kind, obj)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.rejected += 1
        return []

    def tick(self) -> list[Signal]:
        return self.pods.tick() + self.rollouts.tick()
