"""``Supervisor``: a ComponentActor whose spec has a strategy; drives ``SupervisorState``.

Owns its children (created from the topology, keyed by component id), their restarts, and its
share of the status tree. Accepts ``ConfigureComponent`` with the whole topology document (it
passes the same bytes on to child supervisors and each leaf's own settings to leaves),
``ComponentReady`` / ``ComponentFailed`` / ``ComponentStopping`` / ``ChildActorExited`` from
children, ``ComponentAddressed`` from child supervisors, ``StatusProbe`` (fanned out with a
deadline; silent children are reported UNRESPONSIVE), ``InjectCrash`` (routed down by id),
``DrainRequest`` (children drained one by one, upstream first), ``StopComponent`` (ordered stop,
reverse start order, SIGKILL after each child's ``shutdown_timeout_s``).
The ROOT supervisor is also the link broker: whenever a producer or a consumer (re)starts it
sends ``ConnectLink`` with a new epoch to the producer. Other supervisors report every
(re)started descendant up as ``ComponentAddressed``.
Longer than the house 250 lines: it is the only actor that speaks every runtime message.
If a supervisor crashes, its parent restarts it and it restarts its subtree from the topology;
its children die with it (PR_SET_PDEATHSIG), so nothing is orphaned. Once it is told to exit it
never creates children again (children created during shutdown leak processes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import logging
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from thespian.actors import ActorAddress, ActorExitRequest, ChildActorExited

from actors.runtime import supervision
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.thespian_hardening import child_process_id
from actors.runtime.topology_model import RestartPolicy, Strategy, Topology
from messages import codec
from messages.runtime import (
    ComponentAddressed,
    ComponentFailed,
    ComponentReady,
    ComponentState,
    ComponentStatus,
    ComponentStopping,
    ConfigureComponent,
    ConnectLink,
    DrainComplete,
    DrainRequest,
    InjectCrash,
    StatusProbe,
    StopComponent,
)

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)

_ALIVE = (ComponentState.STARTING, ComponentState.RUNNING, ComponentState.STOPPING)


class SupervisorTimer(enum.Enum):
    PROBE_DEADLINE = "probe_deadline"
    DRAIN_DEADLINE = "drain_deadline"


@dataclasses.dataclass(slots=True)
class _Probe:
    reply_to: ActorAddress
    request_id: int
    waiting: set[str]
    replies: dict[str, ComponentStatus]


@dataclasses.dataclass(slots=True)
class _Drain:
    reply_to: ActorAddress
    queue: list[str]
    deadline: float
    current: str = ""
    flushed: bool = True


class Supervisor(ComponentActor):
    """Creates, watches and restarts its children; the root also brokers the links."""

    PROBE_WAIT_SHARE = 0.8       # of the caller's deadline we wait for our children ...
    PROBE_CHILD_SHARE = 0.6      # ... and the deadline we give them

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.topology: Topology | None = None
        self.sup: supervision.SupervisorState | None = None
        self.is_root = False
        self._document = b""
        self._probes: dict[int, _Probe] = {}
        self._probe_counter = 0
        self._drain: _Drain | None = None
        self._stop_requested = False
        self._addresses: dict[str, tuple[int, ActorAddress]] = {}   # root: component -> addr
        self._link_epochs: dict[str, int] = {}
        self._unknown_targets = 0

    # ---- configure and children ------------------------------------------------------------

    def receiveMsg_ConfigureComponent(self, msg: ConfigureComponent,
                                      sender: ActorAddress) -> None:
        if self.sup is not None:                 # configured once per incarnation
            return
        self._adopt_identity(msg, sender)
        self._document = msg.settings
        self.topology = topology = Topology.from_document(codec.decode(msg.settings))
        spec = topology.components[self.component_id]
        self.is_root = topology.root_id == self.component_id
        plans = [supervision.ChildPlan(cid, topology.components[cid].restart,
                                       topology.components[cid].shutdown_timeout_s)
                 for cid in spec.children]
        self.sup = supervision.SupervisorState(
            plans, spec.strategy or Strategy.ONE_FOR_ONE, spec.policy or RestartPolicy(),
            ready_timeout_s=float(spec.settings.get("ready_timeout_s", 10.0)))
        self._execute(self.sup.start())

    def _execute(self, actions: list[supervision.Action]) -> None:
        for action in actions:
            if isinstance(action, supervision.StartChild):
                self._start_child(action)
            elif isinstance(action, supervision.StopChild):
                address = self._sup().record(action.component_id).address
                if address is not None:
                    self.send(address, StopComponent(reason=f"stopped by {self.component_id}"))
            elif isinstance(action, supervision.KillChild):
                self._kill_child(action)
            elif isinstance(action, supervision.ScheduleTimer):
                self.start_timer(action.delay_s, action.kind, action.component_id,
                                 generation=action.generation)
            elif isinstance(action, supervision.ReportReady):
                self.state = ComponentState.RUNNING
                if self.parent is not None:
                    self.send(self.parent, ComponentReady(
                        component_id=self.component_id, incarnation=self.incarnation,
                        pid=os.getpid()))
            elif isinstance(action, supervision.Escalate):
                logger.error("%s escalates: %s", self, action.reason)
                self.fail(f"escalated: {action.reason}")
            elif isinstance(action, supervision.AllStopped) and self._stop_requested:
                self.exit_normally("stopped")

    def _start_child(self, action: supervision.StartChild) -> None:
        spec = self._topo().components[action.component_id]
        gc.freeze()     # the child is forked from here: keep its GC off the pages it shares
        try:
            address = self.createActor(spec.actor_class)
        except Exception as exc:  # a bad class path must not kill the supervisor
            logger.exception("%s: cannot create %s", self, spec.component_id)
            self._execute(self._sup().start_failed(action.component_id, action.incarnation,
                                                   f"createActor failed: {exc}"))
            return
        self._sup().child_created(action.component_id, action.incarnation, address)
        settings = self._document if spec.is_supervisor else codec.encode(dict(spec.settings))
        self.send(address, ConfigureComponent(
            component_id=spec.component_id, component_type=spec.component_type,
            settings=settings, incarnation=action.incarnation))

    def _kill_child(self, action: supervision.KillChild) -> None:
        address = self._sup().record(action.component_id).address
        pid = action.pid or (child_process_id(self, address) if address is not None else 0)
        logger.warning("%s: %s did not stop in time; killing pid %d", self,
                       action.component_id, pid)
        if self.own_process and pid > 0 and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        elif address is not None:
            self.send(address, ActorExitRequest())

    def _topo(self) -> Topology:
        if self.topology is None:
            raise RuntimeError(f"{self} is not configured yet")
        return self.topology

    def _sup(self) -> supervision.SupervisorState:
        if self.sup is None:
            raise RuntimeError(f"{self} received a child event before ConfigureComponent")
        return self.sup

    # ---- child events ----------------------------------------------------------------------

    def receiveMsg_ComponentReady(self, msg: ComponentReady, sender: ActorAddress) -> None:
        sup = self._sup()
        actions = sup.child_ready(msg.component_id, msg.incarnation, msg.pid)
        rec = sup.children.get(msg.component_id)
        if rec is not None and rec.state is ComponentState.RUNNING and \
                rec.incarnation == msg.incarnation and rec.address is not None:
            self._announce(msg.component_id, msg.incarnation, rec.address)
        self._execute(actions)

    def receiveMsg_ComponentFailed(self, msg: ComponentFailed, sender: ActorAddress) -> None:
        logger.warning("%s: %s failed: %s", self, msg.component_id, msg.reason)
        self._sup().child_reported(msg.component_id, msg.incarnation, msg.reason, False)

    def receiveMsg_ComponentStopping(self, msg: ComponentStopping, sender: ActorAddress) -> None:
        self._sup().child_reported(msg.component_id, msg.incarnation, msg.reason, msg.normal)

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender: ActorAddress) -> None:
        if self.sup is not None:
            self._execute(self.sup.child_exited(msg.childAddress))

    def receiveMsg_ComponentAddressed(self, msg: ComponentAddressed,
                                      sender: ActorAddress) -> None:
        self._announce(msg.component_id, msg.incarnation, msg.address)

    def _announce(self, component_id: str, incarnation: int, address: ActorAddress) -> None:
        if not self.is_root:
            if self.parent is not None:
                self.send(self.parent, ComponentAddressed(
                    component_id=component_id, incarnation=incarnation, address=address))
            return
        self._addresses[component_id] = (incarnation, address)
        for link in self._topo().links:
            if component_id not in (link.producer_id, link.consumer_id):
                continue
            producer = self._addresses.get(link.producer_id)
            consumer = self._addresses.get(link.consumer_id)
            if producer is None or consumer is None:
                continue
            epoch = self._link_epochs.get(link.link_id, 0) + 1
            self._link_epochs[link.link_id] = epoch
            self.send(producer[1], ConnectLink(
                link_id=link.link_id, consumer_id=link.consumer_id, consumer=consumer[1],
                window=link.window, overflow=link.overflow, epoch=epoch))

    # ---- status ----------------------------------------------------------------------------

    def receiveMsg_StatusProbe(self, msg: StatusProbe, sender: ActorAddress) -> None:
        self._probe_counter += 1
        rid = self._probe_counter
        probe = _Probe(reply_to=sender, request_id=msg.request_id, waiting=set(), replies={})
        for cid in self.sup.order if self.sup else []:
            rec = self.sup.record(cid) if self.sup else None
            if rec is not None and rec.address is not None and rec.state in _ALIVE:
                self.send(rec.address, StatusProbe(
                    request_id=rid, deadline_s=msg.deadline_s * self.PROBE_CHILD_SHARE))
                probe.waiting.add(cid)
        self._probes[rid] = probe
        if probe.waiting:
            self.start_timer(msg.deadline_s * self.PROBE_WAIT_SHARE,
                             SupervisorTimer.PROBE_DEADLINE, str(rid))
        else:
            self._answer_probe(rid)

    def receiveMsg_ComponentStatus(self, msg: ComponentStatus, sender: ActorAddress) -> None:
        probe = self._probes.get(msg.request_id)
        if probe is None or msg.component_id not in probe.waiting:
            return                                         # late answer to an old probe
        probe.waiting.discard(msg.component_id)
        probe.replies[msg.component_id] = msg
        if not probe.waiting:
            self._answer_probe(msg.request_id)

    def _answer_probe(self, rid: int) -> None:
        probe = self._probes.pop(rid)
        self.cancel_timer(SupervisorTimer.PROBE_DEADLINE, str(rid))
        children = tuple(self._child_status(cid, probe)
                         for cid in (self.sup.order if self.sup else []))
        own = self.status_snapshot(probe.request_id)
        self.send(probe.reply_to, dataclasses.replace(own, children=children))

    def _child_status(self, cid: str, probe: _Probe) -> ComponentStatus:
        rec = self._sup().record(cid)
        overlay: dict[str, Any] = {
            "request_id": probe.request_id, "restarts": rec.restarts,
            "last_error": rec.last_reason,
            "restart_causes": tuple(sorted(rec.restart_causes.items())),
            "backoff_attempts": rec.backoff.attempts}
        reply = probe.replies.get(cid)
        if reply is not None:
            state = reply.state if rec.state is ComponentState.RUNNING else rec.state
            if reply.last_error:   # a condition the child reports now beats an old restart cause
                overlay["last_error"] = reply.last_error
            return dataclasses.replace(reply, state=state, **overlay)
        spec = self._topo().components[cid]
        state = ComponentState.UNRESPONSIVE if rec.state in _ALIVE else rec.state
        return ComponentStatus(component_id=cid, component_type=spec.component_type,
                               state=state, incarnation=rec.incarnation, pid=rec.pid,
                               uptime_s=self._sup().uptime(cid), **overlay)

    def status_counters(self) -> dict[str, float]:
        ignored = self.sup.ignored_events if self.sup else 0
        return {"ignored_child_events": ignored, "unknown_crash_targets": self._unknown_targets}

    # ---- routing, drain, stop --------------------------------------------------------------

    def receiveMsg_InjectCrash(self, msg: InjectCrash, sender: ActorAddress) -> None:
        if msg.component_id == self.component_id or self.topology is None:
            super().receiveMsg_InjectCrash(msg, sender)
            return
        for cid in self._sup().order:
            if msg.component_id in self.topology.subtree(cid):
                address = self._sup().record(cid).address
                if address is not None:
                    self.send(address, msg)
                return
        self._unknown_targets += 1
        logger.warning("%s: no component %r below me", self, msg.component_id)

    def receiveMsg_DrainRequest(self, msg: DrainRequest, sender: ActorAddress) -> None:
        sup = self._sup()
        queue = [cid for cid in reversed(sup.order)           # upstream (started last) first
                 if sup.record(cid).state in _ALIVE and sup.record(cid).address is not None]
        self._drain = _Drain(reply_to=sender, queue=queue,
                             deadline=time.monotonic() + msg.deadline_s)
        self.start_timer(msg.deadline_s, SupervisorTimer.DRAIN_DEADLINE)
        self._drain_next()

    def receiveMsg_DrainComplete(self, msg: DrainComplete, sender: ActorAddress) -> None:
        if self._drain is not None and msg.component_id == self._drain.current:
            self._drain.flushed = self._drain.flushed and msg.flushed
            self._drain_next()

    def _drain_next(self) -> None:
        drain = self._drain
        if drain is None:
            return
        while drain.queue:
            drain.current = drain.queue.pop(0)
            address = self._sup().record(drain.current).address
            if address is not None:
                remaining = max(0.05, drain.deadline - time.monotonic())
                self.send(address, DrainRequest(deadline_s=remaining))
                return
        self._finish_drain(drain.flushed)

    def _finish_drain(self, flushed: bool) -> None:
        if self._drain is None:
            return
        self.send(self._drain.reply_to, DrainComplete(component_id=self.component_id,
                                                      flushed=flushed))
        self._drain = None
        self.cancel_timer(SupervisorTimer.DRAIN_DEADLINE)

    def receiveMsg_StopComponent(self, msg: StopComponent, sender: ActorAddress) -> None:
        if self.sup is None:
            self.exit_normally(msg.reason)
            return
        self._stop_requested = True
        self.state = ComponentState.STOPPING
        self._execute(self.sup.shutdown())

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender: ActorAddress) -> None:
        if self.sup is not None:
            self.sup.stopping = True          # never create children while exiting
        super().receiveMsg_ActorExitRequest(msg, sender)

    def on_timer(self, tag: TimerTag) -> None:
        if isinstance(tag.kind, supervision.TimerKind):
            if self.sup is not None:
                self._execute(self.sup.timer_fired(tag.kind, tag.key, tag.generation))
        elif tag.kind is SupervisorTimer.PROBE_DEADLINE and int(tag.key) in self._probes:
            self._answer_probe(int(tag.key))
        elif tag.kind is SupervisorTimer.DRAIN_DEADLINE:
            self._finish_drain(False)
