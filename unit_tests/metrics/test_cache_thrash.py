"""The receiver's caches under working sets larger than their budgets (issue 6): cyclic layouts
or series that cannot fit are refused and released instead of learned and evicted before any
use, fitting workloads keep hitting, and a workload change is learned again."""


from actors.metrics.otlp_attributes import ReuseGate
from actors.metrics.otlp_codec import OtlpDecoder, _decode_raw, decode_export_request
from actors.metrics.wire_template import build_template, estimate_bytes
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

SMALL = 24 * 1024      # a whole template of one request below is ~10 KB, its blocks ~11 KB


def _body(group, cycle, pods=8):
    """Request ``group`` of a cycle: ``pods`` pods of their own, 7 series each."""
    t = T0 + cycle * 10 * SEC
    return request([(pod_resource(pod=f"p{group}-{p}"), [
        gauge(f"g{m}", [(t, float(cycle * 100 + m + p))], attrs={"k": "v"}) for m in range(6)] +
        [counter("c", [(t, cycle + 1.0)])]) for p in range(pods)])


def _run(decoder, groups, cycles, first=0, pods=8):
    for cycle in range(first, first + cycles):
        for group in groups:
            body = _body(group, cycle, pods)
            assert_same_decoded(decoder.decode(body), decode_export_request(body))


def test_reuse_gate_measures_distance_and_staleness():
    gate = ReuseGate(100, remember=8)
    assert gate.see(1, 30) is None                 # first sighting: no distance
    assert gate.see(2, 50) is None
    assert gate.see(1, 30) == 80                   # 2's 50 + its own 30
    assert gate.fits(80)
    assert not gate.fits(101)
    assert not gate.fits(None)
    assert not gate.stale(gate.clock, 30)
    gate.see(3, 90)
    assert gate.stale(gate.clock - 90, 30)         # 90 since its last use + 30 > 100
    for key in range(10, 30):
        gate.see(key, 1)
    assert gate.see(1, 30) is None                 # forgotten: only ``remember`` keys are kept


def test_cyclic_layouts_larger_than_the_budget_are_refused_and_released():
    decoder = OtlpDecoder(max_template_bytes=SMALL)
    _run(decoder, [99], 4, pods=4)                 # a layout that fits: learned, then hit
    fitting = decoder.stats()
    assert fitting["template_hits"] == 2
    assert fitting["template_bytes"] > 0
    _run(decoder, range(6), 3)                     # six layouts in turn: ~60 KB of templates
    settled = decoder.stats()
    _run(decoder, range(6), 4, first=3)
    stats = decoder.stats()
    assert stats["template_bytes"] == 0            # the fitting layout's templates released
    assert stats["template_dropped"] >= 1
    assert stats["segment_dropped"] >= 4
    assert stats["segment_refused_thrash"] > settled["segment_refused_thrash"] > 0
    for name in ("template_built", "segment_learned", "template_dropped_unused",
                 "segment_dropped_unused", "template_hits"):
        assert stats[name] == settled[name], name  # nothing more is built, evicted or hit


def test_fitting_layouts_keep_hitting():
    decoder = OtlpDecoder()
    _run(decoder, range(6), 6)                     # same length each: up to 16 share a length
    stats = decoder.stats()
    assert stats["template_hits"] == 6 * 4
    assert stats["template_built"] == 6
    for name in ("template_refused_thrash", "segment_refused_thrash", "template_dropped",
                 "segment_dropped", "series_cache_refused_thrash"):
        assert stats[name] == 0, name


def test_after_thrashing_a_workload_that_fits_is_learned_again():
    decoder = OtlpDecoder(max_template_bytes=SMALL)
    _run(decoder, range(6), 4)
    assert decoder.stats()["template_hits"] == 0
    _run(decoder, [7], 2, first=4, pods=4)         # new pods: learned on their second export
    hits = decoder.stats()["template_hits"]
    _run(decoder, [7], 3, first=6, pods=4)
    assert decoder.stats()["template_hits"] == hits + 3
    _run(decoder, [1], 3, first=9, pods=4)         # known pods, now within the budget
    assert decoder.stats()["template_hits"] == hits + 4


def test_series_cache_refuses_a_cyclic_set_larger_than_its_bound():
    decoder = OtlpDecoder(templates=False, max_cached_series=150)   # 6 x 56 series in turn
    for cycle in range(6):
        for group in range(6):
            body = _body(group, cycle)
            assert_same_decoded(decoder.decode(body), decode_export_request(body))
            assert decoder.cache.entries <= 150
        if cycle == 1:
            wasted = decoder.stats()["series_cache_released_unused"]
    stats = decoder.stats()
    assert stats["series_cache_entries"] == 0
    assert stats["series_cache_released_unused"] == wasted   # only the first cycle's
    assert stats["series_cache_refused_thrash"] > 6 * 8
    _run(decoder, [2, 3], 3, first=6)              # 112 series now fit: cached again
    before = decoder.stats()["series_cache_hits"]
    first = decoder.decode(_body(2, 9))
    decoder.decode(_body(3, 9))
    again = decoder.decode(_body(2, 10))
    assert decoder.stats()["series_cache_hits"] == before + 24
    assert decoder.cache.entries == 112
    assert all(a is b for a, b in zip(first.identities, again.identities, strict=True))


def test_template_size_estimates_match_the_accounted_bytes():
    t = T0
    bodies = [_body(1, 0), request([(pod_resource(), [
        histogram("h", [(t, [1, 2, 3, 4])] * 20, [1.0, 2.0, 4.0]),
        gauge("g", [(t, 1.0)] * 30, attrs={"route": "/a"})])])]
    for body in bodies:
        raw = _decode_raw(body, None)
        template = build_template(body, raw, whole=True)
        assert template is not None
        assert abs(estimate_bytes(len(body), raw) - template.nbytes()) <= 0.1 * template.nbytes()
    decoder = OtlpDecoder()
    _run(decoder, [1], 2)
    assert decoder.segments is not None
    learned = decoder.stats()["segment_learned"]
    estimate = decoder.segments.gate.clock / (2 * learned)   # every block seen twice
    assert abs(estimate - decoder.segments.bytes / learned) <= 0.1 * estimate
