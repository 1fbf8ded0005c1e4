"""FlowCollector on simpleSystemBase: bridge → enrichment → window → flows records, drops."""

import collections

from actors.flows.aggregation import flow_key
from messages.runtime import Overflow
from system_tests import netflow_support as ns
from unit_tests.runtime import topologies as tp

KEY = ("source_namespace", "source_kind", "source_name", "destination_namespace",
       "destination_kind", "destination_name", "destination_port", "l4_protocol", "direction",
       "verdict", "drop_reason")
COLLECTOR = ns.SUPPORT + "ScriptedFlowCollector"
RECORDER = ns.SUPPORT + "RecordRecorder"




def pump(system, predicate, seconds=5.0, step=0.05):
    return tp.pump_status(system, predicate, seconds, step)


def counters(status, cid):
    return tp.counters(tp.find(status, cid))


def start(system, tmp_path, collector_settings, pods=None):
    leaves = [("recorder/a", RECORDER, {"dump_path": str(tmp_path / "dump.bin")}),
              ("hubble_flows/shard-0", COLLECTOR, collector_settings)]
    links = [("hubble_flows/shard-0", "recorder/a", Overflow.DROP_OLDEST, 8)]
    if pods is not None:
        leaves.insert(1, ("pods/a", ns.SUPPORT + "PodIndexSource", {"records": pods}))
        links.append(("pods/a", "hubble_flows/shard-0", Overflow.BLOCK, 4))
    system.start(ns.topology_of(leaves, links), base="simpleSystemBase")


def test_fixture_flows_are_aggregated_and_emitted_per_window(system, tmp_path):
    start(system, tmp_path, {"window_s": 0.3, "queue_batches": 10_000, "script_loops": 2})
    expected = collections.Counter(
        flow_key(r) for r in ns.fixture_flow_records() * 2 if not r.is_reply)
    status = pump(system, lambda s: counters(s, "recorder/a")[
        "recorded_count_sum_total"] >= sum(expected.values()))
    flows = counters(status, "hubble_flows/shard-0")
    assert flows["flows_dropped_total"] == 0
    assert flows["windows_flushed_total"] >= 1          # the window timer flushed
    got: collections.Counter[tuple[object, ...]] = collections.Counter()
    for kind, record in ns.read_dump(tmp_path / "dump.bin"):
        assert kind == "flows"
        assert record["window_end_s"] >= record["window_start_s"]
        assert record["shard_index"] == 0
        got[tuple(record[k] for k in KEY)] += record["count"]
    assert got == expected
    assert flows["flows_received_total"] == len(ns.fixture_flow_records()) * 2
    assert flows["replies_skipped_total"] == flows["flows_received_total"] - sum(
        expected.values())


def test_pod_index_records_enrich_flows_without_workloads(system, tmp_path):
    pods = [{"op": "UPSERT", "namespace": "shop", "pod": f"web-{i}", "uid": f"u{i}",
             "ip": f"10.0.0.{i}", "ips": [f"10.0.0.{i}"], "node": "node-1",
             "workload_kind": "Deployment", "workload_name": "web", "labels": {},
             "host_network": False, "phase": "Running"} for i in (1, 2, 3)]
    pods.append({"op": "UPSERT", "namespace": "data", "pod": "db-0", "ip": "10.0.1.1",
                 "ips": ["10.0.1.1"], "workload_kind": "StatefulSet", "workload_name": "db"})
    pods.append({"op": "DELETE", "namespace": "shop", "pod": "web-3"})
    pods.append({"op": "bogus"})
    start(system, tmp_path, {"window_s": 0.2, "script": "bare", "script_flows": 100,
                             "script_wait_pods": 3}, pods=pods)
    status = pump(system, lambda s: counters(s, "recorder/a")[
        "recorded_count_sum_total"] >= 100)
    flows = counters(status, "hubble_flows/shard-0")
    assert flows["pod_index_pods"] == 3
    assert flows["pod_index_bad_records_total"] == 1
    got: collections.Counter[tuple[object, ...]] = collections.Counter()
    for _, record in ns.read_dump(tmp_path / "dump.bin"):
        got[(record["source_kind"], record["source_name"], record["destination_kind"],
             record["destination_name"])] += record["count"]
    # sources 10.0.0.1-4 in turn: .1/.2 are web pods, .3 was deleted, .4 never existed
    assert got == {("Deployment", "web", "StatefulSet", "db"): 50,
                   ("Unknown", "", "StatefulSet", "db"): 50}


def test_a_full_bridge_drops_and_counts_every_lost_flow(system, tmp_path):
    start(system, tmp_path, {"window_s": 0.2, "queue_batches": 1, "script_loops": 3,
                             "script_batch": 10})
    offered = len(ns.fixture_flow_records()) * 3

    def settled(status):
        flows = counters(status, "hubble_flows/shard-0")
        return flows["script_done"] == 1 and \
            flows["flows_received_total"] + flows["flows_dropped_bridge_total"] == offered

    flows = counters(pump(system, settled), "hubble_flows/shard-0")
    assert flows["flows_received_total"] + flows["flows_dropped_bridge_total"] == offered
    assert flows["flows_dropped_bridge_total"] > 0
    assert flows["flows_dropped_total"] >= flows["flows_dropped_bridge_total"]
    assert flows["bridge_dropped"] > 0                  # the bridge's own batch counter


def test_aggregation_overflow_is_counted_as_dropped(system, tmp_path):
    start(system, tmp_path, {"window_s": 0.2, "queue_batches": 10_000, "max_keys": 3})
    total = len(ns.fixture_flow_records())
    status = pump(system, lambda s: counters(s, "recorder/a")["recorded_count_sum_total"]
                  + counters(s, "hubble_flows/shard-0")["replies_skipped_total"] >= total)
    flows = counters(status, "hubble_flows/shard-0")
    records = [r for _, r in ns.read_dump(tmp_path / "dump.bin")]
    assert flows["flows_overflow_total"] > 0
    assert flows["flows_dropped_total"] == flows["flows_overflow_total"]
    assert sum(r["count"] for r in records if r["source_kind"] == "Overflow") == \
        flows["flows_overflow_total"]
