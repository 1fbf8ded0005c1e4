"""The whole operator end to end: every simulated peer, the production process tree, faults.

One run of the real ``kestrel-operator run`` (multiproc TCP base) against the simulated API
server, Hubble Relay (the golden frames replayed twice), Envoy sidecars (one round of the golden
streams), the real OTel SDK exporter and Kestrel Cloud, with scripted incidents, a 6 s cloud
outage and a SIGKILLed kube watcher. Then, from the cloud's side: the inventory equals the
simulator's truth, every scripted incident arrived, flow and L7 counts equal the replayed input,
a metrics query and commands are answered, no lossless sequence is missing, and every link on
``/status`` balances.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from typing import Any

import msgpack
import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.workload_mapping import WorkloadMapper
from actors.flows.aggregation import flow_key
from actors.flows.flow_codec import FlowDecoder
from actors.kube.converters import RESOURCES
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from sim.demo.cloud_view import CloudView
from sim.demo.operator_process import OperatorUnderTest, component
from sim.demo.peers import DemoPeers
from sim.demo.topology import demo_topology
from sim.envoy.streams import fixture_stream, replay_stream
from system_tests.kube_support import compare_inventory, expected_inventory, replay_inventory

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def _wait(predicate: Any, within_s: float, what: str, detail: Any = None) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    evidence = f": {detail()}" if detail is not None else ""
    raise AssertionError(f"timed out after {within_s}s waiting for {what}{evidence}")


def _payload_records(view: CloudView, kind: str) -> list[list[dict[str, Any]]]:
    with view.cloud.recorder.lock:
        payloads = list(view.cloud.recorder.payloads_by_kind.get(kind, []))
    return [msgpack.unpackb(p, raw=False) for p in payloads]


def _flow_counts(view: CloudView) -> collections.Counter[tuple[Any, ...]]:
    keys = ("source_namespace", "source_kind", "source_name", "destination_namespace",
            "destination_kind", "destination_name", "destination_port", "l4_protocol",
            "direction", "verdict", "drop_reason")
    counts: collections.Counter[tuple[Any, ...]] = collections.Counter()
    for batch in _payload_records(view, "RECORD_KIND_FLOWS"):
        for record in batch:
            counts[tuple(record[k] for k in keys)] += record["count"]
    return counts


def _expected_flows(peers: DemoPeers) -> collections.Counter[tuple[Any, ...]]:
    sequence = peers.flow_history
    assert sequence is not None
    decoder = FlowDecoder()
    records = [decoder.decode_bytes(sequence.frame(i)) for i in range(sequence.total)]
    return collections.Counter(flow_key(r) for r in records if r is not None and not r.is_reply)


def _expected_l7(sidecars: int) -> int:
    """What the operator's own aggregation makes of the streams the sidecars send: a request
    seen by both its client and its server sidecar is counted once (not double-counted)."""
    http, tcp = fixture_stream("http"), fixture_stream("tcp")
    aggregator, mapper = L7Aggregator(), WorkloadMapper()
    for index in range(sidecars):
        decoder = AlsStreamDecoder()
        for raw in replay_stream(http if index % 2 == 0 else tcp, index):
            for entry in decoder.decode_bytes(raw):
                assert decoder.identity is not None
                aggregator.add(mapper.map(decoder.identity, entry), entry)
    return sum(record["count"] for record in aggregator.flush().records)


def _l7_total(view: CloudView) -> int:
    return sum(r["count"] for batch in _payload_records(view, "RECORD_KIND_L7") for r in batch)


def _inventory(view: CloudView) -> tuple[dict[Any, Any], list[str]]:
    batches = [("inventory", records) for records in
               _payload_records(view, "RECORD_KIND_INVENTORY")]
    sessions = [r["session"] for _, records in batches for r in records]
    last = sessions[-1]
    snapshot = max(r["snapshot"] for _, records in batches for r in records
                   if r["session"] == last)
    state, problems, _ = replay_inventory(batches, session=last, snapshot=snapshot)
    return state, problems


def _incident_names(view: CloudView) -> set[tuple[str, str]]:
    return {(str(r.get("signal")), str(r.get("name")))
            for batch in _payload_records(view, "RECORD_KIND_EVENTS") for r in batch}


@pytest.fixture
def world(tmp_path):
    peers = DemoPeers(tmp_path, scale="small", churn_per_s=0, flows_per_s=800,
                      flow_replay_loops=2, sidecars=16, sidecar_rounds=1).start()
    operator = OperatorUnderTest(tmp_path, demo_topology(peers, tmp_path, flush_s=1.0),
                                 peers.status_port)
    yield peers, operator
    operator.kill_everything()
    peers.stop()


def test_everything_arrives_across_an_outage_and_a_crash(world):
    peers, operator = world
    operator.start(ready_within_s=90.0)
    assert peers.cloud is not None
    assert peers.kube is not None
    assert peers.churn is not None
    view = CloudView(peers.cloud)
    peers.start_traffic()

    truth = peers.kube.ground_truth()
    pods = [p for p in truth["pods"] if p["metadata"]["namespace"] != "kube-system"]
    crashing, oom = pods[0]["metadata"], pods[1]["metadata"]
    node = truth["nodes"][0]["metadata"]["name"]
    peers.churn.crash_loop(crashing["namespace"], crashing["name"])
    peers.churn.oom_kill(oom["namespace"], oom["name"])
    peers.churn.node_not_ready(node)
    peers.churn.warning_event(crashing["namespace"], crashing["name"], "BackOff",
                              "Back-off restarting failed container")

    peers.cloud.stream.go_away(6.0)
    time.sleep(3.0)
    watcher_pid = operator.component_pid("kube_watcher/main")
    os.kill(watcher_pid, signal.SIGKILL)
    operator.wait_for(lambda d: component(d, "kube_watcher/main")["restarts"] >= 1
                      and component(d, "kube_watcher/main")["state"] == "running",
                      40, "the kube watcher restarted")
    _wait(lambda: component(operator.status(), "cloud_uplink/main")["counters"].get(
        "connected") == 1, 40, "the uplink reconnected")

    view.send("e2e-get", k8s_request=pb.K8sRequest(method="GET", path="/api/v1/nodes",
                                                   query={"limit": "2"}))
    view.send("e2e-injection", shell=pb.ShellRequest(command="kubectl get pods && rm -rf /"))
    view.send("e2e-metrics", metrics_query=pb.MetricsQuery(
        namespace="shop", metric_names=["http.server.requests"]))

    expected_flows = _expected_flows(peers)
    _wait(lambda: sum(_flow_counts(view).values()) >= sum(expected_flows.values()), 120,
          "every replayed flow counted at the cloud")
    sent_entries = _expected_l7(peers.sidecars)
    def l7_evidence() -> str:
        document = operator.status()
        als = component(document, "envoy_als/main")["counters"]
        links = [link for link in document["links"] if "envoy_als" in link["id"]]
        uplink = {k: v for k, v in component(document, "cloud_uplink/main")["counters"].items()
                  if "lossy" in k or "drop" in k or "resen" in k}
        return (f"cloud {_l7_total(view)} of {sent_entries} sent, sidecar streams failed "
                f"{peers.als_streams_failed}, als {als}, links {links}, uplink {uplink}, "
                f"cloud duplicates {view.cloud.recorder.duplicates}")

    _wait(lambda: _l7_total(view) >= sent_entries, 60, "every L7 entry counted at the cloud",
          l7_evidence)
    wanted = {("CrashLoopBackOff", crashing["name"]), ("OOMKilled", oom["name"]),
              ("NodeNotReady", node)}
    _wait(lambda: wanted <= _incident_names(view), 60, "every scripted incident")
    peers.stop_traffic()

    expected_inv = expected_inventory(peers.kube.ground_truth(), RESOURCES)

    def inventory_matches() -> bool:
        state, problems = _inventory(view)
        return not problems and not compare_inventory(state, expected_inv)

    _wait(inventory_matches, 60, "the cloud's inventory to equal the simulator's truth",
          lambda: (_inventory(view)[1][:5], compare_inventory(_inventory(view)[0],
                                                              expected_inv)[:5]))
    inventory, _ = _inventory(view)
    assert len(inventory) == len(expected_inv) > 40
    assert {key[0] for key in inventory} >= {"Namespace", "Pod", "Node", "Service"}

    assert _flow_counts(view) == expected_flows
    assert sum(expected_flows.values()) > 1000
    assert _l7_total(view) == sent_entries > 1000
    get, injection, metrics = (view.wait(r, 30) for r in ("e2e-get", "e2e-injection",
                                                           "e2e-metrics"))
    assert get is not None
    assert get.status == pb.COMMAND_STATUS_OK
    assert injection is not None
    assert injection.status == pb.COMMAND_STATUS_REJECTED
    assert metrics is not None
    assert metrics.status == pb.COMMAND_STATUS_OK
    assert msgpack.unpackb(metrics.payload, raw=False), "the metrics query found no series"

    recorder = peers.cloud.recorder
    with recorder.lock:
        reliable = set(recorder.reliable)
    assert reliable == set(range(1, max(reliable) + 1)), "a lossless sequence is missing"
    document = operator.status()
    assert document["conservation_ok"] is True
    lossy_drops = component(document, "cloud_uplink/main")["counters"].get(
        "lossy_dropped_records_total", 0)
    assert lossy_drops == 0
    assert operator.terminate(within_s=40) == 0
    _wait(lambda: not operator.pids(), 10, "every operator process to exit")
