"""Pod incident monitor: problems that start and end, and one-shot container incidents.

Plain logic with an injected clock, fed with raw pod objects from the pods watch.
- Lasting problems fire once when they appear and resolve once when they go: phase Failed or
  Unknown, a container (or init container) waiting in CrashLoopBackOff, ImagePullBackOff /
  ErrImagePull / InvalidImageName, CreateContainerConfigError, CreateContainerError or
  RunContainerError, and Ready=False for longer than ``not_ready_threshold_s`` — measured from
  the Ready condition's lastTransitionTime and re-evaluated by ``tick()``, not only on updates;
  NotReady is not raised while a more specific problem of the pod is firing.
- One-shot incidents fire once per container termination: OOMKilled, ContainerError (non-zero
  exit) or ContainerRestarted (a restart with exit 0), detected when restartCount grows since we
  last saw the pod or a new termination appears. A lifetime total is never a signal; on first
  sight only terminations newer than ``stale_after_s`` count.
- Deleting a pod resolves what was firing and forgets it; a new uid under the same name is a new
  pod. Malformed pods are counted in ``rejected``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from actors.kube.incident_signals import FIRING, OCCURRED, RESOLVED, Signal, make_signal, parse_time
from actors.kube.settings import KubeSettings

__all__ = ["PodMonitor"]

_WAITING = {"CrashLoopBackOff": "CrashLoopBackOff", "ImagePullBackOff": "ImagePullFailure",
            "ErrImagePull": "ImagePullFailure", "InvalidImageName": "ImagePullFailure",
            "CreateContainerConfigError": "CreateContainerConfigError",
            "CreateContainerError": "CreateContainerError",
            "RunContainerError": "RunContainerError"}
_TERMINAL = ("Succeeded", "Failed")


@dataclasses.dataclass(slots=True)
class _PodState:
    uid: str
    active: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    restarts: dict[str, int] = dataclasses.field(default_factory=dict)
    terminations: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    not_ready_since: float | None = None


class PodMonitor:
    """Turns pod objects (and the passing of time) into incident signals."""

    def __init__(self, settings: KubeSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.pods: dict[tuple[str, str], _PodState] = {}
        self.rejected = 0

    def problematic(self, namespace: str, name: str) -> bool:
        state = self.pods.get((namespace, name))
        return bool(state and state.active)

    def observe(self, pod: dict[str, Any]) -> list[Signal]:
        try:
            meta, status = pod["metadata"], pod.get("status") or {}
            key = (meta.get("namespace") or "", meta["name"])
            uid = meta.get("uid") or ""
        except (KeyError, TypeError):
            self.rejected += 1
            return []
        now, out = self.clock(), []
        state = self.pods.get(key)
        if state is not None and state.uid != uid:
            out.extend(self.forget(pod, reason="PodReplaced"))
            state = None
        first = state is None
        if state is None:
            state = self.pods[key] = _PodState(uid)
        statuses = list(status.get("initContainerStatuses") or ()) + \
            list(status.get("containerStatuses") or ())
        subject = {"kind": "Pod", "namespace": key[0], "name": key[1], "uid": uid}
        current: dict[tuple[str, str], str] = {}
        phase = status.get("phase") or ""
        if phase in ("Failed", "Unknown"):
            current[("Pod" + phase, "")] = status.get("reason") or status.get("message") or ""
        for cs in statuses:
            name = cs.get("name") or ""
            waiting = (cs.get("state") or {}).get("waiting") or {}
            problem = _WAITING.get(waiting.get("reason") or "")
            if problem:
                current[(problem, name)] = waiting.get("reason") or ""
            out.extend(self._terminations(cs, state, first, now, subject))
        self._not_ready(status, state, first, now, current)
        names = [c.get("name") or "" for c in (pod.get("spec") or {}).get("containers") or ()]
        for (problem, container), reason in current.items():
            if (problem, container) not in state.active:
                out.append(make_signal(problem, FIRING, at=now, container=container,
                                       reason=reason, details={"containers": names},
                                       **subject))
        for (problem, container), reason in list(state.active.items()):
            if (problem, container) not in current:
                out.append(make_signal(problem, RESOLVED, at=now, container=container,
                                       reason=reason, **subject))
        state.active = current
        return out

    def forget(self, pod: dict[str, Any], reason: str = "PodDeleted") -> list[Signal]:
        try:
            meta = pod["metadata"]
            key = (meta.get("namespace") or "", meta["name"])
        except (KeyError, TypeError):
            self.rejected += 1
            return []
        state = self.pods.pop(key, None)
        if state is None:
            return []
        now = self.clock()
        return [make_signal(problem, RESOLVED, kind="Pod", namespace=key[0], name=key[1],
                            uid=state.uid, at=now, container=container, reason=reason)
                for problem, container in state.active]

    def tick(self) -> list[Signal]:
        """Fire NotReady for pods that crossed the threshold since their last update."""
        now, out = self.clock(), []
        threshold = self.settings.not_ready_threshold_s
        for (ns, name), state in self.pods.items():
            since = state.not_ready_since
            if since is None or state.active or now - since < threshold:
                continue
            state.active[("PodNotReady", "")] = "NotReady"
            out.append(make_signal("PodNotReady", FIRING, kind="Pod", namespace=ns, name=name,
                                   uid=state.uid, at=now, reason="NotReady",
                                   details={"not_ready_s": round(now - since, 1)}))
        return out

    def _not_ready(self, status: dict[str, Any], state: _PodState, first: bool, now: float,
                   current: dict[tuple[str, str], str]) -> None:
        ready_cond = next((c for c in status.get("conditions") or ()
                           if c.get("type") == "Ready"), None)
        if ready_cond is None or ready_cond.get("status") == "True" or \
                status.get("phase") in _TERMINAL:
            state.not_ready_since = None
            return
        if state.not_ready_since is None:
            since = parse_time(ready_cond.get("lastTransitionTime"))
            state.not_ready_since = since if since is not None else now
        # A pod in CrashLoopBackOff (etc.) is NotReady too: the specific problem says more,
        # so NotReady only fires alone (once firing, it stays until the pod is Ready).
        explained = bool(current) and ("PodNotReady", "") not in state.active
        if not explained and now - state.not_ready_since >= self.settings.not_ready_threshold_s:
            current[("PodNotReady", "")] = ready_cond.get("reason") or "NotReady"

    def _terminations(self, cs: dict[str, Any], state: _PodState, first: bool, now: float,
                      subject: dict[str, str]) -> list[Signal]:
        name = cs.get("name") or ""
        count = int(cs.get("restartCount") or 0)
        previous = state.restarts.get(name)
        state.restarts[name] = count
        term = (cs.get("lastState") or {}).get("terminated") or \
            (cs.get("state") or {}).get("terminated")
        term_id = (term.get("containerID") or "", term.get("finishedAt") or "") if term else None
        new_term = term_id is not None and state.terminations.get(name) != term_id
        if term_id is not None:
            state.terminations[name] = term_id
        if first and new_term and term is not None:
            finished = parse_time(term.get("finishedAt"))
            new_term = finished is not None and now - finished <= self.settings.stale_after_s
        new_restart = previous is not None and count > previous
        if not (new_term or new_restart):
            return []
        exit_code = int(term.get("exitCode") or 0) if term else 0
        reason = (term.get("reason") or "") if term else ""
        if reason == "OOMKilled":
            signal = "OOMKilled"
        elif exit_code != 0:
            signal = "ContainerError"
        elif new_restart:
            signal = "ContainerRestarted"
        else:
            return []
        details = {"restart_count": count, "new_restarts": count - (previous or count),
                   "exit_code": exit_code, "signal": int(term.get("signal") or 0) if term else 0}
        return [make_signal(signal, OCCURRED, at=now, container=name, reason=reason or signal,
                            message=(term.get("message") or "") if term else "",
                            details=details, **subject)]
