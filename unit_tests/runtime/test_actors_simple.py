"""The actor runtime on simpleSystemBase: start, status tree, restarts, escalation, links."""

import pytest

from actors.runtime.thespian_system import OperatorSystemError
from actors.runtime.topology_model import RestartKind, RestartPolicy, Strategy
from messages.runtime import ComponentState, CrashMode, Overflow
from unit_tests.runtime import topologies as tp


def wait_for(system, predicate, seconds=3.0, step=0.05):
    return tp.pump_status(system, predicate, seconds, step)


def test_tree_starts_and_reports_every_component(system):
    topo = tp.pipeline({"rate_per_s": 2000, "batch_records": 50}, {})
    ready = system.start(topo, base="simpleSystemBase")
    assert ready.component_id == "root"
    status = wait_for(system, lambda s: tp.counters(tp.find(s, "sink/a"))["received_records"] > 0)
    assert [c.component_id for c in status.children] == ["sinks", "source/a"]
    for cid in ("root", "sinks", "sink/a", "source/a"):
        assert tp.find(status, cid).state is ComponentState.RUNNING
    assert tp.conserved(status)
    (link,) = tp.all_links(status)
    assert link.link_id == "source/a->sink/a"
    assert link.batches_in_flight <= 4


def test_raise_in_a_handler_restarts_the_child_and_counts_the_cause(system):
    system.start(tp.pipeline({"rate_per_s": 500}, {}), base="simpleSystemBase")
    system.inject_crash("sink/a", CrashMode.RAISE)
    status = wait_for(system, lambda s: tp.find(s, "sink/a").incarnation == 2
                      and tp.find(s, "sink/a").state is ComponentState.RUNNING)
    sink = tp.find(status, "sink/a")
    assert sink.restarts == 1
    assert sink.restart_causes == (("InjectedCrashError: injected crash", 1),)
    assert sink.last_error == "InjectedCrashError: injected crash"
    assert tp.find(status, "source/a").restarts == 0


def test_silent_exit_counts_as_abnormal(system):
    system.start(tp.pipeline({"rate_per_s": 500}, {}), base="simpleSystemBase")
    system.inject_crash("source/a", CrashMode.EXIT)
    status = wait_for(system, lambda s: tp.find(s, "source/a").restarts == 1
                      and tp.find(s, "source/a").state is ComponentState.RUNNING)
    assert tp.find(status, "source/a").restart_causes == (
        ("exited without reporting a reason", 1),)


def test_consumer_restart_reconnects_the_link_without_loss(system):
    topo = tp.pipeline({"rate_per_s": 4000, "batch_records": 20, "total": 2000}, {})
    system.start(topo, base="simpleSystemBase")
    system.run_for(0.1)
    system.inject_crash("sink/a", CrashMode.RAISE)
    status = wait_for(system, lambda s: tp.counters(tp.find(s, "source/a"))[
        "produced_records"] == 2000 and tp.all_links(s)[0].in_flight == 0, seconds=5.0)
    (link,) = tp.all_links(status)
    assert link.received == link.forwarded == 2000
    assert tp.find(status, "sink/a").restarts == 1
    sink = tp.counters(tp.find(status, "sink/a"))
    assert sink["max_seq"] == 2000           # the new sink got everything not yet credited


def test_intensity_exceeded_escalates_to_the_parent(system):
    strict = RestartPolicy(max_restarts=0, within_s=60, backoff_min_s=0.01, backoff_max_s=0.02)
    topo = tp.topology([
        tp.supervisor("root", ["mid"]),
        tp.supervisor("mid", ["sink/a"], policy=strict),
        tp.leaf("sink/a", tp.SINK),
    ])
    system.start(topo, base="simpleSystemBase")
    system.inject_crash("sink/a", CrashMode.RAISE)
    status = wait_for(system, lambda s: tp.find(s, "mid").restarts == 1
                      and tp.find(s, "mid").state is ComponentState.RUNNING)
    mid = tp.find(status, "mid")
    ((cause, count),) = mid.restart_causes
    assert cause.startswith("escalated: 1 restarts within 60s")
    assert count == 1
    assert tp.find(status, "sink/a").incarnation == 1        # rebuilt by the new mid
    assert tp.find(status, "sink/a").state is ComponentState.RUNNING


def test_one_for_all_restarts_the_siblings_too(system):
    topo = tp.topology([
        tp.supervisor("root", ["sink/a", "sink/b"], strategy=Strategy.ONE_FOR_ALL),
        tp.leaf("sink/a", tp.SINK),
        tp.leaf("sink/b", tp.SINK),
    ])
    system.start(topo, base="simpleSystemBase")
    system.inject_crash("sink/b", CrashMode.RAISE)
    status = wait_for(system, lambda s: all(
        c.incarnation == 2 and c.state is ComponentState.RUNNING for c in s.children))
    assert tp.find(status, "sink/a").restart_causes == (("restarted with sink/b", 1),)
    assert tp.find(status, "sink/b").restart_causes == (("InjectedCrashError: injected crash", 1),)


