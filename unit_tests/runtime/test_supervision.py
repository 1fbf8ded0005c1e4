"""SupervisorState: strategies × restart kinds, intensity, backoff, duplicates, ordering."""

import random

import pytest

from actors.runtime.supervision import (
    GROUP_TIMER_ID,
    AllStopped,
    ChildPlan,
    Escalate,
    KillChild,
    ReportReady,
    ScheduleTimer,
    StartChild,
    StopChild,
    SupervisorState,
    TimerKind,
)
from actors.runtime.topology_model import RestartKind, RestartPolicy, Strategy
from messages.runtime import ComponentState


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Addr:
    """Unhashable like thespian's ActorAddress; equal by (id, incarnation)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, cid, inc):
        self.key = (cid, inc)

    def __eq__(self, other):
        return isinstance(other, Addr) and other.key == self.key


class Harness:
    """Executes the state's actions like the actor would, with children that become ready."""

    def __init__(self, strategy, kinds, policy=None, auto_ready=True):
        self.clock = Clock()
        self.plans = [ChildPlan(f"c{i}", kind, 2.0) for i, kind in enumerate(kinds)]
        self.state = SupervisorState(self.plans, strategy, policy or RestartPolicy(
            max_restarts=5, within_s=30, backoff_min_s=0.2, backoff_max_s=30, reset_after_s=60),
            ready_timeout_s=5.0, clock=self.clock, rng=random.Random(7))
        self.auto_ready = auto_ready
        self.log = []            # every action, in order
        self.timers = []         # pending ScheduleTimer
        self.addresses = {}
        self.stubborn = set()    # children that ignore StopChild

    def run(self, actions):
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            self.log.append(action)
            if isinstance(action, StartChild):
                addr = Addr(action.component_id, action.incarnation)
                self.addresses[action.component_id] = addr
                self.state.child_created(action.component_id, action.incarnation, addr)
                if self.auto_ready:
                    queue.extend(self.state.child_ready(action.component_id, action.incarnation,
                                                        100 + action.incarnation))
            elif isinstance(action, StopChild) and action.component_id not in self.stubborn:
                # a well-behaved child exits at once (and thespian reports it twice)
                addr = self.addresses[action.component_id]
                queue.extend(self.state.child_exited(addr))
                queue.extend(self.state.child_exited(addr))
            elif isinstance(action, ScheduleTimer):
                self.timers.append(action)
        return self

    def fire(self, kind):
        """Advance the clock to the earliest pending timer of ``kind`` and fire it."""
        timer = min((t for t in self.timers if t.kind is kind), key=lambda t: t.delay_s)
        self.timers.remove(timer)
        self.clock.now += timer.delay_s
        return self.run(self.state.timer_fired(timer.kind, timer.component_id, timer.generation))

    def crash(self, cid, reason="boom", normal=False, report=True):
        rec = self.state.record(cid)
        if report:
            self.state.child_reported(cid, rec.incarnation, reason, normal)
        addr = self.addresses[cid]
        self.run(self.state.child_exited(addr))
        self.run(self.state.child_exited(addr))  # the duplicate must be a no-op
        return self

    def starts(self):
        return [a.component_id for a in self.log if isinstance(a, StartChild)]

    def stops(self):
        return [a.component_id for a in self.log if isinstance(a, StopChild)]

    def states(self):
        return {cid: self.state.record(cid).state for cid in self.state.order}


P, T, TMP = RestartKind.PERMANENT, RestartKind.TRANSIENT, RestartKind.TEMPORARY
RUN, STOP, BACK = ComponentState.RUNNING, ComponentState.STOPPED, ComponentState.BACKOFF


def started(strategy, kinds=(P, P, P)):
    h = Harness(strategy, kinds).run([])
    h.run(h.state.start())
    return h


