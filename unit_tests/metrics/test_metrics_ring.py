"""MetricsRing: the plain-logic API the MetricsRing actor drives (queue → store → answers)."""

import msgpack
import pytest

from actors.metrics.metrics_ring import MetricsRing
from actors.metrics.otlp_codec import OtlpDecoder
from actors.metrics.settings import MetricsSettings
from messages.metrics import MetricsQueryRequested
from unit_tests.metrics.otlp_builders import SEC, T0, gauge, pod_resource, request


def test_drain_answer_evict_and_status():
    clock = {"now": T0 + 10 * SEC}
    wakeups = []
    ring = MetricsRing(MetricsSettings(max_series=10, ring_size=4, retention="1m"),
                       clock_ns=lambda: clock["now"], notify=lambda: wakeups.append(1))
    ring.resolver.register("shop", "cart-1", "", "ReplicaSet", "cart-7d9f8c6b5")
    decoder = OtlpDecoder()
    body = request([(pod_resource(deployment=""), [gauge("g", [(T0, 2.0)])])])
    assert ring.queue.offer(decoder.decode(body))
    assert wakeups == [1]
    assert ring.drain() == 1
    answer = ring.answer(MetricsQueryRequested(request_id="q1", workload_name="cart"))
    assert answer.error_message == ""
    series = msgpack.unpackb(answer.series_payload)
    assert series[0]["values"] == [2.0]
    assert ["workload", "cart"] in series[0]["labels"]
    bad = ring.answer(MetricsQueryRequested(request_id="q2", function="nope"))
    assert bad.request_id == "q2"
    assert "function" in bad.error_message
    assert ring.evict_if_due() == 0           # not due yet
    clock["now"] = T0 + 200 * SEC
    assert ring.evict_if_due() == 1           # 30 s interval passed, series older than 1 m
    status = ring.status()
    assert status["series"] == 0
    assert status["queue_batches_accepted"] == 1
    assert status["series_evicted"] == 1


def test_invalid_settings_are_refused_with_every_problem():
    with pytest.raises(ValueError, match=r"maxSeries.*ringSize"):
        MetricsRing(MetricsSettings(max_series=0, ring_size=0), clock_ns=lambda: 0)
