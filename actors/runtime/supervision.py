"""The supervisor's decisions as a pure state machine (Erlang/OTP semantics plus backoff).

Owns: per-child records keyed by component id (thespian addresses are unhashable, so they are
stored but never used as keys), incarnation numbers, restart kinds (permanent / transient /
temporary), strategies (one_for_one / one_for_all / rest_for_one), restart intensity with
escalation, per-child exponential backoff with full jitter (``Backoff``) reset after a healthy
period, ordered start (one child STARTING at a time, in ``children`` order), ordered sequential
stop (reverse order) with a kill deadline, and duplicate-safe handling of child deaths.

It never touches thespian: every event method returns a list of action objects that the
supervisor actor executes (create a child, stop it, SIGKILL a pid, arm a timer, report ready,
escalate). Timers are tagged with a generation because thespian wakeups cannot be cancelled; a
timer whose generation is stale is ignored. Bad events (unknown ids, stale incarnations,
duplicate deaths) are counted in ``ignored_events`` and never raise.
Slightly over the house 400 lines: the state machine, its records and its action vocabulary are
one contract and are read together.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from actors.runtime.backoff import Backoff
from actors.runtime.topology_model import RestartKind, RestartPolicy, Strategy
from messages.runtime import ComponentState

__all__ = ["GROUP_TIMER_ID", "AllStopped", "ChildPlan", "ChildRecord", "Escalate", "KillChild",
           "ReportReady", "ScheduleTimer", "StartChild", "StopChild", "SupervisorState",
           "TimerKind"]


class TimerKind(enum.Enum):
    """What a supervisor timer is for; the payload also carries a component id + generation."""

    READY_DEADLINE = "ready_deadline"  # a started child must be Ready before this
    KILL = "kill"                      # a stopping child gets SIGKILL after its shutdown timeout
    FORGET = "forget"                  # a killed child that never reported its exit is dropped
    RESTART = "restart"                # backoff elapsed: restart this child (and its group)


@dataclasses.dataclass(frozen=True, slots=True)
class StartChild:
    """Create the child's actor (incarnation n) and configure it."""

    component_id: str
    incarnation: int


@dataclasses.dataclass(frozen=True, slots=True)
class StopChild:
    """Ask the child to stop gracefully (it has ``timeout_s`` before KillChild follows)."""

    component_id: str
    timeout_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class KillChild:
    """SIGKILL the child's process (pid 0: unknown, the actor looks it up)."""

    component_id: str
    pid: int


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """Arm a wakeup that calls ``timer_fired(kind, component_id, generation)``."""

    kind: TimerKind
    component_id: str
    generation: int
    delay_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class ReportReady:
    """Every child finished its initial start: the supervisor itself is ready."""