def test_ordered_start_one_at_a_time_then_ready():
    h = Harness(Strategy.ONE_FOR_ONE, (P, P, P), auto_ready=False)
    actions = h.state.start()
    assert [a for a in actions if isinstance(a, StartChild)] == [StartChild("c0", 1)]
    h.run(actions)
    assert h.state.child_ready("c2", 1, 5) == []          # not started yet: ignored
    out = h.state.child_ready("c0", 1, 5)
    assert [a for a in out if isinstance(a, StartChild)] == [StartChild("c1", 1)]
    h.run(out)
    h.run(h.state.child_ready("c1", 1, 6))
    final = h.state.child_ready("c2", 1, 7)
    assert ReportReady() in final


def test_ready_waits_until_a_child_that_failed_its_first_start_is_running():
    h = Harness(Strategy.ONE_FOR_ONE, (P, P), auto_ready=False)
    h.run(h.state.start())
    h.state.child_reported("c0", 1, "bad setting", False)
    h.run(h.state.child_exited(h.addresses["c0"]))          # c0 died before Ready
    h.run(h.state.child_ready("c1", 1, 8))                  # the start order moved on
    assert ReportReady() not in h.log
    h.fire(TimerKind.RESTART)
    h.run(h.state.child_ready("c0", 2, 9))
    assert h.log[-1] == ReportReady()


def test_a_child_failing_every_first_start_escalates_instead_of_ready():
    policy = RestartPolicy(max_restarts=1, within_s=60, backoff_min_s=0.1, backoff_max_s=1)
    h = Harness(Strategy.ONE_FOR_ONE, (P,), policy, auto_ready=False)
    h.run(h.state.start())
    for _ in range(2):
        h.crash("c0", reason="bad setting")
        if h.timers and h.timers[-1].kind is TimerKind.RESTART:
            h.fire(TimerKind.RESTART)
    assert isinstance(h.log[-1], Escalate)
    assert ReportReady() not in h.log


# strategy, kinds, crashed child, abnormal?, expected restarted children (in start order)
RESTART_TABLE = [
    (Strategy.ONE_FOR_ONE, (P, P, P), "c1", True, ["c1"]),
    (Strategy.ONE_FOR_ONE, (T, T, T), "c1", True, ["c1"]),
    (Strategy.ONE_FOR_ONE, (T, T, T), "c1", False, []),
    (Strategy.ONE_FOR_ONE, (TMP, TMP, TMP), "c1", True, []),
    (Strategy.ONE_FOR_ALL, (P, P, P), "c1", True, ["c0", "c1", "c2"]),
    (Strategy.ONE_FOR_ALL, (P, TMP, P), "c0", True, ["c0", "c2"]),
    (Strategy.ONE_FOR_ALL, (P, T, P), "c1", False, []),
    (Strategy.ONE_FOR_ALL, (P, TMP, P), "c1", True, []),
    (Strategy.REST_FOR_ONE, (P, P, P), "c1", True, ["c1", "c2"]),
    (Strategy.REST_FOR_ONE, (P, P, P), "c0", True, ["c0", "c1", "c2"]),
    (Strategy.REST_FOR_ONE, (P, T, TMP), "c1", True, ["c1"]),
    (Strategy.REST_FOR_ONE, (P, T, P), "c1", False, []),
]


@pytest.mark.parametrize(("strategy", "kinds", "victim", "abnormal", "restarted"), RESTART_TABLE)
def test_restart_table(strategy, kinds, victim, abnormal, restarted):
    h = started(strategy, kinds)
    h.log.clear()
    h.crash(victim, reason="boom" if abnormal else "done", normal=not abnormal)
    if restarted:
        h.fire(TimerKind.RESTART)
    assert h.starts() == restarted
    siblings_stopped = [c for c in reversed(restarted) if c != victim]
    assert h.stops() == siblings_stopped             # upstream (later) siblings stop first
    for cid in h.state.order:
        rec = h.state.record(cid)
        if cid in restarted:
            assert rec.state is RUN
            assert rec.restarts == 1
            assert rec.incarnation == 2
        elif cid == victim:
            assert rec.state is STOP
            assert rec.restarts == 0
        else:
            assert rec.state is RUN
            assert rec.incarnation == 1
    if victim in restarted:
        assert h.state.record(victim).restart_causes == {"boom": 1}
        assert h.state.record(victim).last_reason == "boom"


