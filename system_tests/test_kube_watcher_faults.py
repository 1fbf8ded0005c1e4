"""kube_watcher + pod_logs as real processes against the simulated API server under every fault.

A medium simulated cluster over TLS, background churn, and in turn: dropped watches, 410 in the
middle of watches, 429 with Retry-After, 500 and 503 bursts, and a server restart that loses the
watch history. At the end the inventory the recording uplink received (snapshot + deltas, in
order) equals the simulator's ground truth record for record, with no protocol violation (no
duplicate CREATE, no DELETE of an unknown or already deleted object). A quiet period with only
bookmarks sends nothing; forced re-lists of an unchanged cluster send nothing; a crash-looping
pod gets its previous container's last lines captured.
"""

import time

import pytest

from actors.kube.settings import ALL_RESOURCES
from sim.kubeapi import Churn, KubeApiServer, generate_cluster
from system_tests import kube_support as ks
from system_tests.conftest import free_port, wait_until

pytestmark = pytest.mark.system


def inventory_records(path):
    return len(ks.records_of(ks.read_batches(path), "inventory"))


def watcher_records(path):
    batches = ks.read_batches(path)
    return {kind: len(ks.records_of(batches, kind)) for kind in ("inventory", "incident")}


def status_of(system):
    return ks.counters(system.status(5.0), ks.WATCHER_ID)


def test_inventory_survives_every_api_fault_and_equals_the_ground_truth(operator_system,
                                                                         tmp_path):
    up = tmp_path / "up.bin"
    # the actor processes fork before the server listens: a forked copy of its listening
    # socket would otherwise outlive server.restart() and keep the port
    server = KubeApiServer(cluster=generate_cluster("medium", seed=7), tls=True,
                           port=free_port(), bookmark_interval_s=0.3)
    conn = ks.connection(server, tmp_path / "sa")
    watcher = {**conn, "backoff_min": 0.05, "backoff_max": 0.5, "watch_timeout": 20}
    system = operator_system(ks.kube_topology(path=up, watcher=watcher,
                                              pod_logs={**conn, "capture_lines": 30}))
    with server:
        assert wait_until(lambda: ks.records_of(ks.read_batches(up), "inventory_commit"), 30)

        # 1. bookmarks only: the watcher sends nothing
        before, bookmarks = watcher_records(up), status_of(system)["watch_bookmarks_total"]
        assert wait_until(lambda: status_of(system)["watch_bookmarks_total"] >=
                          bookmarks + 2 * len(ALL_RESOURCES), 10)
        assert watcher_records(up) == before

        # 2. churn through every fault (429/5xx aimed at list/watch, not at pod-log GETs)
        churn = Churn(server.store, rate_per_s=25, seed=11)
        churn.crash_loop("team-00", "db-0")
        with churn:
            for fault in (server.faults.drop_watches, server.faults.expire_watches,
                          lambda: server.faults.throttle(3, retry_after_s=1, match="/apis/"),
                          lambda: server.faults.fail(4, code=500, match="/apis/"),
                          lambda: server.faults.fail(4, code=503, match="/api/v1/nodes"),
                          lambda: server.restart(lose_history=True)):
                time.sleep(0.6)
                fault()
            time.sleep(0.6)
        assert churn.steps > 50
        assert wait_until(lambda: all(server.faults.injected[fault] for fault in (
            "drop", "expire", "429", "500", "503")), 10), dict(server.faults.injected)

        # 3. the recorded inventory converges on the ground truth
        expected = ks.expected_inventory(server.ground_truth(), ALL_RESOURCES)

        def converged():
            state, problems, commits = ks.replay_inventory(ks.read_batches(up))
            return (state, problems, commits) if not ks.compare_inventory(
                state, expected) else None
        result = wait_until(converged, 30, step_s=0.3)
        if result is None:
            state, _, _ = ks.replay_inventory(ks.read_batches(up))
            pytest.fail(f"inventory differs: {ks.compare_inventory(state, expected)}")
        state, problems, commits = result
        assert problems == []
        assert commits == 1
        assert sum(1 for kind, _, _ in state if kind == "Pod") > 200
        status = status_of(system)
        assert status["watch_expired_total"] >= 1
        assert status["watch_throttled_total"] >= 1
        assert status["watch_errors_total"] >= 8

        # 4. re-lists (and resumes after a restart) of an unchanged cluster send nothing
        sent, relists = inventory_records(up), status["watch_relists_total"]
        # every resource is watching again after all that (none left idle)
        assert wait_until(lambda: server.faults.open_streams() >= len(ALL_RESOURCES), 10)
        expired = server.faults.expire_watches()
        assert wait_until(lambda: status_of(system)["watch_relists_total"] >=
                          relists + expired, 20)
        server.restart(lose_history=True)
        assert wait_until(lambda: server.faults.open_streams() >= len(ALL_RESOURCES), 20)
        time.sleep(0.5)
        assert inventory_records(up) == sent

        # 5. the crash loop's previous container was captured with its last lines
        logs = ks.records_of(ks.read_batches(up), "logs")
        previous = [r for r in logs if r["pod"] == "db-0" and r["previous"]]
        assert previous
        assert not previous[0]["error"]
        assert previous[0]["lines"][-1].startswith("ValueError")
        assert 0 < len(previous[0]["lines"]) <= 30
