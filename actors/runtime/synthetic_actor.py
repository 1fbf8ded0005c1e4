"""Synthetic demo/test actors: a paced source, a merging aggregator and a (slow) sink.

They stand in for the real collectors in ``kestrel-operator demo`` and are what the runtime's
tests use to prove credit windows, loss-freedom, exact drop counts and restarts. Records are
``[sequence_number, filler_bytes]`` packed with msgpack; sequence numbers start at 1 per source
incarnation, so a sink can prove that every record arrived exactly once.
- ``SyntheticSource`` (rate_per_s, batch_records, record_bytes, total, exit_when_done): emits
  on ``wakeupAfter`` ticks and never sleeps; with ``exit_when_done`` it exits normally once
  ``total`` records were delivered (transient children are then not restarted). With no credit
  on a BLOCK link it stops generating (counted as ``source_paused``); on DROP_OLDEST it keeps
  generating and the link drops the oldest batches.
- ``SyntheticAggregator`` (flush_records, flush_interval_s): merges inbound batches and forwards
  them; an inbound batch is credited only once its records were forwarded, so backpressure
  propagates upstream.
- ``SyntheticThreadSource`` (total, batch_records, chunk_records, queue_capacity): an adapter
  thread puts chunks of consecutive numbers into an ``IoBridge`` (blocking: lossless); the
  actor drains it only while its links have credit, so backpressure reaches the thread.
- ``SyntheticSink`` (delay_per_batch_s, block_handler_s): finishes a batch only after a wakeup of
  ``delay_per_batch_s`` (a slow consumer whose credit lags); ``block_handler_s`` blocks inside
  the first batch's handler on purpose (tests of shutdown with a stuck actor only).
A crash loses only in-memory state; the supervisor restarts them from their settings.
Four small actors in one module (over the 200-line actor guideline) because they are one demo
kit that is always read, registered and tested together.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.io_bridge import BridgeClosedError, IoBridge
from messages import codec
from messages.runtime import LinkBatch, Overflow

__all__ = ["SyntheticAggregator", "SyntheticSink", "SyntheticSource", "SyntheticThreadSource"]

logger = logging.getLogger(__name__)

RECORD_KIND = "synthetic"
MAX_BATCHES_PER_TICK = 16
MIN_TICK_S = 0.005
LINGER_S = 0.02


class SyntheticTimer(enum.Enum):
    TICK = "tick"
    FLUSH = "flush"
    SINK_DELAY = "sink_delay"
    LINGER = "linger"


def _number(settings: Mapping[str, Any], key: str, default: float, kind: type = float) -> Any:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"setting {key!r} must be a number >= 0, got {value!r}")
    return kind(value)


class SyntheticSource(ComponentActor):
    """Generates numbered records at ``rate_per_s`` into every outgoing link."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.rate_per_s = 1000.0
        self.batch_records = 100
        self.record_bytes = 64
        self.total = 0
        self.produced = 0
        self.batches = 0
        self.paused_ticks = 0
        self.draining = False
        self.exit_when_done = False
        self._last_tick = 0.0
        self._debt = 0.0

    def configure(self, settings: dict[str, Any]) -> None:
        self.rate_per_s = _number(settings, "rate_per_s", 1000.0)
        self.batch_records = max(1, _number(settings, "batch_records", 100, int))
        self.record_bytes = _number(settings, "record_bytes", 64, int)
        self.total = _number(settings, "total", 0, int)
        self.exit_when_done = bool(settings.get("exit_when_done", False))
        if self.rate_per_s <= 0:
            raise ValueError("setting 'rate_per_s' must be > 0")
        self._last_tick = time.monotonic()
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        interval = self.batch_records / self.rate_per_s
        self.start_timer(max(MIN_TICK_S, interval), SyntheticTimer.TICK)

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is not SyntheticTimer.TICK or self.draining:
            return
        now = time.monotonic()
        self._debt = min(self._debt + (now - self._last_tick) * self.rate_per_s,
                         float(MAX_BATCHES_PER_TICK * self.batch_records))
        self._last_tick = now
        while self._debt >= self.batch_records and not self._done():
            if not self._may_generate():
                self.paused_ticks += 1
                self._debt = 0.0               # a paused source does not build up a burst
                break
            self._generate_one()
            self._debt -= self.batch_records
        if not self._done():
            self._schedule_tick()
        else:
            self._maybe_exit()

    def on_credit_available(self, link_id: str) -> None:
        self._maybe_exit()

    def _maybe_exit(self) -> None:
        """With ``exit_when_done``: a deliberate, normal exit once everything was delivered."""
        if self.exit_when_done and self._done() and \
                all(link.flushed() for link in self.outgoing_links()):
            self.exit_normally(f"total of {self.total} records delivered")

    def _done(self) -> bool:
        return bool(self.total) and self.produced >= self.total

    def _may_generate(self) -> bool:
        links = self.outgoing_links()
        if not links:
            return False
        return all(link.overflow is Overflow.DROP_OLDEST or link.has_credit() for link in links)

    def _generate_one(self) -> None:
        count = self.batch_records
        if self.total:
            count = min(count, self.total - self.produced)
        filler = b"x" * self.record_bytes
        records = [[self.produced + i + 1, filler] for i in range(count)]
        payload = codec.pack_records(records)
        self.produced += count
        self.batches += 1
        for link in self.outgoing_links():
            self.emit(link.link_id, RECORD_KIND, count, payload)

    def drain_sources(self) -> None:
        self.draining = True

    def status_counters(self) -> dict[str, float]:
        return {"produced_records": self.produced, "produced_batches": self.batches,
                "source_paused": self.paused_ticks}


