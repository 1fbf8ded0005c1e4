"""The chart's metrics shape in a real multiprocTCPBase tree: the ring serves OTLP itself.

SDK exporter (gRPC, gzip) → the ring's embedded receiver → store, no receiver process and no
link hop; pod index from a fake kube watcher, queries from a fake uplink. Then the ring's
process is SIGKILLed: its supervisor restarts it, the new incarnation binds the same port again
and serves, and Export calls made meanwhile got UNAVAILABLE (retryable), never another error.
"""

from __future__ import annotations

import os
import signal

import grpc
import pytest

from messages.runtime import ComponentState
from system_tests import metrics_support as ms
from system_tests.conftest import free_port, wait_until
from system_tests.test_metrics_actors import PODS, RESOURCE, _answer, _raw_export

pytestmark = pytest.mark.system


def _ring(system):
    return ms.find(system.status(5.0), ms.RING_ID)


def test_embedded_receiver_sdk_to_query_and_ring_kill(operator_system, tmp_path):
    port = free_port()
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    system = operator_system(ms.metrics_topology(
        ring={"retention": "10m", "max_series": 1000, "ring_size": 30,
              "receiver": {"enabled": True, "port": port, "host": "127.0.0.1", "workers": 2}},
        client={"requests_path": str(requests), "results_path": str(results)},
        pods={"records": PODS}))
    assert ms.find(system.status(5.0), ms.RECEIVER_ID) is None     # no receiver process
    assert wait_until(lambda: dict(_ring(system).counters).get(
        "pod_index_applied_total") == 1, 15.0)
    assert dict(_ring(system).counters)["receiver_accepting"] == 1.0

    provider, requests_counter, latency = ms.cart_sdk_meters(port, RESOURCE)
    try:
        assert wait_until(lambda: dict(_ring(system).counters).get("points") == 6, 10.0)
        first = _answer(requests, results, "q-1")
        assert first["status"] == "ok"
        by_metric = {s["metric"]: s for s in first["payload"]}
        labels = dict(by_metric["cart.requests"]["labels"])
        assert (labels["namespace"], labels["workload_kind"], labels["workload"],
                labels["pod"]) == ("shop", "Deployment", "cart", RESOURCE["k8s.pod.name"])
        assert by_metric["cart.requests"]["values"] == [5.0, 10.0, 15.0]
        counters = dict(_ring(system).counters)
        assert counters["receiver_points_accepted_total"] == counters["points_received_total"] \
            == counters["points"] == 6
        assert counters["receiver_requests_accepted_total"] == 3

        os.kill(_ring(system).pid, signal.SIGKILL)
        codes = set()

        def restarted():
            codes.add(_raw_export(port))
            ring = _ring(system)
            return ring is not None and ring.incarnation == 2 \
                and ring.state is ComponentState.RUNNING \
                and dict(ring.counters).get("receiver_accepting") == 1.0 \
                and dict(ring.counters).get("pod_index_applied_total") == 1
        assert wait_until(restarted, 20.0, 0.1)
        assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
        assert _raw_export(port) == grpc.StatusCode.OK          # the new incarnation serves

        requests_counter.add(1, {"route": "/add"})
        latency.record(0.5, {"route": "/add"})
        assert provider.force_flush(timeout_millis=10_000)
        assert wait_until(lambda: dict(_ring(system).counters).get("points") == 2, 10.0)
        second = _answer(requests, results, "q-2")
        again = {s["metric"]: s for s in second["payload"]}
        assert again["cart.requests"]["values"] == [16.0]       # the new ring starts empty
        assert dict(again["cart.latency"]["labels"])["workload"] == "cart"
        assert ms.find(system.status(5.0), ms.RING_ID).restarts == 1
    finally:
        provider.shutdown(timeout_millis=5000)
