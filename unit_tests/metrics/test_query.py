"""Query engine against hand-computed values: rate over a reset, quantiles, sum by workload."""

import msgpack
import pytest

from actors.metrics.otlp_codec import decode_export_request
from actors.metrics.query import answer_message, run_query
from actors.metrics.ring_store import RingStore
from messages.metrics import MetricsQueryRequested
from unit_tests.metrics.otlp_builders import (
    DELTA,
    SEC,
    T0,
    counter,
    exp_histogram,
    gauge,
    histogram,
    pod_resource,
    request,
)

NOW = T0 + 60 * SEC


def _store(*bodies):
    store = RingStore(ring_size=60, max_series=100, retention_ns=1800 * SEC, clock_ns=lambda: NOW)
    for body in bodies:
        assert store.ingest(decode_export_request(body)).stored > 0
    return store


def _q(store, **kw):
    kw.setdefault("start_ns", T0)
    kw.setdefault("end_ns", T0 + 40 * SEC)
    return run_query(store, MetricsQueryRequested(request_id="r", **kw), NOW)


def _reset_counter():
    restart = T0 + 25 * SEC
    points = [(T0, 10), (T0 + 10 * SEC, 20), (T0 + 20 * SEC, 35),
              (T0 + 30 * SEC, 5, restart), (T0 + 40 * SEC, 15, restart)]
    return request([(pod_resource(), [counter("requests", points)])])


def test_increase_and_rate_over_a_counter_reset():
    store = _store(_reset_counter())
    # increases: 10, 15, reset → 5, 10  = 40 over the 40 s range
    whole = _q(store, function="increase")
    assert whole.error == ""
    assert whole.series[0].values.tolist() == [40.0]
    assert _q(store, function="rate").series[0].values.tolist() == [1.0]
    # 20 s steps: [0,20) gets +10, [20,40) gets +15 +5, [40,60) gets +10
    stepped = _q(store, function="rate", step_ns=20 * SEC)
    assert stepped.series[0].times.tolist() == [T0, T0 + 20 * SEC, T0 + 40 * SEC]
    assert stepped.series[0].values.tolist() == [0.5, 1.0, 0.5]


def test_reset_detected_by_value_drop_without_start_change():
    points = [(T0, 10), (T0 + 10 * SEC, 30), (T0 + 20 * SEC, 4)]
    store = _store(request([(pod_resource(), [counter("c", points)])]))
    assert _q(store, function="increase").series[0].values.tolist() == [24.0]


def test_delta_counter_increase_sums_points():
    points = [(T0 + 10 * SEC, 3, T0), (T0 + 20 * SEC, 4, T0 + 10 * SEC),
              (T0 + 30 * SEC, 5, T0 + 20 * SEC)]
    store = _store(request([(pod_resource(), [counter("c", points, temporality=DELTA)])]))
    assert _q(store, function="increase").series[0].values.tolist() == [12.0]


def _workloads():
    return request([
        (pod_resource(pod="cart-1", deployment="cart"),
         [gauge("inflight", [(T0, 7.0), (T0 + SEC, 1.0)])]),
        (pod_resource(pod="cart-2", deployment="cart"), [gauge("inflight", [(T0, 2.0)])]),
        (pod_resource(pod="web-1", deployment="web"), [gauge("inflight", [(T0, 5.0)])]),
        (pod_resource(namespace="data", pod="kafka-0", deployment=""),
         [gauge("inflight", [(T0, 9.0)])]),
    ])


def test_sum_avg_max_by_workload():
    store = _store(_workloads())
    answer = _q(store, namespace="shop", aggregation="sum", by=("workload",))
    got = {dict(s.labels)["workload"]: s.values.tolist() for s in answer.series}
    assert got == {"cart": [3.0], "web": [5.0]}
    avg = _q(store, namespace="shop", aggregation="avg", by=("workload",))
    assert [s.values.tolist() for s in avg.series] == [[1.5], [5.0]]
    top = _q(store, aggregation="max", by=("namespace",))
    got = {dict(s.labels)["namespace"]: s.values[0] for s in top.series}
    assert got == {"data": 9.0, "shop": 5.0}


def test_filters_matchers_limits_and_order():
    store = _store(_workloads())
    raw = _q(store)
    assert [dict(s.labels)["pod"] for s in raw.series] == ["kafka-0", "cart-1", "cart-2", "web-1"]
    assert raw.series[1].values.tolist() == [7.0, 1.0]
    by_kind = _q(store, namespace="shop", workload_kind="Deployment", workload_name="cart")
    assert by_kind.total_series_matched == 2
    assert _q(store, pod_name_prefix="cart-").total_series_returned == 2
    assert _q(store, label_matchers=(("pod", "=~", "cart-.*"),)).total_series_returned == 2
    assert _q(store, label_matchers=(("pod", "!~", "cart-.*"),)).total_series_returned == 2
    assert _q(store, label_matchers=(("workload", "!=", "cart"),)).total_series_returned == 2
    assert _q(store, label_matchers=(("k8s.node.name", "=", "node-1"),)).total_series_returned == 0
    assert _q(store, label_matchers=(("node", "=", "node-1"),)).total_series_returned == 4
    limited = _q(store, max_series=2, max_points=1)
    assert limited.truncated
    assert limited.total_series_matched == 4
    assert [dict(s.labels)["pod"] for s in limited.series] == ["kafka-0", "cart-1"]
    assert limited.series[1].values.tolist() == [1.0]


