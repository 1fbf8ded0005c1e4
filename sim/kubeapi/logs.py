"""pods/log: deterministic container log lines over time, with kubelet's query semantics.

Owns what each container "printed". A container run (one instance, identified by its restart
count) emits one line every ``interval_s`` from its ``startedAt`` until now or its
``finishedAt``; the text is a pure function of (namespace, pod, container, run, index), so any
range can be produced without storing logs. Runs that ended with ``Error`` end in ERROR lines
and a Python traceback, ``OOMKilled`` runs in a memory warning; ``previous`` reads the run
recorded in ``lastState.terminated``. Retention keeps the last :data:`RETAINED_LINES` lines,
like kubelet's log rotation. Bad requests raise 400/422 Status errors with upstream's wording.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
import time
import zlib
from typing import Any

from sim.kubeapi import routing, status

RETAINED_LINES = 10_000
_MESSAGES = (
    "INFO  http request method=GET path=/api/orders/{n} status=200 duration_ms={d}",
    "INFO  http request method=POST path=/api/checkout status=201 duration_ms={d}",
    "DEBUG cache lookup key=session:{n} hit=true",
    "INFO  processed batch size={d} queue_depth={n}",
    "WARN  slow query took {d}ms table=orders",
    "INFO  health check ok uptime_s={n}",
    "DEBUG connection pool active={d} idle={n}",
    "INFO  published event topic=orders partition={d} offset={n}",
)
_ERROR_EVERY = 23
_CRASH_TAIL = (
    "ERROR worker crashed: unhandled exception in job {n}",
    "Traceback (most recent call last):",
    '  File "/app/worker.py", line 42, in run',
    "    result = process(job)",
    '  File "/app/worker.py", line 17, in process',
    '    raise ValueError("invalid payload for job {n}")',
    "ValueError: invalid payload for job {n}",
)
_OOM_TAIL = ("WARN  memory usage at 98% of limit rss_mb={d}",)


def parse_time(text: str) -> float:
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + (
        float("0" + text[19:].rstrip("Z")) if text[19:20] == "." else 0.0)


def rfc3339_nano(seconds: float) -> str:
    """RFC 3339 with nine fraction digits (microsecond precision: floats hold no more)."""
    whole, micros = divmod(round(seconds * 1e6), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}000Z"


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerRun:
    """One instance of a container: when it ran and how it ended ("" while running)."""

    seed: str
    started: float
    finished: float | None
    reason: str

    def _text(self, index: int) -> str:
        mix = zlib.crc32(f"{self.seed}#{index}".encode())
        if index % _ERROR_EVERY == _ERROR_EVERY - 1:
            return f"ERROR upstream request failed: connection reset by peer (attempt {mix % 5})"
        template = _MESSAGES[mix % len(_MESSAGES)]
        return template.format(n=mix % 10_000, d=(mix >> 8) % 500)

    def ending(self) -> list[tuple[float, str]]:
        """The lines a terminated run printed as it died (traceback, memory warning)."""
        if self.finished is None:
            return []
        return [(self.finished, line) for line in self._tail()]

    def _tail(self) -> tuple[str, ...]:
        mix = zlib.crc32(self.seed.encode())
        template = _CRASH_TAIL if self.reason == "Error" else (
            _OOM_TAIL if self.reason == "OOMKilled" else ())
        return tuple(line.format(n=mix % 1000, d=200 + mix % 300) for line in template)

    def lines(self, interval_s: float, since: float, until: float,
              tail: int | None) -> list[tuple[float, str]]:
        """Lines with since <= t <= until (and the ending lines), newest ``tail`` only."""
        end = until if self.finished is None else min(until, self.finished)
        last = math.floor((end - self.started) / interval_s) - 1
        first = max(0, math.ceil((since - self.started) / interval_s) - 1,
                    last + 1 - RETAINED_LINES)
        ending = self._tail() if self.finished is not None and until >= self.finished else ()
        if tail is not None:
            first = max(first, last + 1 - max(tail - len(ending), 0))
        out = [(self.started + (i + 1) * interval_s, self._text(i))
               for i in range(first, last + 1)]
        if ending and self.finished is not None and self.finished >= since:
            out.extend((self.finished, line) for line in ending)
        return out[-tail:] if tail is not None else out


def _container_names(pod: dict[str, Any]) -> list[str]:
    return [c["name"] for c in pod.get("spec", {}).get("containers", [])]


def resolve_run(pod: dict[str, Any], container: str, previous: bool) -> ContainerRun:
    """The run ``container`` (or its previous instance) refers to; 400s as upstream."""
    name, namespace = pod["metadata"]["name"], pod["metadata"].get("namespace", "")
    names = _container_names(pod)
    if not container:
        if len(names) != 1:
            raise status.bad_request(f"a container name must be specified for pod {name}, "
                                     f"choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in names:
        raise status.bad_request(f"container {container} is not valid for pod {name}")
    found = [s for s in pod.get("status", {}).get("containerStatuses", [])
             if s.get("name") == container]
    state = found[0].get("state", {}) if found else {"waiting": {"reason": "ContainerCreating"}}
    last = (found[0].get("lastState") or {}).get("terminated") if found else None
    restarts = int(found[0].get("restartCount", 0)) if found else 0
    seed = f"{namespace}/{name}/{container}"
    if previous:
        if not last:
            raise status.bad_request(f'previous terminated container "{container}" in pod '
                                     f'"{name}" not found')
        return _terminated_run(f"{seed}#{max(restarts - 1, 0)}", last)
    if "running" in state:
        return ContainerRun(f"{seed}#{restarts}", parse_time(state["running"]["startedAt"]),
                            None, "")
    if "terminated" in state:
        return _terminated_run(f"{seed}#{restarts}", state["terminated"])
    if last:  # CrashLoopBackOff: kubelet serves the most recent terminated instance
        return _terminated_run(f"{seed}#{max(restarts - 1, 0)}", last)
    reason = state.get("waiting", {}).get("reason", "ContainerCreating")
    raise status.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                             f"{reason}")


def _terminated_run(seed: str, terminated: dict[str, Any]) -> ContainerRun:
    return ContainerRun(seed, parse_time(terminated["startedAt"]),
                        parse_time(terminated["finishedAt"]), terminated.get("reason", "Error"))


@dataclasses.dataclass(frozen=True, slots=True)
class LogOptions:
    """Validated PodLogOptions."""

    container: str
    follow: bool
    previous: bool
    since: float | None
    tail: int | None
    timestamps: bool
    limit_bytes: int | None


def parse_options(params: dict[str, str], name: str, now: float) -> LogOptions:
    def number(key: str) -> int | None:
        if params.get(key) in (None, ""):
            return None
        try:
            return int(params[key])
        except ValueError:
            raise status.bad_request(f"invalid {key}: {params[key]!r}") from None

    since_s, tail, limit = number("sinceSeconds"), number("tailLines"), number("limitBytes")
    problems = []
    if since_s is not None and params.get("sinceTime"):
        problems.append("sinceTime: Forbidden: at most one of `sinceTime` or `sinceSeconds` "
                        "may be specified")
    if since_s is not None and since_s < 1:
        problems.append(f"sinceSeconds: Invalid value: {since_s}: must be greater than 0")
    if tail is not None and tail < 0:
        problems.append(f"tailLines: Invalid value: {tail}: must be greater than or equal to 0")
    if limit is not None and limit < 1:
        problems.append(f"limitBytes: Invalid value: {limit}: must be greater than 0")
    if problems:
        raise status.ApiError(422, f'PodLogOptions "{name}" is invalid: ' + ", ".join(problems),
                              details={"name": name, "kind": "PodLogOptions"})
    since = now - since_s if since_s is not None else None
    if params.get("sinceTime"):
        try:
            since = parse_time(params["sinceTime"])
        except ValueError:
            raise status.bad_request(f"invalid sinceTime: {params['sinceTime']!r}") from None
    return LogOptions(params.get("container", ""), routing.truthy(params.get("follow")),
                      routing.truthy(params.get("previous")), since, tail,
                      routing.truthy(params.get("timestamps")), limit)


def render(lines: list[tuple[float, str]], timestamps: bool) -> bytes:
    if timestamps:
        return "".join(f"{rfc3339_nano(t)} {text}\n" for t, text in lines).encode()
    return "".join(f"{text}\n" for _, text in lines).encode()
