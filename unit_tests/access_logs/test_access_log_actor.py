"""AccessLogReceiver on simpleSystemBase: bridge → mapping → window → l7 records, drops."""

import collections

import pytest

from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.workload_mapping import WorkloadIndexPods, WorkloadMapper
from actors.flows.pod_index_copy import PodIndexCopy
from messages.runtime import Overflow
from system_tests import netflow_support as ns
from unit_tests.runtime import topologies as tp

RECEIVER = ns.SUPPORT + "ScriptedAccessLogReceiver"
NUMBERS = ("count", "errors", "request_bytes", "response_bytes", "latency_count")




def pump(system, predicate, seconds=5.0, step=0.05):
    return tp.pump_status(system, predicate, seconds, step)


def keyed(records):
    out = {}
    for record in records:
        key = tuple(sorted((k, v) for k, v in record.items() if not k.startswith(
            (*NUMBERS, "latency", "response_flags", "first_", "last_", "window_"))))
        out[key] = tuple(record[k] for k in NUMBERS)
    return out


def start(system, tmp_path, settings, pods=None):
    leaves = [("recorder/a", ns.SUPPORT + "RecordRecorder",
               {"dump_path": str(tmp_path / "dump.bin")}),
              ("envoy_als/main", RECEIVER, settings)]
    links = [("envoy_als/main", "recorder/a", Overflow.DROP_OLDEST, 8)]
    if pods is not None:
        leaves.insert(1, ("pods/a", ns.SUPPORT + "PodIndexSource", {"records": pods}))
        links.append(("pods/a", "envoy_als/main", Overflow.BLOCK, 4))
    system.start(ns.topology_of(leaves, links), base="simpleSystemBase")


def test_entries_are_mapped_aggregated_and_emitted_per_window(system, tmp_path):
    start(system, tmp_path, {"window_s": 0.3, "script_sidecars": 4})
    pairs = ns.identity_and_entries(ns.fixture_als_batches(4))
    direct = L7Aggregator()
    mapper = WorkloadMapper()
    for identity, entry in pairs:
        direct.add(mapper.map(identity, entry), entry)
    expected = keyed(direct.flush().records)
    status = pump(system, lambda s: tp.counters(tp.find(s, "envoy_als/main"))[
        "entries_received_total"] == len(pairs) and tp.counters(tp.find(s, "recorder/a"))[
        "recorded_records_total"] >= len(expected))
    als = tp.counters(tp.find(status, "envoy_als/main"))
    assert als["entries_dropped_total"] == 0
    assert als["windows_flushed_total"] >= 1
    dumped = ns.read_dump(tmp_path / "dump.bin")
    assert {kind for kind, _ in dumped} == {"l7"}
    merged: dict[tuple[object, ...], list[int]] = collections.defaultdict(
        lambda: [0] * len(NUMBERS))
    for key, numbers in keyed([r for _, r in dumped]).items():
        merged[key] = [a + b for a, b in zip(merged[key], numbers, strict=True)]
    assert {k: tuple(v) for k, v in merged.items()} == expected


def test_pod_index_records_name_peers_by_pod_ip(system, tmp_path):
    pairs = ns.identity_and_entries(ns.fixture_als_batches(2))
    ips = sorted({e.upstream_remote_ip for _, e in pairs if e.upstream_remote_ip}
                 | {e.downstream_remote_ip for _, e in pairs if e.downstream_remote_ip})
    pods = [{"op": "UPSERT", "namespace": "lab", "pod": f"p{i}", "ip": ip, "ips": [ip],
             "workload_kind": "Deployment", "workload_name": "peer"}
            for i, ip in enumerate(ips)]
    copy = PodIndexCopy()
    copy.apply(pods)
    mapper = WorkloadMapper(WorkloadIndexPods(copy.index))
    named = sum(1 for identity, entry in pairs if not entry.intermediate
                and "lab" in (mapper.map(identity, entry).source.namespace,
                              mapper.map(identity, entry).destination.namespace))
    assert named > 0
    start(system, tmp_path, {"window_s": 0.2, "script_sidecars": 2, "script_wait_pods": 1},
          pods=pods)
    status = pump(system, lambda s: tp.counters(tp.find(s, "recorder/a"))[
        "recorded_count_sum_total"] >= len([p for p in pairs if not p[1].intermediate]))
    assert tp.counters(tp.find(status, "envoy_als/main"))["pod_index_pods"] == len(ips)
    records = [r for _, r in ns.read_dump(tmp_path / "dump.bin")]
    assert sum(r["count"] for r in records
               if "lab" in (r["source_namespace"], r["destination_namespace"])) == named


def test_a_full_bridge_drops_and_counts_every_lost_entry(system, tmp_path):
    pairs = ns.identity_and_entries(ns.fixture_als_batches(2))
    start(system, tmp_path, {"window_s": 0.2, "queue_batches": 1, "script_sidecars": 2})
    status = pump(system, lambda s: tp.counters(tp.find(s, "envoy_als/main"))[
        "entries_received_total"] + tp.counters(tp.find(s, "envoy_als/main"))[
        "entries_dropped_total"] == len(pairs))
    als = tp.counters(tp.find(status, "envoy_als/main"))
    assert als["entries_received_total"] + als["entries_dropped_total"] == len(pairs)
    assert als["entries_dropped_total"] > 0
    assert als["bridge_dropped"] > 0


def test_pod_index_copy_feeds_the_workload_mapper():
    copy = PodIndexCopy()
    copy.apply([{"op": "UPSERT", "namespace": "shop", "pod": "cart-1", "ip": "10.1.0.5",
                 "workload_kind": "Deployment", "workload_name": "cart"},
                {"op": "UPSERT", "namespace": "shop", "pod": "solo", "ip": "10.1.0.6",
                 "workload_kind": "Pod", "workload_name": "solo"},
                {"op": "UPSERT", "namespace": "shop", "pod": "done", "ip": "10.1.0.7",
                 "workload_kind": "Job", "workload_name": "j", "phase": "Succeeded"},
                "junk"])
    pods = WorkloadIndexPods(copy.index)
    assert pods.workload_for_ip("10.1.0.5") == ("shop", "Deployment", "cart")
    assert pods.workload_for_ip("10.1.0.6") == ("shop", "Pod", "solo")
    assert pods.workload_for_ip("10.1.0.7") is None          # finished pods free their IP
    assert copy.bad_records == 1
    copy.apply([{"op": "DELETE", "namespace": "shop", "pod": "cart-1"}])
    assert pods.workload_for_ip("10.1.0.5") is None


def test_envoy_als_settings_validate_with_their_keys():
    from actors.access_logs.settings import receiver_settings
    from actors.runtime.topology import TopologyError, load_topology

    text = """
actors:
  supervisor/root: {children: [envoy_als/main]}
  envoy_als/main: {port: PORT, window_s: 5s}
"""
    topology = load_topology(text.replace("PORT", "18080"), env={})
    values, settings = receiver_settings(topology.components["envoy_als/main"].settings)
    assert (settings.port, settings.window_s, values["max_keys"]) == (18080, 5.0, 10_000)
    with pytest.raises(TopologyError, match=r"envoy_als/main\.port: must be ≤ 65535"):
        load_topology(text.replace("PORT", "70000"), env={})
    assert load_topology(text.replace("PORT", "1"), env={"ENABLE_ISTIO_ALS": "false"}
                         ).components.keys() == {"supervisor/root"}
