"""Results waiting for link credit, grouped into ``command_result`` batches (plain logic).

Each entry is ``(requester, record)``: the requester is the producer of the request link the
command came on. ``flush`` sends, in order, batches of at most ``per_batch`` records and about
``batch_bytes`` of payload to the consumer that ``resolve`` names for the requester, while
``has_credit`` allows; it stops at the first entry without credit (or without a link yet), so
answers to one requester never overtake each other. Bounded by its caller (the actor stops
taking commands while anything waits here).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

__all__ = ["ResultOutbox"]


class ResultOutbox:
    """FIFO of result records with their requester, flushed as credit allows."""

    def __init__(self, *, per_batch: int = 32, batch_bytes: int = 1 << 20) -> None:
        self._entries: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self.per_batch = per_batch
        self.batch_bytes = batch_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, requester: str, record: dict[str, Any]) -> None:
        self._entries.append((requester, record))

    def flush(self, resolve: Callable[[str], str], has_credit: Callable[[str], bool],
              emit: Callable[[str, list[dict[str, Any]]], None]) -> int:
        """Emit what credit allows; returns the number of records sent."""
        sent = 0
        while self._entries:
            target = resolve(self._entries[0][0])
            if not target or not has_credit(target):
                break
            batch: list[dict[str, Any]] = []
            size = 0
            while self._entries and resolve(self._entries[0][0]) == target and \
                    len(batch) < self.per_batch and size < self.batch_bytes:
                record = self._entries.popleft()[1]
                batch.append(record)
                size += len(record["payload"]) + len(record["error"])
            emit(target, batch)
            sent += len(batch)
        return sent
