"""Sequence numbers, the ack window and frame coalescing of the uplink (plain logic).

Owns both sequence spaces (reliable: survives restarts via the spool; lossy: per operator
instance) and the flow-control window: at most ``window_batches`` items and ``window_bytes``
payload bytes may be sent and not yet acknowledged. The cloud acks cumulatively; an ack frees
every window slot at or below it. On a new session (Welcome) the window is emptied, the reliable
send position moves back to the cloud's acked sequence (everything after it is resent from the
spool) and in-flight lossy batches are queued for resending (the cloud dedupes them by
``(instance, lossy_sequence)``).

Coalescing: ``should_send`` lets a frame leave when it holds at least ``frame_target_bytes``,
when its oldest item has waited ``linger_s``, or when nothing is in flight (an idle link sends at
once); otherwise small items wait to be merged. Acks for sequences never sent are counted in
``bogus_acks`` and clamped, never trusted.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Sequence

from actors.uplink.frames import LossyBatch

__all__ = ["Sequencer", "WindowBudget"]


@dataclasses.dataclass(frozen=True, slots=True)
class WindowBudget:
    """What the ack window still allows: items and payload bytes."""

    items: int
    payload_bytes: int

    @property
    def open(self) -> bool:
        return self.items > 0 and self.payload_bytes > 0


class Sequencer:
    """Numbering, window accounting and resend bookkeeping for one uplink."""

    def __init__(self, *, window_batches: int, window_bytes: int,
                 frame_target_bytes: int = 16 << 10, frame_max_bytes: int = 1 << 20,
                 linger_s: float = 0.02, clock: Callable[[], float] = time.monotonic) -> None:
        if window_batches <= 0 or window_bytes <= 0:
            raise ValueError("ack window bounds must be positive")
        self.window_batches = window_batches
        self.window_bytes = window_bytes
        self.frame_target_bytes = frame_target_bytes
        self.frame_max_bytes = frame_max_bytes
        self.linger_s = linger_s
        self._clock = clock
        self.next_sequence = 1
        self.acked_sequence = 0
        self.sent_sequence = 0                 # highest reliable sequence sent this session
        self.next_lossy_sequence = 1
        self.lossy_acked_sequence = 0
        # in flight, in send order: (is_lossy, sequence, payload bytes)
        self._in_flight: collections.deque[tuple[bool, int, int]] = collections.deque()
        self._in_flight_bytes = 0
        self._lossy_unacked: collections.deque[LossyBatch] = collections.deque()
        self._lossy_resend: collections.deque[LossyBatch] = collections.deque()
        self.bogus_acks = 0
        self.sessions = 0
        self.resent_reliable = 0
        self.resent_lossy = 0

    # ------------------------------------------------------------------ numbering
    def restore(self, *, last_stored: int, acked: int) -> None:
        """Continue numbering after a restart: after whatever the spool holds or acked."""
        self.acked_sequence = acked
        self.sent_sequence = acked
        self.next_sequence = max(last_stored, acked) + 1

    def assign(self) -> int:
        seq = self.next_sequence
        self.next_sequence += 1
        return seq

    def unassign(self, seq: int) -> None:
        """Give back the newest sequence (its item was not stored): no gap may ever appear."""
        if seq == self.next_sequence - 1:
            self.next_sequence = seq

    def retain_lossy(self, batch: LossyBatch) -> None:
        self._lossy_unacked.append(batch)

    def take_lossy_sequence(self) -> int:
        seq = self.next_lossy_sequence
        self.next_lossy_sequence += 1
        return seq

    # ------------------------------------------------------------------ sessions and acks
    def on_welcome(self, last_acked: int) -> None:
        """New session: resend reliable items after ``last_acked`` and every unacked lossy one."""
        self.sessions += 1
        if last_acked >= self.next_sequence:
            # The cloud knows sequences we never assigned (our ack file was lost): jump ahead so
            # new items are not mistaken for duplicates.
            self.next_sequence = last_acked + 1
        self.acked_sequence = max(self.acked_sequence, min(last_acked, self.next_sequence - 1))
        self.resent_reliable += max(0, self.sent_sequence - self.acked_sequence)
        self.sent_sequence = self.acked_sequence
        self._in_flight.clear()
        self._in_flight_bytes = 0
        self._lossy_resend = collections.deque(
            b for b in self._lossy_unacked if b.lossy_sequence > self.lossy_acked_sequence)
        self.resent_lossy += len(self._lossy_resend)

    def on_ack(self, through: int, lossy_through: int) -> bool:
        """Apply a cumulative ack; True when the reliable acked sequence moved."""
        if through > self.sent_sequence or lossy_through >= self.next_lossy_sequence:
            self.bogus_acks += 1
            through = min(through, self.sent_sequence)
            lossy_through = min(lossy_through, self.next_lossy_sequence - 1)
        moved = through > self.acked_sequence
        self.acked_sequence = max(self.acked_sequence, through)
        self.lossy_acked_sequence = max(self.lossy_acked_sequence, lossy_through)
        while self._lossy_unacked and \
                self._lossy_unacked[0].lossy_sequence <= self.lossy_acked_sequence:
            self._lossy_unacked.popleft()
        while self._in_flight:
            is_lossy, seq, size = self._in_flight[0]
            done = seq <= (self.lossy_acked_sequence if is_lossy else self.acked_sequence)
            if not done:
                break
            self._in_flight.popleft()
            self._in_flight_bytes -= size
        return moved

    # ------------------------------------------------------------------ window
    def budget(self) -> WindowBudget:
        return WindowBudget(self.window_batches - len(self._in_flight),
                            min(self.window_bytes - self._in_flight_bytes, self.frame_max_bytes))

    def record_sent(self, *, is_lossy: bool, sequence: int, payload_bytes: int) -> None:
        self._in_flight.append((is_lossy, sequence, payload_bytes))
        self._in_flight_bytes += payload_bytes
        if not is_lossy:
            self.sent_sequence = max(self.sent_sequence, sequence)

    def record_sent_run(self, run: Sequence[tuple[int, int]]) -> None:
        """``record_sent`` for reliable ``(sequence, payload bytes)`` pairs in sequence order."""
        if not run:
            return
        self._in_flight.extend((False, seq, size) for seq, size in run)
        self._in_flight_bytes += sum(size for _, size in run)
        self.sent_sequence = max(self.sent_sequence, run[-1][0])

    def take_lossy_resend(self) -> LossyBatch | None:
        return self._lossy_resend.popleft() if self._lossy_resend else None

    def has_lossy_resend(self) -> bool:
        return bool(self._lossy_resend)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def in_flight_bytes(self) -> int:
        return self._in_flight_bytes

    @property
    def lossy_unacked(self) -> int:
        return len(self._lossy_unacked)

    def should_send(self, *, pending_bytes: int, pending_since: float | None) -> bool:
        """Coalescing decision for ``pending_bytes`` that have waited since ``pending_since``."""
        if pending_bytes <= 0 and pending_since is None:
            return False
        if pending_bytes >= self.frame_target_bytes or not self._in_flight:
            return True
        return pending_since is not None and self._clock() - pending_since >= self.linger_s

    def counters(self) -> dict[str, float]:
        return {"next_sequence": float(self.next_sequence),
                "acked_sequence": float(self.acked_sequence),
                "sent_sequence": float(self.sent_sequence),
                "lossy_acked_sequence": float(self.lossy_acked_sequence),
                "in_flight_items": float(len(self._in_flight)),
                "in_flight_bytes": float(self._in_flight_bytes),
                "lossy_unacked": float(len(self._lossy_unacked)),
                "sessions": float(self.sessions),
                "resent_reliable": float(self.resent_reliable),
                "resent_lossy": float(self.resent_lossy),
                "bogus_acks": float(self.bogus_acks)}
