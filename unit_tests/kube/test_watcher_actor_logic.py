"""WatcherCore (the watcher actor's logic) and PodIndexFeed, driven with raw WatchIo items."""

import json
import random

from actors.kube.errors import KubeApiError, ResourceExpiredError
from actors.kube.pod_index_feed import PodIndexFeed
from actors.kube.settings import KubeSettings
from actors.kube.watch_io_adapter import CLOSED, FAILED, LINE, PAGE, READY, WatchIo
from actors.kube.watch_state import Phase
from actors.kube.watcher_core import WatcherCore
from actors.kube.workload_index import WorkloadIndex
from unit_tests.kube import k8s_objects as k


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def core(resources=("pods", "authorizationpolicies"), **kwargs):
    clock = Clock()
    made = WatcherCore(KubeSettings(resources=resources), wall_clock=clock, clock=clock,
                       recheck_s=300.0, rng=random.Random(1), **kwargs)
    return made, clock


def page(items, rv="100"):
    return json.dumps(k.listing(items, rv=rv)).encode()


def line(type_, obj):
    return json.dumps(k.ev(type_, obj)).encode()


def test_a_resource_served_on_no_path_is_skipped_and_rechecked_without_holding_the_commit():
    watcher, clock = core()
    watcher.tracker.open_session("s")
    ticket, step = watcher.step_for("authorizationpolicies")
    assert step.path.endswith("/v1/authorizationpolicies")
    assert watcher.step_for("authorizationpolicies") is None          # one step at a time
    not_found = KubeApiError(404, "NotFound", "the server could not find the resource")
    assert watcher.on_io(WatchIo("authorizationpolicies", ticket, FAILED, error=not_found))
    ticket, step = watcher.step_for("authorizationpolicies")
    assert step.path.endswith("/v1beta1/authorizationpolicies")       # the older version next
    watcher.on_io(WatchIo("authorizationpolicies", ticket, FAILED, error=not_found))
    assert "not served" in watcher.skipped["authorizationpolicies"]
    wait_ticket, wait = watcher.step_for("authorizationpolicies")
    assert wait.phase is Phase.WAIT
    assert wait.delay_s == 300.0                         # the thread sleeps, then READY
    ticket, step = watcher.step_for("pods")
    watcher.on_io(WatchIo("pods", ticket, PAGE, page([k.pod("a")])))
    piece = watcher.tracker.drain(10)
    assert [d[0] for d in piece.deltas] == ["CREATE", "CREATE"]      # Pod + BarePod
    assert piece.commit == {"AuthorizationPolicy": 0, "BarePod": 1, "Pod": 1}
    clock.now += 301
    assert watcher.on_io(WatchIo("authorizationpolicies", wait_ticket, READY))
    ticket, step = watcher.step_for("authorizationpolicies")
    assert step.phase is Phase.LIST


def test_forbidden_is_skipped_too():
    watcher, _ = core(resources=("pods",))
    ticket, _ = watcher.step_for("pods")
    watcher.on_io(WatchIo("pods", ticket, FAILED, error=KubeApiError(403, "Forbidden", "no")))
    assert watcher.skipped["pods"].startswith("forbidden")
    assert watcher.status_counters()["resources_skipped"] == 1


def test_lines_after_an_error_event_and_items_of_old_tickets_are_ignored():
    watcher, _ = core(resources=("pods",))
    ticket, _ = watcher.step_for("pods")
    watcher.on_io(WatchIo("pods", ticket, PAGE, page([k.pod("a")])))
    watch_ticket, step = watcher.step_for("pods")
    assert step.phase is Phase.WATCH
    assert step.resource_version == "100"
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    assert not watcher.on_io(WatchIo("pods", watch_ticket, LINE, line("ERROR", gone)))
    assert not watcher.on_io(WatchIo("pods", watch_ticket, LINE, line("ADDED", k.pod("b"))))
    assert watcher.on_io(WatchIo("pods", watch_ticket, FAILED,
                                 error=ResourceExpiredError(410, "Expired", "x")))
    assert not watcher.on_io(WatchIo("pods", watch_ticket, CLOSED))       # stale ticket
    assert watcher.counters["stale_items"] == 2
    assert "b" not in {key[2] for key in watcher.tracker.store}
    _, step = watcher.step_for("pods")
    assert step.phase is Phase.LIST                                      # re-list after 410
    assert watcher.states["pods"].counters["errors"] == 1                # counted once


def test_incidents_are_bounded_and_capture_worthy_ones_are_copied():
    watcher, _ = core(resources=("pods",), max_signals=2)
    crashing = k.pod("c", statuses=[k.container_status(ready=False, restarts=4, state={
        "waiting": {"reason": "CrashLoopBackOff"}}, last={"terminated": {
            "exitCode": 1, "reason": "Error", "finishedAt": "2026-11-01T10:00:00Z"}})])
    ticket, _ = watcher.step_for("pods")
    watcher.on_io(WatchIo("pods", ticket, PAGE, page([crashing])))
    assert any(s["signal"] == "CrashLoopBackOff" for s in watcher.captures)
    for index in range(4):
        watcher._queue_signals([{"signal": "NodeNotReady", "kind": "Node", "n": index}])
    assert [s.get("n") for s in watcher.take_signals(10)] == [2, 3]
    assert watcher.counters["signals_dropped"] >= 2


def test_pod_index_resolves_late_owners_coalesces_and_replays_for_a_new_consumer():
    index, feed = WorkloadIndex(), PodIndexFeed()
    feed.attach("metrics")
    pod = k.pod("report-1-x", "ns", owners=[("Job", "report-1")])
    from actors.kube.converters import convert_pod
    pod_record = convert_pod(pod)
    deltas = [("CREATE", "Pod", ("Pod", "ns", "report-1-x"), pod_record)]
    index.apply(deltas)
    feed.update(deltas, index)
    assert feed.take("metrics", 10)[0]["workload_kind"] == "Job"
    job = {"kind": "Job", "owner_kind": "CronJob", "owner_name": "report", "labels": {}}
    job_deltas = [("CREATE", "Job", ("Job", "ns", "report-1"), job)]
    index.apply(job_deltas)
    feed.update(job_deltas, index)
    feed.update(deltas, index)                     # the same pod again: coalesced
    (record,) = feed.take("metrics", 10)
    assert (record["workload_kind"], record["workload_name"]) == ("CronJob", "report")
    assert feed.counters["pod_index_coalesced"] == 1
    feed.attach("flows")                           # a new consumer gets everything
    assert [r["pod"] for r in feed.take("flows", 10)] == ["report-1-x"]
    gone = [("DELETE", "Pod", ("Pod", "ns", "report-1-x"), {"uid": "u"})]
    index.apply(gone)
    feed.update(gone, index)
    assert feed.take("flows", 10)[0]["op"] == "DELETE"
    assert feed.current == {}
