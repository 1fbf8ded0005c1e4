import array
import random

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.latency_sketch import LatencySketch
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import MappedPeers, WorkloadMapper, WorkloadRef
from sim.hubble import frames


class FakeClock:
    now = 50.0

    def __call__(self):
        return self.now


def _fixture():
    pairs = []
    for name in ("http", "tcp"):
        decoder = AlsStreamDecoder()
        mapper = WorkloadMapper()
        for raw in frames.read_frames(f"envoy-als/{name}.bin"):
            entries = decoder.decode_bytes(raw)
            identity = decoder.identity
            assert identity is not None
            pairs += [(mapper.map(identity, e), e) for e in entries]
    return pairs


def test_sketch_quantiles_within_relative_error():
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(3, 1.2) for _ in range(20_000))
    sketch = LatencySketch(accuracy=0.01)
    for value in values:
        sketch.add(value)
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * (len(values) - 1))]
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.0201)
    other = LatencySketch(accuracy=0.01)
    other.add(0.0)
    sketch.merge(other)
    assert sketch.count == 20_001
    assert sketch.zero_count == 1
    assert LatencySketch().quantile(0.5) == 0.0


def test_sketch_stays_bounded():
    sketch = LatencySketch(accuracy=0.01, max_buckets=16)
    for exponent in range(-3, 40):
        sketch.add(2.0 ** exponent)
    assert len(sketch._buckets) <= 16
    assert sketch.quantile(1.0) == pytest.approx(2.0 ** 39, rel=0.02)


def test_fixture_window_conserves_counts_and_keeps_views_apart():
    pairs = _fixture()
    aggregator = L7Aggregator(clock=FakeClock())
    for peers, entry in pairs:
        aggregator.add(peers, entry)
    window = aggregator.flush()
    final = [(p, e) for p, e in pairs if not e.intermediate]
    assert sum(r["count"] for r in window.records) == len(final)
    assert window.counters["intermediate_entries"] == len(pairs) - len(final) == 8 + 52
    for reporter in ("source", "destination"):
        assert sum(r["count"] for r in window.records if r["reporter"] == reporter) == sum(
            1 for p, _ in final if p.reporter == reporter)
    http5xx = sum(r["count"] for r in window.records if r["code_class"] == "5xx")
    assert http5xx == sum(1 for _, e in final if e.kind == "http" and e.response_code >= 500)
    errors = sum(r["errors"] for r in window.records)
    assert errors >= http5xx
    assert all(r["latency_p50_ms"] <= r["latency_p95_ms"] <= r["latency_p99_ms"]
               for r in window.records)
    assert any("{uuid}" in r["path"] or "{id}" in r["path"] for r in window.records)
    assert all("?" not in r["path"] for r in window.records)


def test_overflow_bucket_counts_past_the_key_bound():
    pairs = [p for p in _fixture() if not p[1].intermediate]
    aggregator = L7Aggregator(max_keys=5, clock=FakeClock())
    for peers, entry in pairs:
        aggregator.add(peers, entry)
    window = aggregator.flush()
    assert len(window.records) == 6
    overflow = [r for r in window.records if r["source_kind"] == "Overflow"]
    assert overflow[0]["count"] == window.counters["overflow_entries"] > 0
    assert sum(r["count"] for r in window.records) == len(pairs)


def test_code_class_and_grpc_errors():
    [(peers, entry)] = _fixture()[:1]
    aggregator = L7Aggregator(clock=FakeClock())
    aggregator.add(peers, entry._replace(response_code=200, grpc_status="14", intermediate=False))
    aggregator.add(peers, entry._replace(response_code=0, grpc_status="", intermediate=False))
    local = MappedPeers("source", WorkloadRef("a", "Pod", "p"), WorkloadRef("b", "Pod", "q"), 1)
    aggregator.add(local, entry._replace(response_code=404, grpc_status="", intermediate=False))
    records = {r["code_class"]: r for r in aggregator.flush().records}
    assert records["2xx"]["errors"] == 1
    assert records["none"]["errors"] == 1
    assert records["4xx"]["errors"] == 0


def test_settings_problems():
    assert list(AccessLogSettings().problems()) == []
    assert AccessLogSettings().port == 8080
    _settings, errors = AccessLogSettings.from_mapping({"port": 70000, "max_keys": 0,
                                                       "host": 5, "nope": True})
    joined = "\n".join(errors)
    for fragment in ("access_logs.port", "access_logs.max_keys", "access_logs.host: must be a",
                     "access_logs.nope: unknown"):
        assert fragment in joined


def test_sketch_add_many_places_values_like_add():
    rng = random.Random(9)
    values = [rng.lognormvariate(2, 2) for _ in range(30_000)] + [0.0, 0.0005, 0.001]
    one_by_one, batched = LatencySketch(), LatencySketch()
    for value in values:
        one_by_one.add(value)
    batched.add_many(values[:10_000])
    batched.add_many(array.array("d", values[10_000:]))
    batched.add_many([])
    assert batched._buckets == one_by_one._buckets
    assert (batched.count, batched.zero_count, batched.max_ms) == (
        one_by_one.count, one_by_one.zero_count, one_by_one.max_ms)
    assert batched.sum_ms == pytest.approx(one_by_one.sum_ms)
    bounded = LatencySketch(max_buckets=8)
    bounded.add_many([2.0 ** e for e in range(-3, 30)])
    assert len(bounded._buckets) <= 8
    assert bounded.quantile(1.0) == pytest.approx(2.0 ** 29, rel=0.02)


def test_pending_latencies_are_folded_past_the_bound_and_at_flush():
    pairs = [p for p in _fixture() if not p[1].intermediate]
    bounded = L7Aggregator(clock=FakeClock(), max_pending_latencies=7)
    unbounded = L7Aggregator(clock=FakeClock())
    for peers, entry in pairs:
        bounded.add(peers, entry)
        unbounded.add(peers, entry)
    assert bounded.pending_latencies < 7
    assert bounded.flush().records == unbounded.flush().records
