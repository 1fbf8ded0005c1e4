"""Memory: identities of many series share their strings, label tuples and metadata (receiver
cache and ring frames), and the code-column index selects exactly what the sets did."""

import numpy as np

from actors.metrics.otlp_codec import OtlpDecoder
from actors.metrics.point_frames import FrameDecoder, FrameEncoder
from actors.metrics.ring_store import RingStore
from unit_tests.metrics.otlp_builders import SEC, T0, counter, gauge, pod_resource, request


def _body(t, pods=("cart-1", "cart-2")):
    return request([(pod_resource(pod=pod), [gauge("g", [(t, 1.0)], {"route": "/a"}),
                                              counter("c", [(t, 2.0)])]) for pod in pods])


def _by_key(batch):
    return {(i.pod, i.metric): (i, m) for i, m in zip(batch.identities, batch.metas,
                                                      strict=True)}


def test_ring_side_identities_share_strings_labels_and_metas():
    encoder, frames = FrameEncoder(), FrameDecoder()
    first = frames.decode(encoder.encode([OtlpDecoder().decode(_body(T0))]))[0]
    other = frames.decode(encoder.encode([OtlpDecoder().decode(_body(T0 + SEC))]))[0]
    a, b = _by_key(first), _by_key(other)
    (ia, ma), (ib, mb) = a[("cart-1", "g")], b[("cart-2", "g")]
    assert ia.labels == (("route", "/a"),)
    assert ia.labels is ib.labels              # one tuple for every series with these labels
    assert ia.metric is ib.metric
    assert ia.namespace is ib.namespace
    assert ma is mb                            # equal metadata: one object
    again = b[("cart-1", "g")][0]
    assert again == ia
    assert again.pod is ia.pod


def test_receiver_cache_reuses_identities_and_shares_label_tuples():
    decoder = OtlpDecoder(templates=False)
    first, second = _by_key(decoder.decode(_body(T0))), _by_key(decoder.decode(_body(T0 + SEC)))
    assert first[("cart-1", "g")][0] is second[("cart-1", "g")][0]
    assert first[("cart-1", "g")][0].labels is first[("cart-2", "g")][0].labels
    assert first[("cart-1", "c")][1] is first[("cart-2", "c")][1]
    assert decoder.cache.entries == 4


def test_code_column_index_matches_filters_after_eviction_and_slot_reuse():
    clock = {"now": T0 + 100 * SEC}
    store = RingStore(ring_size=4, max_series=100, retention_ns=1800 * SEC,
                      clock_ns=lambda: clock["now"])
    decoder = OtlpDecoder(templates=False)
    store.ingest(decoder.decode(request(
        [(pod_resource(namespace=ns, pod=f"{ns}-p{i}", deployment=f"d{i % 2}"),
          [gauge(m, [(T0, 1.0)]) for m in ("m1", "m2")]) for ns in ("a", "b") for i in range(3)])))
    index = store.index

    def picked(**kw):
        return sorted((index.identity(s).namespace, index.identity(s).pod, index.identity(s).metric)
                      for s in index.candidates(**kw).tolist())

    assert len(index.candidates()) == 12
    assert picked(namespace="a", workload_kind="Deployment", workload_name="d1",
                  metric_names=("m2",)) == [("a", "a-p1", "m2")]
    assert picked(namespace="b", pod="b-p2") == [("b", "b-p2", "m1"), ("b", "b-p2", "m2")]
    assert len(index.candidates(metric_names=("m1", "m2", "nope"))) == 12
    assert len(index.candidates(namespace="zz")) == 0
    assert index.by_namespace == {"a": 6, "b": 6}
    clock["now"] = T0 + 3600 * SEC                  # everything stale
    store.ingest(decoder.decode(request([(pod_resource(namespace="c", pod="c-p"),
                                          [gauge("m3", [(T0 + 3590 * SEC, 1.0)])])])))
    assert store.evict_stale() == 12
    assert picked() == [("c", "c-p", "m3")]
    assert picked(namespace="a") == []
    assert set(index.by_pod) == {("c", "c-p")}
    assert index.candidates(metric_names=("m3",)).dtype == np.int64
