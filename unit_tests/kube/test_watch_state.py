"""List+watch state machine: exact re-list differences, bookmarks, resyncs, errors, backoff."""

import json
import random

from actors.kube.converters import RESOURCES
from actors.kube.errors import ApiUnavailableError, ResourceExpiredError, TooManyRequestsError
from actors.kube.watch_state import CREATE, DELETE, UPDATE, Phase, WatchState
from actors.runtime.backoff import Backoff
from unit_tests.kube import k8s_objects as k


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(resource="pods"):
    clock = Clock()
    backoff = Backoff(min_s=1.0, max_s=8.0, jitter=False, clock=clock, rng=random.Random(1))
    return WatchState(RESOURCES[resource], backoff, clock), clock


def ops(deltas):
    return sorted((op, key) for op, _kind, key, _rec in deltas)


def initial(state, items, rv="5000"):
    return state.on_list_body(json.dumps(k.listing(items, rv=rv)).encode())


def test_initial_list_creates_pod_and_bare_pod_views_then_watches_from_list_rv():
    state, _ = make()
    owned = k.pod("web-1", owners=[("ReplicaSet", "web-abc")])
    bare = k.pod("debug")
    deltas = initial(state, [owned, bare], rv="77")
    assert ops(deltas) == [(CREATE, ("BarePod", "default", "debug")),
                           (CREATE, ("Pod", "default", "debug")),
                           (CREATE, ("Pod", "default", "web-1"))]
    assert all(rec["resource_version"] for _, _, _, rec in deltas)
    step = state.next_step()
    assert step.phase is Phase.WATCH
    assert step.resource_version == "77"
    assert state.synced


def test_paginated_list_deletes_only_after_the_last_page():
    state, _ = make()
    a, b, c = k.pod("a"), k.pod("b"), k.pod("c")
    initial(state, [a, b, c])
    first = state.on_list_page([a], "", "token-1")
    assert first == []
    assert state.next_step().continue_token == "token-1"
    last = state.on_list_page([c], "6000", "")
    assert ops(last) == [(DELETE, ("BarePod", "default", "b")), (DELETE, ("Pod", "default", "b"))]


def test_relist_after_410_emits_exact_difference():
    state, _ = make()
    keep, change, vanish = k.pod("keep"), k.pod("change", ip="10.0.0.2"), k.pod("vanish")
    initial(state, [keep, change, vanish])
    state.on_watch_event(k.ev("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Failure", "reason": "Expired", "code": 410,
                                        "message": "too old resource version: 1 (9)"}))
    assert state.next_step().phase is Phase.LIST
    changed = k.with_rv(change)
    changed["status"]["podIP"] = "10.0.0.99"
    new = k.pod("new")
    resync_keep = k.with_rv(keep)  # new RV, same content
    deltas = initial(state, [resync_keep, changed, new], rv="9000")
    assert ops(deltas) == [(CREATE, ("BarePod", "default", "new")),
                           (CREATE, ("Pod", "default", "new")),
                           (DELETE, ("BarePod", "default", "vanish")),
                           (DELETE, ("Pod", "default", "vanish")),
                           (UPDATE, ("Pod", "default", "change"))]
    assert state.counters["relists"] == 1
    assert state.next_step().resource_version == "9000"


def test_bookmark_only_period_emits_nothing_and_advances_resume_point():
    state, _ = make()
    initial(state, [k.pod("a")], rv="10")
    for rv in ("11", "12", "13"):
        line = json.dumps(k.ev("BOOKMARK", {"kind": "Pod", "apiVersion": "v1",
                                            "metadata": {"resourceVersion": rv}})).encode()
        assert state.on_watch_line(line) == []
    assert state.next_step().resource_version == "13"
    assert state.counters["bookmarks"] == 3


def test_resync_with_unchanged_content_is_not_an_update_flood():
    state, _ = make("nodes")
    nodes = [k.node(f"n{i}", heartbeat="t0") for i in range(50)]
    initial(state, nodes)
    beat = [k.with_rv(n) for n in nodes]
    for n in beat:
        for cond in n["status"]["conditions"]:
            cond["lastHeartbeatTime"] = "t1"   # heartbeat bumps RV, not our record
    assert initial(state, beat) == []
    assert [d for n in beat for d in state.on_watch_event(k.ev("MODIFIED", k.with_rv(n)))] == []
    same_rv = state.on_watch_event(k.ev("ADDED", beat[0]))
    assert same_rv == []


def test_no_duplicate_delete():
    state, _ = make()
    p = k.pod("a", owners=[("ReplicaSet", "rs")])
    initial(state, [p])
    first = state.on_watch_event(k.ev("DELETED", k.with_rv(p)))
    again = state.on_watch_event(k.ev("DELETED", k.with_rv(p)))
    assert ops(first) == [(DELETE, ("Pod", "default", "a"))]
    assert again == []
    assert initial(state, []) == []   # a re-list does not delete it a second time


