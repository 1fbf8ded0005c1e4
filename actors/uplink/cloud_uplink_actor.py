"""``CloudUplink`` (type ``cloud_uplink``): the operator's one stream to Kestrel Cloud.

A leaf actor that owns the uplink stack (``assembly.build_uplink``: disk spool, core, the gRPC
adapter thread). It is:
- the CONSUMER of every producer link: ``record_intake`` maps each batch onto the core;
  ACCEPTED/REJECTED batches are finished (credit returns; rejections are counted and logged),
  BACKPRESSURE (spool full) batches are held unfinished, so the producer runs out of credit and
  stops reading its source, and are offered again on every tick and after acks;
- the PRODUCER on request links to command owners: a command the core routes is sent as a
  ``command`` record, queued (bounded, with its deadline) while the owner has no credit, and
  answered at once by the uplink when the owner is not linked (``command_delivery``);
- on every new cloud session it sends a ``session`` record ``{session, resume}`` to the
  ``kube_watcher/*`` request link(s), which answer with a fresh inventory snapshot.
The adapter thread never touches the actor: its ``notify`` hook puts a wake-up token into an
``IoBridge`` and the actor then runs ``UplinkPump.step()``; a periodic timer does the same for
deadlines, linger, fsync and held batches. A crash loses only memory: the next incarnation
re-opens the spool (everything accepted is on disk) and the producers resend what was never
credited. The adapter logs its last error text once per change; the status counter
``last_error_code`` classifies it (``uplink_status``), since leaf status carries numbers only.
"""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Mapping
from typing import Any

from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.credit import LinkSender
from actors.runtime.io_bridge import IoBridge
from actors.runtime.settings_schema import check_mapping
from actors.uplink.assembly import UplinkStack, build_uplink
from actors.uplink.command_delivery import CommandDelivery, QueuedCommand
from actors.uplink.command_routing import CommandRouted
from actors.uplink.record_intake import TELEMETRY_KINDS, RecordIntake
from actors.uplink.settings import (
    CLOUD_UPLINK_SETTINGS,
    UplinkSettings,
    uplink_settings_for_component,
)
from actors.uplink.uplink_core import AcceptOutcome
from actors.uplink.uplink_status import uplink_status_counters
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch
from messages.uplink import CloudCommandAnswered, CloudCommandStatus

__all__ = ["CloudUplink"]

logger = logging.getLogger(__name__)

WATCHER_TYPE = "kube_watcher/"
MAX_STEPS_PER_WAKEUP = 4


class UplinkTimer(enum.Enum):
    """The uplink's own wakeups."""

    TICK = "tick"


