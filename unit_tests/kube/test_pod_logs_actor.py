"""The pod_logs actor with the watcher on simpleSystemBase against the simulated API server."""

import time

import pytest

from actors.runtime.thespian_system import OperatorSystem
from sim.kubeapi import KubeApiServer, generate_cluster
from system_tests import kube_support as ks


@pytest.fixture
def server():
    with KubeApiServer(cluster=generate_cluster("small", seed=3), tls=False,
                       bookmark_interval_s=0.5) as started:
        yield started


@pytest.fixture
def system():
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.2)


def pods(server):
    return server.ground_truth()["pods"]


def test_captures_on_crash_loop_and_answers_every_log_tail_once(server, system, tmp_path):
    crashing = {p["metadata"]["name"] for p in pods(server)
                if any("waiting" in c["state"] for c in p["status"]["containerStatuses"])}
    running = next(p for p in pods(server) if p["metadata"]["name"] not in crashing
                   and p["status"]["phase"] == "Running")
    slow_pod = next(p for p in pods(server) if p is not running
                    and p["metadata"]["name"] not in crashing)
    server.faults.slow(1.0, match=f"/pods/{slow_pod['metadata']['name']}/log")
    now = time.time()

    def tail(request_id, pod, deadline=now + 30, namespace=None):
        return {"request_id": request_id, "deadline_unix": deadline, "kind": "log_tail",
                "args": {"namespace": namespace or pod["metadata"]["namespace"],
                         "pod": pod["metadata"]["name"], "tail_lines": 5}}
    commands = [tail("ok", running), tail("late", running, deadline=now - 1),
                tail("missing", running, namespace="nowhere"),
                tail("slow", slow_pod, deadline=now + 0.8)]
    conn = ks.connection(server, tmp_path / "sa")
    topo = ks.kube_topology(path=tmp_path / "up.bin", watcher=conn, commands=commands,
                            pod_logs={**conn, "capture_lines": 20})

    system.start(topo, base="simpleSystemBase")

    def done():
        batches = ks.read_batches(tmp_path / "up.bin")
        answered = {r["request_id"] for r in ks.records_of(batches, "command_result")}
        captured = [r for r in ks.records_of(batches, "logs") if r["previous"]
                    and r["pod"] in crashing]
        return batches if answered == {"ok", "late", "missing", "slow"} and captured else None
    batches = ks.pump_until(system, done, 15)
    assert batches
    system.run_for(1.2)                      # the slow fetch ends late: still one answer each
    batches = ks.read_batches(tmp_path / "up.bin")
    results = ks.records_of(batches, "command_result")
    assert sorted((r["request_id"], r["status"]) for r in results) == [
        ("late", "deadline_exceeded"), ("missing", "failed"), ("ok", "ok"),
        ("slow", "deadline_exceeded")]
    (ok,) = [r for r in results if r["request_id"] == "ok"]
    assert len(ok["payload"].splitlines()) == 5
    logs = ks.records_of(batches, "logs")
    (tail_logs,) = [r for r in logs if r["request_id"] == "ok"]
    assert len(tail_logs["lines"]) == 5
    previous = [r for r in logs if r["previous"] and r["pod"] in crashing]
    assert previous
    assert previous[0]["reason"] in ("CrashLoopBackOff", "ContainerError")
    assert any(line.startswith("Traceback") for line in previous[0]["lines"])
    assert any(e["error"]["error_type"] == "ValueError" for e in previous[0]["errors"])
    assert len(previous[0]["lines"]) <= 20
    status = ks.counters(system.status(2.0), ks.POD_LOGS_ID)
    assert status["late_results_total"] <= 1
    assert status["tails_pending"] == 0
