"""The plain-logic core of the (future) MetricsRing actor: everything it does, minus thespian.

Owns the wiring of one metrics pipeline from ``MetricsSettings``: the ``IngestQueue`` the OTLP
receiver offers decoded batches to, the ``RingStore`` (single owner: only this object touches
it), the pod→workload resolver fed from pod inventory, periodic eviction and ``metrics_query``
answers. The actor calls ``drain()`` when woken by the queue's notify hook (or on a short
wakeupAfter), ``evict_if_due()`` on its timer, ``answer()`` per ``MetricsQueryRequested`` and
``status()`` for /status. It never raises on data; a bad query becomes an answer with an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from actors.metrics.ingest_queue import IngestQueue
from actors.metrics.k8s_context import StaticPodWorkloadResolver
from actors.metrics.query import answer_message, run_query
from actors.metrics.ring_store import RingStore
from actors.metrics.settings import MetricsSettings
from messages.metrics import MetricsQueryAnswered, MetricsQueryRequested

__all__ = ["MetricsRing"]

logger = logging.getLogger(__name__)


class MetricsRing:
    """Store + queue + resolver + eviction schedule, driven by the owning actor."""

    def __init__(self, settings: MetricsSettings, *, clock_ns: Callable[[], int],
                 resolver: StaticPodWorkloadResolver | None = None,
                 notify: Callable[[], None] | None = None) -> None:
        problems = list(settings.problems())
        if problems:
            raise ValueError("; ".join(f"{k}: {m}" for k, m in problems))
        self.settings = settings
        self.clock_ns = clock_ns
        self.resolver = resolver if resolver is not None else StaticPodWorkloadResolver()
        self.queue = IngestQueue(settings.ingest_queue_batches, notify=notify)
        self.store = RingStore(ring_size=settings.ring_size, max_series=settings.max_series,
                               retention_ns=settings.retention_ns, clock_ns=clock_ns,
                               resolver=self.resolver)
        self._next_eviction_ns = clock_ns() + int(settings.eviction_interval_s * 1e9)
        self._refused_logged = 0

    def drain(self, max_batches: int = 64) -> int:
        """Move queued batches into the store; returns the points stored."""
        stored = 0
        for batch in self.queue.drain(max_batches):
            stored += self.store.ingest(batch).stored
        refused = self.store.counters["series_refused"]
        if refused > self._refused_logged:   # one line per drain, not one per series
            logger.warning("metrics store full (%s series): %s new series refused so far",
                           self.store.max_series, refused)
            self._refused_logged = refused
        return stored

    def evict_if_due(self) -> int:
        """Evict stale series when the eviction interval has passed; returns series evicted."""
        now = self.clock_ns()
        if now < self._next_eviction_ns:
            return 0
        self._next_eviction_ns = now + int(self.settings.eviction_interval_s * 1e9)
        return self.store.evict_stale()

    def answer(self, request: MetricsQueryRequested) -> MetricsQueryAnswered:
        """Answer one ``metrics_query`` (errors are in ``error_message``)."""
        return answer_message(request.request_id,
                              run_query(self.store, request, self.clock_ns()))

    def status(self) -> dict[str, int]:
        """Store and queue counters for /status."""
        return {**self.store.stats(), **{f"queue_{k}": v for k, v in self.queue.counters.items()},
                "queue_depth": len(self.queue)}
