"""Wire templates decode exactly what the upb path decodes, and refuse what they cannot."""

import random

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from actors.metrics.otlp_codec import MalformedRequestError, OtlpDecoder, decode_export_request
from actors.metrics.ring_store import RingStore
from unit_tests.metrics.fixtures import frames
from unit_tests.metrics.otlp_builders import (
    SEC,
    T0,
    assert_same_decoded,
    counter,
    gauge,
    histogram,
    pod_resource,
    request,
)


def _templates(decoder):
    assert decoder.templates is not None
    return decoder.templates


def _cycle(c, rng, nan_at=None):
    values = [rng.random() * 100 for _ in range(6)]
    if nan_at is not None:
        values[nan_at] = float("nan")
    t = T0 + c * 10 * SEC
    return request([
        (pod_resource(), [
            gauge("g", [(t, v)], attrs={"k": f"s{i}"}) for i, v in enumerate(values[:3])] + [
            gauge("gi", [(t, rng.randrange(1, 10**12))]),
            counter("c", [(t, 1000 + c * 7, T0)], attrs={"route": "/x"}),
            histogram("h", [(t, [rng.randrange(1, 9) for _ in range(4)])], [1.0, 2.0, 4.0]),
        ]),
        (pod_resource(pod="cart-2"), [gauge("g", [(t, values[3])])]),
    ])


def test_template_path_equals_upb_path_over_many_cycles():
    rng = random.Random(3)
    decoder = OtlpDecoder()
    for c in range(12):
        body = _cycle(c, rng, nan_at=2 if c == 7 else None)
        assert_same_decoded(decoder.decode(body), decode_export_request(body))
    assert _templates(decoder).counters["hits"] >= 9
    stats = decoder.stats()
    assert stats["template_built"] == 1
    assert stats["template_bytes"] > 0


def test_template_hit_on_the_large_fixture_with_new_times():
    body = frames("large-10k-points")[0]
    decoder = OtlpDecoder()
    for c in range(4):
        req = ExportMetricsServiceRequest.FromString(body)
        for rm in req.resource_metrics[:50]:
            for metric in rm.scope_metrics[0].metrics:
                data = getattr(metric, str(metric.WhichOneof("data")))
                for dp in data.data_points:
                    dp.time_unix_nano += c * SEC
        cycle = req.SerializeToString()
        decoded = decoder.decode(cycle)
        if c >= 2:                        # cycles 0 and 1 take the upb path themselves
            assert_same_decoded(decoded, decode_export_request(cycle))
    assert _templates(decoder).counters["hits"] == 2


def test_same_length_body_with_other_labels_is_not_a_hit():
    decoder = OtlpDecoder()
    first = request([(pod_resource(pod="cart-1"), [gauge("g", [(T0, 1.0)])])])
    for _ in range(2):
        decoder.decode(first)
    other = request([(pod_resource(pod="cart-9"), [gauge("g", [(T0 + SEC, 5.0)])])])
    assert len(other) == len(first)
    decoded = decoder.decode(other)
    assert decoded.identities[0].pod == "cart-9"
    assert decoded.value.tolist() == [5.0]
    assert _templates(decoder).counters["hits"] == 0


def test_exponential_histograms_and_summaries_get_no_template():
    for name in ("deployment-cumulative", "summary"):
        decoder = OtlpDecoder()
        body = frames(name)[1]
        for _ in range(3):
            assert_same_decoded(decoder.decode(body), decode_export_request(body))
        assert _templates(decoder).counters["built"] == 0


def test_template_budget_drops_oldest():
    decoder = OtlpDecoder(max_template_bytes=6000)
    for pods in (1, 2, 3, 4):
        body = request([(pod_resource(pod=f"p{pods}-{i}"), [gauge("g", [(T0, 1.0)])])
                        for i in range(pods * 4)])
        for _ in range(3):
            decoder.decode(body)
    assert decoder.segments is not None
    assert _templates(decoder).bytes <= 6000
    assert decoder.segments.bytes <= 3000
    stats = decoder.stats()
    assert stats["template_dropped"] + stats["segment_dropped"] >= 1


def test_store_reuses_slot_map_of_a_layout_until_series_are_evicted():
    clock = {"now": T0 + 5 * SEC}
    store = RingStore(ring_size=4, max_series=10, retention_ns=60 * SEC,
                      clock_ns=lambda: clock["now"])
    decoder = OtlpDecoder()
    for c in range(3):
        body = request([(pod_resource(), [gauge("g", [(T0 + c * SEC, float(c))])])])
        assert store.ingest(decoder.decode(body)).stored == 1
    clock["now"] = T0 + 600 * SEC
    assert store.evict_stale() == 1
    body = request([(pod_resource(), [gauge("g", [(T0 + 590 * SEC, 9.0)])])])
    result = store.ingest(decoder.decode(body))
    assert result.series_created == 1
    assert result.stored == 1


def _batch(pods, c, rng):
    t = T0 + c * 10 * SEC
    return request([(pod_resource(pod=f"p{p}"), [
        gauge("g", [(t, rng.random())], attrs={"k": "v"}),
        counter("c", [(t, 100 + c, T0)]),
        histogram("h", [(t, [rng.randrange(1, 9) for _ in range(3)])], [1.0, 2.0]),
    ]) for p in pods])


def test_collector_batches_of_known_resources_are_composed_per_resource():
    rng = random.Random(5)
    decoder = OtlpDecoder()
    pods = list(range(12))
    for c in range(2):                      # two exports teach every pod's block
        decoder.decode(_batch(pods, c, rng))
    for c in range(2, 8):                   # batches with other compositions and orders
        rng.shuffle(pods)
        body = _batch(pods[: 3 + c], c, rng)
        decoded = decoder.decode(body)
        assert_same_decoded(decoded, decode_export_request(body))
    stats = decoder.stats()
    assert stats["segment_learned"] == 12
    composed = stats["segment_composed"]
    assert composed >= 6
    unknown = _batch([99, 1], 9, rng)        # one unknown pod: upb path, still exact
    assert_same_decoded(decoder.decode(unknown), decode_export_request(unknown))
    assert decoder.stats()["segment_composed"] == composed


def test_garbage_never_matches_and_stays_a_clear_decode_error():
    decoder = OtlpDecoder()
    good = _batch([1, 2], 0, random.Random(1))
    for _ in range(2):
        decoder.decode(good)
    for junk in (b"\x0a\xff\xff\xff\xff\x0f", good[:-3], b"\x0b\x00", good[:10] + b"\xff" * 40):
        with pytest.raises(MalformedRequestError):
            decoder.decode(junk)