def test_group_restart_waits_for_siblings_to_stop_before_starting():
    h = started(Strategy.ONE_FOR_ALL)
    h.log.clear()
    rec = h.state.record("c0")
    h.state.child_reported("c0", rec.incarnation, "bad", False)
    actions = h.state.child_exited(h.addresses["c0"])
    assert [a for a in actions if isinstance(a, StopChild)] == [StopChild("c2", 2.0)]
    group_timer = next(a for a in actions if isinstance(a, ScheduleTimer))
    assert group_timer.component_id == GROUP_TIMER_ID
    # the backoff elapses while c2 is still stopping: nothing may start yet
    out = h.state.timer_fired(TimerKind.RESTART, GROUP_TIMER_ID, group_timer.generation)
    assert not any(isinstance(a, StartChild) for a in out)
    out = h.state.child_exited(h.addresses["c2"])
    assert [a for a in out if isinstance(a, StopChild)] == [StopChild("c1", 2.0)]
    out = h.state.child_exited(h.addresses["c1"])
    assert [a for a in out if isinstance(a, StartChild)] == [StartChild("c0", 2)]


def test_unreported_exit_is_abnormal_and_permanent_restarts():
    h = started(Strategy.ONE_FOR_ONE, (T, P, P))
    h.crash("c0", report=False).fire(TimerKind.RESTART)
    rec = h.state.record("c0")
    assert rec.restarts == 1
    assert rec.restart_causes == {"exited without reporting a reason": 1}


def test_duplicate_and_stale_exits_are_ignored_and_counted():
    h = started(Strategy.ONE_FOR_ONE)
    old = h.addresses["c1"]
    h.crash("c1").fire(TimerKind.RESTART)
    before = h.state.ignored_events
    assert h.state.child_exited(old) == []                  # stale address of incarnation 1
    assert h.state.child_exited(Addr("zz", 1)) == []
    h.state.child_reported("c1", 1, "late", False)          # old incarnation's report
    assert h.state.ignored_events == before + 3
    assert h.state.record("c1").state is RUN


def test_intensity_exceeded_escalates_after_stopping_everything_in_reverse():
    policy = RestartPolicy(max_restarts=2, within_s=10, backoff_min_s=0.1, backoff_max_s=1,
                           reset_after_s=60)
    h = Harness(Strategy.ONE_FOR_ONE, (P, P, P), policy)
    h.run(h.state.start())
    for _ in range(2):
        h.crash("c1").fire(TimerKind.RESTART)
    h.log.clear()
    h.crash("c1")                                            # third restart within 10 s
    assert h.stops() == ["c2", "c0"]
    assert isinstance(h.log[-1], Escalate)
    assert "3 restarts within 10s" in h.log[-1].reason
    assert h.state.record("c1").state is ComponentState.FAILED
    assert h.state.alive() == []


def test_restarts_spread_beyond_the_window_do_not_escalate():
    policy = RestartPolicy(max_restarts=2, within_s=10, backoff_min_s=0.1, backoff_max_s=1,
                           reset_after_s=60)
    h = Harness(Strategy.ONE_FOR_ONE, (P,), policy)
    h.run(h.state.start())
    for _ in range(6):
        h.crash("c0").fire(TimerKind.RESTART)
        h.clock.now += 11
    assert not any(isinstance(a, Escalate) for a in h.log)
    assert h.state.record("c0").restarts == 6


def test_backoff_grows_exponentially_with_full_jitter_and_resets_after_healthy_period():
    policy = RestartPolicy(max_restarts=100, within_s=1, backoff_min_s=0.5, backoff_max_s=4,
                           reset_after_s=60)
    h = Harness(Strategy.ONE_FOR_ONE, (P,), policy)
    h.run(h.state.start())
    delays = []
    for _ in range(6):
        h.crash("c0")
        delays.append(h.timers[-1].delay_s)
        h.fire(TimerKind.RESTART)
        h.clock.now += 2                                    # restarts 2 s apart: unhealthy
    ceilings = [0.5, 1, 2, 4, 4, 4]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert h.state.record("c0").backoff.attempts == 6
    h.clock.now += 61                                        # healthy for > reset_after_s
    h.crash("c0")
    assert h.timers[-1].delay_s <= 0.5
    assert h.state.record("c0").backoff.attempts == 1


