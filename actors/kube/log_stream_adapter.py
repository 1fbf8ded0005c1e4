"""Continuous pod-log streams: one ``follow=true`` GET per stream thread, batched into a bridge.

``LogStreamManager`` owns the threads; the ``pod_logs`` actor decides which streams run:
- a discovery thread ``put`` s ``log_fetch_adapter.list_stream_targets`` (a
  ``StreamTargetsListed``) every ``discovery_s``;
- ``open(key)`` starts a stream thread: GET pods/log ``follow=true&timestamps=true`` (the last
  ``INITIAL_TAIL_LINES`` first), lines de-duplicated by ``StreamCursor`` and batched up to
  ``batch_lines`` or ``batch_s`` (a flusher thread ships quiet streams' partial batches) into
  ``LogLinesStreamed`` items, ``put`` losslessly: a full bridge blocks the thread, which stops
  reading the socket, so a slow uplink pushes back on the API server; when the API ends or
  drops the stream it reconnects with backoff and ``sinceTime`` (counted in ``reconnects``);
  a 404 (pod gone) or an unexpected error ends the thread with a ``LogStreamEnded`` (the
  slot is free again; the next listing may reopen it);
- ``close(key)`` stops one stream (its connection is shut down; buffered lines are still put);
  ``quiesce()`` stops discovery and every stream; ``stop()`` also closes the bridge and joins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from actors.kube.errors import KubeApiError, KubeTransportError
from actors.kube.kube_http_adapter import KubeHttpAdapter
from actors.kube.log_fetch_adapter import list_stream_targets
from actors.kube.pod_logs import StreamCursor, StreamKey, split_timestamp
from actors.runtime.io_bridge import BridgeClosedError, IoBridge

__all__ = ["FollowingLogClient", "LogLinesStreamed", "LogStreamEnded", "LogStreamManager"]

logger = logging.getLogger(__name__)

INITIAL_TAIL_LINES = 10


@dataclasses.dataclass(frozen=True, slots=True)
class LogLinesStreamed:
    """A batch of new lines of one stream (timestamps of its first and last line)."""

    key: StreamKey
    lines: tuple[str, ...]
    first_timestamp: str
    last_timestamp: str
    pod_uid: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class LogStreamEnded:
    """A stream thread ended on its own (the pod is gone)."""

    key: StreamKey
    generation: int
    reason: str


class FollowingLogClient(KubeHttpAdapter):
    """``KubeHttpAdapter`` plus a followed pods/log GET; ``abort()`` ends the one stream."""

    def follow_log(self, key: StreamKey, *, since_time: str, idle_timeout_s: float,
                   ) -> Iterator[bytes]:
        namespace, pod, container = key
        query = {"follow": "true", "timestamps": "true", "container": container}
        if since_time:
            query["sinceTime"] = since_time
        else:
            query["tailLines"] = str(INITIAL_TAIL_LINES)
        path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods/" \
               f"{urllib.parse.quote(pod)}/log"
        # a container may stay quiet for long; a socket idle past idle_timeout_s is reconnected
        response, conn = self._open(path, query, idle_timeout_s)
        return self._lines(response, conn)


class _LogStream:
    """One followed container: its thread, cursor and pending batch."""

    def __init__(self, manager: LogStreamManager, key: StreamKey, generation: int,
                 pod_uid: str) -> None:
        self.manager, self.key, self.generation, self.pod_uid = manager, key, generation, pod_uid
        self.client = manager.client_factory()
        self.cursor = StreamCursor()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.stamps = ["", ""]
        self.started_at = 0.0
        self.thread = threading.Thread(target=self.run, name=f"pod-log-stream-{key[1]}",
                                       daemon=True)

    def close(self) -> None:
        self.stop_event.set()
        self.client.abort()

    def run(self) -> None:
        manager = self.manager
        backoff = manager.backoff_min_s
        try:
            while not self.stop_event.is_set():
                delivered, reason, retry_after_s = self._follow()
                self.flush()
                if self.stop_event.is_set():
                    return
                if reason.startswith("404"):
                    manager.ended(self, reason)
                    return
                manager.count_reconnect(self.key, reason)
                backoff = manager.backoff_min_s if delivered else min(backoff * 2,
                                                                      manager.backoff_max_s)
                self.stop_event.wait(max(backoff * random.uniform(0.8, 1.2), retry_after_s))
                self.cursor.reconnected()
            self.flush()
        except BridgeClosedError:
            return
        except Exception as error:  # a bug or a library surprise: free the slot, say why
            logger.exception("log stream %s failed unexpectedly", "/".join(self.key))
            with contextlib.suppress(BridgeClosedError):
                manager.ended(self, f"unexpected: {error!r}")

    def _follow(self) -> tuple[bool, str, float]:
        """(new lines delivered?, why the stream ended, Retry-After of a 429)."""
        delivered = False
        try:
            lines = self.client.follow_log(self.key, since_time=self.cursor.since_time(),
                                           idle_timeout_s=self.manager.idle_timeout_s)
            try:
                for raw in lines:
                    if not raw.endswith(b"\n"):    # cut mid-line: the reconnect replays it
                        break
                    stamp, text = split_timestamp(raw.decode("utf-8", "replace").rstrip("\n"))
                    if self.cursor.accept(stamp):
                        self.add(text, stamp)
                        delivered = True
            finally:
                close = getattr(lines, "close", None)
                if close is not None:
                    close()
            return delivered, "the API server ended the stream", 0.0
        except KubeApiError as error:
            return delivered, f"{error.code} {error}", min(error.retry_after_s, 300.0)
        except KubeTransportError as error:
            return delivered, str(error), 0.0

    def add(self, text: str, stamp: str) -> None:
        with self.lock:
            if not self.lines:
                self.started_at = time.monotonic()
                self.stamps[0] = stamp
            self.lines.append(text)
            self.stamps[1] = stamp
            if len(self.lines) >= self.manager.batch_lines:
                self._put_locked()

    def flush(self, older_than_s: float = 0.0) -> None:
        with self.lock:
            if self.lines and time.monotonic() - self.started_at >= older_than_s:
                self._put_locked()

    def _put_locked(self) -> None:
        batch = LogLinesStreamed(self.key, tuple(self.lines), self.stamps[0], self.stamps[1],
                                 self.pod_uid)
        self.lines = []
        self.manager.bridge.put(batch)          # blocks while the uplink is behind


class LogStreamManager:
    """Discovery, stream threads and the flusher of one ``pod_logs`` actor."""

    def __init__(self, lister: KubeHttpAdapter, client_factory: Callable[[], FollowingLogClient],
                 bridge: IoBridge[Any], *, label: str, discovery_s: float,
                 batch_lines: int = 200, batch_s: float = 1.0, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0, idle_timeout_s: float = 300.0) -> None:
        self.lister, self.client_factory, self.bridge = lister, client_factory, bridge
        self.label, self.discovery_s = label, discovery_s
        self.batch_lines, self.batch_s = batch_lines, batch_s
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.idle_timeout_s = idle_timeout_s
        self.stop_event = threading.Event()
        self.discovery_stop = threading.Event()
        self.reconnects = 0
        self._lock = threading.Lock()
        self._streams: dict[StreamKey, _LogStream] = {}
        self._closed: list[_LogStream] = []
        self._generation = 0
        self._threads = [threading.Thread(target=self._discover, name="pod-log-discovery",
                                          daemon=True),
                         threading.Thread(target=self._flush_quiet, name="pod-log-flusher",
                                          daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    # -- streams (called by the actor) -----------------------------------------------------
    def active(self) -> set[StreamKey]:
        with self._lock:
            return set(self._streams)

    def open(self, key: StreamKey, pod_uid: str = "") -> None:
        with self._lock:
            if key in self._streams or self.stop_event.is_set():
                return
            self._generation += 1
            stream = _LogStream(self, key, self._generation, pod_uid)
            self._streams[key] = stream
        stream.thread.start()

    def close(self, key: StreamKey) -> None:
        with self._lock:
            stream = self._streams.pop(key, None)
            if stream is not None:
                self._closed = [s for s in self._closed if s.thread.is_alive()] + [stream]
        if stream is not None:
            stream.close()

    def quiesce(self) -> None:
        """Stop discovery and every stream; the bridge stays open for their last lines."""
        self.discovery_stop.set()
        for key in self.active():
            self.close(key)

    def stop(self, timeout_s: float = 2.0) -> int:
        """Stop everything, close the bridge and join; returns threads still running."""
        self.quiesce()
        self.stop_event.set()
        self.bridge.close()
        self.lister.abort()
        deadline = time.monotonic() + timeout_s
        for thread in self._all_threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._all_threads())

    def _all_threads(self) -> list[threading.Thread]:
        with self._lock:
            streams = [*self._streams.values(), *self._closed]
        return [thread for thread in (*self._threads, *(stream.thread for stream in streams))
                if thread.ident is not None]                    # started ones only

    # -- called from stream threads --------------------------------------------------------
    def count_reconnect(self, key: StreamKey, reason: str) -> None:
        with self._lock:
            self.reconnects += 1
        logger.debug("log stream %s reconnects: %s", "/".join(key), reason)

    def ended(self, stream: _LogStream, reason: str) -> None:
        with self._lock:
            if self._streams.get(stream.key) is stream:
                del self._streams[stream.key]
        self.bridge.put(LogStreamEnded(stream.key, stream.generation, reason))

    # -- threads ---------------------------------------------------------------------------
    def _flush_quiet(self) -> None:
        try:
            while not self.stop_event.wait(self.batch_s / 2):
                with self._lock:
                    streams = list(self._streams.values())
                for stream in streams:
                    stream.flush(older_than_s=self.batch_s)
        except BridgeClosedError:
            return

    def _discover(self) -> None:
        try:
            while not self.discovery_stop.is_set():
                self.bridge.put(list_stream_targets(self.lister, self.label))
                self.discovery_stop.wait(self.discovery_s)
        except BridgeClosedError:
            return
