"""The kube watcher actor on simpleSystemBase against an in-process simulated API server."""

import threading
import time

import pytest

from actors.kube.settings import ALL_RESOURCES
from actors.runtime.thespian_system import OperatorSystem
from messages.runtime import CrashMode
from sim.kubeapi import Churn, Identity, KubeApiServer, Rule, generate_cluster
from system_tests import kube_support as ks


@pytest.fixture
def server():
    with KubeApiServer(cluster=generate_cluster("small", seed=3), tls=False,
                       bookmark_interval_s=0.3) as started:
        yield started


@pytest.fixture
def system():
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.2)


def committed(path, count=1):
    return len(ks.records_of(ks.read_batches(path), "inventory_commit")) >= count


def test_snapshot_and_deltas_equal_the_cluster_and_feed_the_pod_index(server, system, tmp_path):
    watcher = ks.connection(server, tmp_path / "sa")
    topo = ks.kube_topology(path=tmp_path / "up.bin", watcher=watcher,
                            index_path=tmp_path / "index.bin")
    system.start(topo, base="simpleSystemBase")
    assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin"), 10)
    churn = Churn(server.store, seed=4)
    for _ in range(15):
        churn.step()
        system.run_for(0.02)
    expected = ks.expected_inventory(server.ground_truth(), ALL_RESOURCES)

    def converged():
        state, _, _ = ks.replay_inventory(ks.read_batches(tmp_path / "up.bin"))
        return not ks.compare_inventory(state, expected)
    assert ks.pump_until(system, converged, 10)
    state, problems, commits = ks.replay_inventory(ks.read_batches(tmp_path / "up.bin"))
    assert problems == []
    assert commits == 1
    assert {key[0] for key in state} >= {"Pod", "Deployment", "Node", "NetworkPolicy",
                                         "CiliumClusterwideNetworkPolicy", "Namespace"}
    pods = {(ns, name) for kind, ns, name in expected if kind == "Pod"}
    index: dict[tuple[str, str], dict[str, object]] = {}
    for record in ks.records_of(ks.read_batches(tmp_path / "index.bin"), "pod_index"):
        if record["op"] == "DELETE":
            index.pop((record["namespace"], record["pod"]), None)
        else:
            index[(record["namespace"], record["pod"])] = record
    assert set(index) == pods
    assert any(r["workload_kind"] == "Deployment" for r in index.values())
    status = ks.counters(system.status(2.0), ks.WATCHER_ID)
    assert status["resources_synced"] == len(ALL_RESOURCES)
    assert status["watch_threads_alive"] == len(ALL_RESOURCES)


def test_a_new_uplink_session_gets_a_fresh_snapshot_from_memory(server, system, tmp_path):
    topo = ks.kube_topology(path=tmp_path / "up.bin", watcher=ks.connection(server, tmp_path))
    system.start(topo, base="simpleSystemBase")
    assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin"), 10)
    lists = ks.counters(system.status(2.0), ks.WATCHER_ID)["watch_lists_total"]
    system.inject_crash(ks.UPLINK_ID, CrashMode.RAISE)      # the new incarnation: session s1-2
    assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin", 2), 10)
    batches = ks.read_batches(tmp_path / "up.bin")
    # s1-1 batches not yet credited when the recorder died are resent to its successor
    # (at-least-once across a consumer crash), so only the new session must be exact
    first, _, _ = ks.replay_inventory(batches, session="s1-1")
    second, problems, commits = ks.replay_inventory(batches, session="s1-2")
    assert problems == []
    assert commits == 1
    assert set(second) == set(first)
    assert len(second) > 30
    status = ks.counters(system.status(2.0), ks.WATCHER_ID)
    assert status["watch_lists_total"] == lists           # no API re-list for the snapshot
    assert status["sessions_total"] == 2


def test_forbidden_kinds_are_skipped_and_the_rest_is_committed(server, system, tmp_path):
    reads = frozenset({"get", "list", "watch"})
    server.access.add("limited", Identity("limited", ("system:authenticated",), (
        Rule(reads, groups=frozenset({"", "apps", "batch", "networking.k8s.io"})),)))
    watcher = ks.connection(server, tmp_path, token="limited")
    system.start(ks.kube_topology(path=tmp_path / "up.bin", watcher=watcher),
                 base="simpleSystemBase")
    assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin"), 10)
    state, problems, _ = ks.replay_inventory(ks.read_batches(tmp_path / "up.bin"))
    assert problems == []
    kinds = {key[0] for key in state}
    assert "Pod" in kinds
    assert "NetworkPolicy" in kinds
    assert not kinds & {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy",
                        "AuthorizationPolicy"}
    (commit,) = ks.records_of(ks.read_batches(tmp_path / "up.bin"), "inventory_commit")
    assert commit["counts"]["CiliumNetworkPolicy"] == 0
    status = ks.counters(system.status(2.0), ks.WATCHER_ID)
    assert status["resources_skipped"] == 3
    assert status["skipped_ciliumnetworkpolicies"] == 1.0
    assert status["watch_threads_alive"] == len(ALL_RESOURCES)


def test_without_uplink_credit_the_watcher_stops_reading(server, system, tmp_path):
    watcher = {**ks.connection(server, tmp_path), "page_size": 2,
               "inventory_batch_records": 5}
    topo = ks.kube_topology(path=tmp_path / "up.bin", watcher=watcher, hold_s=1.0, window=1)
    system.start(topo, base="simpleSystemBase")

    def holding_inventory():
        status = system.status(2.0)
        watcher = ks.counters(status, ks.WATCHER_ID)
        if ks.counters(status, ks.UPLINK_ID).get("held") and \
                watcher.get("emitted_inventory_total") and watcher["inventory_pending"] > 0:
            return watcher
        return None
    held = ks.pump_until(system, holding_inventory, 10)
    assert held
    system.run_for(0.3)
    later = ks.counters(system.status(2.0), ks.WATCHER_ID)
    assert ks.counters(system.status(2.0), ks.UPLINK_ID)["held"] > 0
    assert later["bridge_queued"] > 0                    # the threads wait on the bridge
    assert later["bridge_drained"] == held["bridge_drained"]      # nothing read meanwhile
    assert later["emitted_inventory_total"] == held["emitted_inventory_total"]
    assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin"), 30)
    state, problems, _ = ks.replay_inventory(ks.read_batches(tmp_path / "up.bin"))
    assert problems == []
    assert not ks.compare_inventory(
        state, ks.expected_inventory(server.ground_truth(), ALL_RESOURCES))


def test_stopping_ends_every_adapter_thread(server, tmp_path):
    conn = ks.connection(server, tmp_path)
    system = OperatorSystem()
    system.start(ks.kube_topology(path=tmp_path / "up.bin", watcher=conn, pod_logs=conn),
                 base="simpleSystemBase")
    try:
        assert ks.pump_until(system, lambda: committed(tmp_path / "up.bin"), 10)
        assert adapter_threads()
    finally:
        system.shutdown(timeout_s=5.0, drain_s=0.2)
    for _ in range(40):
        if not adapter_threads():
            break
        time.sleep(0.05)
    assert adapter_threads() == []


def adapter_threads():
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("kube-watch-", "pod-logs-")) and t.is_alive()]