def test_histogram_quantile_cumulative_and_delta():
    bounds = [1.0, 2.0, 4.0]
    cumulative = histogram("lat", [(T0, [1, 1, 0, 0]), (T0 + 10 * SEC, [3, 5, 2, 0])], bounds)
    delta = histogram("lat_d", [(T0 + 10 * SEC, [2, 4, 2, 0])], bounds, temporality=DELTA)
    store = _store(request([(pod_resource(), [cumulative, delta])]))
    for name in ("lat", "lat_d"):
        p50 = _q(store, metric_names=(name,), function="quantile", quantile=0.5)
        assert p50.series[0].values.tolist() == [1.5]        # rank 4 in (1, 2]: 1 + 2/4
        p90 = _q(store, metric_names=(name,), function="quantile", quantile=0.9)
        assert p90.series[0].values[0] == pytest.approx(3.2)  # rank 7.2 in (2, 4]: 2 + 2·1.2/2


def test_histogram_quantile_merged_by_workload():
    bounds = [1.0, 2.0, 4.0]
    body = request([
        (pod_resource(pod="cart-1"),
         [histogram("lat", [(T0, [2, 0, 0, 0])], bounds, temporality=DELTA)]),
        (pod_resource(pod="cart-2"),
         [histogram("lat", [(T0, [0, 0, 2, 0])], bounds, temporality=DELTA)]),
    ])
    answer = _q(_store(body), function="quantile", quantile=0.5, aggregation="sum",
                by=("workload",))
    assert [s.labels for s in answer.series] == [(("workload", "cart"),)]
    assert answer.series[0].values.tolist() == [1.0]   # rank 2 of 4 lands at the top of (0, 1]


@pytest.mark.parametrize(("kw", "needle"), [
    ({"function": "median"}, "function"), ({"aggregation": "p99"}, "aggregation"),
    ({"label_matchers": (("pod", "=~", "("),)}, "bad regex"),
    ({"label_matchers": (("pod", "~", "x"),)}, "label matcher"),
    ({"start_ns": T0 + 50 * SEC}, "after"), ({"function": "quantile", "quantile": 2.0}, "quantile"),
    ({"by": ("pod",)}, "aggregation"), ({"step_ns": -1}, "negative"),
])
def test_bad_queries_are_answers_with_errors(kw, needle):
    answer = _q(_store(_workloads()), **kw)
    assert needle in answer.error
    assert answer.series == ()
    message = answer_message("r1", answer)
    assert message.error_message == answer.error


def test_answer_message_payload_round_trips():
    answer = _q(_store(_workloads()), pod_name="web-1", namespace="shop")
    message = answer_message("r1", answer)
    payload = msgpack.unpackb(message.series_payload)
    assert payload[0]["metric"] == "inflight"
    assert payload[0]["values"] == [5.0]
    assert message.total_series_returned == 1
    assert not message.truncated
    assert "bytes=" in repr(message)


def test_default_range_is_retention_and_empty_store_answers_nothing():
    store = _store(_workloads())
    answer = run_query(store, MetricsQueryRequested(request_id="r"), NOW)
    assert answer.total_series_matched == 4
    empty = RingStore(ring_size=4, max_series=4, retention_ns=SEC, clock_ns=lambda: NOW)
    nothing = run_query(empty, MetricsQueryRequested(request_id="r", function="rate"), NOW)
    assert nothing.series == ()
    assert nothing.error == ""


def test_exponential_histogram_quantiles_delta_cumulative_and_merged_scales():
    delta = exp_histogram("exp_d", [(T0 + 10 * SEC, 0, 0, 0, [2, 2])], temporality=DELTA)
    cumulative = exp_histogram("exp_c", [(T0, 0, 0, 0, [1, 0]), (T0 + 10 * SEC, 0, 0, 0, [3, 2])])
    store = _store(request([(pod_resource(), [delta, cumulative])]))
    for name in ("exp_d", "exp_c"):
        # base 2: buckets (1, 2] and (2, 4] hold 2 each
        p50 = _q(store, metric_names=(name,), function="quantile", quantile=0.5)
        assert p50.series[0].values.tolist() == [2.0]
        p75 = _q(store, metric_names=(name,), function="quantile", quantile=0.75)
        assert p75.series[0].values.tolist() == [3.0]   # rank 3: 2 + 2 · 1/2
    # scale 1 buckets (1, √2] and (√2, 2] fold into (1, 2] at scale 0
    fine = exp_histogram("exp_m", [(T0, 1, 0, 0, [1, 1])], temporality=DELTA)
    coarse = exp_histogram("exp_m", [(T0, 0, 0, 0, [0, 2])], temporality=DELTA)
    merged = _store(request([(pod_resource(pod="a"), [fine]), (pod_resource(pod="b"), [coarse])]))
    answer = _q(merged, function="quantile", quantile=0.5, aggregation="sum", by=("workload",))
    assert answer.series[0].values.tolist() == [2.0]
    zero = _store(request([(pod_resource(), [exp_histogram(
        "exp_z", [(T0, 0, 3, 0, [1])], temporality=DELTA)])]))
    assert _q(zero, function="quantile", quantile=0.5).series[0].values.tolist() == [0.0]
