"""The incident signal record shared by the pod, node, rollout and event monitors.

A signal is a plain dict (msgpack-able) with a stable shape: ``signal`` (what: CrashLoopBackOff,
NodeNotReady, RolloutTimedOut, ...), ``state`` (``firing`` → a problem started, ``resolved`` →
it ended, ``occurred`` → a one-shot incident such as an OOM kill, ``progress`` → informational),
``severity``, the subject (``kind``, ``namespace``, ``name``, ``uid``, ``container``), ``reason``,
``message``, ``at`` (seconds since the epoch, from the injected clock) and ``details``.
Timestamps from the API (RFC 3339) are parsed leniently: an unparsable one becomes ``None``.
"""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["FIRING", "OCCURRED", "PROGRESS", "RESOLVED", "Signal", "make_signal", "parse_time"]

FIRING, RESOLVED, OCCURRED, PROGRESS = "firing", "resolved", "occurred", "progress"
Signal = dict[str, Any]

_CRITICAL = frozenset({"CrashLoopBackOff", "OOMKilled", "PodFailed", "NodeNotReady",
                       "RolloutFailed", "RolloutTimedOut"})


def make_signal(signal: str, state: str, *, kind: str, namespace: str, name: str, uid: str,
                at: float, container: str = "", reason: str = "", message: str = "",
                details: dict[str, Any] | None = None) -> Signal:
    if state in (RESOLVED, PROGRESS):
        severity = "info"
    else:
        severity = "critical" if signal in _CRITICAL else "warning"
    return {"signal": signal, "state": state, "severity": severity, "kind": kind,
            "namespace": namespace, "name": name, "uid": uid, "container": container,
            "reason": reason or signal, "message": message[:1024], "at": at,
            "details": details or {}}


def parse_time(value: Any) -> float | None:
    """RFC 3339 (``2026-11-01T10:00:00Z``, fractional seconds allowed) → epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
