"""MetricsRingActor on simpleSystemBase: points into the store, pod_index resolution, queries
answered (or refused) exactly once, bad payloads counted instead of crashing the store."""

import time

import msgpack

from actors.metrics.otlp_codec import OtlpDecoder
from actors.metrics.point_frames import FrameEncoder
from system_tests import metrics_support as ms
from unit_tests.metrics.otlp_builders import SEC, counter, gauge, pod_resource, request
from unit_tests.runtime import topologies as tp

PODS = [{"op": "UPSERT", "namespace": "shop", "pod": "cart-7d9f8c6b5-x2x4z", "uid": "u1",
         "ip": "10.0.0.7", "node": "node-1", "workload_kind": "ReplicaSet",
         "workload_name": "cart-7d9f8c6b5", "labels": {}},
        {"op": "UPSERT", "namespace": "shop", "pod": "gone-1", "uid": "u2",
         "workload_kind": "StatefulSet", "workload_name": "gone"},
        {"op": "DELETE", "namespace": "shop", "pod": "gone-1", "uid": "u2"},
        {"op": "RENAME", "namespace": "shop", "pod": "x"}, "not a mapping"]




def wait_for(system, predicate, seconds=5.0, step=0.05):
    return tp.pump_status(system, predicate, seconds, step)


def _payloads(now_ns):
    decoder, encoder = OtlpDecoder(), FrameEncoder()
    out = []
    for cycle in range(3):
        t = now_ns - (3 - cycle) * SEC
        body = request([
            (pod_resource(pod="cart-7d9f8c6b5-x2x4z", deployment=""),
             [gauge("cart.inflight", [(t, float(cycle))], {"route": "/add"}),
              counter("cart.requests", [(t, 10.0 * (cycle + 1))])]),
            (pod_resource(pod="gone-1", deployment=""), [gauge("gone.g", [(t, 1.0)])])])
        batch = decoder.decode(body)
        out.append(["metric_points", batch.points, encoder.encode([batch])])
    out.append(["metric_points", 5, b"\x93\x01\x02"])          # undecodable: counted
    out.append(["surprise", 2, b"\x90"])                      # unknown kind: counted
    return out


def test_points_pod_index_and_queries_each_answered_once(system, tmp_path):
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    topo = ms.metrics_topology(
        ring={"retention": "10m", "max_series": 100, "ring_size": 8},
        client={"requests_path": str(requests), "results_path": str(results)},
        pods={"records": PODS},
        points={"payloads": _payloads(time.time_ns()), "delay_s": 0.3})
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RING_ID).get(
        "metric_batches_total") == 4)
    ring = ms.counters(status, ms.RING_ID)
    assert ring["pod_index_applied_total"] == 2
    assert ring["pod_index_deleted_total"] == 1
    assert ring["pod_index_malformed_total"] == 2
    assert ring["series"] == 3
    assert ring["points"] == 9
    assert ring["points_stored_total"] == 9
    assert ring["batches_undecodable_total"] == 1
    assert ring["points_undecodable_total"] == 5
    assert ring["records_unknown_total"] == 2
    assert ring["memory_bytes"] > 0

    ms.ask(requests, "q-ok", {"namespace": "shop", "workload_kind": "Deployment",
                              "workload_name": "cart", "metric_names": ["cart.inflight"]})
    pod_matcher = {"name": "pod", "value": "cart-7d9f8c6b5-x2x4z"}
    ms.ask(requests, "q-proto", {"workload_name": "cart", "metric_names": ["cart.requests"],
                                 "label_matchers": [pod_matcher],
                                 "start_unix_ms": 1, "max_data_points": 2})
    ms.ask(requests, "q-rate", {"metric_names": ["cart.requests"], "function": "increase",
                                "aggregation": "sum", "by": ["workload"]})
    ms.ask(requests, "q-bad-function", {"function": "median"})
    ms.ask(requests, "q-bad-args", {"namespace": 3, "colour": "red"})
    ms.ask(requests, "q-late", {}, deadline_in_s=-1.0)
    ms.ask(requests, "q-kind", {}, kind="shell")
    wait_for(system, lambda s: len(ms.read_results(results)) >= 7)
    system.run_for(0.3)                                       # nothing more may arrive
    found = ms.read_results(results)
    assert sorted(r["request_id"] for r in found) == sorted(
        ["q-ok", "q-proto", "q-rate", "q-bad-function", "q-bad-args", "q-late", "q-kind"])
    by_id = {r["request_id"]: r for r in found}
    assert {k: r["status"] for k, r in by_id.items()} == {
        "q-ok": "ok", "q-proto": "ok", "q-rate": "ok", "q-bad-function": "failed",
        "q-bad-args": "failed", "q-late": "deadline_exceeded", "q-kind": "unsupported"}
    (series,) = by_id["q-ok"]["payload"]
    labels = dict(series["labels"])
    assert (labels["namespace"], labels["workload_kind"], labels["workload"], labels["pod"]) \
        == ("shop", "Deployment", "cart", "cart-7d9f8c6b5-x2x4z")
    assert series["values"] == [0.0, 1.0, 2.0]
    assert by_id["q-proto"]["truncated"] is True            # 3 points, max_data_points 2
    assert by_id["q-proto"]["payload"][0]["values"] == [20.0, 30.0]
    (summed,) = by_id["q-rate"]["payload"]
    assert summed["labels"] == [["workload", "cart"]]
    assert sum(summed["values"]) == 20.0
    assert "function" in by_id["q-bad-function"]["error"]
    assert by_id["q-bad-function"]["payload"] == {"error": by_id["q-bad-function"]["error"]}
    assert "colour" in by_id["q-bad-args"]["error"]
    status = system.status(2.0)
    ring = ms.counters(status, ms.RING_ID)
    assert ring["queries_answered_total"] == 7
    assert ring["commands_ok_total"] == 3
    assert ms.find(status, ms.RING_ID).incarnation == 1        # nothing above crashed it
    gone = [s for s in ms.read_results(results) if s["request_id"] == "q-ok"]
    assert len(gone) == 1


