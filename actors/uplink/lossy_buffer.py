"""Bounded in-memory buffer of lossy telemetry batches (flows, L7) waiting for the uplink.

Owns the drop policy for lossy kinds: batches are kept in arrival order within ``max_bytes`` and
``max_batches``; when a new batch does not fit, the oldest batches are dropped first and every
dropped batch and record is counted per kind. The accounting always balances:
``accepted == taken + dropped + buffered`` (records). Never raises on input; a batch larger than
the whole bound is itself dropped and counted.
"""

from __future__ import annotations

import collections
import dataclasses

from messages.uplink import UplinkRecordKind

__all__ = ["LossyBatchPending", "LossyBuffer"]


@dataclasses.dataclass(frozen=True, slots=True)
class LossyBatchPending:
    """One lossy batch as accepted (not yet numbered)."""

    kind: UplinkRecordKind
    count: int
    payload: bytes
    accepted_unix_ms: int


class LossyBuffer:
    """FIFO with a byte and batch bound, dropping oldest-first with per-kind counters."""

    def __init__(self, *, max_bytes: int, max_batches: int) -> None:
        if max_bytes <= 0 or max_batches <= 0:
            raise ValueError("lossy buffer bounds must be positive")
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self._queue: collections.deque[LossyBatchPending] = collections.deque()
        self._bytes = 0
        self._records = 0
        self.accepted_records: collections.Counter[str] = collections.Counter()
        self.taken_records: collections.Counter[str] = collections.Counter()
        self.dropped_records: collections.Counter[str] = collections.Counter()
        self.dropped_batches: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    @property
    def buffered_records(self) -> int:
        return self._records

    def push(self, batch: LossyBatchPending) -> int:
        """Add a batch, dropping the oldest as needed; returns how many records were dropped."""
        self.accepted_records[batch.kind.value] += batch.count
        if len(batch.payload) > self.max_bytes:
            self._count_drop(batch)
            return batch.count
        dropped = 0
        while self._queue and (self._bytes + len(batch.payload) > self.max_bytes
                               or len(self._queue) >= self.max_batches):
            oldest = self._queue.popleft()
            self._bytes -= len(oldest.payload)
            self._records -= oldest.count
            self._count_drop(oldest)
            dropped += oldest.count
        self._queue.append(batch)
        self._bytes += len(batch.payload)
        self._records += batch.count
        return dropped

    def peek_bytes(self) -> int:
        """Payload size of the oldest batch (0 when empty)."""
        return len(self._queue[0].payload) if self._queue else 0

    def oldest_accepted_unix_ms(self) -> int | None:
        return self._queue[0].accepted_unix_ms if self._queue else None

    def take(self) -> LossyBatchPending | None:
        """Remove and return the oldest batch (it now belongs to the sender)."""
        if not self._queue:
            return None
        batch = self._queue.popleft()
        self._bytes -= len(batch.payload)
        self._records -= batch.count
        self.taken_records[batch.kind.value] += batch.count
        return batch

    def counters(self) -> dict[str, float]:
        out: dict[str, float] = {"lossy_buffered_bytes": float(self._bytes),
                                 "lossy_buffered_records": float(self._records)}
        for name, counter in (("lossy_accepted_records", self.accepted_records),
                              ("lossy_dropped_records", self.dropped_records),
                              ("lossy_dropped_batches", self.dropped_batches)):
            out[name] = float(sum(counter.values()))
            for kind, value in counter.items():
                out[f"{name}.{kind}"] = float(value)
        return out

    def _count_drop(self, batch: LossyBatchPending) -> None:
        self.dropped_records[batch.kind.value] += batch.count
        self.dropped_batches[batch.kind.value] += 1