class SyntheticThreadSource(ComponentActor):
    """An adapter thread feeds numbered records through an IoBridge (lossless put)."""

    MAX_DRAIN = 1000

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.total = 0
        self.batch_records = 100
        self.produced = 0
        self._buffer: list[list[Any]] = []
        self._thread: threading.Thread | None = None

    def configure(self, settings: dict[str, Any]) -> None:
        self.total = _number(settings, "total", 100_000, int)
        self.batch_records = max(1, _number(settings, "batch_records", 100, int))
        chunk = max(1, _number(settings, "chunk_records", 100, int))
        bridge: IoBridge[tuple[int, int]] = IoBridge(
            max(1, _number(settings, "queue_capacity", 16, int)))
        self.attach_bridge(bridge)
        self._thread = threading.Thread(target=self._feed, args=(bridge, self.total, chunk),
                                        name=f"feed-{self.component_id}", daemon=True)
        self._thread.start()

    @staticmethod
    def _feed(bridge: IoBridge[tuple[int, int]], total: int, chunk: int) -> None:
        """Put (first, count) chunks of consecutive numbers, as an adapter puts read batches."""
        try:
            for first in range(1, total + 1, chunk):
                bridge.put((first, min(chunk, total + 1 - first)))
        except BridgeClosedError:
            return

    def bridge_ready(self) -> bool:
        links = self.outgoing_links()
        return bool(links) and all(link.has_credit() for link in links)

    def on_bridge_items(self, items: list[Any]) -> None:
        for first, count in items:
            self._buffer.extend([number, b""] for number in range(first, first + count))
        while len(self._buffer) >= self.batch_records and self.bridge_ready():
            self._emit_buffered()
        if self._buffer:
            # a partial batch waits briefly for more input instead of going out tiny
            self.start_timer(LINGER_S, SyntheticTimer.LINGER)

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is SyntheticTimer.LINGER and self._buffer:
            if self.bridge_ready():
                self._emit_buffered()
            if self._buffer:
                self.start_timer(LINGER_S, SyntheticTimer.LINGER)

    def _emit_buffered(self) -> None:
        batch, self._buffer = self._buffer[:self.batch_records], self._buffer[self.batch_records:]
        payload = codec.pack_records(batch)
        self.produced += len(batch)
        for link in self.outgoing_links():
            self.emit(link.link_id, RECORD_KIND, len(batch), payload)

    def on_credit_available(self, link_id: str) -> None:
        self.on_bridge_items([])

    def stop_io(self) -> None:
        if self.io_bridge is not None:
            self.io_bridge.close()
        if self._thread is not None:
            self._thread.join(1.0)

    def status_counters(self) -> dict[str, float]:
        return {"produced_records": self.produced, "buffered_records": len(self._buffer)}