def test_bare_pod_gaining_an_owner_leaves_the_workload_view():
    state, _ = make()
    p = k.pod("a")
    initial(state, [p])
    adopted = k.with_rv(p)
    adopted["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "rs",
                                               "controller": True}]
    assert ops(state.on_watch_event(k.ev("MODIFIED", adopted))) == [
        (DELETE, ("BarePod", "default", "a")), (UPDATE, ("Pod", "default", "a"))]


def test_normal_events_are_filtered_and_warning_count_bump_updates():
    state, _ = make("events")
    normal = k.event("n1", type_="Normal")
    warn = k.event("w1", count=1)
    assert ops(initial(state, [normal, warn])) == [(CREATE, ("Event", "default", "w1"))]
    bumped = k.with_rv(warn)
    bumped["count"] = 2
    (delta,) = state.on_watch_event(k.ev("MODIFIED", bumped))
    assert delta[0] == UPDATE
    assert delta[3]["count"] == 2


def test_watch_error_other_than_410_backs_off_then_resumes_watch():
    state, clock = make()
    initial(state, [k.pod("a")], rv="10")
    state.on_watch_event(k.ev("ERROR", {"kind": "Status", "code": 500, "reason": "InternalError",
                                        "message": "etcd leader changed"}))
    step = state.next_step()
    assert step.phase is Phase.WAIT
    assert step.delay_s == 1.0
    clock.now += 1.0
    step = state.next_step()
    assert step.phase is Phase.WATCH
    assert step.resource_version == "10"
    state.on_failure(ApiUnavailableError(503, "ServiceUnavailable", "x"))
    assert state.next_step().delay_s == 2.0   # exponential


def test_429_waits_at_least_retry_after():
    state, clock = make()
    state.on_failure(TooManyRequestsError(429, "TooManyRequests", "slow down", 7.0))
    step = state.next_step()
    assert step.phase is Phase.WAIT
    assert step.delay_s == 7.0
    clock.now += 7.0
    assert state.next_step().phase is Phase.LIST
    assert state.counters["throttled"] == 1


def test_expired_continue_token_restarts_the_list_from_scratch():
    state, _ = make()
    initial(state, [k.pod("a"), k.pod("b")])
    state.on_failure(ResourceExpiredError(410, "Expired", "x"))
    state.on_list_page([k.pod("a")], "", "tok")
    state.on_failure(ResourceExpiredError(410, "Expired", "continue token expired"))
    step = state.next_step()
    assert step.phase is Phase.LIST
    assert step.continue_token == ""
    deltas = state.on_list_page([k.pod("b")], "99", "")
    assert (DELETE, ("Pod", "default", "a")) in ops(deltas)


def test_malformed_input_is_counted_not_raised():
    state, _ = make()
    assert state.on_list_body(b"{not json") == []
    assert state.counters["rejected"] == 1
    state, _ = make()
    initial(state, [{"metadata": {}}, k.pod("ok")])
    assert state.counters["rejected"] == 1
    assert state.on_watch_line(b'{"type": "ADDED"}') == []
    assert state.on_watch_line(b"[1,2]") == []
    assert state.on_watch_line(b"\n") == []
    assert state.counters["rejected"] == 3


def test_observers_see_items_events_and_objects_gone_at_relist():
    from actors.kube.incident_monitors import IncidentMonitors
    from actors.kube.settings import KubeSettings
    state, clock = make("nodes")
    seen, signals = [], []
    monitors = IncidentMonitors(KubeSettings(), clock)
    state.observers.append(lambda t, o: seen.append((t, o["metadata"]["name"])))
    state.observers.append(lambda t, o: signals.extend(monitors.observe("nodes", t, o)))
    initial(state, [k.node("a"), k.node("b", ready=False)])
    state.on_watch_event(k.ev("MODIFIED", k.with_rv(k.node("a"))))
    initial(state, [k.node("a")])          # re-list: b is gone
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("ADDED", "a"),
                    ("DELETED", "b")]
    assert [(s["signal"], s["name"]) for s in signals] == [("NodeNotReady", "b"),
                                                           ("NodeDeleted", "b")]
    assert signals[1]["details"]["firing"] == ["NodeNotReady"]


def test_steps_carry_path_and_selector_and_404_tries_the_older_api_version():
    from actors.kube.errors import KubeApiError
    state, clock = make("authorizationpolicies")
    step = state.next_step()
    assert step.path == "/apis/security.istio.io/v1/authorizationpolicies"
    state.on_failure(KubeApiError(404, "NotFound", "the server could not find the resource"))
    step = state.next_step()
    assert step.phase is Phase.LIST
    assert step.path == "/apis/security.istio.io/v1beta1/authorizationpolicies"
    state.on_failure(KubeApiError(404, "NotFound", "no Istio"))
    step = state.next_step()
    assert step.phase is Phase.WAIT
    assert state.counters["not_served"] == 1
    clock.now += step.delay_s
    assert state.next_step().path.startswith("/apis/security.istio.io/v1/")
    events, _ = make("events")
    assert events.next_step().field_selector == "type=Warning"
