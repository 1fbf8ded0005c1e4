"""One step of the uplink's work loop: inbox → core, core → adapter (plain logic, no thespian).

``UplinkPump.step()`` is what the CloudUplink actor runs on every wakeup (and what tests,
benchmarks and the crash helper run in a loop): drain the adapter's inbox into
``UplinkCore.on_cloud_message`` (routing commands through ``on_command``), run ``tick()``
(deadlines, fsync policy), then hand frames to the adapter while its send queue has room. It
never blocks: an empty inbox or a shut window simply ends the step. Unknown inbox items are
counted, never raised.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Protocol

from actors.uplink.frames import OutgoingFrame
from actors.uplink.uplink_core import CommandRouted, UplinkCore
from messages.uplink import (
    CloudBatchesAcked,
    CloudCommandReceived,
    CloudHeartbeatReceived,
    CloudSessionWelcomed,
    UplinkStreamClosed,
    UplinkStreamOpened,
)

__all__ = ["FrameSink", "UplinkPump"]

_CLOUD_EVENTS = (UplinkStreamOpened, UplinkStreamClosed, CloudSessionWelcomed, CloudBatchesAcked,
                 CloudHeartbeatReceived, CloudCommandReceived)


class FrameSink(Protocol):
    """Where frames go (the stream adapter, or a fake in tests)."""

    def has_room(self) -> bool: ...

    def offer(self, frame: OutgoingFrame) -> None: ...


class UplinkPump:
    """Couples an ``UplinkCore`` with a stream adapter's inbox and send queue."""

    def __init__(self, core: UplinkCore, sink: FrameSink, inbox: queue.Queue[object], *,
                 on_command: Callable[[CommandRouted], None] | None = None,
                 max_events_per_step: int = 1000, max_frames_per_step: int = 64) -> None:
        self.core, self.sink, self.inbox = core, sink, inbox
        self.on_command = on_command or (lambda routed: None)
        self.max_events_per_step = max_events_per_step
        self.max_frames_per_step = max_frames_per_step
        self.unknown_events = 0

    def step(self) -> int:
        """Do the pending work once; returns how many events and frames were handled."""
        done = 0
        for _ in range(self.max_events_per_step):
            try:
                event = self.inbox.get_nowait()
            except queue.Empty:
                break
            done += 1
            if not isinstance(event, _CLOUD_EVENTS):
                self.unknown_events += 1
                continue
            for routed in self.core.on_cloud_message(event):
                self.on_command(routed)
        self.core.tick()
        for _ in range(self.max_frames_per_step):
            if not self.sink.has_room():
                break
            frame = self.core.next_to_send()
            if frame is None:
                break
            self.sink.offer(frame)
            done += 1
        return done
