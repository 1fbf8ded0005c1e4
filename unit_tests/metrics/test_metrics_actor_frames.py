"""point_frames: decoded OTLP batches survive the receiver → ring hop exactly, cheaply."""

import dataclasses

import msgpack
import numpy as np
import pytest

from actors.metrics.decoded import ExponentialHistogramPoint, SummaryPoint
from actors.metrics.otlp_codec import OtlpDecoder
from actors.metrics.point_frames import FrameDecoder, FrameEncoder, FrameError
from actors.metrics.ring_store import RingStore
from unit_tests.metrics import fixtures
from unit_tests.metrics.otlp_builders import (
    SEC,
    T0,
    counter,
    exp_histogram,
    gauge,
    histogram,
    pod_resource,
    request,
)


def _same(a, b):
    for field in dataclasses.fields(a):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if field.name == "shape_key":
            continue
        if isinstance(left, np.ndarray):
            assert np.array_equal(left, right, equal_nan=True), field.name
            assert left.dtype == right.dtype, field.name
        elif field.name == "extra":
            for x, y in zip(left, right, strict=True):
                assert type(x) is type(y)
                if isinstance(x, ExponentialHistogramPoint):
                    assert np.array_equal(x.positive, y.positive)
                    assert np.array_equal(x.negative, y.negative)
                    assert (x.scale, x.zero_count, x.count, x.positive_offset) == (
                        y.scale, y.zero_count, y.count, y.positive_offset)
                else:
                    assert x == y
        else:
            assert left == right, field.name


def _mixed_body(t):
    return request([(pod_resource(deployment="", **{"service.name": "cart"}), [
        gauge("g", [(t, 2.5)], {"route": "/a"}),
        counter("c", [(t, 7.0)]),
        histogram("h", [(t, [1, 2, 3])], [0.1, 1.0]),
        exp_histogram("e", [(t, 1, 2, -1, [1, 0, 4])]),
    ])])


@pytest.mark.parametrize("name", fixtures.NAMES)
def test_every_golden_fixture_round_trips(name):
    decoder, encoder, frames = OtlpDecoder(), FrameEncoder(), FrameDecoder()
    originals = [decoder.decode(body) for body in fixtures.frames(name)[:20]]
    decoded = frames.decode(encoder.encode(originals))
    assert len(decoded) == len(originals)
    for a, b in zip(originals, decoded, strict=True):
        _same(a, b)
    if name == "summary":
        assert any(isinstance(p, SummaryPoint) for d in decoded for p in d.extra)


def test_all_kinds_round_trip_and_ingest_like_the_original():
    decoder = OtlpDecoder()
    original = decoder.decode(_mixed_body(T0))
    (copy,) = FrameDecoder().decode(FrameEncoder().encode([original]))
    _same(original, copy)
    stores = [RingStore(ring_size=4, max_series=10, retention_ns=3600 * SEC,
                        clock_ns=lambda: T0) for _ in range(2)]
    assert stores[0].ingest(original).stored == stores[1].ingest(copy).stored == 4
    assert stores[0].stats()["memory_bytes"] == stores[1].stats()["memory_bytes"]


def test_a_repeated_layout_is_packed_and_unpacked_once_with_stable_objects():
    decoder, encoder, frames = OtlpDecoder(), FrameEncoder(), FrameDecoder()
    bodies = [request([(pod_resource(), [gauge("g", [(T0 + i * SEC, float(i))])])])
              for i in range(4)]
    batches = [decoder.decode(body) for body in bodies]
    assert batches[-1].shape_key                  # the decoder learned the layout
    decoded = [frames.decode(encoder.encode([b]))[0] for b in batches]
    assert [d.value.tolist() for d in decoded] == [[0.0], [1.0], [2.0], [3.0]]
    keyed = [d for d, b in zip(decoded, batches, strict=True) if b.shape_key]
    assert len({d.shape_key for d in keyed}) == 1
    assert all(d.identities is keyed[0].identities for d in keyed)
    assert encoder.counters["series_blobs_packed"] <= 3
    assert frames.counters["series_blobs_unpacked"] <= 3


def test_a_reused_wire_key_with_other_series_gets_a_new_local_key():
    decoder, frames = OtlpDecoder(), FrameDecoder()
    first = dataclasses.replace(decoder.decode(_mixed_body(T0)), shape_key=7)
    other = dataclasses.replace(decoder.decode(request([(pod_resource(pod="x"), [
        gauge("g", [(T0, 1.0)])])])), shape_key=7)    # a restarted receiver reuses key 7
    (a,) = frames.decode(FrameEncoder().encode([first]))
    (b,) = frames.decode(FrameEncoder().encode([other]))
    assert a.shape_key
    assert b.shape_key
    assert a.shape_key != b.shape_key
    assert b.identities[0].pod == "x"


@pytest.mark.parametrize("payload", [
    b"\xc1", msgpack.packb([[1, 2]]), msgpack.packb("text"),
    msgpack.packb([[0, b"\x90\x90", [b""] * 3, [], [], [], 0, 0, {}]]),
])
def test_malformed_payloads_raise_frame_error(payload):
    with pytest.raises(FrameError):
        FrameDecoder().decode(payload)


def test_columns_pointing_past_the_series_are_refused():
    batch = OtlpDecoder().decode(_mixed_body(T0))
    broken = dataclasses.replace(batch, series=batch.series + 10)
    with pytest.raises(FrameError, match="disagree"):
        FrameDecoder().decode(FrameEncoder().encode([broken]))


def test_one_payload_carries_a_layout_blob_once():
    decoder, encoder = OtlpDecoder(), FrameEncoder()
    bodies = [request([(pod_resource(pod=f"p{p}"), [gauge("g", [(T0 + i * SEC, float(i))])])
                       for p in range(50)]) for i in range(6)]
    batches = [decoder.decode(body) for body in bodies][2:]     # the layout is known by now
    assert len({b.shape_key for b in batches}) == 1
    separately = sum(len(encoder.encode([b])) for b in batches)
    four = encoder.encode(batches)
    assert len(four) < separately - 3 * 2000          # each blob is > 2 kB here
    decoded = FrameDecoder().decode(four)
    assert [d.value.tolist()[0] for d in decoded] == [2.0, 3.0, 4.0, 5.0]
    assert all(d.identities is decoded[0].identities for d in decoded)
    with pytest.raises(FrameError, match="missing series blob"):
        FrameDecoder().decode(msgpack.packb([[5, 3, [b""] * 11, [], [], [], 0, 0, {}]]))