class CloudUplink(ComponentActor):
    """Spools producer batches for the cloud and delivers the cloud's commands."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.stack: UplinkStack | None = None
        self.intake: RecordIntake | None = None
        self.delivery: CommandDelivery | None = None
        self.held: collections.deque[LinkBatch] = collections.deque()
        self.routed: list[CommandRouted] = []
        self.draining = False
        self.tick_interval_s = 0.05
        self.link_grace_s = 5.0
        self.configured_at = 0.0
        self.sessions_seen = 0
        self.session_id = ""
        self.session_record: dict[str, Any] | None = None
        self.session_sent_to: set[tuple[str, int | None]] = set()   # (link id, link epoch)
        self.counters: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("backpressure_holds_total", "sessions_announced_total"), 0))

    # ---- setup and teardown ----------------------------------------------------------------

    def configure(self, settings: dict[str, Any]) -> None:
        problems: list[str] = []
        values = check_mapping(CLOUD_UPLINK_SETTINGS, settings, self.component_id, problems)
        if problems:
            raise ValueError("; ".join(problems))
        uplink_settings = uplink_settings_for_component(values)
        self.tick_interval_s = float(values["tick_interval"])
        self.link_grace_s = float(values["link_grace"])
        self.configured_at = time.monotonic()
        bridge: IoBridge[bool] = IoBridge(4)
        self.attach_bridge(bridge)
        self.stack = self.build_stack(uplink_settings, bridge)
        self.intake = RecordIntake(self.stack.core)
        self.delivery = CommandDelivery(queue_limit=int(values["command_queue"]))
        self.sessions_seen = int(self.stack.core.stats["sessions"])
        self.stack.start()
        logger.info("%s: uplink to %s, spool %s (%d items not yet acked)", self,
                    uplink_settings.server_address, uplink_settings.spool_dir,
                    self.stack.core.spool.last_sequence - self.stack.core.spool.acked_sequence)
        self.start_timer(self.tick_interval_s, UplinkTimer.TICK)

    def build_stack(self, settings: UplinkSettings, bridge: IoBridge[bool]) -> UplinkStack:
        """The uplink stack; its adapter thread only ever pokes ``bridge`` (tests override)."""
        def notify() -> None:                   # adapter thread: a wake-up token, nothing else
            if bridge.pending() == 0:
                bridge.offer(True)

        return build_uplink(settings, on_command=self.routed.append, notify=notify)

    def stop_io(self) -> None:
        if self.stack is not None:
            stack, self.stack = self.stack, None
            stack.adapter.stop(2.0)
            stack.core.close()

    def drain_sources(self) -> None:
        """No new commands from now on; push what is pending; the spool is fsynced now."""
        self.draining = True
        if self.stack is not None:
            self._work()
            self.stack.core.spool.sync()

    # ---- input from producers --------------------------------------------------------------

    def on_batch(self, batch: LinkBatch) -> bool:
        if self.intake is None:
            return True
        telemetry = TELEMETRY_KINDS.get(batch.record_kind)
        lossy = telemetry is not None and not telemetry[1]
        if self.held and not lossy:               # keep each lossless link in order
            self.held.append(batch)
            return False
        if self.intake.take(batch.record_kind, batch.count, batch.payload) \
                is AcceptOutcome.BACKPRESSURE:
            self.counters["backpressure_holds_total"] += 1
            self.held.append(batch)
            return False
        self._work()
        return True

    def _retry_held(self) -> None:
        while self.held and self.intake is not None:
            batch = self.held[0]
            if self.intake.take(batch.record_kind, batch.count, batch.payload) \
                    is AcceptOutcome.BACKPRESSURE:
                return
            self.held.popleft()
            self.finish_batch(batch)

    # ---- the work loop ---------------------------------------------------------------------

    def on_bridge_items(self, items: list[Any]) -> None:
        self._work()

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is UplinkTimer.TICK and self.stack is not None:
            self._retry_held()
            self._work()
            self._flush_commands()
            self.start_timer(self.tick_interval_s, UplinkTimer.TICK)

    def on_credit_available(self, link_id: str) -> None:
        self._flush_commands()
        self._announce_session()

    def _work(self) -> None:
        stack = self.stack
        if stack is None:
            return
        for _ in range(MAX_STEPS_PER_WAKEUP):
            if not stack.pump.step():
                break
        routed = list(self.routed)          # the pump's on_command appends to this very list
        self.routed.clear()
        for item in routed:
            self._deliver(item)
        sessions = int(stack.core.stats["sessions"])
        if sessions != self.sessions_seen:
            self.sessions_seen = sessions
            resume = bool(self.session_id) and stack.core.session_id == self.session_id
            self.session_id = stack.core.session_id
            self.session_record = {"session": self.session_id, "resume": resume}
            self.session_sent_to.clear()
            self._announce_session()
        if self.held:
            self._retry_held()

    # ---- commands to owners ----------------------------------------------------------------

    def _deliver(self, routed: CommandRouted) -> None:
        if self.delivery is None:
            return
        request_id, owner = routed.command.request_id, routed.owner_id
        if self.draining:
            self._answer(self.delivery.refuse(request_id, CloudCommandStatus.REJECTED,
                                              "the operator is shutting down"))
            return
        prepared = self.delivery.prepare(routed)
        if isinstance(prepared, CloudCommandAnswered):
            self._answer(prepared)
            return
        link = self._link_to(owner)
        if link is None and not self._in_grace():
            self._answer(self.delivery.refuse(request_id, CloudCommandStatus.UNSUPPORTED,
                                              self._not_linked(owner)))
        elif link is not None and link.has_credit() and not self.delivery.waiting(owner):
            self._send_command(link, prepared)
            self.delivery.delivered()
        else:
            refusal = self.delivery.enqueue(owner, prepared)
            if refusal is not None:
                self._answer(refusal)

    def _flush_commands(self) -> None:
        if self.delivery is None:
            return
        for owner in self.delivery.owners_waiting():
            link = self._link_to(owner)
            if link is None:
                if not self._in_grace():
                    for answer in self.delivery.refuse_all(
                            owner, CloudCommandStatus.UNSUPPORTED, self._not_linked(owner)):
                        self._answer(answer)
                continue
            while link.has_credit():
                queued = self.delivery.take(owner)
                if queued is None:
                    break
                self._send_command(link, queued)

    def _send_command(self, link: LinkSender, queued: QueuedCommand) -> None:
        self.emit(link.link_id, RecordKind.COMMAND.value, 1, codec.pack_records([queued.record]))

    def _answer(self, answer: CloudCommandAnswered) -> None:
        if self.stack is not None:
            logger.warning("%s: command %s answered %s: %s", self, answer.request_id,
                           answer.status.value, answer.error)
            self.stack.core.complete_command(answer)

    def _link_to(self, consumer_id: str) -> LinkSender | None:
        return next((link for link in self.outgoing_links()
                     if link.consumer_id == consumer_id), None)

    def _in_grace(self) -> bool:
        return time.monotonic() - self.configured_at < self.link_grace_s

    @staticmethod
    def _not_linked(owner: str) -> str:
        return (f"no request link from the uplink to {owner}: the component that handles this "
                "command is not configured in the topology (or not running)")

    # ---- sessions --------------------------------------------------------------------------

    def _announce_session(self) -> None:
        """The current session to every watcher link, again to a restarted watcher (new
        link epoch); ``resume`` is True when the cloud kept the session the uplink had."""
        record = self.session_record
        if record is None:
            return
        for link in self.outgoing_links():
            key = (link.link_id, link.epoch)
            if link.consumer_id.startswith(WATCHER_TYPE) and key not in self.session_sent_to \
                    and link.has_credit():
                self.emit(link.link_id, RecordKind.SESSION.value, 1,
                          codec.pack_records([record]))
                self.session_sent_to.add(key)
                self.counters["sessions_announced_total"] += 1

    # ---- status ----------------------------------------------------------------------------

    def current_error(self) -> str:
        return self.stack.adapter.last_error if self.stack is not None else ""

    def status_counters(self) -> dict[str, float]:
        if self.stack is None or self.intake is None or self.delivery is None:
            return {"connected": 0.0}
        out = uplink_status_counters(self.stack.counters(), self.stack.adapter.last_error)
        out["held_batches"] = float(len(self.held))
        out["commands_queued"] = float(self.delivery.queued())
        out.update({k: float(v) for k, v in self.delivery.counters.items()})
        out.update({k: float(v) for k, v in self.intake.counters.items()})
        out.update({k: float(v) for k, v in self.counters.items()})
        return out
