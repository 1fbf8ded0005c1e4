"""The metrics actors in a real multiprocTCPBase tree, fed by the real OpenTelemetry SDK.

SDK exporter (gRPC, gzip) → OtlpReceiver → ``metric_points`` link → MetricsRingActor; the pod
index arrives from a fake kube watcher, queries arrive as ``command`` records from a fake
uplink on a request link and come back as ``command_result`` records with Kubernetes context.
Then the ring's process is SIGKILLed: the supervisor restarts it (and, rest_for_one, the
receiver), the receiver answers again, and the receiver → ring link stays conserved.
"""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from actors.metrics.otlp_server import EXPORT_METHOD
from messages.runtime import ComponentState
from system_tests import metrics_support as ms
from system_tests.conftest import free_port, wait_until

pytestmark = pytest.mark.system

POD = "cart-7d9f8c6b5-x2x4z"
RESOURCE = {"k8s.cluster.name": "prod-eu-1", "k8s.namespace.name": "shop", "k8s.pod.name": POD,
            "k8s.pod.uid": "0b6d6a2e-7a5c", "k8s.node.name": "node-3",
            "k8s.container.name": "app", "service.name": "cart"}       # no workload key
PODS = [{"op": "UPSERT", "namespace": "shop", "pod": POD, "uid": "0b6d6a2e-7a5c",
         "ip": "10.0.0.7", "node": "node-3", "workload_kind": "ReplicaSet",
         "workload_name": "cart-7d9f8c6b5", "labels": {"app": "cart"}}]
QUERY = {"namespace": "shop", "workload_kind": "Deployment", "workload_name": "cart",
         "metric_names": ["cart.requests", "cart.latency"]}


def _status(system, component_id):
    return ms.find(system.status(5.0), component_id)


def _answer(requests, results, request_id):
    ms.ask(requests, request_id, QUERY, deadline_in_s=20.0)
    found = wait_until(lambda: [r for r in ms.read_results(results)
                                if r["request_id"] == request_id], 15.0)
    assert found, f"no answer to {request_id}"
    assert len(found) == 1
    return found[0]


