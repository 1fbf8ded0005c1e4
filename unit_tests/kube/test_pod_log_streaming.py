"""Opt-in continuous log streaming of the pod_logs actor against the simulated API server."""

import collections
import itertools
import time

import pytest

from actors.kube import pod_logs_actor
from actors.kube.api_connection import ApiConnection
from actors.kube.log_stream_adapter import (
    FollowingLogClient,
    LogLinesStreamed,
    LogStreamEnded,
    LogStreamManager,
)
from actors.kube.pod_logs import StreamCursor, choose_streams, split_timestamp
from actors.kube.settings import KubeSettings
from actors.runtime.io_bridge import IoBridge
from actors.runtime.thespian_system import OperatorSystem
from sim.kubeapi import KubeApiServer, generate_cluster, logs
from system_tests import kube_support as ks

LABEL = "kestrel.ai/stream-logs"


@pytest.fixture
def server():
    with KubeApiServer(cluster=generate_cluster("small", seed=3), tls=False,
                       bookmark_interval_s=0.5, log_interval_s=0.1) as started:
        yield started


@pytest.fixture
def system(monkeypatch):
    monkeypatch.setattr(pod_logs_actor, "STREAM_DISCOVERY_S", 0.3)
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.2)


def set_label(server, namespace, value):
    def change(obj):
        labels = obj["metadata"].setdefault("labels", {})
        if value is None:
            labels.pop(LABEL, None)
        else:
            labels[LABEL] = value
    server.store.mutate("namespaces", "", namespace, change)


def printed_lines(server, namespace, pod, container):
    """Every line the container's current run printed so far (the simulator's truth)."""
    return printed_lines_of(server.store.get("pods", namespace, pod), container)


def printed_lines_of(pod, container):
    run = logs.resolve_run(pod, container, previous=False)
    return [text for _, text in run.lines(0.1, run.started, time.time(), None)]


def start(system, server, tmp_path, max_streams):
    conn = ks.connection(server, tmp_path / "sa")
    topo = ks.kube_topology(path=tmp_path / "up.bin", watcher={**conn, "resources": ["pods"]},
                            pod_logs={**conn, "stream_namespace_label": LABEL,
                                      "max_streams": max_streams})
    system.start(topo, base="simpleSystemBase")
    return tmp_path / "up.bin"


def streamed(path):
    return [r for r in ks.records_of(ks.read_batches(path), "logs") if r.get("streamed")]


def status(system):
    return ks.counters(system.status(2.0), ks.POD_LOGS_ID)


def test_cursor_drops_replayed_lines_after_a_reconnect():
    cursor = StreamCursor()
    stamps = ["2026-01-01T00:00:01.5Z", "2026-01-01T00:00:02.25Z", "2026-01-01T00:00:02.25Z"]
    assert [cursor.accept(s) for s in stamps] == [True, True, True]
    assert cursor.since_time() == "2026-01-01T00:00:02Z"
    cursor.reconnected()                         # the server replays from 00:00:02
    replay = ["2026-01-01T00:00:02.1Z", *stamps[1:], "2026-01-01T00:00:02.25Z",
              "2026-01-01T00:00:03Z", "garbage"]
    assert [cursor.accept(s) for s in replay] == [False, False, False, True, True, True]
    assert cursor.duplicates == 3
    assert split_timestamp("2026-01-01T00:00:03Z INFO  ok x") == ("2026-01-01T00:00:03Z",
                                                                 "INFO  ok x")
    assert split_timestamp("no stamp here") == ("", "no stamp here")


def test_choose_streams_keeps_running_streams_before_new_ones():
    settings = KubeSettings(log_stream_max_streams=2)
    pods = [{"namespace": "dev", "name": f"p{i}", "phase": "Running", "containers": ["a"]}
            for i in range(4)]
    labels = {"dev": {LABEL: "true"}}
    assert choose_streams(labels, pods, settings) == [("dev", "p0", "a"), ("dev", "p1", "a")]
    assert choose_streams(labels, pods, settings, {("dev", "p3", "a")}) == [
        ("dev", "p3", "a"), ("dev", "p0", "a")]


