"""Property-style: a watch resumed from every RV in the history window yields exactly the events
after it, and those events replayed onto the snapshot at that RV give the final ground truth."""

import random

import pytest

from sim.kubeapi import Churn, generate_cluster
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock, watch_lines, watch_once


def _label_edits(store, rng, count):
    _, pods = store.snapshot("pods")
    for _ in range(count):
        pod = rng.choice(pods)
        tier = rng.choice(["web", "db", None])

        def relabel(obj, tier=tier):
            labels = obj["metadata"].setdefault("labels", {})
            if tier is None:
                labels.pop("tier", None)
            else:
                labels["tier"] = tier
        if store.get("pods", pod.namespace, pod.name) is not None:
            store.mutate("pods", pod.namespace, pod.name, relabel)


def _script(seed):
    clock = FixedClock()
    store = ObjectStore(history_limit=120, clock=clock)
    generate_cluster("small", seed=seed, now=clock.now).load_into(store)
    churn = Churn(store, seed=seed)
    rng = random.Random(seed)
    for _ in range(12):
        churn.step()
        _label_edits(store, rng, 3)
        clock.now += 1
    return store


def _replay(state, events):
    for event in events:
        meta = event["object"]["metadata"]
        ident = (meta["namespace"], meta["name"])
        if event["type"] == "ADDED":
            assert ident not in state
            state[ident] = event["object"]
        elif event["type"] == "MODIFIED":
            assert ident in state
            state[ident] = event["object"]
        else:
            assert event["type"] == "DELETED"
            del state[ident]
    return state


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("selector", ["", "tier=web", "tier notin (db)"])
def test_resume_from_every_rv_in_window_yields_exactly_later_events(seed, selector):
    store = _script(seed)
    oldest, final = store.oldest_available_rv, store.resource_version
    assert final - oldest >= 100  # the script really churned and the window really slid
    params = {"labelSelector": selector} if selector else {}
    full = watch_once(store, "/api/v1/pods", resourceVersion=str(oldest), **params)
    assert full, "the script changed no matching pod"
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in full]
    assert rvs == sorted(rvs)
    assert all(oldest < rv <= final for rv in rvs)
    full_lines = watch_lines(store, "/api/v1/pods", resourceVersion=str(oldest), **params)
    for rv in range(oldest, final + 1):
        resumed = watch_lines(store, "/api/v1/pods", resourceVersion=str(rv), **params)
        assert resumed == [e for e, e_rv in zip(full_lines, rvs, strict=True) if e_rv > rv], rv
    flt = __import__("sim.kubeapi.selectors", fromlist=["build_filter"]).build_filter(
        selector, "", "pods")
    _, at_oldest = store.snapshot("pods", oldest)
    state = {(i.namespace, i.name): {"kind": "Pod", "apiVersion": "v1", **i.obj}
             for i in at_oldest if flt.matches(i.obj)}
    truth = {(p["metadata"]["namespace"], p["metadata"]["name"]): p
             for p in store.ground_truth()["pods"] if flt.matches(p)}
    replayed = _replay(state, full)
    assert {k: v["metadata"]["resourceVersion"] for k, v in replayed.items()} == {
        k: v["metadata"]["resourceVersion"] for k, v in truth.items()}


def test_resume_below_the_window_gets_one_410_error_event():
    store = _script(4)
    too_old = store.oldest_available_rv - 1
    events = watch_once(store, "/api/v1/pods", resourceVersion=str(too_old))
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"] == (f"too old resource version: {too_old} "
                                 f"({store.oldest_available_rv + 1})")


def test_watch_from_zero_starts_with_added_for_current_state_and_initial_events_bookmark():
    store = _script(5)
    events = watch_once(store, "/api/v1/namespaces/team-00/pods", resourceVersion="",
                        sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                        allowWatchBookmarks="true")
    added = [e for e in events if e["type"] == "ADDED"]
    names = sorted(e["object"]["metadata"]["name"] for e in added)
    truth = sorted(p["metadata"]["name"] for p in store.ground_truth()["pods"]
                   if p["metadata"]["namespace"] == "team-00")
    assert names == truth
    assert all(e["object"]["kind"] == "Pod" and e["object"]["apiVersion"] == "v1" for e in added)
    assert events[len(added)]["type"] == "BOOKMARK"
    bookmark = events[len(added)]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bookmark["metadata"]["resourceVersion"] == str(store.resource_version)


def test_object_leaving_the_selector_is_deleted_with_its_previous_content():
    store = ObjectStore(clock=FixedClock())
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "d",
                                             "labels": {"tier": "web"}}, "data": {"v": "1"}})
    start = store.resource_version

    def leave(obj):
        obj["metadata"]["labels"]["tier"] = "db"
        obj["data"]["v"] = "2"
    store.mutate("configmaps", "d", "c", leave)
    (event,) = watch_once(store, "/api/v1/configmaps", resourceVersion=str(start),
                          labelSelector="tier=web")
    assert event["type"] == "DELETED"
    assert event["object"]["data"] == {"v": "1"}
    assert event["object"]["metadata"]["resourceVersion"] == str(store.resource_version)


def test_send_initial_events_false_starts_from_now_and_bad_combinations_are_422():
    store = _script(6)
    assert watch_once(store, "/api/v1/pods", sendInitialEvents="false",
                      resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true") == []
    with pytest.raises(ApiError) as error:
        watch_once(store, "/api/v1/pods", sendInitialEvents="true", allowWatchBookmarks="true")
    assert error.value.code == 422
    with pytest.raises(ApiError) as error:
        watch_once(store, "/api/v1/pods", resourceVersion="5", resourceVersionMatch="Exact")
    assert error.value.code == 422
