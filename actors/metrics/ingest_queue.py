"""The bounded hand-off between the OTLP receiver threads and the store's owner.

Owns ``IngestQueue``: the receiver ``offer``s decoded batches without blocking (False when full,
which the receiver turns into a retryable UNAVAILABLE so the Collector backs off and retries);
the MetricsRing actor ``drain``s it through the runtime's I/O bridge and feeds its ``RingStore``.
An optional ``notify`` callable (e.g. a wake-up pipe write) runs after each accepted offer.
Counts offered, accepted and refused batches; never raises.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from actors.metrics.decoded import DecodedMetrics

__all__ = ["IngestQueue"]


class IngestQueue:
    """Bounded, thread-safe queue of ``DecodedMetrics`` batches."""

    def __init__(self, max_batches: int, notify: Callable[[], None] | None = None) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be >= 1")
        self._queue: queue.Queue[DecodedMetrics] = queue.Queue(max_batches)
        self._notify = notify
        self._lock = threading.Lock()
        self.counters = {"batches_accepted": 0, "batches_refused": 0, "points_accepted": 0}

    def offer(self, batch: DecodedMetrics) -> bool:
        """Enqueue without blocking; False when the store's owner is behind."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            with self._lock:
                self.counters["batches_refused"] += 1
            return False
        with self._lock:
            self.counters["batches_accepted"] += 1
            self.counters["points_accepted"] += batch.points
        if self._notify is not None:
            self._notify()
        return True

    def has_room(self) -> bool:
        """Whether an offer would be accepted now (lets the receiver skip decoding when not)."""
        return not self._queue.full()

    def drain(self, max_batches: int = 64) -> list[DecodedMetrics]:
        """Take up to ``max_batches`` queued batches (never blocks)."""
        out: list[DecodedMetrics] = []
        while len(out) < max_batches:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def __len__(self) -> int:
        return self._queue.qsize()