def test_ready_deadline_counts_as_failure_and_kill_follows_shutdown_timeout():
    h = Harness(Strategy.ONE_FOR_ONE, (P, P), auto_ready=False)
    h.stubborn.add("c0")
    h.run(h.state.start())
    h.fire(TimerKind.READY_DEADLINE)                         # c0 never became ready
    assert h.log[-2:] == [StopChild("c0", 2.0), h.timers[-1]]
    h.log.clear()
    # the child ignores the stop request: SIGKILL after its shutdown timeout
    h.state.record("c0").pid = 4242
    h.fire(TimerKind.KILL)
    assert KillChild("c0", 4242) in h.log
    h.run(h.state.child_exited(h.addresses["c0"]))
    assert h.state.record("c0").last_reason == "not ready within 5s"
    assert h.starts() == ["c1"]                              # the start order moves on
    h.fire(TimerKind.RESTART)
    assert h.starts() == ["c1"]                              # c0 waits: c1 is still starting
    h.run(h.state.child_ready("c1", 1, 77))
    assert h.starts() == ["c1", "c0"]
    assert h.state.record("c0").restart_causes == {"not ready within 5s": 1}


def test_killed_child_whose_exit_never_arrives_is_forgotten():
    h = Harness(Strategy.ONE_FOR_ONE, (P,), auto_ready=False)
    h.stubborn.add("c0")
    h.run(h.state.start())
    h.fire(TimerKind.READY_DEADLINE)
    h.fire(TimerKind.KILL)
    h.fire(TimerKind.FORGET)
    assert h.state.record("c0").state is BACK


def test_stale_timers_are_ignored():
    h = Harness(Strategy.ONE_FOR_ONE, (P,), auto_ready=False)
    h.run(h.state.start())
    deadline = next(t for t in h.timers if t.kind is TimerKind.READY_DEADLINE)
    h.run(h.state.child_ready("c0", 1, 9))
    assert h.state.timer_fired(deadline.kind, "c0", deadline.generation) == []
    assert h.state.timer_fired(TimerKind.RESTART, GROUP_TIMER_ID, 99) == []


def test_shutdown_stops_in_reverse_order_and_nothing_restarts():
    h = started(Strategy.ONE_FOR_ALL)
    h.crash("c1")                                            # group restart pending
    h.log.clear()
    h.run(h.state.shutdown())
    assert h.stops() == []                                   # all already stopped by the group
    assert h.log[-1] == AllStopped()
    assert h.state.timer_fired(TimerKind.RESTART, GROUP_TIMER_ID, 1) == []
    assert set(h.states().values()) == {STOP}


def test_shutdown_of_running_children_is_sequential_reverse():
    h = Harness(Strategy.ONE_FOR_ONE, (P, P, P))
    h.run(h.state.start())
    actions = h.state.shutdown()
    assert [a for a in actions if isinstance(a, StopChild)] == [StopChild("c2", 2.0)]
    out = h.state.child_exited(h.addresses["c2"])
    assert [a for a in out if isinstance(a, StopChild)] == [StopChild("c1", 2.0)]
    out = h.state.child_exited(h.addresses["c1"])
    out += h.state.child_exited(h.addresses["c0"])   # c0 dies on its own meanwhile
    assert AllStopped() in out
    assert h.state.child_exited(h.addresses["c0"]) == []
    assert set(h.states().values()) == {STOP}


def test_crash_during_shutdown_is_not_restarted():
    h = started(Strategy.ONE_FOR_ONE)
    h.run(h.state.shutdown())
    assert not any(isinstance(t, ScheduleTimer) and t.kind is TimerKind.RESTART
                   for t in h.log)