def test_unanswerable_commands_are_counted_not_answered(system, tmp_path):
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    records = [{"kind": "metrics_query", "args": {}}, {"request_id": "", "kind": "x"}, 7]
    topo = ms.metrics_topology(
        ring={"retention": "10m", "max_series": 10, "ring_size": 4},
        client={"requests_path": str(requests), "results_path": str(results)},
        points={"payloads": [["command", 3, msgpack.packb(records)]]})
    # the points source sends its "command" batch on a plain link: still answered by kind
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RING_ID).get(
        "commands_unanswerable_total") == 3)
    assert ms.counters(status, ms.RING_ID)["commands_unanswerable_total"] == 3
    assert ms.read_results(results) == []


def test_points_wait_for_the_first_pod_index_so_series_get_their_workload(system, tmp_path):
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    topo = ms.metrics_topology(
        ring={"retention": "10m", "max_series": 100, "ring_size": 8, "pod_index_wait_s": 10},
        client={"requests_path": str(requests), "results_path": str(results)},
        pods={"records": PODS[:1], "delay_s": 0.5},
        points={"payloads": _payloads(time.time_ns())[:3]})       # points first
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RING_ID).get(
        "metric_batches_held") == 3)
    assert ms.counters(status, ms.RING_ID)["series"] == 0
    def settled(s):      # all 9 points stored and their batches credited (credit is batched)
        links = [lk for lk in ms.all_links(s) if lk.producer_id == ms.POINTS_ID]
        return ms.counters(s, ms.RING_ID).get("points") == 9 and links \
            and links[0].in_flight == 0

    status = wait_for(system, settled)
    ring = ms.counters(status, ms.RING_ID)
    assert ring["metric_batches_held"] == 0
    assert ring["pod_index_waits_expired_total"] == 0
    ms.ask(requests, "q", {"workload_kind": "Deployment", "workload_name": "cart"})
    wait_for(system, lambda s: ms.read_results(results))
    (answer,) = ms.read_results(results)
    assert sorted(s["metric"] for s in answer["payload"]) == ["cart.inflight", "cart.requests"]
    (link,) = [lk for lk in ms.all_links(status) if lk.producer_id == ms.POINTS_ID]
    assert (link.received, link.forwarded, link.in_flight) == (9, 9, 0)
