"""A kube_watcher process SIGKILLed during churn is restarted and rebuilds from the API.

Its memory is gone, so the new incarnation re-lists every kind, the recording uplink
re-announces the session on the new link epoch (as the real uplink does) and the watcher sends a
complete new snapshot (``snapshot`` = 2) and one commit; that snapshot plus its deltas equals
the simulator's ground truth.
"""

import time

import pytest

from actors.kube.settings import ALL_RESOURCES
from messages.runtime import CrashMode
from sim.kubeapi import Churn, KubeApiServer, generate_cluster
from system_tests import kube_support as ks
from system_tests.conftest import free_port, wait_until

pytestmark = pytest.mark.system


def commits(path, snapshot):
    return [r for r in ks.records_of(ks.read_batches(path), "inventory_commit")
            if r["snapshot"] == snapshot]


def test_a_killed_watcher_rebuilds_and_resends_a_complete_snapshot(operator_system, tmp_path):
    up = tmp_path / "up.bin"
    server = KubeApiServer(cluster=generate_cluster("medium", seed=5), tls=False,
                           port=free_port(), bookmark_interval_s=0.5)
    watcher = {**ks.connection(server, tmp_path / "sa"), "backoff_min": 0.05,
               "backoff_max": 0.5}
    system = operator_system(ks.kube_topology(path=up, watcher=watcher))
    with server:
        assert wait_until(lambda: commits(up, 1), 30)
        with Churn(server.store, rate_per_s=25, seed=6):
            time.sleep(0.5)
            system.inject_crash(ks.WATCHER_ID, CrashMode.KILL)
            time.sleep(1.0)
        assert wait_until(lambda: commits(up, 2), 30)
        expected = ks.expected_inventory(server.ground_truth(), ALL_RESOURCES)

        def converged():
            state, problems, count = ks.replay_inventory(ks.read_batches(up), snapshot=2)
            return (problems, count) if not ks.compare_inventory(state, expected) else None
        result = wait_until(converged, 20, step_s=0.3)
        assert result == ([], 1)
        node = ks.find_status(system.status(5.0), ks.WATCHER_ID)
        assert node.restarts == 1
        assert node.incarnation == 2
