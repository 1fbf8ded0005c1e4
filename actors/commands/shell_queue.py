"""The bounded wait queue of the shell executor, with per-request deadlines.

FIFO of jobs waiting for a free worker. ``put`` refuses beyond ``depth`` (the caller answers
``queue_full`` at once); ``take`` blocks a worker until a job or shutdown; ``expire`` removes the
jobs whose deadline passed so that they are answered when the deadline passes, not when a
worker finally gets to them; ``close`` returns whatever still waits. Deadlines are compared with
the injected clock; nothing here runs processes or does I/O. Thread-safe (one condition).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["DeadlineQueue", "QueueFullError"]


class _HasDeadline(Protocol):
    @property
    def deadline(self) -> float: ...


JobT = TypeVar("JobT", bound=_HasDeadline)


class QueueFullError(Exception):
    """The queue already holds ``depth`` jobs."""


class DeadlineQueue(Generic[JobT]):
    """Bounded FIFO whose entries can expire before anyone takes them."""

    def __init__(self, depth: int, clock: Callable[[], float]) -> None:
        self._depth = depth
        self._clock = clock
        self._jobs: collections.deque[JobT] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job: JobT) -> None:
        with self._cond:
            if self._closed or len(self._jobs) >= self._depth:
                raise QueueFullError
            self._jobs.append(job)
            self._cond.notify()

    def take(self) -> JobT | None:
        """The oldest job, blocking until there is one; None once the queue is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._jobs or self._closed)
            if self._closed:
                return None
            return self._jobs.popleft()

    def expire(self) -> list[JobT]:
        """Remove and return every waiting job whose deadline has passed."""
        now = self._clock()
        with self._cond:
            expired = [job for job in self._jobs if job.deadline <= now]
            if expired:
                self._jobs = collections.deque(job for job in self._jobs if job.deadline > now)
            return expired

    def close(self) -> list[JobT]:
        """Wake every waiting worker with None and return the jobs that never ran."""
        with self._cond:
            self._closed = True
            left = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
            return left

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)
