from sim.kubeapi import generate_cluster
from sim.kubeapi.controllers import Controllers
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock


def _world():
    clock = FixedClock()
    store = ObjectStore(clock=clock)
    generate_cluster("small", seed=6, now=clock.now).load_into(store)
    deploy = next(d for d in store.ground_truth()["deployments.apps"]
                  if d["metadata"]["namespace"] == "team-01")
    return store, Controllers(store), deploy["metadata"]["namespace"], deploy["metadata"]["name"]


def _pods(store, namespace, app):
    return [p for p in store.ground_truth()["pods"]
            if p["metadata"]["namespace"] == namespace
            and p["metadata"]["labels"].get("app") == app]


def test_scaling_through_the_api_creates_pods_and_settles_status():
    store, controllers, namespace, name = _world()
    store.mutate("deployments.apps", namespace, name, lambda d: d["spec"].update(replicas=5))
    assert controllers.run_once() >= 1
    assert len(_pods(store, namespace, name)) == 5
    deploy = store.get("deployments.apps", namespace, name)
    assert deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
    assert deploy["status"]["replicas"] == 5
    settled_rv = store.resource_version
    controllers.run_once()
    controllers.run_once()
    assert store.resource_version == settled_rv  # a settled cluster causes no writes


def test_template_change_rolls_out_a_new_replica_set():
    store, controllers, namespace, name = _world()

    def restart(deploy):
        deploy["spec"]["template"]["metadata"].setdefault("annotations", {})[
            "kubectl.kubernetes.io/restartedAt"] = "2026-09-21T14:13:20Z"
    store.mutate("deployments.apps", namespace, name, restart)
    controllers.run_once()
    sets = [rs for rs in store.ground_truth()["replicasets.apps"]
            if rs["metadata"]["labels"]["app"] == name]
    assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 2]
    active = next(rs for rs in sets if rs["spec"]["replicas"] == 2)
    assert active["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = _pods(store, namespace, name)
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {
        active["metadata"]["name"]}


def test_deleted_pod_is_replaced_by_its_replica_set():
    store, controllers, namespace, name = _world()
    before = _pods(store, namespace, name)
    victim = before[0]["metadata"]["name"]
    store.delete("pods", namespace, victim)
    controllers.run_once()
    after = _pods(store, namespace, name)
    assert len(after) == len(before)
    assert victim not in {p["metadata"]["name"] for p in after}
    reasons = {e["reason"] for e in store.ground_truth()["events"]}
    assert "Scheduled" in reasons


def test_falling_behind_the_history_window_resyncs():
    clock = FixedClock()
    store = ObjectStore(clock=clock, history_limit=5)
    generate_cluster("small", seed=6, now=clock.now).load_into(store)
    controllers = Controllers(store)
    deploy = store.ground_truth()["deployments.apps"][0]
    namespace, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
    store.mutate("deployments.apps", namespace, name, lambda d: d["spec"].update(replicas=3))
    for index in range(10):
        store.create("configmaps", {"metadata": {"name": f"noise-{index}",
                                                 "namespace": "default"}})
    controllers.run_once()
    assert len(_pods(store, namespace, name)) == 3
