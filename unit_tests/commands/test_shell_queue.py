"""The deadline queue: bounded, FIFO, expires waiting jobs by the injected clock, closes cleanly."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from actors.commands.shell_queue import DeadlineQueue, QueueFullError


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    deadline: float


def test_bounded_fifo_with_expiry_by_the_injected_clock():
    now = [0.0]
    jobs: DeadlineQueue[Job] = DeadlineQueue(3, lambda: now[0])
    for name, deadline in (("a", 5.0), ("b", 1.0), ("c", 9.0)):
        jobs.put(Job(name, deadline))
    with pytest.raises(QueueFullError):
        jobs.put(Job("d", 9.0))
    assert jobs.expire() == []
    now[0] = 5.0
    assert [j.name for j in jobs.expire()] == ["a", "b"]
    assert len(jobs) == 1
    taken = jobs.take()
    assert taken is not None
    assert taken.name == "c"


def test_close_wakes_blocked_workers_and_returns_leftovers():
    jobs: DeadlineQueue[Job] = DeadlineQueue(2, lambda: 0.0)
    got: list[Job | None] = []
    worker = threading.Thread(target=lambda: got.append(jobs.take()))
    worker.start()
    worker.join(timeout=0.2)
    assert worker.is_alive()
    assert jobs.close() == []
    worker.join(timeout=5)
    assert got == [None]
    with pytest.raises(QueueFullError):
        jobs.put(Job("late", 1.0))
