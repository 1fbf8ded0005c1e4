"""A small bounded worker pool for the command runner's Kubernetes and Cilium calls.

``submit(request_id, deadline, call, on_done)`` queues a call in a ``DeadlineQueue`` of ``depth``
entries (``QueueFullError`` when full: the caller answers ``busy`` at once); ``workers`` daemon
threads run the calls one at a time with the seconds left before the deadline, then hand
``on_done(request_id, outcome)`` the call's return value. A call whose deadline passed while it
waited is not run: ``on_done`` gets ``EXPIRED``; one that raises gets the exception object, so
an answer is always owed and delivered. Deadlines use the injected monotonic clock. ``close``
stops accepting, hands every waiting call ``CANCELLED`` and joins the workers (bounded). The
pool opens no sockets itself: the calls do, through their injected transports.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from actors.commands.shell_queue import DeadlineQueue, QueueFullError

__all__ = ["CANCELLED", "EXPIRED", "CallPool", "QueueFullError"]

logger = logging.getLogger(__name__)

EXPIRED = "expired"
CANCELLED = "cancelled"


@dataclasses.dataclass(frozen=True, slots=True)
class _Call:
    request_id: str
    deadline: float
    call: Callable[[float], Any]
    on_done: Callable[[str, Any], None]


class CallPool:
    """``workers`` threads taking calls from a bounded deadline queue."""

    def __init__(self, *, workers: int, depth: int, name: str = "command-calls",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if workers < 1 or depth < 1:
            raise ValueError("a call pool needs at least one worker and one queue slot")
        self._clock = clock
        self._queue: DeadlineQueue[_Call] = DeadlineQueue(depth, clock)
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
                         for index in range(workers)]
        self._closed = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, request_id: str, deadline: float, call: Callable[[float], Any],
               on_done: Callable[[str, Any], None]) -> None:
        """Queue ``call``; raises ``QueueFullError`` when ``depth`` calls already wait."""
        if self._closed.is_set():
            raise QueueFullError
        self._queue.put(_Call(request_id, deadline, call, on_done))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"queued": len(self._queue), "running": self._busy}

    def close(self, timeout_s: float = 2.0) -> None:
        self._closed.set()
        for job in self._queue.close():
            self._deliver(job, CANCELLED)
        end = self._clock() + timeout_s
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, end - self._clock()))

    def _work(self) -> None:
        while True:
            job = self._queue.take()
            if job is None:
                return
            left = job.deadline - self._clock()
            if left <= 0:
                self._deliver(job, EXPIRED)
                continue
            with self._lock:
                self._busy += 1
            try:
                outcome = job.call(left)
            except Exception as exc:  # an answer is always owed
                logger.exception("command call %s failed", job.request_id)
                outcome = exc
            finally:
                with self._lock:
                    self._busy -= 1
            self._deliver(job, outcome)

    @staticmethod
    def _deliver(job: _Call, outcome: Any) -> None:
        try:
            job.on_done(job.request_id, outcome)
        except Exception:
            logger.exception("on_done failed for %s", job.request_id)