def test_labelled_namespace_streams_over_time_reconnects_and_stops(server, system, tmp_path):
    set_label(server, "team-01", "true")
    set_label(server, "team-00", "false")       # present but not "true": never streamed
    path = start(system, server, tmp_path, max_streams=20)

    def batches_per_stream(minimum):
        records = streamed(path)
        per_key = collections.Counter((r["namespace"], r["pod"], r["container"])
                                      for r in records)
        return records if per_key and min(per_key.values()) >= minimum else None
    assert ks.pump_until(system, lambda: batches_per_stream(2), 10)
    counters = status(system)
    assert counters["streams_active"] == 5                 # team-01: 5 running pods
    assert {r["namespace"] for r in streamed(path)} == {"team-01"}

    server.faults.fail(2, code=503, match="namespaces/team-01/pods")   # listing fails twice
    assert ks.pump_until(system, lambda: status(system)["stream_discovery_errors_total"] >= 2,
                         5)
    counters = status(system)
    assert (counters["streams_active"], counters["streams_stopped_total"]) == (5, 0)

    assert server.faults.drop_watches() >= 5               # the API drops every stream
    assert ks.pump_until(system, lambda: status(system)["stream_reconnects_total"] >= 5, 8)
    before = len(streamed(path))
    assert ks.pump_until(system, lambda: len(streamed(path)) >= before + 5, 8)
    by_key = collections.defaultdict(list)
    for record in streamed(path):
        assert record["lines"]
        assert record["first_timestamp"] <= record["last_timestamp"]
        by_key[(record["pod"], record["container"])].append(record)
    for key, records in by_key.items():
        lines = [line for r in records for line in r["lines"]]
        printed = printed_lines(server, "team-01", *key)
        assert any(printed[i:i + len(lines)] == lines for i in range(len(printed))), key
        stamps = [(r["first_timestamp"], r["last_timestamp"]) for r in records]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(stamps))

    set_label(server, "team-01", None)
    assert ks.pump_until(system, lambda: status(system)["streams_active"] == 0, 5)
    system.run_for(1.2)                                    # last partial batches flushed
    settled = len(streamed(path))
    system.run_for(1.5)
    assert len(streamed(path)) == settled
    counters = status(system)
    assert counters["stream_lines_total"] >= sum(len(r["lines"]) for r in streamed(path))
    assert counters["streams_stopped_total"] == 5


def test_stream_cap_is_honoured(server, system, tmp_path):
    for namespace in ("team-00", "team-01", "kube-system"):
        set_label(server, namespace, "true")
    path = start(system, server, tmp_path, max_streams=3)

    def keys():
        return {(r["namespace"], r["pod"], r["container"]) for r in streamed(path)}
    assert ks.pump_until(system, lambda: len(keys()) >= 3, 10)
    system.run_for(1.0)                                    # a few more discovery rounds
    assert len(keys()) == 3
    counters = status(system)
    assert counters["streams_active"] == 3
    assert counters["streams_started_total"] == 3


def test_a_full_bridge_blocks_the_stream_losslessly_and_a_deleted_pod_ends_it(server, tmp_path):
    conn = ApiConnection.from_settings(ks.connection(server, tmp_path / "sa"))
    bridge: IoBridge[object] = IoBridge(1)
    manager = LogStreamManager(conn.adapter(), lambda: FollowingLogClient(
        conn.url, conn.read_token, timeout_s=5.0), bridge, label=LABEL, discovery_s=60.0,
        batch_lines=4, batch_s=60.0, backoff_min_s=0.05, backoff_max_s=0.1)
    pod = next(p for p in server.ground_truth()["pods"] if p["metadata"]["namespace"] ==
               "team-01" and "running" in p["status"]["containerStatuses"][0]["state"])
    key = ("team-01", pod["metadata"]["name"], pod["spec"]["containers"][0]["name"])
    try:
        manager.open(key)                          # only the stream: no discovery, no flusher
        for _ in range(100):                       # 10 tail lines = 2 full batches at once
            if bridge.pending():
                break
            time.sleep(0.02)
        time.sleep(0.5)
        assert bridge.pending() == 1               # nobody drains: the stream thread waits
        assert bridge.counters()["bridge_dropped"] == 0
        items = []
        for _ in range(200):
            items += bridge.drain(10)
            if sum(len(i.lines) for i in items if isinstance(i, LogLinesStreamed)) >= 16:
                break
            time.sleep(0.02)
        assert bridge.blocked_puts >= 1            # it had blocked, and lost nothing
        server.store.delete("pods", *key[:2])
        for _ in range(200):
            items += bridge.drain(10)
            if any(isinstance(i, LogStreamEnded) for i in items):
                break
            time.sleep(0.02)
        (ended,) = [i for i in items if isinstance(i, LogStreamEnded)]
        assert ended.key == key
        assert ended.reason.startswith("404")
        assert manager.active() == set()
    finally:
        assert manager.stop() == 0
    lines = [line for i in items if isinstance(i, LogLinesStreamed) for line in i.lines]
    assert len(lines) >= 16
    printed = printed_lines_of(pod, key[2])
    assert any(printed[i:i + len(lines)] == lines for i in range(len(printed)))
