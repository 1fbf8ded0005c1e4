import json

import pytest

from sim.kubeapi import generate_cluster, listing
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock, route


@pytest.fixture(scope="module")
def store():
    clock = FixedClock()
    created = ObjectStore(clock=clock, history_limit=100_000)
    generate_cluster("medium", seed=7, now=clock.now).load_into(created)
    return created


def _list(store, path, accept=None, **params):
    return json.loads(listing.list_body(store, route("GET", path), params, accept))


def test_paginated_list_returns_every_pod_once_at_one_resource_version(store):
    first = _list(store, "/api/v1/pods", limit="70")
    total = store.count("pods")
    assert first["kind"] == "PodList"
    assert first["apiVersion"] == "v1"
    assert first["metadata"]["remainingItemCount"] == total - 70
    assert "kind" not in first["items"][0]  # typed list items carry no kind
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in first["items"]]
    token = first["metadata"]["continue"]
    store.create("pods", {"metadata": {"name": "zz-late", "namespace": "team-07"}})
    while token:
        page = _list(store, "/api/v1/pods", limit="70", **{"continue": token})
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page["items"]]
        token = page["metadata"].get("continue")
    assert names == sorted(names)
    assert len(names) == len(set(names)) == total
    assert ("team-07", "zz-late") not in names  # created after the pinned RV
    store.delete("pods", "team-07", "zz-late")


def test_expired_continue_token_is_410(store):
    small = ObjectStore(history_limit=2)
    for index in range(4):
        small.create("configmaps", {"metadata": {"name": f"c{index}", "namespace": "d"}})
    token = _list(small, "/api/v1/configmaps", limit="1")["metadata"]["continue"]
    for index in range(3):
        small.create("configmaps", {"metadata": {"name": f"n{index}", "namespace": "d"}})
    with pytest.raises(ApiError) as error:
        _list(small, "/api/v1/configmaps", limit="1", **{"continue": token})
    assert error.value.code == 410
    assert error.value.reason == "Expired"
    with pytest.raises(ApiError) as error:
        _list(small, "/api/v1/configmaps", **{"continue": "not-base64!"})
    assert error.value.code == 400


def test_selectors_namespace_and_no_remaining_count_with_selector(store):
    page = _list(store, "/api/v1/namespaces/team-01/pods", labelSelector="app", limit="2",
                 fieldSelector="status.phase=Running")
    assert all(p["metadata"]["namespace"] == "team-01" for p in page["items"])
    assert "remainingItemCount" not in page["metadata"]
    assert page["metadata"]["continue"]


def test_exact_resource_version_reads_the_old_state_and_too_large_is_504():
    clock = FixedClock()
    store = ObjectStore(clock=clock)
    store.create("configmaps", {"metadata": {"name": "a", "namespace": "d"}, "data": {"v": "1"}})
    old_rv = str(store.resource_version)
    store.mutate("configmaps", "d", "a", lambda o: o["data"].update(v="2"))
    exact = _list(store, "/api/v1/configmaps", resourceVersion=old_rv,
                  resourceVersionMatch="Exact")
    assert exact["items"][0]["data"] == {"v": "1"}
    assert exact["metadata"]["resourceVersion"] == old_rv
    latest = _list(store, "/api/v1/configmaps", resourceVersion=old_rv,
                   resourceVersionMatch="NotOlderThan")
    assert latest["items"][0]["data"] == {"v": "2"}
    with pytest.raises(ApiError) as error:
        _list(store, "/api/v1/configmaps", resourceVersion="999",
              resourceVersionMatch="Exact")
    assert error.value.code == 504
    assert "Too large resource version" in error.value.message
    with pytest.raises(ApiError) as error:
        _list(store, "/api/v1/configmaps", resourceVersionMatch="Exact")
    assert error.value.code == 400


def test_custom_resource_items_carry_kind_and_version_is_the_requested_one(store):
    v1beta1 = _list(store, "/apis/security.istio.io/v1beta1/authorizationpolicies")
    assert v1beta1["apiVersion"] == "security.istio.io/v1beta1"
    assert {i["apiVersion"] for i in v1beta1["items"]} == {"security.istio.io/v1beta1"}
    assert v1beta1["items"][0]["kind"] == "AuthorizationPolicy"


def test_table_reply_for_kubectl_get(store):
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = _list(store, "/api/v1/namespaces/team-00/pods", accept)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name", "Ready", "Status", "Restarts", "Age"]
    statuses = {row["cells"][2] for row in table["rows"]}
    assert statuses <= {"Running", "CrashLoopBackOff", "Completed"}
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
