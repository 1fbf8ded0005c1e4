"""Recently spooled reliable items, kept in memory so the sender does not read them back.

Owns a byte-bounded FIFO of ``(item, spool position after it)`` in sequence order. While the
link keeps up, every item is sent from here and the spool is only written (and read again only
after a reconnect or when a backlog outgrew the cache). ``take`` serves a contiguous run starting
at a given sequence, or nothing when that sequence is not cached; the caller then reads the
spool. Pure memory bookkeeping: no I/O, nothing to fail.
"""

from __future__ import annotations

import collections
import itertools

from actors.uplink.frames import ReliableItem

__all__ = ["SendCache"]


_Cached = tuple[ReliableItem, tuple[int, int], int]   # item, spool position after it, size


class SendCache:
    """Byte-bounded window of the newest spooled items, by contiguous sequence."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.deque[_Cached] = collections.deque()
        self._bytes = 0
        self.hits = 0

    @property
    def first_sequence(self) -> int | None:
        return self._entries[0][0].sequence if self._entries else None

    def add(self, item: ReliableItem, position: tuple[int, int], size: int) -> None:
        if self._entries and item.sequence != self._entries[-1][0].sequence + 1:
            self.clear()                          # keep the run contiguous
        self._entries.append((item, position, size))
        self._bytes += size
        while self._bytes > self.max_bytes and self._entries:
            self._bytes -= self._entries.popleft()[2]

    def drop_through(self, sequence: int) -> None:
        while self._entries and self._entries[0][0].sequence <= sequence:
            self._bytes -= self._entries.popleft()[2]

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def take(self, first: int, *, max_items: int,
             max_bytes: int) -> tuple[list[ReliableItem], tuple[int, int] | None, int]:
        """Items from sequence ``first`` on (at least one if cached), their end position, bytes."""
        start = self.first_sequence
        if start is None or not start <= first <= self._entries[-1][0].sequence:
            return [], None, 0
        out: list[ReliableItem] = []
        used, position = 0, None
        for item, item_position, size in itertools.islice(self._entries, first - start, None):
            if len(out) >= max_items or (out and used + size > max_bytes):
                break
            out.append(item)
            used += size
            position = item_position
        self.hits += len(out)
        return out, position, used
