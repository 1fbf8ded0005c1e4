"""A bounded hand-off from adapter threads to their actor: ``queue.Queue`` + a self-pipe.

Adapter threads (gRPC streams, watch loops) never touch actor state and never call
``self.send``. They ``put`` items (blocks while the queue is full: lossless backpressure that
reaches the peer through TCP/HTTP/2 flow control; a stop event keeps shutdown from hanging) or
``offer`` them (never blocks: drops the new item and counts it when full). Each hand-off writes
one byte to a non-blocking pipe; a full pipe means a wake-up is already pending, so the byte is
skipped. (Skipping the write while a wake-up is pending was measured slower: the write is also
where a busy producer thread releases the GIL to the actor.) The actor watches ``fileno()``
(``ThespianWatch`` on the TCP base, or polls on a ``wakeupAfter`` timer elsewhere) and calls
``drain(max_items)``: pipe first, then the queue, so no wake-up is lost; if items remain it
pokes the pipe again. No thespian here.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Generic, TypeVar

__all__ = ["BridgeClosedError", "IoBridge"]

Item = TypeVar("Item")

_PUT_POLL_S = 0.05   # how often a blocked put re-checks the stop event


class BridgeClosedError(RuntimeError):
    """``put`` was interrupted because the bridge is closing (the actor is stopping)."""


class IoBridge(Generic[Item]):
    """Bounded queue from producer threads to one actor, with a pollable wake-up fd."""

    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"IoBridge capacity must be >= 1, got {capacity}")
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=capacity)
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self.stop_event = threading.Event()
        self.capacity = capacity
        self.put_count = 0
        self.dropped = 0
        self.blocked_puts = 0
        self.drained = 0
        self._counter_lock = threading.Lock()
        self._closed = False

    # ---- producer side (adapter threads) ---------------------------------------------------

    def put(self, item: Item) -> None:
        """Lossless hand-off: blocks while full; raises BridgeClosedError once stopping."""
        blocked = False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            blocked = True
            while True:
                if self.stop_event.is_set():
                    raise BridgeClosedError("bridge is closing") from None
                try:
                    self._queue.put(item, timeout=_PUT_POLL_S)
                    break
                except queue.Full:
                    continue
        with self._counter_lock:
            self.put_count += 1
            self.blocked_puts += int(blocked)
        self._poke()

    def offer(self, item: Item) -> bool:
        """Lossy hand-off: never blocks; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._counter_lock:
                self.dropped += 1
            return False
        with self._counter_lock:
            self.put_count += 1
        self._poke()
        return True

    # ---- consumer side (the actor's thread) ------------------------------------------------

    def fileno(self) -> int:
        return self._read_fd

    def drain(self, max_items: int) -> list[Item]:
        """Up to ``max_items`` items, oldest first; re-pokes if more are waiting."""
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read_fd, 4096):
                pass
        items: list[Item] = []
        for _ in range(max_items):
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self.drained += len(items)
        if not self._queue.empty():
            self._poke()
        return items

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Wake and release blocked producers; the fds close (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stop_event.set()
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def counters(self) -> dict[str, float]:
        with self._counter_lock:
            return {"bridge_put": self.put_count, "bridge_dropped": self.dropped,
                    "bridge_blocked_puts": self.blocked_puts, "bridge_drained": self.drained,
                    "bridge_queued": self._queue.qsize()}

    def _poke(self) -> None:
        # A full pipe (BlockingIOError) means a wake-up is already pending; a closed one
        # (OSError) means the actor is gone: both are fine to ignore.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write_fd, b"\x01")
