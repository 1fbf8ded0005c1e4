"""A single background thread that runs the spool's slow disk work in order.

Owns one FIFO of tasks (fsyncs, ack-file writes, segment deletions) so appends never wait for
the disk and the order "persist the ack position, then delete" is kept. A failing task (OSError)
is logged and counted in ``errors``; the thread keeps going. ``drain()`` waits for the queue to
empty; ``close()`` stops the thread after the queued work.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

__all__ = ["DiskWorker"]

logger = logging.getLogger(__name__)


class DiskWorker:
    """One FIFO background thread for fsyncs and deletions (order is kept)."""

    def __init__(self) -> None:
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def submit(self, task: Callable[[], None]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spool-disk", daemon=True)
            self._thread.start()
        self._tasks.put(task)

    def drain(self) -> None:
        if self._thread is not None:
            self._tasks.join()

    def close(self) -> None:
        if self._thread is not None:
            self._tasks.put(None)
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                if task is None:
                    return
                task()
            except OSError as exc:
                self.errors += 1
                logger.error("spool: background disk task failed: %s", exc)
            finally:
                self._tasks.task_done()
