"""``ComponentActor``: the base of every operator actor (leaves and supervisors).

Owns the runtime protocol every component speaks, so real actors only implement hooks:
- lifecycle: ``ConfigureComponent`` → ``configure(settings)`` → ``ComponentReady`` to the parent;
  ``StopComponent`` → ``stop_io()`` → ``ComponentStopping(normal=True)`` → exit;
  ``ActorExitRequest`` → ``stop_io()``; ``PR_SET_PDEATHSIG`` in ``__init__`` (no orphans);
- failure: an exception in any handler → ``ComponentFailed(reason)`` to the parent and a
  self-exit, instead of thespian's retry-then-PoisonMessage that leaves a broken actor alive;
  the parent's supervisor decides what happens next (restart from the source, never from this
  actor's memory);
- links: producers get ``ConnectLink`` from the root broker and send with ``emit``; consumers
  get ``LinkBatch`` in ``on_batch`` and credit it when finished (``credit.py`` does the
  accounting); ``DrainRequest`` stops sources (``drain_sources``) and answers ``DrainComplete``
  once every outgoing link is flushed or the deadline passes;
- I/O: an ``IoBridge`` attached with ``attach_bridge`` is watched with ``ThespianWatch`` (TCP
  base; re-armed on EVERY return, because a handler returning None clears it) or polled with
  ``wakeupAfter`` (simpleSystemBase); drained only while ``bridge_ready()``;
- timers: ``start_timer(delay, kind, key)`` with generation tags (wakeups cannot be cancelled);
- status: ``StatusProbe`` → ``ComponentStatus`` with link accounting and ``status_counters()``;
- fault injection: ``InjectCrash`` RAISE / EXIT / KILL.
Longer than the house 250 lines because it is the one place this protocol lives.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from thespian.actors import (
    ActorAddress,
    ActorExitRequest,
    ActorTypeDispatcher,
    ChildActorExited,
    PoisonMessage,
    ThespianWatch,
    WakeupMessage,
    WatchMessage,
)

from actors.runtime.credit import BatchVerdict, LinkReceiver, LinkSender
from actors.runtime.io_bridge import IoBridge
from actors.runtime.thespian_hardening import set_parent_death_signal
from actors.runtime.timer_wheel import TimerWheel
from messages import codec
from messages.runtime import (
    ComponentFailed,
    ComponentReady,
    ComponentState,
    ComponentStatus,
    ComponentStopping,
    ConfigureComponent,
    ConnectLink,
    CrashMode,
    DrainComplete,
    DrainRequest,
    InjectCrash,
    LinkBatch,
    LinkCredit,
    StatusProbe,
    StopComponent,
)

__all__ = ["ComponentActor", "InjectedCrashError", "RuntimeTimer", "TimerTag"]

logger = logging.getLogger(__name__)


class InjectedCrashError(RuntimeError):
    """Raised on purpose by ``InjectCrash(mode=RAISE)``."""


class RuntimeTimer(enum.Enum):
    """The base class's own wakeups."""

    BRIDGE_POLL = "bridge_poll"      # drain the IoBridge where ThespianWatch is unsupported
    CREDIT_FLUSH = "credit_flush"    # send credits that did not reach the batching threshold
    DRAIN_DEADLINE = "drain_deadline"


@dataclasses.dataclass(frozen=True, slots=True)
class TimerTag:
    """A wakeup payload: ``kind`` (any enum), ``key``, and a generation for staleness."""

    kind: enum.Enum
    key: str
    generation: int
    managed: bool = True     # managed tags are checked against the latest start_timer call


_WHEEL_WAKEUP = "kestrel-timer-wheel"   # the payload of the one armed wakeup (a str pickles)


