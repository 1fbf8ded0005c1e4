"""Plan pod-log captures triggered by incidents, and choose opt-in continuous streams.

``LogCapturePlanner`` (plain logic, injected clock) turns incident signals into
``LogCaptureRequest`` s — the last ``log_tail_lines`` lines, at most ``log_limit_bytes``, of the
container's *previous* instance (the one that crashed) and of its current one — with:
- de-duplication: one capture per (pod uid, container) per ``cooldown_s``, so a CrashLoopBackOff
  and the ContainerError of the same restart, or every later back-off, capture once;
- a bounded queue (``log_capture_queue``; overflow is dropped and counted) and a concurrency cap
  (``log_capture_concurrency`` requests in flight; ``finished()`` frees a slot).
A pod-level signal (PodFailed) captures every container named in its ``details``. Signals
without logs to read (image pull and create errors: the container never ran) trigger
nothing. ``choose_streams`` picks continuous streams only for running pods in namespaces
labelled ``<log_stream_namespace_label>=true``, capped at ``log_stream_max_streams`` — never every
pod in the cluster — keeping streams already running before new ones, so a new pod does not
displace an old stream. ``StreamCursor`` remembers the timestamp of the last streamed line so a
reconnect asks for ``sinceTime`` and drops the lines it already delivered; a line whose
timestamp does not parse is passed on (never lost) and does not move the cursor.
"""

from __future__ import annotations

import calendar
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from actors.kube.incident_signals import RESOLVED, Signal
from actors.kube.settings import KubeSettings

__all__ = ["LogCapturePlanner", "LogCaptureRequest", "StreamCursor", "StreamKey",
           "choose_streams", "split_timestamp", "wants_capture"]

StreamKey = tuple[str, str, str]
"""(namespace, pod, container) of one continuous log stream."""

_CAPTURE_ON = frozenset({"CrashLoopBackOff", "OOMKilled", "ContainerError", "ContainerRestarted",
                         "PodFailed"})
_HAS_PREVIOUS = frozenset({"CrashLoopBackOff", "OOMKilled", "ContainerError",
                           "ContainerRestarted"})


def wants_capture(signal: Signal) -> bool:
    """True for the signals ``LogCapturePlanner.on_signals`` would act on."""
    return signal.get("kind") == "Pod" and signal.get("state") != RESOLVED and \
        signal.get("signal") in _CAPTURE_ON


@dataclasses.dataclass(frozen=True, slots=True)
class LogCaptureRequest:
    """One pods/log GET: ``previous`` reads the last terminated instance of the container."""

    namespace: str
    pod: str
    pod_uid: str
    container: str
    previous: bool
    tail_lines: int
    limit_bytes: int
    reason: str


class LogCapturePlanner:
    """Signals in, bounded and de-duplicated capture requests out."""

    def __init__(self, settings: KubeSettings, clock: Callable[[], float],
                 containers_of: Callable[[str, str], list[str]] | None = None,
                 cooldown_s: float = 600.0) -> None:
        self.settings = settings
        self.clock = clock
        self.containers_of = containers_of
        self.cooldown_s = cooldown_s
        self.queue: deque[LogCaptureRequest] = deque()
        self.in_flight: set[LogCaptureRequest] = set()
        self._captured_at: dict[tuple[str, str], float] = {}
        self.counters = {"planned": 0, "deduplicated": 0, "dropped": 0, "finished": 0}

    def on_signals(self, signals: Iterable[Signal]) -> int:
        """Queue captures for problem signals; returns how many requests were queued."""
        queued = 0
        now = self.clock()
        for signal in signals:
            if not wants_capture(signal):
                continue
            containers = [signal.get("container") or ""]
            if not containers[0]:
                details = signal.get("details") or {}
                containers = list(details.get("containers") or ()) or containers
            if not containers[0] and self.containers_of is not None:
                containers = self.containers_of(signal["namespace"], signal["name"]) or [""]
            for container in containers:
                queued += self._plan(signal, container, now)
        return queued

    def _plan(self, signal: Signal, container: str, now: float) -> int:
        incident = (signal.get("uid") or f"{signal['namespace']}/{signal['name']}", container)
        last = self._captured_at.get(incident)
        if last is not None and now - last < self.cooldown_s:
            self.counters["deduplicated"] += 1
            return 0
        self._captured_at[incident] = now
        if len(self._captured_at) > 4 * self.settings.log_capture_queue:
            self._forget_old(now)
        variants = (True, False) if signal["signal"] in _HAS_PREVIOUS else (False,)
        queued = 0
        for previous in variants:
            if len(self.queue) >= self.settings.log_capture_queue:
                self.counters["dropped"] += 1
                continue
            self.queue.append(LogCaptureRequest(
                signal["namespace"], signal["name"], signal.get("uid") or "", container,
                previous, self.settings.log_tail_lines, self.settings.log_limit_bytes,
                signal["signal"]))
            queued += 1
        self.counters["planned"] += queued
        return queued

    def _forget_old(self, now: float) -> None:
        for incident, at in list(self._captured_at.items()):
            if now - at >= self.cooldown_s:
                del self._captured_at[incident]

    def next_requests(self) -> list[LogCaptureRequest]:
        """Requests to start now, within the concurrency cap."""
        out = []
        while self.queue and len(self.in_flight) < self.settings.log_capture_concurrency:
            request = self.queue.popleft()
            self.in_flight.add(request)
            out.append(request)
        return out

    def finished(self, request: LogCaptureRequest) -> None:
        if request in self.in_flight:
            self.in_flight.discard(request)
            self.counters["finished"] += 1


