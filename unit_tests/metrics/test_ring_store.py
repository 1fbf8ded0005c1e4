"""Ring store: limits, retention, ordering, wrap-around, resolver and memory accounting."""

from typing import Any

import numpy as np

from actors.metrics.k8s_context import StaticPodWorkloadResolver
from actors.metrics.otlp_codec import decode_export_request
from actors.metrics.ring_store import RingStore
from unit_tests.metrics.otlp_builders import SEC, T0, gauge, pod_resource, request


def _store(**kw):
    clock = {"now": T0 + 100 * SEC}
    args: dict[str, Any] = {"ring_size": 4, "max_series": 10, "retention_ns": 1800 * SEC,
            "clock_ns": lambda: clock["now"]} | kw
    return RingStore(**args), clock


def _ingest(store, body):
    return store.ingest(decode_export_request(body))


def test_ring_keeps_newest_points_in_time_order_after_wrap():
    store, _ = _store()
    points = [(T0 + i * SEC, float(i)) for i in range(7)]
    result = _ingest(store, request([(pod_resource(), [gauge("g", points)])]))
    assert (result.stored, result.points_superseded) == (4, 3)
    slot = store.index.slot_of[next(iter(store.index.slot_of))]
    times, values, _ = store.read(np.array([slot]))
    assert values[0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert times[0].tolist() == [T0 + i * SEC for i in range(3, 7)]
    _ingest(store, request([(pod_resource(), [gauge("g", [(T0 + 7 * SEC, 7.0)])])]))
    assert store.read(np.array([slot]))[1][0].tolist() == [4.0, 5.0, 6.0, 7.0]


def test_duplicate_and_out_of_order_points_are_counted_not_stored():
    store, _ = _store()
    _ingest(store, request([(pod_resource(), [gauge("g", [(T0 + 5 * SEC, 1.0)])])]))
    result = _ingest(store, request([(pod_resource(), [gauge(
        "g", [(T0 + 5 * SEC, 2.0), (T0 + 4 * SEC, 3.0), (T0 + 6 * SEC, 4.0)])])]))
    assert (result.stored, result.points_out_of_order) == (1, 2)
    assert store.counters["points_out_of_order"] == 2


def test_max_series_refuses_new_series_but_keeps_existing_ones():
    store, _ = _store(max_series=3)
    body = request([(pod_resource(pod=f"cart-{i}"), [gauge("g", [(T0, 1.0)])]) for i in range(5)])
    result = _ingest(store, body)
    assert (result.series_created, result.series_refused) == (3, 2)
    assert result.points_refused_series_limit == 2
    again = _ingest(store, request([(pod_resource(pod="cart-0"), [gauge("g", [(T0 + SEC, 2.0)])])]))
    assert again.stored == 1
    assert store.stats()["series_refused"] == 2


def test_stale_series_are_evicted_and_slots_reused():
    store, clock = _store(max_series=2)
    _ingest(store, request([(pod_resource(pod=p), [gauge("g", [(T0, 1.0)])]) for p in "ab"]))
    clock["now"] = T0 + 3600 * SEC
    fresh = request([(pod_resource(pod="c"), [gauge("g", [(T0 + 3590 * SEC, 1.0)])])])
    result = _ingest(store, fresh)        # store full: stale series make room
    assert result.series_created == 1
    assert result.series_refused == 0
    assert store.counters["series_evicted"] == 2
    assert store.index.live == 1
    assert set(store.index.by_pod) == {("shop", "c")}
    assert store.evict_stale() == 0


def test_points_older_than_retention_are_refused():
    store, clock = _store()
    clock["now"] = T0 + 3600 * SEC
    result = _ingest(store, request([(pod_resource(), [gauge("g", [(T0, 1.0)])])]))
    assert (result.stored, result.points_too_old) == (0, 1)


def test_resolver_fills_missing_workload():
    resolver = StaticPodWorkloadResolver()
    resolver.register("shop", "cart-7d9f8c6b5-x2x4z", "uid-1", "ReplicaSet", "cart-7d9f8c6b5")
    store, _ = _store(resolver=resolver)
    attrs = pod_resource(pod="cart-7d9f8c6b5-x2x4z", deployment="")
    _ingest(store, request([(attrs, [gauge("g", [(T0, 1.0)])])]))
    identity = next(iter(store.index.slot_of))
    assert (identity.workload_kind, identity.workload_name) == ("Deployment", "cart")
    assert store.index.by_workload[("shop", "Deployment", "cart")]


def test_memory_accounting_tracks_arrays_and_series():
    store, _ = _store(max_series=1000, initial_capacity=8)
    empty = store.memory_bytes()
    _ingest(store, request([(pod_resource(pod=f"p{i}"), [gauge("g", [(T0, 1.0)])])
                            for i in range(100)]))
    grown = store.memory_bytes()
    assert grown > empty + 100 * store.ring_size * 17
    assert store.stats()["memory_bytes"] == grown


def test_series_whose_points_were_all_rejected_get_no_slot():
    store, _ = _store()
    body = request([(pod_resource(), [gauge("bad", [(T0, float("nan"))]),
                                      gauge("good", [(T0, 1.0)])])])
    result = _ingest(store, body)
    assert result.series_created == 1
    assert [i.metric for i in store.index.slot_of] == ["good"]