def test_slow_consumer_keeps_the_window_and_drop_oldest_counts_exactly(system):
    topo = tp.pipeline({"rate_per_s": 20000, "batch_records": 10},
                       {"delay_per_batch_s": 0.02}, window=3, overflow=Overflow.DROP_OLDEST)
    system.start(topo, base="simpleSystemBase")
    for _ in range(10):
        system.run_for(0.05)
        status = system.status(1.0)
        (link,) = tp.all_links(status)
        assert link.batches_in_flight <= 3
        assert link.received == link.forwarded + link.dropped + link.in_flight
    assert link.dropped > 0
    assert system.drain(3.0)
    status = system.status(1.0)
    (link,) = tp.all_links(status)
    produced = tp.counters(tp.find(status, "source/a"))["produced_records"]
    received = tp.counters(tp.find(status, "sink/a"))["received_records"]
    assert link.in_flight == 0
    assert received + link.dropped == produced


def test_transient_child_that_exits_normally_is_not_restarted(system):
    topo = tp.topology([
        tp.supervisor("root", ["sink/a", "source/a"]),
        tp.leaf("sink/a", tp.SINK),
        tp.leaf("source/a", tp.SOURCE, restart=RestartKind.TRANSIENT, rate_per_s=5000,
                batch_records=50, total=500, exit_when_done=True),
    ], [tp.link("source/a", "sink/a")])
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: tp.find(s, "source/a").state is ComponentState.STOPPED)
    source = tp.find(status, "source/a")
    assert source.restarts == 0
    assert source.last_error == "total of 500 records delivered"
    assert tp.counters(tp.find(status, "sink/a"))["received_records"] == 500
    system.run_for(0.2)
    assert tp.find(system.status(1.0), "source/a").incarnation == 1


def test_bad_settings_fail_the_child_with_a_clear_reason(system):
    strict = RestartPolicy(max_restarts=1, within_s=60, backoff_min_s=0.01, backoff_max_s=0.02)
    topo = tp.topology([
        tp.supervisor("root", ["mid"]),
        tp.supervisor("mid", ["source/a"], policy=strict),
        tp.leaf("source/a", tp.SOURCE, rate_per_s="fast"),
    ])
    with pytest.raises(OperatorSystemError, match=r"did not start: escalated: .*rate_per_s"):
        system.start(topo, base="simpleSystemBase", ready_timeout_s=3.0)


def test_unknown_messages_and_crash_targets_are_counted_not_fatal(system):
    system.start(tp.pipeline({"rate_per_s": 500}, {}), base="simpleSystemBase")
    system.tell_root("not a message")
    system.inject_crash("nobody/here", CrashMode.RAISE)
    status = system.status(1.0)
    assert status.state is ComponentState.RUNNING
    root = tp.counters(status)
    assert root["unrecognized_messages"] == 1
    assert root["unknown_crash_targets"] == 1


def test_aggregator_merges_and_forwards_everything_with_backpressure(system):
    topo = tp.topology([
        tp.supervisor("root", ["sink/a", "agg/a", "source/a"]),
        tp.leaf("sink/a", tp.SINK, delay_per_batch_s=0.01),
        tp.leaf("agg/a", tp.AGGREGATOR, flush_records=300, flush_interval_s=0.05),
        tp.leaf("source/a", tp.SOURCE, rate_per_s=20000, batch_records=50, total=3000),
    ], [tp.link("source/a", "agg/a", window=4), tp.link("agg/a", "sink/a", window=2)])
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: tp.counters(tp.find(s, "sink/a"))[
        "received_records"] == 3000, seconds=8.0)
    sink = tp.counters(tp.find(status, "sink/a"))
    assert sink["distinct_records"] == 3000
    assert sink["max_seq"] == 3000
    assert sink["received_batches"] < 3000 / 50              # batches were merged
    assert tp.conserved(status)
    assert all(link.batches_in_flight <= link.window for link in tp.all_links(status))


def test_a_standing_error_reported_by_the_child_shows_on_status(system):
    topo = tp.topology([tp.supervisor("root", ["sink/a"]),
                        tp.leaf("sink/a", "unit_tests.runtime.troubled_actor.TroubledSink")])
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: tp.find(s, "sink/a").state is ComponentState.RUNNING)
    sink = tp.find(status, "sink/a")
    assert sink.last_error == "relay: certificate not trusted"
    assert sink.restarts == 0