@dataclasses.dataclass(frozen=True, slots=True)
class Escalate:
    """Intensity exceeded and all children are stopped: tell the parent and exit."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class AllStopped:
    """A requested shutdown finished: no child is alive any more."""


GROUP_TIMER_ID = ""  # timer id of a one_for_all / rest_for_one group restart

Action = StartChild | StopChild | KillChild | ScheduleTimer | ReportReady | Escalate | AllStopped

_ALIVE = (ComponentState.STARTING, ComponentState.RUNNING, ComponentState.STOPPING)


@dataclasses.dataclass(frozen=True, slots=True)
class ChildPlan:
    """What the state machine needs to know about one child (from its ComponentSpec)."""

    component_id: str
    restart: RestartKind = RestartKind.PERMANENT
    shutdown_timeout_s: float = 5.0


@dataclasses.dataclass(slots=True)
class ChildRecord:
    """Everything the supervisor knows about one child, across its incarnations."""

    plan: ChildPlan
    backoff: Backoff
    state: ComponentState = ComponentState.STOPPED
    incarnation: int = 0
    address: Any = None             # thespian ActorAddress of the current incarnation, or None
    pid: int = 0
    started_at: float = 0.0
    restarts: int = 0
    restart_causes: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter)
    last_reason: str = ""           # why the last incarnation ended
    reported_reason: str = ""       # ComponentFailed / ComponentStopping of the current one
    reported_normal: bool = False
    pending_cause: str = ""         # cause of the restart that is scheduled or starting
    restart_pending: bool = False   # stopped (or dead) as part of a restart that is coming
    fail_on_exit: str = ""          # supervisor stopped it because it failed (ready timeout)
    generation: int = 0             # bumped whenever a timer for this child must go stale
    ever_ready: bool = False        # became Ready at least once (the initial start counts it)


class SupervisorState:
    """One supervisor's children and policy; every method returns the actions to execute."""

    def __init__(self, plans: Sequence[ChildPlan], strategy: Strategy, policy: RestartPolicy,
                 *, ready_timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.strategy = strategy
        self.policy = policy
        self.ready_timeout_s = ready_timeout_s
        self._clock = clock
        self._rng = rng or random.Random()
        self.order = [plan.component_id for plan in plans]
        self.children: dict[str, ChildRecord] = {
            plan.component_id: ChildRecord(plan=plan, backoff=Backoff(
                min_s=policy.backoff_min_s, max_s=policy.backoff_max_s,
                reset_after_s=policy.reset_after_s, clock=clock, rng=self._rng))
            for plan in plans}
        self._start_queue: list[str] = []
        self._stop_queue: list[str] = []
        self._restart_times: collections.deque[float] = collections.deque()
        self._group_generation = 0
        self._initial_start = True
        self.stopping = False          # shutdown or escalation: nothing restarts any more
        self.escalation_reason = ""
        self.ignored_events = 0        # duplicate deaths, stale incarnations, unknown ids
        self._finished = False

    # ---- events ----------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Start every child in order, each after the previous one is Ready."""
        self._start_queue = list(self.order)
        return self._pump()

    def child_created(self, component_id: str, incarnation: int, address: Any) -> None:
        """The actor created the child asked for by StartChild at ``address``."""
        rec = self.children.get(component_id)
        if rec is None or rec.incarnation != incarnation:
            self.ignored_events += 1
            return
        rec.address = address

    def child_ready(self, component_id: str, incarnation: int, pid: int) -> list[Action]:
        rec = self.children.get(component_id)
        if rec is None or rec.incarnation != incarnation or rec.state is not \
                ComponentState.STARTING:
            self.ignored_events += 1
            return []
        rec.state = ComponentState.RUNNING
        rec.pid = pid
        rec.ever_ready = True
        rec.backoff.healthy()
        return self._pump()

    def child_reported(self, component_id: str, incarnation: int, reason: str,
                       normal: bool) -> None:
        """ComponentFailed (normal=False) or ComponentStopping: the reason for the coming exit."""
        rec = self.children.get(component_id)
        if rec is None or rec.incarnation != incarnation:
            self.ignored_events += 1
            return
        rec.reported_reason = reason
        rec.reported_normal = normal

    def child_exited(self, address: Any) -> list[Action]:
        """thespian's ChildActorExited: act once per incarnation (duplicates are common)."""
        rec = self._by_address(address)
        if rec is None:
            self.ignored_events += 1
            return []
        return self._on_dead(rec)

    def start_failed(self, component_id: str, incarnation: int, reason: str) -> list[Action]:
        """createActor itself raised: the incarnation died before it had an address."""
        rec = self.children.get(component_id)
        if rec is None or rec.incarnation != incarnation:
            self.ignored_events += 1
            return []
        rec.reported_reason, rec.reported_normal = reason, False
        return self._on_dead(rec)

    def timer_fired(self, kind: TimerKind, component_id: str, generation: int) -> list[Action]:
        if component_id == GROUP_TIMER_ID:     # one_for_all / rest_for_one group restart
            if kind is not TimerKind.RESTART or generation != self._group_generation \
                    or self.stopping:
                return []
            return self._queue_restart(
                [cid for cid in self.order if self.children[cid].restart_pending])
        rec = self.children.get(component_id)
        if rec is None or rec.generation != generation:
            return []                          # stale: wakeups cannot be cancelled
        if kind is TimerKind.READY_DEADLINE and rec.state is ComponentState.STARTING:
            rec.fail_on_exit = f"not ready within {self.ready_timeout_s:g}s"
            return self._stop(rec)
        if kind is TimerKind.KILL and rec.state is ComponentState.STOPPING:
            rec.generation += 1
            return [KillChild(component_id, rec.pid),
                    ScheduleTimer(TimerKind.FORGET, component_id, rec.generation,
                                  max(1.0, rec.plan.shutdown_timeout_s))]
        if kind is TimerKind.FORGET and rec.state is ComponentState.STOPPING:
            rec.reported_reason = rec.reported_reason or "killed; exit never reported"
            return self._on_dead(rec)
        if kind is TimerKind.RESTART and rec.state is ComponentState.BACKOFF \
                and not self.stopping:
            return self._queue_restart([component_id])
        return []

    def _queue_restart(self, ids: Iterable[str]) -> list[Action]:
        for cid in ids:
            self.children[cid].restart_pending = False
            if cid not in self._start_queue:
                self._start_queue.append(cid)
        self._start_queue.sort(key=self.order.index)
        return self._pump()

    def shutdown(self) -> list[Action]:
        """Stop every child, upstream (last started) first; nothing restarts afterwards."""
        self.stopping = True
        self._start_queue.clear()
        for cid in reversed(self.order):
            rec = self.children[cid]
            rec.restart_pending = False
            if rec.state is ComponentState.BACKOFF:
                rec.state = ComponentState.STOPPED
                rec.generation += 1
        self._stop_queue = [cid for cid in reversed(self.order)
                            if self.children[cid].state in _ALIVE]
        return self._pump()

    # ---- queries ---------------------------------------------------------------------------

    def record(self, component_id: str) -> ChildRecord:
        return self.children[component_id]

    def find(self, address: Any) -> ChildRecord | None:
        return self._by_address(address)

    def alive(self) -> list[str]:
        return [cid for cid in self.order if self.children[cid].state in _ALIVE]

    def uptime(self, component_id: str) -> float:
        rec = self.children[component_id]
        return self._clock() - rec.started_at if rec.state in _ALIVE else 0.0

    # ---- internals -------------------------------------------------------------------------

    def _by_address(self, address: Any) -> ChildRecord | None:
        if address is None:
            return None
        for rec in self.children.values():
            if rec.address is not None and rec.address == address:
                return rec
        return None

    def _on_dead(self, rec: ChildRecord) -> list[Action]:
        was = rec.state
        rec.address = None                     # a second ChildActorExited finds nothing
        rec.pid = 0
        rec.generation += 1
        if rec.fail_on_exit:
            reason, normal = rec.fail_on_exit, False
        elif was is ComponentState.STOPPING and not rec.reported_reason:
            reason, normal = "shutdown", True
        else:
            reason = rec.reported_reason or "exited without reporting a reason"
            normal = rec.reported_normal
        rec.last_reason = reason
        rec.fail_on_exit, rec.reported_reason, rec.reported_normal = "", "", False
        cid = rec.plan.component_id
        if cid in self._stop_queue:
            self._stop_queue.remove(cid)
        supervisor_stopped = was is ComponentState.STOPPING and normal
        if self.stopping or supervisor_stopped:
            waiting = rec.restart_pending or cid in self._start_queue
            rec.state = ComponentState.BACKOFF if waiting else ComponentState.STOPPED
            return self._pump()
        if not self._wants_restart(rec, normal):
            rec.state = ComponentState.STOPPED
            return self._pump()
        return self._restart_after_failure(rec, reason)

    def _wants_restart(self, rec: ChildRecord, normal: bool) -> bool:
        kind = rec.plan.restart
        return kind is RestartKind.PERMANENT or (kind is RestartKind.TRANSIENT and not normal)

    def _restart_after_failure(self, rec: ChildRecord, reason: str) -> list[Action]:
        now = self._clock()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > self.policy.within_s:
            self._restart_times.popleft()
        if len(self._restart_times) > self.policy.max_restarts:
            self.escalation_reason = (
                f"{len(self._restart_times)} restarts within {self.policy.within_s:g}s "
                f"(max {self.policy.max_restarts}); last: {rec.plan.component_id}: {reason}")
            rec.state = ComponentState.FAILED
            return self.shutdown()
        cid = rec.plan.component_id
        rec.state = ComponentState.BACKOFF
        rec.restart_pending = True
        rec.pending_cause = reason
        for sibling_id in self._group_of(cid):
            sibling = self.children[sibling_id]
            if sibling_id == cid or sibling.plan.restart is RestartKind.TEMPORARY:
                continue
            if sibling.state in _ALIVE or sibling.state is ComponentState.BACKOFF:
                sibling.restart_pending = True
                sibling.pending_cause = f"restarted with {cid}"
            if sibling.state in (ComponentState.STARTING, ComponentState.RUNNING) \
                    and sibling_id not in self._stop_queue:
                self._stop_queue.append(sibling_id)
            if sibling_id in self._start_queue:
                self._start_queue.remove(sibling_id)
        self._stop_queue.sort(key=self.order.index, reverse=True)
        delay = rec.backoff.next_delay()
        if self.strategy is Strategy.ONE_FOR_ONE:
            timer = ScheduleTimer(TimerKind.RESTART, cid, rec.generation, delay)
        else:                                  # a later failure supersedes the pending group
            self._group_generation += 1
            timer = ScheduleTimer(TimerKind.RESTART, GROUP_TIMER_ID, self._group_generation, delay)
        return [timer, *self._pump()]

    def _group_of(self, component_id: str) -> list[str]:
        if self.strategy is Strategy.ONE_FOR_ALL:
            return list(self.order)
        if self.strategy is Strategy.REST_FOR_ONE:
            return self.order[self.order.index(component_id):]
        return [component_id]

    def _stop(self, rec: ChildRecord) -> list[Action]:
        rec.state = ComponentState.STOPPING
        rec.generation += 1
        cid = rec.plan.component_id
        return [StopChild(cid, rec.plan.shutdown_timeout_s),
                ScheduleTimer(TimerKind.KILL, cid, rec.generation, rec.plan.shutdown_timeout_s)]

    def _pump(self) -> list[Action]:
        """Advance the stop queue (one at a time), then the start queue (one at a time)."""
        actions: list[Action] = []
        if any(rec.state is ComponentState.STOPPING for rec in self.children.values()):
            return actions
        while self._stop_queue:
            rec = self.children[self._stop_queue[0]]
            if rec.state in (ComponentState.STARTING, ComponentState.RUNNING):
                return actions + self._stop(rec)
            self._stop_queue.pop(0)
        if self.stopping:
            if not self._finished and not self.alive():
                self._finished = True
                actions.append(Escalate(self.escalation_reason) if self.escalation_reason
                               else AllStopped())
            return actions
        if any(rec.state is ComponentState.STARTING for rec in self.children.values()):
            return actions
        if self._start_queue:
            return actions + self._start(self.children[self._start_queue.pop(0)])
        if self._initial_start and all(rec.ever_ready or rec.state is ComponentState.STOPPED
                                       for rec in self.children.values()):
            # like OTP: ready only once every child has started (a child failing its first
            # start is retried under the policy; if that escalates, the start fails)
            self._initial_start = False
            actions.append(ReportReady())
        return actions

    def _start(self, rec: ChildRecord) -> list[Action]:
        if rec.incarnation > 0:
            rec.restarts += 1
            rec.restart_causes[rec.pending_cause or "restart"] += 1
        rec.pending_cause = ""
        rec.incarnation += 1
        rec.generation += 1
        rec.state = ComponentState.STARTING
        rec.started_at = self._clock()
        cid = rec.plan.component_id
        return [StartChild(cid, rec.incarnation),
                ScheduleTimer(TimerKind.READY_DEADLINE, cid, rec.generation,
                              self.ready_timeout_s)]

