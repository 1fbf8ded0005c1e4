"""The command runner's ledger: pending requests, their deadlines, and recent answers (logic).

``admit`` classifies an incoming request id: new, already pending (a retry of a request still
running: it is answered once, when it finishes), or recently answered (the retry gets the cached
answer again: requests are idempotent on retry). ``start`` records a pending request with its
absolute deadline (Unix seconds, compared with the injected wall clock); ``answer`` closes it
and caches the record, returning False for a request that is not pending any more (a result that
arrived after its deadline answer: counted as late, never sent twice). ``expired`` returns the
pending ids whose deadline passed, oldest first, so the caller answers them with a deadline
error; ``next_deadline`` tells when to look again. Bounded: at most ``remember`` cached answers.
"""

from __future__ import annotations

import collections
import enum
import heapq
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Admission", "CommandBook"]


class Admission(enum.Enum):
    """What to do with an incoming request id."""

    NEW = "new"
    PENDING = "pending"       # a retry of a request still running: ignore, it is answered once
    ANSWERED = "answered"     # a retry of a finished request: send the cached answer again


class CommandBook:
    """Pending requests by id with deadlines, and a bounded cache of recent answers."""

    def __init__(self, *, remember: int = 512,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._remember = max(1, remember)
        self._wall = wall_clock
        self._pending: dict[str, tuple[str, float]] = {}     # id -> (kind, deadline)
        self._deadlines: list[tuple[float, str]] = []        # heap; stale entries skipped
        self._answered: collections.OrderedDict[str, dict[str, Any]] = \
            collections.OrderedDict()
        self.late_results = 0

    def now(self) -> float:
        return self._wall()

    def admit(self, request_id: str) -> tuple[Admission, dict[str, Any] | None]:
        if request_id in self._pending:
            return Admission.PENDING, None
        cached = self._answered.get(request_id)
        if cached is not None:
            return Admission.ANSWERED, cached
        return Admission.NEW, None

    def start(self, request_id: str, kind: str, deadline: float) -> None:
        self._pending[request_id] = (kind, deadline)
        heapq.heappush(self._deadlines, (deadline, request_id))

    def remaining(self, request_id: str) -> float:
        """Seconds left before the request's deadline (<= 0: passed; inf: unknown id)."""
        entry = self._pending.get(request_id)
        return float("inf") if entry is None else entry[1] - self._wall()

    def answer(self, request_id: str, record: dict[str, Any]) -> bool:
        """Close ``request_id`` with ``record``; False if it was not pending (late result)."""
        if self._pending.pop(request_id, None) is None:
            self.late_results += 1
            return False
        self.remember(request_id, record)
        return True

    def remember(self, request_id: str, record: dict[str, Any]) -> None:
        """Cache an answer for retries (also used for answers that never went pending)."""
        self._answered[request_id] = record
        self._answered.move_to_end(request_id)
        while len(self._answered) > self._remember:
            self._answered.popitem(last=False)

    def expired(self) -> list[str]:
        """Pending ids whose deadline passed (they stay pending until ``answer``)."""
        now = self._wall()
        due: list[str] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, request_id = heapq.heappop(self._deadlines)
            entry = self._pending.get(request_id)
            if entry is not None and entry[1] == deadline:
                due.append(request_id)
        return due

    def next_deadline(self) -> float | None:
        while self._deadlines:
            deadline, request_id = self._deadlines[0]
            entry = self._pending.get(request_id)
            if entry is not None and entry[1] == deadline:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def kind_of(self, request_id: str) -> str:
        entry = self._pending.get(request_id)
        return "" if entry is None else entry[0]

    def in_flight(self) -> int:
        return len(self._pending)
