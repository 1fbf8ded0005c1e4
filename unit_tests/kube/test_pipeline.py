"""The logic chain an ingestion actor runs: watch states → policy targets → inventory."""

import json
import random
from typing import Any

from actors.kube.converters import RESOURCES
from actors.kube.inventory import InventoryTracker
from actors.kube.policy_targets import PolicyTargets
from actors.kube.watch_state import CREATE, DELETE, UPDATE, WatchState
from actors.kube.workload_index import WorkloadIndex
from actors.runtime.backoff import Backoff
from unit_tests.kube import k8s_objects as k

GONE = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": "Expired", "code": 410, "message": "too old resource version"}


def body(items, rv):
    return json.dumps(k.listing(items, rv=rv)).encode()


def drain(inventory):
    sent: list[Any] = []
    commits: list[Any] = []
    for _ in range(100):
        piece = inventory.drain(4)
        if piece is None:
            return sent, commits
        sent += [(op, key) for op, _, key, _ in piece.deltas]
        if piece.commit is not None:
            commits.append(piece.commit)
    raise AssertionError("drain did not finish")


def test_relist_after_410_reaches_the_cloud_as_exact_deltas_with_policy_update():
    clock = lambda: 0.0  # noqa: E731
    states = {r: WatchState(RESOURCES[r], Backoff(clock=clock, rng=random.Random(0)), clock)
              for r in ("replicasets", "pods", "networkpolicies")}
    kinds = [kind for state in states.values() for view in state.views for kind in [view.kind]]
    targets = PolicyTargets(WorkloadIndex())
    inventory = InventoryTracker(kinds)
    inventory.open_session("s1")

    def feed(resource, deltas):
        inventory.apply(targets.process(deltas))
        if states[resource].synced:
            inventory.mark_synced(view.kind for view in states[resource].views)

    web_a = k.pod("web-7f9-a", "shop", labels={"app": "web"}, owners=[("ReplicaSet", "web-7f9")])
    api_a = k.pod("api-0", "shop", labels={"app": "api"}, owners=[("StatefulSet", "api")])
    feed("networkpolicies", states["networkpolicies"].on_list_body(body([
        k.netpol("web-in", "shop", selector={"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web", "ui"]}]})], "10")))
    feed("replicasets", states["replicasets"].on_list_body(body(
        [k.replicaset("web-7f9", "shop", owner="web")], "10")))
    feed("pods", states["pods"].on_list_body(body([web_a, api_a], "10")))
    sent, commits = drain(inventory)
    assert sorted(op for op, _ in sent) == [CREATE] * 4
    assert commits == [{"BarePod": 0, "NetworkPolicy": 1, "Pod": 2, "ReplicaSet": 1}]
    policy = inventory.store[("NetworkPolicy", "shop", "web-in")]
    assert policy["target_workloads"] == ["shop.Deployment.web"]

    # watch expires; the re-list has api-0 gone, a new ui pod, web-7f9-a unchanged
    states["pods"].on_watch_event(k.ev("ERROR", GONE))
    ui = k.pod("ui", "shop", labels={"app": "ui"})
    feed("pods", states["pods"].on_list_body(body([k.with_rv(web_a), ui], "20")))
    sent, commits = drain(inventory)
    assert sorted(sent) == [
        (CREATE, ("BarePod", "shop", "ui")), (CREATE, ("Pod", "shop", "ui")),
        (DELETE, ("Pod", "shop", "api-0")), (UPDATE, ("NetworkPolicy", "shop", "web-in"))]
    assert commits == []
    policy = inventory.store[("NetworkPolicy", "shop", "web-in")]
    assert policy["target_workloads"] == ["shop.Deployment.web", "shop.Pod.ui"]

    # a reconnect: the new session gets the current state as a snapshot, no API call needed
    inventory.open_session("s2")
    sent, commits = drain(inventory)
    assert len(sent) == len(set(sent)) == 5
    assert commits == [{"BarePod": 1, "NetworkPolicy": 1, "Pod": 2, "ReplicaSet": 1}]
