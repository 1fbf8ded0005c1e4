"""Minimal actors for ``bench actor_hop``: the cost of one credit-linked hop, nothing else.

``HopSource`` emits one pre-built msgpack batch over and over while its link has credit;
``HopSink`` counts records and stamps the first and last arrival (CLOCK_MONOTONIC is
system-wide on Linux, so the stamps compare across processes). No per-record Python work on
either side, so the figure is the runtime's: pickling, thespian's TCP transport, credit.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import Any

from actors.runtime.component_actor import ComponentActor, TimerTag
from messages import codec
from messages.runtime import LinkBatch


class HopTimer(enum.Enum):
    """The source's start tick."""

    START = "start"


class HopSource(ComponentActor):
    """Sends ``batches`` copies of one batch of ``batch_records`` records."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.payload = b""
        self.count = 0
        self.batches = 0
        self.sent = 0

    def configure(self, settings: dict[str, Any]) -> None:
        filler = b"x" * int(settings["record_bytes"])
        self.count = int(settings["batch_records"])
        self.batches = int(settings["batches"])
        self.payload = codec.pack_records([[i, filler] for i in range(self.count)])
        self.start_timer(0.05, HopTimer.START)

    def on_timer(self, tag: TimerTag) -> None:
        self._pump()

    def on_credit_available(self, link_id: str) -> None:
        self._pump()

    def _pump(self) -> None:
        for link in self.outgoing_links():
            while self.sent < self.batches and link.has_credit():
                self.emit(link.link_id, "bench", self.count, self.payload)
                self.sent += 1

    def status_counters(self) -> dict[str, float]:
        return {"sent_batches_total": self.sent, "payload_bytes": len(self.payload)}


class HopSink(ComponentActor):
    """Counts records; remembers when the first and the last batch arrived."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.records = 0
        self.payload_bytes = 0
        self.first = 0.0
        self.last = 0.0

    def on_batch(self, batch: LinkBatch) -> bool:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.records += batch.count
        self.payload_bytes += len(batch.payload)
        return True

    def status_counters(self) -> dict[str, float]:
        return {"received_records_total": self.records, "received_bytes_total": self.payload_bytes,
                "first_arrival": self.first, "last_arrival": self.last}
