"""Timers behind few armed wakeups: ordering, re-arming, lost wakeups, and a bounded count."""

import random

from actors.runtime.timer_wheel import TimerWheel


def test_only_an_earlier_timer_arms_another_wakeup():
    wheel = TimerWheel()
    assert wheel.schedule(0.0, 5.0, "late") == 5.0
    assert wheel.schedule(0.0, 1.0, "early") == 1.0      # earlier than the armed one: arm
    assert wheel.schedule(0.0, 3.0, "middle") is None    # the 1 s wakeup covers it
    assert wheel.outstanding == 2


def test_a_wakeup_fires_what_is_due_in_order_and_re_arms_only_if_needed():
    wheel = TimerWheel()
    for delay, tag in ((3.0, "c"), (1.0, "a"), (2.0, "b")):
        wheel.schedule(0.0, delay, tag)
    due, arm = wheel.pop_due(2.0, from_wakeup=True)
    assert due == ["a", "b"]
    assert arm is None                  # the wakeup armed for "c" (3.0) is still outstanding
    assert wheel.outstanding == 1
    assert wheel.late_fires == 0


def test_a_lost_wakeup_is_recovered_by_the_next_message_and_replaced():
    wheel = TimerWheel(grace_s=0.5, lost_after_s=2.0)
    wheel.schedule(0.0, 1.0, "tick")
    assert wheel.pop_due(1.2, from_wakeup=False) == ([], None)    # not late enough yet
    due, arm = wheel.pop_due(3.5, from_wakeup=False)              # the wakeup never came
    assert due == ["tick"]
    assert arm is None
    assert wheel.late_fires == 1
    assert wheel.schedule(3.5, 1.0, "again") == 1.0               # the lost one is forgotten
    assert wheel.lost_wakeups == 1
    assert wheel.outstanding == 1


def test_late_firings_never_pile_up_wakeups():
    """The soak's failure: every late firing armed one more wakeup that was never retired."""
    rng = random.Random(3)
    wheel = TimerWheel(grace_s=0.5)
    pending_in_thespian = []            # due times of wakeups thespian still holds
    now = 0.0
    for _ in range(5000):
        now += rng.uniform(0.0, 0.4)
        arm = wheel.schedule(now, rng.choice((0.01, 1.0, 10.0)), "t")
        if arm is not None:
            pending_in_thespian.append(now + arm)
        while pending_in_thespian and min(pending_in_thespian) <= now - rng.uniform(0, 1.5):
            pending_in_thespian.remove(min(pending_in_thespian))     # a (possibly late) wakeup
            _due, arm = wheel.pop_due(now, from_wakeup=True)
            if arm is not None:
                pending_in_thespian.append(now + arm)
        _due, arm = wheel.pop_due(now, from_wakeup=False)            # any other message
        if arm is not None:
            pending_in_thespian.append(now + arm)
        assert len(pending_in_thespian) < 25
    assert wheel.outstanding < 25
