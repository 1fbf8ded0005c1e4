"""The uplink's logic: what the CloudUplink actor calls (no thespian, no sockets, injected clocks).

Ties together the disk spool (lossless items), the lossy buffer (flows, L7), the sequencer (ack
window, coalescing, resend), frame filling (``frame_filling``, with the in-memory send cache) and
command routing with deadlines (``command_routing``):

- ``accept(kind, count, payload, lossless)``: lossless input is numbered and spooled before it
  counts as accepted; ``BACKPRESSURE`` means the spool is full and the caller must stop taking
  lossless input (never dropped); lossy input is buffered and dropped oldest-first, counted;
- ``on_cloud_message(msg)``: stream events from the adapter; returns ``CommandRouted`` items the
  actor must deliver to the owning components;
- ``complete_command(answer)`` / ``commit_inventory(...)``: reliable control items;
- ``next_to_send()``: the next ``OutgoingFrame`` when the window and coalescing allow;
- ``tick()``: answers commands past their deadline with ``DEADLINE_EXCEEDED`` (never silently
  dropped), applies the fsync policy and retries control items the full spool refused.
Everything odd (stale epochs, duplicate or unknown request ids, unreadable spool entries) is
counted in ``counters()``, never raised.
"""

from __future__ import annotations

import collections
import enum
import logging
import time
import uuid
from collections.abc import Callable

import msgpack

from actors.uplink import frames
from actors.uplink.command_routing import CommandRefusal, CommandRouted, CommandRouter
from actors.uplink.frame_filling import FrameFiller
from actors.uplink.lossy_buffer import LossyBatchPending, LossyBuffer
from actors.uplink.send_cache import SendCache
from actors.uplink.sequencing import Sequencer
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool, SpoolEntryTooLargeError
from messages.uplink import (
    CloudBatchesAcked,
    CloudCommandAnswered,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudHeartbeatReceived,
    CloudSessionWelcomed,
    UplinkRecordKind,
    UplinkStreamClosed,
    UplinkStreamOpened,
)

__all__ = ["AcceptOutcome", "CloudEvent", "CommandRouted", "UplinkCore"]

logger = logging.getLogger(__name__)

CloudEvent = (UplinkStreamOpened | UplinkStreamClosed | CloudSessionWelcomed | CloudBatchesAcked
              | CloudHeartbeatReceived | CloudCommandReceived)


# keyed by the kind's value: a str hashes in C, an Enum member in Python
_ACCEPTED_RECORDS_KEY = {kind.value: f"lossless_accepted_records.{kind.value}"
                         for kind in UplinkRecordKind}


class AcceptOutcome(enum.Enum):
    """What happened to input offered to the uplink."""

    ACCEPTED = "accepted"
    BACKPRESSURE = "backpressure"   # lossless: spool full, stop taking input and retry later
    REJECTED = "rejected"           # bad input (counted); retrying will not help


