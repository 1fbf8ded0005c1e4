"""Exponential backoff with full jitter and a reset after a healthy period.

Plain logic with an injected clock and random source, shared by supervisor restarts, the cloud
uplink's reconnects, watch re-lists and Hubble relay retries. ``next_delay()`` after a failure,
``healthy()`` when the guarded thing works; once it has been healthy for ``reset_after_s`` the
next failure starts again from ``min_s`` (the anchor's backoff never reset).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

__all__ = ["Backoff"]


@dataclasses.dataclass(slots=True)
class Backoff:
    """delay_n = uniform(0, min(max_s, min_s * 2**n)) ("full jitter"), n = failures so far."""

    min_s: float = 0.2
    max_s: float = 30.0
    reset_after_s: float = 60.0
    jitter: bool = True
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = dataclasses.field(default_factory=random.Random)
    attempts: int = 0
    _healthy_since: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < min_s <= max_s, got {self.min_s}, {self.max_s}")

    def ceiling(self) -> float:
        """The un-jittered delay the next failure would get."""
        return float(min(self.max_s, self.min_s * 2.0 ** min(self.attempts, 62)))

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        if self._healthy_since is not None and \
                self.clock() - self._healthy_since >= self.reset_after_s:
            self.attempts = 0
        self._healthy_since = None
        ceiling = self.ceiling()
        self.attempts += 1
        return self.rng.uniform(0.0, ceiling) if self.jitter else ceiling

    def healthy(self) -> None:
        """Record that the guarded operation works (idempotent: the first call starts the clock)."""
        if self._healthy_since is None:
            self._healthy_since = self.clock()

    def reset(self) -> None:
        self.attempts = 0
        self._healthy_since = None