class ComponentActor(ActorTypeDispatcher):
    """Base of every operator actor; subclasses override the hooks, not the handlers."""

    MAX_DRAIN = 64                 # bridge items per handler call: keep handlers short
    BRIDGE_POLL_S = 0.05
    CREDIT_FLUSH_S = 0.01

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        caps = dict(capabilities or {})
        system_name = str(caps.get("Thespian ActorSystem Name", "multiproc"))
        self.own_process = system_name.startswith("multiproc")
        self._watch_supported = bool(caps.get("Thespian Watch Supported", False))
        if self.own_process:
            set_parent_death_signal(signal.SIGTERM)
        self.component_id = ""
        self.component_type = ""
        self.incarnation = 0
        self.parent: ActorAddress | None = None
        self.state = ComponentState.STARTING
        self.started_at = time.monotonic()
        self.io_bridge: IoBridge[Any] | None = None
        self.exiting = False
        self._io_closed = False
        self._senders: dict[str, LinkSender] = {}        # by link id
        self._consumers: dict[str, ActorAddress] = {}    # link id -> consumer address
        self._receiver = LinkReceiver()
        self._credit_to: dict[str, ActorAddress] = {}    # inbound link id -> producer address
        self._credit_flush_armed = False
        self._timer_generations: dict[tuple[str, str], int] = {}
        self._wheel = TimerWheel()
        self._drain_reply_to: ActorAddress | None = None
        self._runtime_counters: dict[str, float] = {"unrecognized_messages": 0,
                                                    "unlinked_records": 0}

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.component_id}#{self.incarnation})"

    __repr__ = __str__

    # ---- hooks for subclasses --------------------------------------------------------------

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply validated settings; start adapters. Raising fails this incarnation."""

    def on_batch(self, batch: LinkBatch) -> bool:
        """Consume an accepted batch; True if finished now (else call ``finish_batch`` later)."""
        return True

    def on_credit_available(self, link_id: str) -> None:
        """Credit arrived on an outgoing link: a paused source may resume."""

    def on_bridge_items(self, items: list[Any]) -> None:
        """Items drained from the attached IoBridge."""

    def bridge_ready(self) -> bool:
        """False while the actor cannot take more from its bridge (e.g. no link credit)."""
        return True

    def on_timer(self, tag: TimerTag) -> None:
        """A (non-stale) timer started with ``start_timer`` fired."""

    def current_error(self) -> str:
        """Hook: what is wrong right now (e.g. "relay: certificate not trusted"), "" if nothing.

        Shown as ``last_error`` on /status while non-empty; otherwise the supervisor shows the
        reason of the component's last restart."""
        return ""

    def status_counters(self) -> dict[str, float]:
        return {}

    def drain_sources(self) -> None:
        """Stop taking new input and push buffered data into the links (DrainRequest)."""

    def stop_io(self) -> None:
        """Stop adapter threads and close sockets (the actor is exiting)."""

    # ---- helpers for subclasses ------------------------------------------------------------

    def emit(self, target: str, record_kind: str, count: int, payload: bytes) -> bool:
        """Send a batch on the link named by link id or consumer id; True if credit remains."""
        sender = self._sender_for(target)
        if sender is None:
            self._runtime_counters["unlinked_records"] += count
            logger.warning("%s: no link %r; %d records dropped", self, target, count)
            return False
        self._send_batches(sender.link_id, sender.offer(record_kind, count, payload))
        return sender.has_credit()

    def emit_records(self, record_kind: str, records: list[Any], per_batch: int) -> bool:
        """Pack ``records`` into batches of at most ``per_batch`` and emit each to every
        outgoing link; False (nothing sent) when this component has no outgoing link."""
        links = self.outgoing_links()
        if not links:
            return False
        for start in range(0, len(records), max(1, per_batch)):
            chunk = records[start:start + max(1, per_batch)]
            payload = codec.pack_records(chunk)
            for link in links:
                self.emit(link.link_id, record_kind, len(chunk), payload)
        return True

    def has_credit(self, target: str) -> bool:
        sender = self._sender_for(target)
        return sender is not None and sender.has_credit()

    def outgoing_links(self) -> list[LinkSender]:
        return list(self._senders.values())

    def finish_batch(self, batch: LinkBatch) -> None:
        """The batch is fully handled: credit its producer (batched)."""
        credit = self._receiver.finished(batch.link_id, batch.epoch, batch.seq)
        if credit is not None:
            self._send_credit(credit)
        elif self._receiver.owed() and not self._credit_flush_armed:
            self._credit_flush_armed = True
            self._schedule_runtime_timer(self.CREDIT_FLUSH_S,
                                         TimerTag(RuntimeTimer.CREDIT_FLUSH, "", 0))

    def attach_bridge(self, bridge: IoBridge[Any]) -> None:
        self.io_bridge = bridge
        if not self._watch_supported:
            self._schedule_runtime_timer(self.BRIDGE_POLL_S,
                                         TimerTag(RuntimeTimer.BRIDGE_POLL, "", 0))

    def start_timer(self, delay_s: float, kind: enum.Enum, key: str = "",
                    generation: int | None = None) -> int:
        """Arm a wakeup; a managed timer (no explicit generation) supersedes earlier ones."""
        if generation is not None:
            self._schedule_runtime_timer(delay_s, TimerTag(kind, key, generation, managed=False))
            return generation
        slot = (f"{type(kind).__name__}.{kind.value}", key)
        gen = self._timer_generations.get(slot, 0) + 1
        self._timer_generations[slot] = gen
        self._schedule_runtime_timer(delay_s, TimerTag(kind, key, gen))
        return gen

    def _schedule_runtime_timer(self, delay_s: float, tag: TimerTag) -> None:
        """All timers share one armed thespian wakeup (``TimerWheel``): see its docstring."""
        arm = self._wheel.schedule(time.monotonic(), delay_s, tag)
        if arm is not None:
            self.wakeupAfter(arm, _WHEEL_WAKEUP)

    def cancel_timer(self, kind: enum.Enum, key: str = "") -> None:
        slot = (f"{type(kind).__name__}.{kind.value}", key)
        self._timer_generations[slot] = self._timer_generations.get(slot, 0) + 1

    def fail(self, reason: str) -> None:
        """Report ``reason`` to the parent and exit; the supervisor decides what comes next."""
        if self.exiting:
            return
        self.state = ComponentState.FAILED
        if self.parent is not None:
            self.send(self.parent, ComponentFailed(component_id=self.component_id,
                                                   incarnation=self.incarnation, reason=reason))
        self._exit_self()

    def exit_normally(self, reason: str) -> None:
        """A deliberate, non-failure exit (transient children are not restarted)."""
        if self.exiting:
            return
        if self.parent is not None:
            self.send(self.parent, ComponentStopping(
                component_id=self.component_id, incarnation=self.incarnation, reason=reason,
                normal=True))
        self._exit_self()

    def status_snapshot(self, request_id: int) -> ComponentStatus:
        counters = {**self._runtime_counters, **self.status_counters(),
                    "duplicate_batches": self._receiver.duplicates,
                    "stale_batches": self._receiver.stale,
                    "reordered_batches_total": self._receiver.held,
                    "late_timers_total": self._wheel.late_fires,
                    "lost_wakeups_total": self._wheel.lost_wakeups,
                    "armed_wakeups": self._wheel.outstanding}
        if self.io_bridge is not None:
            counters.update(self.io_bridge.counters())
        return ComponentStatus(
            request_id=request_id, component_id=self.component_id,
            component_type=self.component_type, state=self.state,
            incarnation=self.incarnation, pid=os.getpid(), restarts=0,
            last_error=self.current_error(),
            uptime_s=time.monotonic() - self.started_at,
            links=tuple(sender.status() for sender in self._senders.values()),
            counters=tuple(sorted((k, float(v)) for k, v in counters.items())))

    # ---- dispatch wrapper ------------------------------------------------------------------

    def receiveMessage(self, message: Any, sender: ActorAddress) -> Any:
        if self.exiting and not isinstance(message, (ActorExitRequest, ChildActorExited)):
            return None
        try:
            super().receiveMessage(message, sender)
            if not isinstance(message, WakeupMessage) and len(self._wheel):
                self._fire_timers(from_wakeup=False)      # a lost wakeup must not stall us
        except Exception as exc:  # any handler bug fails this incarnation
            logger.exception("%s failed handling %s", self, type(message).__name__)
            self.fail(f"{type(exc).__name__}: {exc}"[:500])
        if self.io_bridge is not None and self._watch_supported and not self.exiting \
                and self.bridge_ready():
            return ThespianWatch([self.io_bridge.fileno()])
        return None

    # ---- lifecycle -------------------------------------------------------------------------

    def receiveMsg_ConfigureComponent(self, msg: ConfigureComponent,
                                      sender: ActorAddress) -> None:
        if self.component_id:                    # configured once per incarnation, never twice
            self._runtime_counters["unrecognized_messages"] += 1
            return
        self._adopt_identity(msg, sender)
        settings = codec.decode(msg.settings) if msg.settings else {}
        self.configure(dict(settings))
        self.state = ComponentState.RUNNING
        self.send(sender, ComponentReady(component_id=self.component_id,
                                         incarnation=self.incarnation, pid=os.getpid()))

    def _adopt_identity(self, msg: ConfigureComponent, sender: ActorAddress) -> None:
        self.parent = sender
        self.component_id = msg.component_id
        self.component_type = msg.component_type
        self.incarnation = msg.incarnation
        self.started_at = time.monotonic()

    def receiveMsg_StopComponent(self, msg: StopComponent, sender: ActorAddress) -> None:
        self.state = ComponentState.STOPPING
        self.exit_normally(msg.reason)

    def receiveMsg_StatusProbe(self, msg: StatusProbe, sender: ActorAddress) -> None:
        self.send(sender, self.status_snapshot(msg.request_id))

    def receiveMsg_InjectCrash(self, msg: InjectCrash, sender: ActorAddress) -> None:
        if msg.component_id != self.component_id:
            return
        logger.warning("%s: injected crash %s", self, msg.mode.value)
        if msg.mode is CrashMode.RAISE:
            raise InjectedCrashError("injected crash")
        if not self.own_process:                 # simpleSystemBase: vanish without a word
            self._exit_self()
        elif msg.mode is CrashMode.EXIT:
            os._exit(3)
        else:
            os.kill(os.getpid(), signal.SIGKILL)

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: ActorAddress) -> None:
        self.exiting = True
        if self.state is not ComponentState.FAILED:
            self.state = ComponentState.STOPPING
        self._close_io()

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: ActorAddress) -> None:
        logger.debug("%s: child exited %s", self, msg.childAddress)

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender: ActorAddress) -> None:
        logger.warning("%s: poison returned for %s", self, type(msg.poisonMessage).__name__)

    def receiveUnrecognizedMessage(self, message: Any, sender: ActorAddress) -> None:
        self._runtime_counters["unrecognized_messages"] += 1
        logger.debug("%s: dropped unrecognized %s", self, type(message).__name__)

    # ---- links -----------------------------------------------------------------------------

    def receiveMsg_ConnectLink(self, msg: ConnectLink, sender: ActorAddress) -> None:
        link = self._senders.get(msg.link_id)
        if link is None:
            link = LinkSender(msg.link_id, self.component_id, msg.consumer_id,
                              window=msg.window, overflow=msg.overflow)
            self._senders[msg.link_id] = link
        if link.epoch is not None and msg.epoch <= link.epoch:
            return                                     # stale broker message
        self._consumers[msg.link_id] = msg.consumer
        self._send_batches(msg.link_id, link.connect(msg.epoch, msg.window))
        self.on_credit_available(msg.link_id)

    def receiveMsg_LinkCredit(self, msg: LinkCredit, sender: ActorAddress) -> None:
        link = self._senders.get(msg.link_id)
        if link is None:
            return
        self._send_batches(msg.link_id, link.on_credit(msg.epoch, msg.through_seq))
        if link.has_credit():
            self.on_credit_available(msg.link_id)
            self._drain_bridge()
        self._check_drained()

    def receiveMsg_LinkBatch(self, msg: LinkBatch, sender: ActorAddress) -> None:
        verdict, credit, ready = self._receiver.admit(msg)
        self._credit_to[msg.link_id] = sender
        if credit is not None:
            self._send_credit(credit)
        for batch in ready:       # in sequence order, whatever order thespian delivered
            if verdict == BatchVerdict.ACCEPT and self.on_batch(batch):
                self.finish_batch(batch)

    def receiveMsg_DrainRequest(self, msg: DrainRequest, sender: ActorAddress) -> None:
        self._drain_reply_to = sender
        self.drain_sources()
        self.start_timer(msg.deadline_s, RuntimeTimer.DRAIN_DEADLINE)
        self._check_drained()

    # ---- timers and I/O --------------------------------------------------------------------

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender: ActorAddress) -> None:
        if msg.payload == _WHEEL_WAKEUP:
            self._fire_timers(from_wakeup=True)

    def _fire_timers(self, *, from_wakeup: bool) -> None:
        due, arm = self._wheel.pop_due(time.monotonic(), from_wakeup=from_wakeup)
        if arm is not None:
            self.wakeupAfter(arm, _WHEEL_WAKEUP)
        for tag in due:
            if not self.exiting:
                self._dispatch_timer(tag)

    def _dispatch_timer(self, tag: TimerTag) -> None:
        if tag.kind is RuntimeTimer.CREDIT_FLUSH:
            self._credit_flush_armed = False
            for credit in self._receiver.flush():
                self._send_credit(credit)
        elif tag.kind is RuntimeTimer.BRIDGE_POLL:
            self._drain_bridge()
            self._schedule_runtime_timer(self.BRIDGE_POLL_S, tag)
        elif self._is_current(tag):
            if tag.kind is RuntimeTimer.DRAIN_DEADLINE:
                self._reply_drained(flushed=False)
            else:
                self.on_timer(tag)

    def receiveMsg_WatchMessage(self, msg: WatchMessage, sender: ActorAddress) -> None:
        self._drain_bridge()

    # ---- internals -------------------------------------------------------------------------

    def _is_current(self, tag: TimerTag) -> bool:
        if not tag.managed:
            return True
        slot = (f"{type(tag.kind).__name__}.{tag.kind.value}", tag.key)
        return self._timer_generations.get(slot) == tag.generation

    def _sender_for(self, target: str) -> LinkSender | None:
        link = self._senders.get(target)
        if link is not None:
            return link
        return next((s for s in self._senders.values() if s.consumer_id == target), None)

    def _send_batches(self, link_id: str, batches: list[LinkBatch]) -> None:
        consumer = self._consumers.get(link_id)
        if consumer is None:
            return
        for batch in batches:
            self.send(consumer, batch)

    def _send_credit(self, credit: LinkCredit) -> None:
        producer = self._credit_to.get(credit.link_id)
        if producer is not None:
            self.send(producer, credit)

    def _drain_bridge(self) -> None:
        if self.io_bridge is None or self.exiting or not self.bridge_ready():
            return
        items = self.io_bridge.drain(self.MAX_DRAIN)
        if items:
            self.on_bridge_items(items)

    def _check_drained(self) -> None:
        if self._drain_reply_to is not None and \
                all(link.flushed() for link in self._senders.values()):
            self._reply_drained(flushed=True)

    def _reply_drained(self, *, flushed: bool) -> None:
        if self._drain_reply_to is None:
            return
        self.send(self._drain_reply_to, DrainComplete(component_id=self.component_id,
                                                      flushed=flushed))
        self._drain_reply_to = None
        self.cancel_timer(RuntimeTimer.DRAIN_DEADLINE)

    def _close_io(self) -> None:
        if self._io_closed:
            return
        self._io_closed = True
        try:
            self.stop_io()
        finally:
            if self.io_bridge is not None:
                self.io_bridge.close()

    def _exit_self(self) -> None:
        if self.exiting:
            return
        self.exiting = True
        try:
            self._close_io()
        except Exception:
            logger.exception("%s: stop_io failed while exiting", self)
        self.send(self.myAddress, ActorExitRequest())