def choose_streams(namespace_labels: Mapping[str, Mapping[str, str]],
                   pods: Iterable[Mapping[str, Any]], settings: KubeSettings,
                   active: Collection[StreamKey] = (),
                   ) -> list[StreamKey]:
    """(namespace, pod, container) to follow: running pods of opted-in namespaces, capped;
    eligible ``active`` streams first, then the others in name order."""
    label = settings.log_stream_namespace_label
    opted = {ns for ns, labels in namespace_labels.items() if labels.get(label) == "true"}
    eligible: list[StreamKey] = []
    for pod in sorted(pods, key=lambda p: (p.get("namespace", ""), p.get("name", ""))):
        if pod.get("namespace") not in opted or pod.get("phase") != "Running":
            continue
        eligible.extend((pod["namespace"], pod["name"], container)
                        for container in pod.get("containers") or ())
    kept = [key for key in eligible if key in active]
    fresh = [key for key in eligible if key not in active]
    return (kept + fresh)[:max(0, settings.log_stream_max_streams)]


def split_timestamp(line: str) -> tuple[str, str]:
    """``"<RFC 3339 time> <text>"`` (pods/log with ``timestamps=true``) → (time, text)."""
    stamp, _, text = line.partition(" ")
    return (stamp, text) if stamp[:1].isdigit() and "T" in stamp else ("", line)


def _instant(stamp: str) -> float | None:
    try:
        whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    rest = stamp[19:]
    if rest.startswith("."):
        digits = rest[1:].rstrip("Z")
        if not digits.isdigit():
            return None
        return whole + float("0." + digits)
    return float(whole) if rest in ("Z", "") else None


class StreamCursor:
    """Where a followed log got to: ``sinceTime`` for a reconnect, and duplicate filtering.

    ``sinceTime`` is sent at whole seconds (portable across API server versions), so a
    reconnect replays up to a second of lines: ``accept`` drops lines older than the last one
    delivered and, at the last timestamp itself, as many lines as were already delivered there.
    """

    def __init__(self) -> None:
        self.last_stamp = ""
        self.last_instant: float | None = None
        self.delivered_at_last = 0
        self._replayed_to_skip = 0
        self.duplicates = 0

    def since_time(self) -> str:
        """RFC 3339 (whole seconds) of the last delivered line, or "" before the first one."""
        if self.last_instant is None:
            return ""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(self.last_instant)))

    def reconnected(self) -> None:
        self._replayed_to_skip = self.delivered_at_last

    def accept(self, stamp: str) -> bool:
        """True if the line with this timestamp is new (and record it as delivered)."""
        instant = _instant(stamp) if stamp else None
        if instant is None:
            return True
        if self.last_instant is not None and instant < self.last_instant:
            self.duplicates += 1
            return False
        if self.last_instant is not None and instant == self.last_instant:
            if self._replayed_to_skip > 0:
                self._replayed_to_skip -= 1
                self.duplicates += 1
                return False
            self.delivered_at_last += 1
            return True
        self.last_stamp, self.last_instant = stamp, instant
        self.delivered_at_last, self._replayed_to_skip = 1, 0
        return True
