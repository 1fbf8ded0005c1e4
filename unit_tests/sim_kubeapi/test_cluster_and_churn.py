import pytest

from sim.kubeapi import Churn, generate_cluster
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FIXED_NOW, FixedClock


def _loaded(scale="small", seed=3):
    clock = FixedClock()
    store = ObjectStore(clock=clock)
    generate_cluster(scale, seed=seed, now=FIXED_NOW).load_into(store)
    return store, clock


def test_same_seed_same_cluster_and_scales_have_their_sizes():
    first = generate_cluster("medium", seed=9, now=FIXED_NOW)
    assert first.objects == generate_cluster("medium", seed=9, now=FIXED_NOW).objects
    assert first.objects != generate_cluster("medium", seed=10, now=FIXED_NOW).objects
    assert (first.count("nodes"), first.count("deployments.apps")) == (20, 60)
    assert first.count("pods") == 60 * 3 + 20 + 8 * 2  # + a db-0 and a job pod per namespace
    with pytest.raises(ValueError, match="unknown scale"):
        generate_cluster("huge")


def test_pods_are_consistent_with_their_replica_sets():
    store, _ = _loaded()
    truth = store.ground_truth()
    by_uid = {rs["metadata"]["uid"]: rs for rs in truth["replicasets.apps"]}
    nodes = {n["metadata"]["name"] for n in truth["nodes"]}
    for pod in truth["pods"]:
        assert pod["spec"]["nodeName"] in nodes
        owner = pod["metadata"]["ownerReferences"][0]
        if owner["kind"] == "ReplicaSet":
            rs = by_uid[owner["uid"]]
            assert pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"][
                "pod-template-hash"]


def _pods_of_deployment(store, namespace, name):
    return [p for p in store.ground_truth()["pods"]
            if p["metadata"]["namespace"] == namespace and p["metadata"]["labels"].get(
                "app") == name]


def test_scale_and_rollout_keep_ground_truth_consistent():
    store, _ = _loaded()
    churn = Churn(store, seed=1)
    deploy = store.ground_truth()["deployments.apps"][0]
    namespace, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
    churn.scale(namespace, name, 4)
    assert len(_pods_of_deployment(store, namespace, name)) == 4
    new_rs = churn.rollout(namespace, name, image="registry.example.com/x:9.9.9")
    pods = _pods_of_deployment(store, namespace, name)
    assert len(pods) == 4
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {new_rs}
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {
        "registry.example.com/x:9.9.9"}
    rollout = store.get("deployments.apps", namespace, name)
    assert rollout["metadata"]["generation"] == 3
    assert rollout["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    old_sets = [rs for rs in store.ground_truth()["replicasets.apps"]
                if rs["metadata"]["labels"]["app"] == name and rs["metadata"]["name"] != new_rs]
    assert [rs["spec"]["replicas"] for rs in old_sets] == [0]


def test_crash_oom_node_and_policy_scenarios():
    store, clock = _loaded()
    churn = Churn(store, seed=2)
    pod = store.ground_truth()["pods"][-1]
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    churn.oom_kill(namespace, name)
    crashed = store.get("pods", namespace, name)["status"]["containerStatuses"][0]
    assert crashed["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert crashed["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert crashed["restartCount"] == 1
    churn.node_condition("node-001", ready=False)
    conditions = {c["type"]: c["status"] for c in store.get("nodes", "", "node-001")[
        "status"]["conditions"]}
    assert conditions["Ready"] == "Unknown"
    churn.node_condition("node-002", pressure="DiskPressure")
    warnings = [e for e in store.ground_truth()["events"] if e["type"] == "Warning"]
    assert {"BackOff", "NodeNotReady"} <= {e["reason"] for e in warnings}
    churn.edit_policy("team-00")
    policy = store.get("networkpolicies.networking.k8s.io", "team-00", "default-deny")
    assert policy["spec"]["ingress"]
    with pytest.raises(ApiError):
        churn.crash_loop("team-00", "no-such-pod")
    with pytest.raises(ValueError, match="pressure"):
        churn.node_condition("node-000", pressure="Tired")
    del clock


def test_random_steps_are_reproducible_for_a_seed():
    runs = []
    for _ in range(2):
        store, _ = _loaded(seed=5)
        runs.append((Churn(store, seed=11).run_steps(15), store.resource_version))
    assert runs[0] == runs[1]
    assert len(set(runs[0][0])) > 2
