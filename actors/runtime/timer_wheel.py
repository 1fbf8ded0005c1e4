"""One actor's timers behind as few armed thespian wakeups as possible, robust to a lost one.

Thespian's ``wakeupAfter`` cannot be cancelled, keeps pending wakeups in a list it inserts
into in order (each insert costs O(pending)), and on the TCP base a wakeup was observed to be
lost when about fifteen were armed at once. So an actor keeps its timers here — a heap of
(due, tag) — and arms a wakeup only when no outstanding one is due at or before the earliest
timer. Each wakeup that fires retires one outstanding entry; an entry overdue by more than
``lost_after_s`` is taken as lost and forgotten, so a replacement can be armed. When any other
message arrives the actor asks for timers past due by ``grace_s`` and fires them then (a lost or
very late wakeup never stalls it). The number of outstanding wakeups stays small and bounded:
an earlier build re-armed on every late firing without retiring the late wakeup, the pending
list grew without bound and the flow collector spun in thespian's insert (found by the soak).
Plain logic with an injected clock value; no thespian.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

__all__ = ["TimerWheel"]


class TimerWheel:
    """Pending timers and the due times of the wakeups believed to be outstanding."""

    def __init__(self, grace_s: float = 0.5, lost_after_s: float = 2.0) -> None:
        self.grace_s = grace_s
        self.lost_after_s = lost_after_s
        self._heap: list[tuple[float, int, Any]] = []
        self._order = itertools.count()
        self._armed: list[float] = []        # heap: due times of outstanding thespian wakeups
        self.late_fires = 0
        self.lost_wakeups = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def outstanding(self) -> int:
        return len(self._armed)

    def schedule(self, now: float, delay_s: float, tag: Any) -> float | None:
        """Add a timer; returns the delay of a wakeup to arm now, or None if one covers it."""
        heapq.heappush(self._heap, (now + max(0.0, delay_s), next(self._order), tag))
        return self._arm(now)

    def pop_due(self, now: float, *, from_wakeup: bool) -> tuple[list[Any], float | None]:
        """Tags due at ``now`` in due order, and the delay of a wakeup to arm (if any).

        ``from_wakeup`` marks the call made for an armed wakeup (it retires one outstanding
        entry); other callers (any message) get timers only once one is ``grace_s`` late, and
        those count as late fires."""
        if from_wakeup:
            if self._armed:
                heapq.heappop(self._armed)
        elif not self._heap or self._heap[0][0] > now - self.grace_s:
            return [], None
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        if not from_wakeup:
            self.late_fires += len(due)
        return due, self._arm(now)

    def _arm(self, now: float) -> float | None:
        while self._armed and self._armed[0] < now - self.lost_after_s:
            heapq.heappop(self._armed)         # never came: lost (or so late it no longer counts)
            self.lost_wakeups += 1
        if not self._heap:
            return None
        earliest = self._heap[0][0]
        if self._armed and self._armed[0] <= earliest:
            return None
        heapq.heappush(self._armed, earliest)
        return max(0.0, earliest - now)