def _raw_export(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary(EXPORT_METHOD)(b"", timeout=2.0)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK


def test_sdk_to_ring_query_with_k8s_context_and_ring_kill(operator_system, tmp_path):
    port = free_port()
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    system = operator_system(ms.metrics_topology(
        ring={"retention": "10m", "max_series": 1000, "ring_size": 30},
        receiver={"port": port, "host": "127.0.0.1", "workers": 2},
        client={"requests_path": str(requests), "results_path": str(results)},
        pods={"records": PODS}))
    assert wait_until(lambda: ms.counters(system.status(5.0), ms.RING_ID).get(
        "pod_index_applied_total") == 1, 15.0)
    assert wait_until(lambda: ms.counters(system.status(5.0), ms.RECEIVER_ID).get(
        "accepting") == 1.0, 15.0)

    provider, requests_counter, latency = ms.cart_sdk_meters(port, RESOURCE)
    try:
        assert wait_until(lambda: ms.counters(system.status(5.0), ms.RING_ID).get(
            "points") == 6, 10.0)
        first = _answer(requests, results, "q-1")
        assert first["status"] == "ok"
        assert first["error"] == ""
        by_metric = {s["metric"]: s for s in first["payload"]}
        assert set(by_metric) == {"cart.requests", "cart.latency"}
        labels = dict(by_metric["cart.requests"]["labels"])
        assert (labels["namespace"], labels["workload_kind"], labels["workload"],
                labels["pod"], labels["container"], labels["node"], labels["route"]) == (
            "shop", "Deployment", "cart", POD, "app", "node-3", "/add")
        assert by_metric["cart.requests"]["values"] == [5.0, 10.0, 15.0]

        ring_before = _status(system, ms.RING_ID)
        os.kill(ring_before.pid, signal.SIGKILL)
        codes = set()

        def restarted():
            codes.add(_raw_export(port))
            ring = _status(system, ms.RING_ID)
            receiver = _status(system, ms.RECEIVER_ID)
            return ring is not None and receiver is not None and ring.incarnation == 2 \
                and ring.state is ComponentState.RUNNING and receiver.incarnation == 2 \
                and dict(receiver.counters).get("accepting") == 1.0 \
                and dict(ring.counters).get("pod_index_applied_total") == 1
        assert wait_until(restarted, 20.0, 0.1)
        assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
        assert _raw_export(port) == grpc.StatusCode.OK          # the new receiver answers

        requests_counter.add(1, {"route": "/add"})
        latency.record(0.5, {"route": "/add"})
        assert provider.force_flush(timeout_millis=10_000)
        assert wait_until(lambda: ms.counters(system.status(5.0), ms.RING_ID).get(
            "points") == 2, 10.0)
        second = _answer(requests, results, "q-2")
        assert second["status"] == "ok"
        again = {s["metric"]: s for s in second["payload"]}
        assert again["cart.requests"]["values"] == [16.0]       # the new ring starts empty
        assert dict(again["cart.latency"]["labels"])["workload"] == "cart"
    finally:
        provider.shutdown(timeout_millis=5000)

    def receiver_link():
        status = system.status(5.0)
        (link,) = [lk for lk in ms.all_links(status) if lk.producer_id == ms.RECEIVER_ID]
        assert link.received == link.forwarded + link.dropped + link.in_flight
        return (status, link) if link.in_flight == 0 else None
    status, link = wait_until(receiver_link, 10.0)     # the shutdown export may still fly
    assert link.dropped == 0
    receiver, ring = ms.counters(status, ms.RECEIVER_ID), ms.counters(status, ms.RING_ID)
    assert receiver["points_accepted_total"] == receiver["points_emitted_total"] == \
        ring["points_received_total"] == link.received >= 2
    assert ring["batches_undecodable_total"] == 0
    assert ms.find(status, ms.RING_ID).restarts == 1


def test_receiver_kill_keeps_the_store_and_series_stay_apart(operator_system, tmp_path):
    """A new receiver incarnation restarts its layout keys; the ring must not alias them."""
    port = free_port()
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    system = operator_system(ms.metrics_topology(
        ring={"retention": "10m", "max_series": 1000, "ring_size": 30},
        receiver={"port": port, "host": "127.0.0.1", "workers": 2},
        client={"requests_path": str(requests), "results_path": str(results)},
        pods={"records": PODS}))
    assert wait_until(lambda: ms.counters(system.status(5.0), ms.RECEIVER_ID).get(
        "accepting") == 1.0, 15.0)
    providers = []

    def provider_for(pod_uid_suffix, names):
        exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                      compression=grpc.Compression.Gzip, timeout=5)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(resource=Resource.create(
            {**RESOURCE, "k8s.pod.uid": f"uid-{pod_uid_suffix}"}), metric_readers=[reader])
        providers.append(provider)
        meter = provider.get_meter("cart")
        return provider, [meter.create_counter(name) for name in names]

    try:
        first, (a_counter,) = provider_for("a", ["cart.requests"])
        for _ in range(2):
            a_counter.add(1)
            assert first.force_flush(timeout_millis=10_000)
            time.sleep(0.01)
        old_receiver = _status(system, ms.RECEIVER_ID)
        os.kill(old_receiver.pid, signal.SIGKILL)
        assert wait_until(lambda: (_status(system, ms.RECEIVER_ID).incarnation == 2
                                   and dict(_status(system, ms.RECEIVER_ID).counters).get(
                                       "accepting") == 1.0), 20.0, 0.1)
        # a different layout first: the new receiver hands it the key the old one used
        second, (b_counter, c_counter) = provider_for("b", ["cart.errors", "cart.retries"])
        for _ in range(2):
            b_counter.add(2)
            c_counter.add(3)
            assert second.force_flush(timeout_millis=10_000)
            time.sleep(0.01)
        a_counter.add(1)
        assert first.force_flush(timeout_millis=10_000)
        assert wait_until(lambda: ms.counters(system.status(5.0), ms.RING_ID).get(
            "points") == 7, 10.0)
        ms.ask(requests, "all", {"namespace": "shop"}, deadline_in_s=20.0)
        found = wait_until(lambda: ms.read_results(results), 15.0)
    finally:
        for provider in providers:
            provider.shutdown(timeout_millis=5000)
    assert found
    assert found[0]["status"] == "ok"
    values = {s["metric"]: s["values"] for s in found[0]["payload"]}
    assert values == {"cart.requests": [1.0, 2.0, 3.0], "cart.errors": [2.0, 4.0],
                      "cart.retries": [3.0, 6.0]}
    status = system.status(5.0)
    assert ms.find(status, ms.RING_ID).incarnation == 1
    assert ms.counters(status, ms.RING_ID)["series"] == 3
