import pytest

from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock


def _cm(name, ns="default", **data):
    return {"metadata": {"name": name, "namespace": ns}, "data": data}


def test_every_write_bumps_one_global_resource_version():
    store = ObjectStore(clock=FixedClock())
    first = store.create("configmaps", _cm("a"))
    second = store.create("namespaces", {"metadata": {"name": "x"}})
    assert int(second["metadata"]["resourceVersion"]) == int(
        first["metadata"]["resourceVersion"]) + 1
    assert store.resource_version == int(second["metadata"]["resourceVersion"])
    assert "namespace" not in second["metadata"]  # cluster-scoped


def test_create_fills_bookkeeping_and_rejects_duplicates():
    store = ObjectStore(clock=FixedClock())
    created = store.create("deployments.apps", {"metadata": {"name": "d", "namespace": "n"},
                                                "spec": {"replicas": 1}})
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["generation"] == 1
    assert meta["creationTimestamp"] == "2026-09-21T14:13:20Z"
    with pytest.raises(ApiError) as error:
        store.create("deployments.apps", {"metadata": {"name": "d", "namespace": "n"}})
    assert error.value.code == 409
    assert error.value.reason == "AlreadyExists"
    assert error.value.message == 'deployments.apps "d" already exists'


def test_replace_checks_resource_version_and_bumps_generation_on_spec_change_only():
    store = ObjectStore()
    obj = store.create("deployments.apps", {"metadata": {"name": "d", "namespace": "n"},
                                            "spec": {"replicas": 1}})
    stale = obj["metadata"]["resourceVersion"]
    obj["spec"]["replicas"] = 3
    updated = store.replace("deployments.apps", obj, expect_rv=stale)
    assert updated["metadata"]["generation"] == 2
    updated["status"] = {"replicas": 3}
    assert store.replace("deployments.apps", updated)["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as error:
        store.replace("deployments.apps", updated, expect_rv=stale)
    assert error.value.code == 409
    assert error.value.reason == "Conflict"
    assert "the object has been modified" in error.value.message


def test_delete_with_finalizers_marks_then_removes_when_finalizers_clear():
    store = ObjectStore(clock=FixedClock())
    store.create("configmaps", {"metadata": {"name": "f", "namespace": "n",
                                             "finalizers": ["x/y"]}})
    marked = store.delete("configmaps", "n", "f")
    assert marked["metadata"]["deletionTimestamp"]
    assert store.get("configmaps", "n", "f") is not None
    marked["metadata"]["finalizers"] = []
    store.replace("configmaps", marked)
    assert store.get("configmaps", "n", "f") is None
    assert [e.type for e in store.events_after(1)] == ["ADDED", "MODIFIED", "DELETED"]


def test_snapshot_at_an_older_version_undoes_later_writes():
    store = ObjectStore()
    store.create("configmaps", _cm("a", v="1"))
    rv_before = store.resource_version
    store.mutate("configmaps", "default", "a", lambda o: o["data"].update(v="2"))
    store.create("configmaps", _cm("b"))
    store.delete("configmaps", "default", "a")
    at_rv, items = store.snapshot("configmaps", rv_before)
    assert at_rv == rv_before
    assert [(i.name, i.obj["data"]) for i in items] == [("a", {"v": "1"})]
    assert [i.name for i in store.snapshot("configmaps")[1]] == ["b"]


def test_history_window_is_bounded_and_older_versions_are_expired():
    store = ObjectStore(history_limit=3)
    for index in range(6):
        store.create("configmaps", _cm(f"c{index}"))
    assert len(store.events_after(store.oldest_available_rv)) == 3
    with pytest.raises(ApiError) as error:
        store.events_after(store.oldest_available_rv - 1)
    assert error.value.code == 410
    assert error.value.message == (f"too old resource version: {store.oldest_available_rv - 1} "
                                   f"({store.oldest_available_rv + 1})")
    with pytest.raises(ApiError):
        store.snapshot("configmaps", 2)


def test_compact_forgets_history_and_ground_truth_is_a_copy():
    store = ObjectStore()
    store.create("configmaps", _cm("a"))
    store.compact()
    assert store.events_after(store.resource_version) == []
    with pytest.raises(ApiError):
        store.events_after(1)
    truth = store.ground_truth()
    truth["configmaps"][0]["data"]["x"] = "mutated"
    assert (store.get("configmaps", "default", "a") or {})["data"] == {}


def test_history_limit_must_be_positive():
    with pytest.raises(ValueError, match="history_limit"):
        ObjectStore(history_limit=0)
