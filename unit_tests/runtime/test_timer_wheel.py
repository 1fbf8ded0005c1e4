"""Timers behind one armed wakeup: ordering, re-arming, and recovery from a lost wakeup."""

from actors.runtime.timer_wheel import TimerWheel


def test_only_the_earliest_timer_arms_a_wakeup():
    wheel = TimerWheel()
    assert wheel.schedule(0.0, 5.0, "late") == 5.0
    assert wheel.schedule(0.0, 1.0, "early") == 1.0      # earlier: arm another wakeup
    assert wheel.schedule(0.0, 3.0, "middle") is None    # the 1 s wakeup covers it


def test_a_wakeup_fires_what_is_due_in_order_and_arms_the_next():
    wheel = TimerWheel()
    for delay, tag in ((3.0, "c"), (1.0, "a"), (2.0, "b")):
        wheel.schedule(0.0, delay, tag)
    due, next_delay = wheel.pop_due(2.0, from_wakeup=True)
    assert due == ["a", "b"]
    assert next_delay == 1.0
    assert len(wheel) == 1
    assert wheel.late_fires == 0


def test_a_lost_wakeup_is_recovered_by_the_next_message():
    wheel = TimerWheel(grace_s=0.5)
    wheel.schedule(0.0, 1.0, "tick")
    assert wheel.pop_due(1.2, from_wakeup=False) == ([], None)   # not late enough yet
    due, next_delay = wheel.pop_due(3.0, from_wakeup=False)      # the wakeup never came
    assert due == ["tick"]
    assert next_delay is None
    assert wheel.late_fires == 1
    assert wheel.schedule(3.0, 1.0, "again") == 1.0              # re-arms after the loss


def test_many_timers_keep_a_single_wakeup_armed():
    wheel = TimerWheel()
    arms = [wheel.schedule(0.0, 10.0 + i, i) for i in range(15)]
    assert arms[0] == 10.0
    assert arms[1:] == [None] * 14
