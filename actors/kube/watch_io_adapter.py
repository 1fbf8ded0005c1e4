"""The adapter threads of the kube watcher: one per resource, doing only list/watch I/O.

A ``WatchIoThread`` waits for a ``(ticket, Step)`` from its actor (``assign``), performs it with
the shared ``KubeHttpAdapter`` and hands the raw results to the actor through the ONE shared
``IoBridge`` with ``put`` (lossless: a full bridge blocks the thread, so a watch stream stops
being read and TCP pushes back on the API server):
- LIST → one ``WatchIo(PAGE, body)``; the thread then waits for the next step, so pages are only
  fetched as fast as the actor applies them;
- WATCH → one ``WatchIo(LINE, line)`` per event line, then ``WatchIo(CLOSED)`` when the server
  ends the stream;
- any ``KubeApiError``/``KubeTransportError`` (or an unexpected exception, wrapped) →
  ``WatchIo(FAILED, error)``;
- WAIT → sleeps ``delay_s`` on the stop event, then ``WatchIo(READY)``. Backoff pacing lives
  here rather than in actor wakeups: thespian was seen to lose a wakeup when many were armed
  at once (15 resources backing off together), which left a resource idle for good; a bridge
  item cannot be lost.
Every item carries the ticket of its step so the actor can ignore leftovers. Parsing and every
protocol decision stay in the actor (``watch_state``). ``stop_all`` sets the stop event, aborts
open connections (a blocked ``readline`` returns at once) and joins with a bound.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time

from actors.kube.errors import KubeApiError, KubeTransportError
from actors.kube.kube_http_adapter import KubeHttpAdapter
from actors.kube.watch_state import Phase, Step
from actors.runtime.io_bridge import BridgeClosedError, IoBridge

__all__ = ["CLOSED", "FAILED", "LINE", "PAGE", "READY", "WatchIo", "WatchIoThread", "stop_all"]

logger = logging.getLogger(__name__)

PAGE, LINE, CLOSED, FAILED, READY = "page", "line", "closed", "failed", "ready"
_INBOX_POLL_S = 0.2


@dataclasses.dataclass(frozen=True, slots=True)
class WatchIo:
    """One raw result of a step: a list page, a watch line, the end of a watch, or a failure."""

    resource: str
    ticket: int
    what: str
    data: bytes = b""
    error: BaseException | None = None


class WatchIoThread:
    """Performs the list/watch steps of one resource; no parsing, no state."""

    def __init__(self, resource: str, adapter: KubeHttpAdapter, bridge: IoBridge[WatchIo], *,
                 page_size: int, watch_timeout_s: int, bookmarks: bool) -> None:
        self.resource = resource
        self.adapter = adapter
        self.bridge = bridge
        self.page_size = page_size
        self.watch_timeout_s = watch_timeout_s
        self.bookmarks = bookmarks
        self.stop_event = threading.Event()
        self._inbox: queue.Queue[tuple[int, Step]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"kube-watch-{resource}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def assign(self, ticket: int, step: Step) -> None:
        """The actor's next step for this resource (at most one outstanding)."""
        self._inbox.put_nowait((ticket, step))

    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout_s: float) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                ticket, step = self._inbox.get(timeout=_INBOX_POLL_S)
            except queue.Empty:
                continue
            try:
                self._perform(ticket, step)
            except BridgeClosedError:
                return

    def _perform(self, ticket: int, step: Step) -> None:
        if step.phase is Phase.WAIT:
            if not self.stop_event.wait(step.delay_s):
                self.bridge.put(WatchIo(self.resource, ticket, READY))
            return
        try:
            if step.phase is Phase.LIST:
                body = self.adapter.list_page(step.path, limit=self.page_size,
                                              continue_token=step.continue_token,
                                              field_selector=step.field_selector)
                self.bridge.put(WatchIo(self.resource, ticket, PAGE, body))
                return
            lines = self.adapter.watch(step.path, resource_version=step.resource_version,
                                       timeout_seconds=self.watch_timeout_s,
                                       bookmarks=self.bookmarks,
                                       field_selector=step.field_selector)
            try:
                for line in lines:
                    if self.stop_event.is_set():
                        return
                    self.bridge.put(WatchIo(self.resource, ticket, LINE, line))
            finally:
                close = getattr(lines, "close", None)
                if close is not None:
                    close()
            self.bridge.put(WatchIo(self.resource, ticket, CLOSED))
        except (KubeApiError, KubeTransportError) as error:
            if not self.stop_event.is_set():
                self.bridge.put(WatchIo(self.resource, ticket, FAILED, error=error))
        except BridgeClosedError:
            raise
        except Exception as error:  # a bug or an unexpected library error: report, go on
            logger.exception("watch thread %s: unexpected error", self.resource)
            self.bridge.put(WatchIo(self.resource, ticket, FAILED,
                                    error=KubeTransportError(f"unexpected: {error!r}")))


def stop_all(threads: list[WatchIoThread], adapter: KubeHttpAdapter | None,
             bridge: IoBridge[WatchIo] | None, timeout_s: float = 2.0) -> list[str]:
    """Stop every thread (abort connections, release blocked puts); names of threads that
    did not end within ``timeout_s``."""
    for thread in threads:
        thread.stop_event.set()
    if bridge is not None:
        bridge.close()
    if adapter is not None:
        adapter.abort()
    deadline = time.monotonic() + timeout_s
    return [thread.resource for thread in threads
            if not thread.join(max(0.0, deadline - time.monotonic()))]
