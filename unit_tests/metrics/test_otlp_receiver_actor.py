"""OtlpReceiver on simpleSystemBase with a real gRPC client: requests reach the ring over the
link (conserved), lack of credit is a retryable UNAVAILABLE, bad bodies INVALID_ARGUMENT."""

import dataclasses
import time

import grpc

from actors.metrics.otlp_server import EXPORT_METHOD
from system_tests import metrics_support as ms
from unit_tests.metrics.otlp_builders import SEC, gauge, pod_resource, request
from unit_tests.runtime import topologies as tp


def wait_for(system, predicate, seconds=5.0, step=0.05):
    return tp.pump_status(system, predicate, seconds, step)


def _export(port, body):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT_METHOD)
        try:
            call(body, timeout=5.0)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK


def _bodies(count, pods=3):
    now = time.time_ns()
    return [request([(pod_resource(pod=f"cart-{p}"),
                      [gauge("cart.inflight", [(now - (count - i) * SEC, float(i))])])
                     for p in range(pods)]) for i in range(count)]


def test_exported_points_reach_the_ring_and_the_link_balances(system, tmp_path):
    topo = ms.metrics_topology(ring={"retention": "10m", "max_series": 100, "ring_size": 16,
                                     "pod_index_wait_s": 0.2},      # no kube watcher here
                               receiver={"port": 0, "host": "127.0.0.1", "workers": 2,
                                         "batch_points": 6})
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RECEIVER_ID).get("accepting") == 1.0)
    port = int(ms.counters(status, ms.RECEIVER_ID)["port"])
    codes = []
    for body in _bodies(10):
        codes.append(_export(port, body))
        system.run_for(0.02)
    assert codes == [grpc.StatusCode.OK] * 10
    assert _export(port, b"\xff\xff not protobuf") == grpc.StatusCode.INVALID_ARGUMENT
    status = wait_for(system, lambda s: ms.counters(s, ms.RING_ID).get("points") == 30)
    receiver, ring = ms.counters(status, ms.RECEIVER_ID), ms.counters(status, ms.RING_ID)
    assert receiver["requests_total"] == 11
    assert receiver["decode_errors_total"] == 1
    assert receiver["points_accepted_total"] == receiver["points_emitted_total"] == 30
    assert receiver["unavailable_total"] == 0
    assert ring["series"] == 3
    assert ring["points_received_total"] == 30
    assert ring["pod_index_waits_expired_total"] == 1
    (link,) = ms.all_links(status)
    assert link.link_id == f"{ms.RECEIVER_ID}->{ms.RING_ID}"
    assert link.received == link.forwarded + link.dropped + link.in_flight
    assert link.received == 30
    assert link.dropped == 0


def test_without_link_credit_the_receiver_answers_unavailable(system):
    topo = ms.metrics_topology(ring={"retention": "10m", "max_series": 10, "ring_size": 4},
                               receiver={"port": 0, "host": "127.0.0.1", "workers": 1})
    topo = dataclasses.replace(topo, links=())            # a receiver that is not linked
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RECEIVER_ID).get("port", 0) > 0)
    port = int(ms.counters(status, ms.RECEIVER_ID)["port"])
    assert _export(port, _bodies(1)[0]) == grpc.StatusCode.UNAVAILABLE
    receiver = ms.counters(system.status(2.0), ms.RECEIVER_ID)
    assert receiver["unavailable_total"] == 1
    assert receiver["points_accepted_total"] == 0


def test_a_consumer_without_credit_fills_the_bridge_then_unavailable(system):
    topo = ms.metrics_topology(ring={"retention": "10m", "max_series": 10, "ring_size": 4},
                               receiver={"port": 0, "host": "127.0.0.1", "workers": 1,
                                         "queue_requests": 2}, window=1)
    stuck = dataclasses.replace(topo.components[ms.RING_ID],
                                actor_class="actors.runtime.synthetic_actor.SyntheticSink",
                                settings={"delay_per_batch_s": 60.0})   # never credits in time
    topo = dataclasses.replace(topo, components={**topo.components, ms.RING_ID: stuck})
    system.start(topo, base="simpleSystemBase")
    status = wait_for(system, lambda s: ms.counters(s, ms.RECEIVER_ID).get("accepting") == 1.0)
    port = int(ms.counters(status, ms.RECEIVER_ID)["port"])
    bodies = _bodies(4, pods=1)
    assert _export(port, bodies[0]) == grpc.StatusCode.OK
    system.run_for(0.2)                                  # drained and sent: window used up
    assert [_export(port, b) for b in bodies[1:]] == [
        grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE]
    system.run_for(0.2)
    status = system.status(2.0)
    receiver = ms.counters(status, ms.RECEIVER_ID)
    assert receiver["points_accepted_total"] == 3
    assert receiver["points_emitted_total"] == 1
    assert receiver["bridge_queued"] == 2
    assert receiver["unavailable_total"] == 1
    (link,) = ms.all_links(status)
    assert (link.received, link.in_flight, link.dropped) == (1, 1, 0)