class UplinkCore:
    """State of one uplink across stream reconnects (and, through the spool, restarts)."""

    def __init__(self, settings: UplinkSettings, *, spool: DiskSpool,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 instance_id: str | None = None) -> None:
        self.settings = settings
        self.spool = spool
        self._clock = clock
        self._wall = wall_clock
        self.instance_id = instance_id or uuid.uuid4().hex
        self.lossy = LossyBuffer(max_bytes=settings.lossy_max_bytes,
                                 max_batches=settings.lossy_max_batches)
        self.sequencer = Sequencer(window_batches=settings.window_batches,
                                   window_bytes=settings.window_bytes,
                                   frame_target_bytes=settings.frame_target_bytes,
                                   frame_max_bytes=settings.frame_max_bytes,
                                   linger_s=settings.linger_s, clock=clock)
        self.sequencer.restore(last_stored=spool.last_sequence, acked=spool.acked_sequence)
        self.router = CommandRouter(
            {CloudCommandKind(kind): owner for kind, owner in settings.command_owners},
            max_pending=settings.max_pending_commands,
            default_timeout_s=settings.command_default_timeout_s, wall_clock=wall_clock)
        self._cache = SendCache(settings.send_cache_bytes)
        self._filler = FrameFiller(self.sequencer, spool, self._cache, self.lossy)
        self.epoch = 0
        self.session_id = ""
        self.connected = False
        self._unsent_since: float | None = None
        self._control_backlog: collections.deque[frames.ReliableItem] = collections.deque()
        self._age_samples: collections.deque[tuple[int, float]] = collections.deque()
        if spool.last_sequence > spool.acked_sequence:
            self._age_samples.append((spool.acked_sequence + 1, clock()))
        self.stats: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("lossless_accepted_records", "backpressure_refusals", "rejected_batches",
             "sessions", "streams_opened", "stale_stream_messages", "frames_sent", "items_sent"),
            0))

    # ------------------------------------------------------------------ input
    def accept(self, record_kind: UplinkRecordKind, count: int, payload: bytes,
               lossless: bool) -> AcceptOutcome:
        if count < 0 or not isinstance(payload, bytes):
            self.stats["rejected_batches"] += 1
            logger.error("uplink: rejected a %s batch with count %s", record_kind.value, count)
            return AcceptOutcome.REJECTED
        now_ms = int(self._wall() * 1000)
        if not lossless:
            self.lossy.push(LossyBatchPending(record_kind, count, payload, now_ms))
            return AcceptOutcome.ACCEPTED
        # numbered as the sequence it will most likely get (_spool_item renumbers otherwise)
        item = frames.ReliableBatch(self.sequencer.next_sequence, record_kind, count, payload,
                                    now_ms)
        outcome = self._spool_item(item)
        if outcome is AcceptOutcome.ACCEPTED:
            self.stats[_ACCEPTED_RECORDS_KEY[record_kind._value_]] += count
            self.stats["lossless_accepted_records"] += count
        return outcome

    def commit_inventory(self, snapshot_id: str, counts: dict[str, int]) -> AcceptOutcome:
        item = frames.ReliableInventoryCommit(0, snapshot_id, tuple(sorted(counts.items())))
        return self._spool_or_backlog(item)

    def complete_command(self, answer: CloudCommandAnswered) -> AcceptOutcome:
        if not self.router.complete(answer.request_id):
            logger.warning("uplink: result for %s arrived late or for an unknown request",
                           answer.request_id)
            return AcceptOutcome.REJECTED
        self.stats[f"commands_completed.{answer.status.value}"] += 1
        return self._spool_or_backlog(frames.ReliableCommandResult(
            0, answer.request_id, answer.status, answer.error, answer.payload, answer.truncated))

    # ------------------------------------------------------------------ from the cloud
    def on_cloud_message(self, msg: CloudEvent) -> list[CommandRouted]:
        if isinstance(msg, UplinkStreamOpened):
            self.epoch, self.connected = msg.epoch, False
            self.stats["streams_opened"] += 1
            return []
        if msg.epoch != self.epoch:
            self.stats["stale_stream_messages"] += 1
            return []
        self.stats["cloud_messages"] += 1
        if isinstance(msg, UplinkStreamClosed):
            self.connected = False
            self.stats[f"streams_closed.{msg.code}"] += 1
        elif isinstance(msg, CloudSessionWelcomed):
            self._on_welcome(msg)
        elif isinstance(msg, CloudBatchesAcked):
            if self.sequencer.on_ack(msg.through_sequence, msg.lossy_through_sequence):
                self.spool.ack(self.sequencer.acked_sequence)
                self._cache.drop_through(self.sequencer.acked_sequence)
        elif isinstance(msg, CloudHeartbeatReceived):
            self.stats["cloud_heartbeats"] += 1
        else:
            routed = self.router.route(msg)
            if isinstance(routed, CommandRefusal):
                self._answer_locally(routed)
            elif routed is not None:
                return [routed]
        return []

    def _on_welcome(self, msg: CloudSessionWelcomed) -> None:
        before = self.sequencer.acked_sequence
        self.sequencer.on_welcome(msg.last_acked_sequence)
        if msg.last_acked_sequence < self.spool.acked_sequence:
            self.stats["resume_behind_spool"] += 1
            logger.warning("uplink: cloud resumes at %d but %d were already acked and deleted",
                           msg.last_acked_sequence, self.spool.acked_sequence)
        if self.sequencer.acked_sequence > before:
            self.spool.ack(self.sequencer.acked_sequence)
        self.spool.rewind(self.sequencer.acked_sequence)
        self.session_id = msg.session_id
        self.connected = True
        self.stats["sessions"] += 1
        logger.info("uplink: session %s, resending after sequence %d",
                    msg.session_id, self.sequencer.acked_sequence)

    # ------------------------------------------------------------------ output
    def next_to_send(self) -> frames.OutgoingFrame | None:
        """The next frame for the current stream, or None (not connected, window shut, linger)."""
        if not self.connected:
            return None
        if self._control_backlog:
            self._drain_control_backlog()
        pending = self.spool.unread_bytes() + self.lossy.buffered_bytes
        if self.sequencer.has_lossy_resend():
            pending = max(pending, 1)
        if pending == 0:
            self._unsent_since = None
            return None
        if self._unsent_since is None:
            self._unsent_since = self._clock()
        budget = self.sequencer.budget()
        if not budget.open or not self.sequencer.should_send(
                pending_bytes=pending, pending_since=self._unsent_since):
            return None
        items = self._filler.fill(max_items=budget.items, max_bytes=budget.payload_bytes)
        still_pending = self.spool.unread_bytes() + self.lossy.buffered_bytes > 0
        self._unsent_since = self._clock() if still_pending else None
        if not items:
            return None
        self.stats["frames_sent"] += 1
        self.stats["items_sent"] += len(items)
        return frames.OutgoingFrame(self.epoch, tuple(items))

    # ------------------------------------------------------------------ housekeeping
    def tick(self) -> list[str]:
        """Expire overdue commands (answered DEADLINE_EXCEEDED); returns their request ids."""
        expired = self.router.expire()
        for refusal in expired:
            self._answer_locally(refusal)
        self._drain_control_backlog()
        self.spool.flush_due()
        return [refusal.request_id for refusal in expired]

    def hello(self) -> frames.HelloInfo:
        """Contents of the next Hello (safe to call from the adapter thread: reads only)."""
        capabilities = ("telemetry.v1", "lossy_sequence.v1",
                        *sorted(f"command.{kind.value}" for kind in self.router.owners))
        return frames.HelloInfo(self.settings.cluster_id, self.settings.operator_version,
                                capabilities, self.sequencer.acked_sequence, self.session_id,
                                self.instance_id, self.sequencer.next_sequence)

    def pending_command_ids(self) -> frozenset[str]:
        return self.router.pending_ids

    def counters(self) -> dict[str, float]:
        out = {name: float(value) for name, value in self.stats.items()}
        out.update({name: float(value) for name, value in self.router.stats.items()})
        out["send_cache_hits"] = float(self._cache.hits)
        out["spool_entries_unreadable"] = float(self._filler.unreadable)
        out.update(self.sequencer.counters())
        out.update(self.lossy.counters())
        out.update({"connected": float(self.connected),
                    "spool_bytes": float(self.spool.size_bytes),
                    "spool_segments": float(self.spool.segment_count),
                    "spool_unacked_items": float(self.spool.last_sequence
                                                 - self.spool.acked_sequence),
                    "spool_corrupt_tails": float(self.spool.corrupt_tails),
                    "spool_corrupt_bytes": float(self.spool.corrupt_bytes),
                    "spool_fsyncs": float(self.spool.fsyncs),
                    "oldest_unacked_age_s": self._oldest_unacked_age(),
                    "commands_pending": float(len(self.router.pending_ids)),
                    "control_backlog": float(len(self._control_backlog))})
        return out

    def close(self) -> None:
        self.spool.close()

    # ------------------------------------------------------------------ internals
    def _spool_item(self, item: frames.ReliableItem) -> AcceptOutcome:
        # a batch's payload goes to disk as it is (one writev of head, payload, tail: no copy)
        parts = frames.reliable_batch_parts(item) if isinstance(item, frames.ReliableBatch) \
            else (frames.encode_reliable(item),)
        size = sum(map(len, parts))
        seq = self.sequencer.assign()
        try:
            stored = self.spool.append_parts(seq, parts, size)
        except SpoolEntryTooLargeError as exc:
            self.sequencer.unassign(seq)
            self.stats["rejected_batches"] += 1
            logger.error("uplink: a %d-byte item can never fit the spool: %s", size, exc)
            return AcceptOutcome.REJECTED
        if not stored:
            self.sequencer.unassign(seq)
            self.stats["backpressure_refusals"] += 1
            return AcceptOutcome.BACKPRESSURE
        self._cache.add(item if item.sequence == seq else _with_sequence(item, seq),
                        self.spool.position(), size)
        now = self._clock()
        if not self._age_samples or now - self._age_samples[-1][1] >= 1.0:
            self._age_samples.append((seq, now))
        return AcceptOutcome.ACCEPTED

    def _spool_or_backlog(self, item: frames.ReliableItem) -> AcceptOutcome:
        outcome = AcceptOutcome.BACKPRESSURE if self._control_backlog else self._spool_item(item)
        if outcome is AcceptOutcome.REJECTED and isinstance(item, frames.ReliableCommandResult):
            # a result too big for the spool still gets an answer, never silence
            item = frames.ReliableCommandResult(0, item.request_id, CloudCommandStatus.FAILED,
                                                "result too large for the uplink spool",
                                                b"", True)
            outcome = self._spool_item(item)
        if outcome is AcceptOutcome.BACKPRESSURE:
            self._control_backlog.append(item)
            self.stats["control_items_waiting_for_spool"] += 1
        return AcceptOutcome.ACCEPTED

    def _drain_control_backlog(self) -> None:
        while self._control_backlog:
            if self._spool_item(self._control_backlog[0]) is AcceptOutcome.BACKPRESSURE:
                return
            self._control_backlog.popleft()

    def _answer_locally(self, refusal: CommandRefusal) -> None:
        logger.warning("uplink: command %s answered %s: %s", refusal.request_id,
                       refusal.status.value, refusal.error)
        payload = bytes(msgpack.packb({"error": refusal.error}, use_bin_type=True))
        self._spool_or_backlog(frames.ReliableCommandResult(
            0, refusal.request_id, refusal.status, refusal.error, payload, False))

    def _oldest_unacked_age(self) -> float:
        first_unacked = self.spool.acked_sequence + 1
        while len(self._age_samples) >= 2 and self._age_samples[1][0] <= first_unacked:
            self._age_samples.popleft()
        if self.spool.last_sequence < first_unacked or not self._age_samples:
            return 0.0
        return max(0.0, self._clock() - self._age_samples[0][1])


def _with_sequence(item: frames.ReliableItem, seq: int) -> frames.ReliableItem:
    if isinstance(item, frames.ReliableBatch):
        return frames.ReliableBatch(seq, item.kind, item.count, item.payload,
                                    item.accepted_unix_ms)
    if isinstance(item, frames.ReliableInventoryCommit):
        return frames.ReliableInventoryCommit(seq, item.snapshot_id, item.counts)
    return frames.ReliableCommandResult(seq, item.request_id, item.status, item.error,
                                        item.payload, item.truncated)