class SyntheticAggregator(ComponentActor):
    """Merges inbound batches into batches of about ``flush_records`` and forwards them."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.flush_records = 1000
        self.flush_interval_s = 0.2
        self._held: list[LinkBatch] = []
        self._held_records: list[Any] = []
        self.forwarded = 0

    def configure(self, settings: dict[str, Any]) -> None:
        self.flush_records = max(1, _number(settings, "flush_records", 1000, int))
        self.flush_interval_s = max(0.01, _number(settings, "flush_interval_s", 0.2))
        self.start_timer(self.flush_interval_s, SyntheticTimer.FLUSH)

    def on_batch(self, batch: LinkBatch) -> bool:
        self._held.append(batch)
        self._held_records.extend(codec.unpack_records(batch.payload))
        if len(self._held_records) >= self.flush_records or len(self._held) >= batch.window:
            self._flush()
        return False                              # finished when forwarded

    def on_credit_available(self, link_id: str) -> None:
        if len(self._held_records) >= self.flush_records:
            self._flush()

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is SyntheticTimer.FLUSH:
            self._flush()
            self.start_timer(self.flush_interval_s, SyntheticTimer.FLUSH)

    def drain_sources(self) -> None:
        self._flush()

    def _flush(self) -> None:
        links = self.outgoing_links()
        if not self._held or not links or not all(
                link.overflow is Overflow.DROP_OLDEST or link.has_credit() for link in links):
            return
        payload = codec.pack_records(self._held_records)
        for link in links:
            self.emit(link.link_id, RECORD_KIND, len(self._held_records), payload)
        self.forwarded += len(self._held_records)
        held, self._held, self._held_records = self._held, [], []
        for batch in held:
            self.finish_batch(batch)

    def status_counters(self) -> dict[str, float]:
        return {"held_records": len(self._held_records), "forwarded_records": self.forwarded}


class SyntheticSink(ComponentActor):
    """Counts records and checks sequence numbers; optionally slow (and, in tests, stuck)."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.delay_per_batch_s = 0.0
        self.block_handler_s = 0.0
        self.records = 0
        self.batches = 0
        self.seen: set[int] = set()
        self.duplicates = 0
        self._slow_queue: collections.deque[LinkBatch] = collections.deque()
        self._blocked_once = False

    def configure(self, settings: dict[str, Any]) -> None:
        self.delay_per_batch_s = _number(settings, "delay_per_batch_s", 0.0)
        self.block_handler_s = _number(settings, "block_handler_s", 0.0)

    def on_batch(self, batch: LinkBatch) -> bool:
        if self.block_handler_s and not self._blocked_once:
            self._blocked_once = True
            logger.warning("%s: blocking the handler for %.1fs (test mode)", self,
                           self.block_handler_s)
            time.sleep(self.block_handler_s)   # deliberate: proves shutdown copes with it
        for record in codec.unpack_records(batch.payload):
            seq = int(record[0])
            if seq in self.seen:
                self.duplicates += 1
            self.seen.add(seq)
        self.records += batch.count
        self.batches += 1
        if not self.delay_per_batch_s:
            return True
        self._slow_queue.append(batch)
        if len(self._slow_queue) == 1:
            self.start_timer(self.delay_per_batch_s, SyntheticTimer.SINK_DELAY)
        return False

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is SyntheticTimer.SINK_DELAY and self._slow_queue:
            self.finish_batch(self._slow_queue.popleft())
            if self._slow_queue:
                self.start_timer(self.delay_per_batch_s, SyntheticTimer.SINK_DELAY)

    def status_counters(self) -> dict[str, float]:
        return {"received_records": self.records, "received_batches": self.batches,
                "distinct_records": len(self.seen), "duplicate_records": self.duplicates,
                "min_seq": min(self.seen, default=0), "max_seq": max(self.seen, default=0),
                "unfinished_batches": len(self._slow_queue)}
