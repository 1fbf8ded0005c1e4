"""The command runner in a real multiprocTCPBase tree against the simulated API server.

A fake uplink (``unit_tests.commands.actor_support.FakeUplink``) sends 100 commands at once,
half ``k8s_get`` against ``sim.kubeapi`` over TLS with a bearer token file, half ``shell echo``
through a test allowlist, plus a Secret GET; every request is answered exactly once, correlated
by request id, and the Secret's value never comes back. Cilium queries go to the simulated
Hubble Relay (``sim.hubble``).
"""

from __future__ import annotations

import base64
import collections
import json
import time
from typing import Any

import pytest

from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator
from sim.kubeapi import KubeApiServer
from unit_tests.commands.actor_support import (
    RUNNER_ID,
    TEST_ALLOWLIST,
    counters,
    read_results,
    runner_topology,
)

pytestmark = pytest.mark.system

SECRET_VALUE = "sim-db-password-4711"


def wait_results(path, count, seconds=25.0):
    end = time.monotonic() + seconds
    found = read_results(path)
    while len(found) < count and time.monotonic() < end:
        time.sleep(0.1)
        found = read_results(path)
    return found


@pytest.fixture
def relay():
    simulator = RelaySimulator(build_sequence("replay"))
    simulator.start()
    yield simulator
    simulator.stop(0)


def test_100_concurrent_commands_are_answered_once_and_secrets_stay_redacted(
        operator_system, tmp_path, relay):
    with KubeApiServer(tls=True) as server:
        encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
        server.store.create("secrets", {"metadata": {"name": "db-creds", "namespace": "default"},
                                        "type": "Opaque", "data": {"password": encoded}})
        service_account = tmp_path / "sa"
        server.write_in_cluster_files(service_account, token=server.tokens.admin)
        runner = {"api_url": server.url, "token_file": str(service_account / "token"),
                  "ca_file": str(service_account / "ca.crt"),
                  "audit_path": str(tmp_path / "audit.log"), "timeout_s": 20.0,
                  "concurrency": 4, "queue_depth": 128, "api_concurrency": 4,
                  "extra_shell_allowlist": list(TEST_ALLOWLIST),
                  "hubble_relay_address": f"127.0.0.1:{relay.port}",
                  "hubble_tls_enabled": False}
        paths = ("/api/v1/namespaces", "/api/v1/namespaces/default/configmaps",
                 "/version", "/api/v1/nodes")
        commands: list[dict[str, Any]] = []
        for index in range(99):
            if index % 2:
                commands.append({"request_id": f"sh-{index}", "kind": "shell",
                                 "args": {"command": f"echo answer-{index}"},
                                 "deadline_in_s": 25.0})
            else:
                commands.append({"request_id": f"k8s-{index}", "kind": "k8s_get",
                                 "args": {"path": paths[index // 2 % len(paths)],
                                          "query": {"limit": 5}} if index % 4 else
                                 {"path": paths[index // 2 % len(paths)]},
                                 "deadline_in_s": 25.0})
        commands.append({"request_id": "secret-1", "kind": "k8s_get",
                         "args": {"path": "/api/v1/namespaces/default/secrets/db-creds"},
                         "deadline_in_s": 25.0})
        hubble = [("hubble-status", {"op": "status"}), ("hubble-nodes", {"op": "nodes"}),
                  ("hubble-observe", {"op": "observe",
                                      "filters": {"number": 5, "verdicts": ["FORWARDED"]}}),
                  ("hubble-bad", {"op": "observe", "filters": {"number": 5000}})]
        commands += [{"request_id": rid, "kind": "cilium", "args": args, "deadline_in_s": 25.0}
                     for rid, args in hubble]
        results_path = tmp_path / "results.jsonl"
        uplink = {"commands": commands, "path": str(results_path), "batch_size": 25}
        system = operator_system(runner_topology(runner, uplink, request_window=4,
                                                 result_window=4))
        found = wait_results(results_path, len(commands))
        stats = counters(system.status(5.0), RUNNER_ID)

    answers = collections.defaultdict(list)
    for result in found:
        answers[result["request_id"]].append(result)
    assert sorted(answers) == sorted(str(c["request_id"]) for c in commands)
    assert all(len(group) == 1 for group in answers.values())
    one = {rid: group[0] for rid, group in answers.items()}
    not_ok = {rid: (r["status"], r["error"]) for rid, r in one.items() if r["status"] != "ok"}
    assert list(not_ok) == ["hubble-bad"]
    assert not_ok["hubble-bad"][0] == "rejected"
    assert "number must be between" in not_ok["hubble-bad"][1]
    status = json.loads(one["hubble-status"]["payload"]["body"])
    assert status["version"] == relay.version
    nodes = json.loads(one["hubble-nodes"]["payload"]["body"])
    assert sorted(node["name"] for node in nodes) == relay.nodes
    flows = json.loads(one["hubble-observe"]["payload"]["body"])
    assert 1 <= len(flows) <= 5
    assert all(flow["verdict"] == "FORWARDED" for flow in flows)
    for index in range(1, 99, 2):
        assert one[f"sh-{index}"]["payload"]["stdout"] == f"answer-{index}\n"
    for index in range(0, 99, 2):
        payload = one[f"k8s-{index}"]["payload"]
        assert payload["status_code"] == 200
        assert json.loads(payload["body"])             # a JSON document came back
    secret = one["secret-1"]
    body = json.loads(secret["payload"]["body"])
    assert body["data"] == {"password": "<redacted>"}
    raw = json.dumps(secret)
    assert SECRET_VALUE not in raw
    assert encoded not in raw
    assert stats["commands_accepted_total"] == 104
    assert stats["commands_completed_total"] == 103
    assert stats["commands_refused_bad_filters_total"] == 1
    assert stats["commands_in_flight"] == 0
