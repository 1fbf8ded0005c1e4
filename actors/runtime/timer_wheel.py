"""One actor's timers behind a single armed thespian wakeup, robust to a lost wakeup.

Thespian's ``wakeupAfter`` cannot be cancelled, and on the TCP base a wakeup was observed to
be lost when about fifteen were armed at once (the kube watcher's resources stalled for good).
So an actor keeps its timers here — a heap of (due, tag) — and arms at most one wakeup, for the
earliest due time. When any message arrives (a status probe, a batch, a credit) the actor asks
``overdue``: timers more than ``grace_s`` past due mean the wakeup went missing, and they fire
right then. Plain logic with an injected clock value; no thespian.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

__all__ = ["TimerWheel"]


class TimerWheel:
    """Pending timers and the due time of the one wakeup currently armed."""

    def __init__(self, grace_s: float = 0.5) -> None:
        self.grace_s = grace_s
        self._heap: list[tuple[float, int, Any]] = []
        self._order = itertools.count()
        self._armed_due: float | None = None
        self.late_fires = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, now: float, delay_s: float, tag: Any) -> float | None:
        """Add a timer; returns the delay of a wakeup to arm now, or None if one covers it."""
        heapq.heappush(self._heap, (now + max(0.0, delay_s), next(self._order), tag))
        return self._arm(now)

    def pop_due(self, now: float, *, from_wakeup: bool) -> tuple[list[Any], float | None]:
        """Tags due at ``now`` in due order, and the delay of the next wakeup to arm (if any).

        ``from_wakeup`` marks the call made for the armed wakeup itself; other callers (any
        message) get only timers already past due by ``grace_s`` and count them as late."""
        if from_wakeup:
            self._armed_due = None
            limit = now
        else:
            limit = now - self.grace_s
            if not self._heap or self._heap[0][0] > limit:
                return [], None
            self._armed_due = None           # that wakeup is lost or very late: re-arm below
        due = []
        while self._heap and self._heap[0][0] <= limit + (self.grace_s if not from_wakeup
                                                          else 0.0):
            due.append(heapq.heappop(self._heap)[2])
        if not from_wakeup:
            self.late_fires += len(due)
        return due, self._arm(now)

    def _arm(self, now: float) -> float | None:
        if not self._heap:
            return None
        earliest = self._heap[0][0]
        if self._armed_due is not None and self._armed_due <= earliest:
            return None
        self._armed_due = earliest
        return max(0.0, earliest - now)
