"""The pod-log worker pool (pods/log GETs), and the LISTs that find continuous-stream targets.

``LogFetchPool(adapter, bridge, workers)`` starts ``workers`` daemon threads that take
``LogJob`` s from an in-memory queue (the actor submits at most one job per free worker, so the
queue stays short) and ``put`` one ``LogFetched`` per job into the actor's ``IoBridge``
(lossless): the body capped at ``limit_bytes`` by the adapter, or the API error (code and
message) / transport error. A ticker thread offers a ``LogTick`` every ``tick_s`` while the
bridge is empty, so the actor checks log_tail deadlines even if a thespian wakeup is lost (seen
under load; ticks are idempotent, so offering one lossily is enough). ``stop()`` sets the stop
event, aborts open connections and joins with a bound; a job interrupted by the stop reports
nothing (the actor is exiting).
``list_stream_targets(lister, label)`` lists namespaces (label filtered here: ``list_page`` has
no label selector) and the Running pods of each namespace labelled ``<label>=true``, paged and
bounded; any LIST or decoding failure yields a ``StreamTargetsListed`` with only ``error`` set,
so a flaky API server never makes the actor stop its streams.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
import urllib.parse
from typing import Any

from actors.kube.errors import KubeApiError, KubeTransportError
from actors.kube.kube_http_adapter import KubeHttpAdapter
from actors.runtime.io_bridge import BridgeClosedError, IoBridge

__all__ = ["LogFetchPool", "LogFetched", "LogJob", "LogTick", "StreamTargetsListed",
           "list_stream_targets"]

logger = logging.getLogger(__name__)

_POLL_S = 0.2
_MAX_PAGES = 50
_PAGE = 500


@dataclasses.dataclass(frozen=True, slots=True)
class LogJob:
    """One pods/log GET; ``request_id`` is set for a log_tail command, empty for a capture."""

    job_id: int
    namespace: str
    pod: str
    container: str
    previous: bool
    tail_lines: int
    limit_bytes: int
    since_seconds: int = 0
    request_id: str = ""
    pod_uid: str = ""
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class LogFetched:
    """The answer to one job: ``body`` or ``error`` (with the HTTP code, 0 = no answer)."""

    job_id: int
    body: bytes = b""
    error: str = ""
    code: int = 200


@dataclasses.dataclass(frozen=True, slots=True)
class StreamTargetsListed:
    """Labels of every namespace and the Running pods of opted-in ones (or a LIST error)."""

    namespace_labels: dict[str, dict[str, str]]
    pods: list[dict[str, Any]]
    error: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class LogTick:
    """Time passed: check deadlines."""


class LogFetchPool:
    """A fixed number of threads fetching pod logs into one bridge."""

    def __init__(self, adapter: KubeHttpAdapter, bridge: IoBridge[LogFetched | LogTick],
                 workers: int, tick_s: float = 0.25) -> None:
        self.adapter = adapter
        self.bridge = bridge
        self.tick_s = tick_s
        self.stop_event = threading.Event()
        self._jobs: queue.Queue[LogJob] = queue.Queue()
        self._threads = [threading.Thread(target=self._run, name=f"pod-logs-{index}",
                                          daemon=True) for index in range(workers)]
        self._threads.append(threading.Thread(target=self._tick, name="pod-logs-ticker",
                                              daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, job: LogJob) -> None:
        self._jobs.put_nowait(job)

    def alive(self) -> int:
        """Threads running (workers and the ticker)."""
        return sum(thread.is_alive() for thread in self._threads)

    def stop(self, timeout_s: float = 2.0) -> int:
        """Stop and join; returns how many threads are still running."""
        self.stop_event.set()
        self.bridge.close()
        self.adapter.abort()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        return self.alive()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                job = self._jobs.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            try:
                self.bridge.put(self._fetch(job))
            except BridgeClosedError:
                return

    def _tick(self) -> None:
        while not self.stop_event.wait(self.tick_s):
            if not self.bridge.pending():
                self.bridge.offer(LogTick())

    def _fetch(self, job: LogJob) -> LogFetched:
        try:
            body = self.adapter.pod_log(job.namespace, job.pod, container=job.container,
                                        tail_lines=job.tail_lines, previous=job.previous,
                                        limit_bytes=job.limit_bytes,
                                        since_seconds=job.since_seconds)
            return LogFetched(job.job_id, body[:job.limit_bytes])
        except KubeApiError as error:
            return LogFetched(job.job_id, error=str(error), code=error.code)
        except KubeTransportError as error:
            return LogFetched(job.job_id, error=str(error), code=0)
        except Exception as error:  # a bug or an unexpected library error: answer anyway
            logger.exception("pod log fetch failed unexpectedly")
            return LogFetched(job.job_id, error=f"unexpected: {error!r}", code=0)


def list_stream_targets(lister: KubeHttpAdapter, label: str) -> StreamTargetsListed:
    """Labels of every namespace and the Running pods of those labelled ``<label>=true``."""
    try:
        labels = {item["metadata"]["name"]: dict(item["metadata"].get("labels") or {})
                  for item in _list(lister, "/api/v1/namespaces", "")}
        pods: list[dict[str, Any]] = []
        for namespace in sorted(ns for ns, ls in labels.items() if ls.get(label) == "true"):
            path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods"
            pods.extend({"namespace": namespace, "name": item["metadata"]["name"],
                         "uid": item["metadata"].get("uid", ""),
                         "phase": (item.get("status") or {}).get("phase", ""),
                         "containers": [c["name"] for c in
                                        (item.get("spec") or {}).get("containers", [])]}
                        for item in _list(lister, path, "status.phase=Running")
                        if not item["metadata"].get("deletionTimestamp"))
    except (KubeApiError, KubeTransportError, ValueError, KeyError, TypeError) as error:
        return StreamTargetsListed({}, [], error=f"listing stream targets failed: {error}")
    return StreamTargetsListed(labels, pods)


def _list(lister: KubeHttpAdapter, path: str, field_selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    for _ in range(_MAX_PAGES):
        page = json.loads(lister.list_page(path, limit=_PAGE, continue_token=token,
                                           field_selector=field_selector))
        items.extend(page.get("items") or ())
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items
    raise ValueError(f"{path}: more than {_MAX_PAGES} pages")
