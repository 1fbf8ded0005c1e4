"""Batch decoding into shared ``FlowShape``s, and aggregation/enrichment of ``DecodedFlows``,
checked against the flow-by-flow paths (one frame at a time, plain ``FlowRecord``s)."""

from typing import Any

import pytest

from actors.flows import aggregation, flow_codec, pod_index_copy
from actors.flows.aggregation import OVERFLOW_KIND, FlowAggregator, flow_key
from actors.flows.flow_codec import FlowDecoder
from actors.flows.flow_records import DecodedFlows, FlowRecord, FlowShape
from actors.flows.flow_view_codec import BatchView, ResponseView, frame_batch
from actors.flows.pod_index_copy import PodIndexCopy
from messages.wire.observer import observer_pb2
from sim.hubble import frames
from sim.hubble.history import build_sequence


def _raws(total=3000):
    sequence = build_sequence("synthetic", total=total, pool_size=512)
    sequence.start(1000.0)
    return frames.read_frames("hubble/getflows.bin") + [sequence.frame(i) for i in range(total)]


def _flow(time_ns, *, sport=40000, dport=80, uuid="u", verdict=1):
    response = observer_pb2.GetFlowsResponse()
    flow = response.flow
    flow.time.FromNanoseconds(time_ns)
    flow.uuid = uuid
    flow.verdict = verdict
    flow.source.namespace, flow.source.pod_name = "shop", "web-1"
    flow.l4.TCP.source_port, flow.l4.TCP.destination_port = sport, dport
    return response.SerializeToString()


class FakeClock:
    def __call__(self):
        return 1000.0


def test_frame_batch_parses_into_the_same_responses_in_order():
    big = observer_pb2.GetFlowsResponse()
    big.flow.node_name = "n" * 20_000                  # a field head longer than 2 bytes
    raws = [*_raws(50), b"", big.SerializeToString()]
    batch = BatchView.FromString(frame_batch(raws))
    assert [r.SerializeToString() for r in batch.responses] == [
        ResponseView.FromString(raw).SerializeToString() for raw in raws]
    assert frame_batch([]) == b""


def test_a_batch_decodes_exactly_like_one_frame_at_a_time():
    raws = _raws()
    one_by_one = FlowDecoder()
    want = [r for r in map(one_by_one.decode_bytes, raws) if r is not None]
    batched = FlowDecoder()
    got = [record for i in range(0, len(raws), 256)
           for record in batched.decode_many(raws[i:i + 256])]
    assert got == want
    assert batched.counters == one_by_one.counters
    assert batched.node_states == one_by_one.node_states


def test_flows_differing_only_in_time_source_port_or_uuid_share_one_shape():
    decoder = FlowDecoder()
    flows = decoder.decode_many([_flow(5, sport=1, uuid="a"), _flow(3, sport=2, uuid="b"),
                                 _flow(9, dport=443), _flow(7, verdict=2)])
    assert flows.times == [5, 3, 9, 7]
    assert flows.shapes[0] is flows.shapes[1]
    assert len({id(shape) for shape in flows.shapes}) == 3
    assert [(r.time_ns, r.destination_port, r.verdict) for r in flows] == [
        (5, 80, "FORWARDED"), (3, 80, "FORWARDED"), (9, 443, "FORWARDED"), (7, 80, "DROPPED")]
    again = decoder.decode_many([_flow(11, sport=3)])     # the memo outlives the batch
    assert again.shapes[0] is flows.shapes[0]
    assert decoder.counters["flows"] == 5


def test_a_malformed_frame_costs_only_itself_and_order_is_kept():
    decoder = FlowDecoder()
    flows = decoder.decode_many([_flow(1), b"\xff\xff\xff", _flow(2, dport=53), _flow(3)])
    assert [(r.time_ns, r.destination_port) for r in flows] == [(1, 80), (2, 53), (3, 80)]
    assert decoder.counters["malformed_frames"] == 1
    assert decoder.counters["flows"] == 3


def test_unknown_enums_count_per_flow_across_batches_and_memo_resets(monkeypatch):
    monkeypatch.setattr(flow_codec, "CACHE_LIMIT", 2)
    decoder = FlowDecoder()
    odd = [_flow(t, verdict=42) for t in range(1, 4)]
    decoder.decode_many(odd)
    decoder.decode_many([_flow(9, dport=p) for p in (1, 2, 3)] + odd)   # resets the memo
    decoder.decode_many(odd[:1])
    assert decoder.counters["unknown_enum_values.verdict"] == 7
    assert decoder.counters["decode_cache_resets"] > 0
    assert len(decoder._shapes) <= 2
    assert decoder._retired == []                       # counted, then forgotten


def test_decoded_flows_is_a_sequence_of_records():
    record = FlowDecoder().decode_bytes(_flow(5))
    assert record is not None
    shape = FlowShape(record._replace(time_ns=0))
    flows = DecodedFlows([shape, shape, shape], [3, 9, 4])
    assert len(flows) == 3
    assert flows.newest_time_ns() == 9
    assert [r.time_ns for r in flows] == [3, 9, 4]
    assert flows[1] == record._replace(time_ns=9)
    assert flows[-1].time_ns == 4
    assert isinstance(flows[1:], DecodedFlows)
    assert flows[1:].times == [9, 4]
    joined = DecodedFlows.joined([flows, DecodedFlows.of([record])])
    assert [r.time_ns for r in joined] == [3, 9, 4, 5]
    assert DecodedFlows([], []).newest_time_ns() is None
    with pytest.raises(ValueError, match="1 shapes for 0 times"):
        DecodedFlows([shape], [])


def _reference(records, *, skip_replies=True, max_keys=20_000):
    """The window's records computed the obvious way, one record at a time."""
    table: dict[tuple[Any, ...], list[Any]] = {}
    for record in records:
        if skip_replies and record.is_reply:
            continue
        key: tuple[Any, ...] = flow_key(record)
        service = record.destination_service
        if key not in table and len(table) >= max_keys:
            key, service = ("overflow",), ""
        row = table.setdefault(key, [0, record.time_ns, record.time_ns, set(), set(), service])
        row[0] += 1
        row[1], row[2] = min(row[1], record.time_ns), max(row[2], record.time_ns)
        row[3].update(record.allowed_by)
        row[4].update(record.denied_by)
    return sorted((tuple(key), row[0], row[1], row[2],
                   sorted(row[3]), sorted(row[4]), row[5]) for key, row in table.items())


def _rows(window):
    return sorted((("overflow",) if r["source_kind"] == OVERFLOW_KIND else
                   tuple(r[f] for f in aggregation._KEY_FIELDS), r["count"], r["first_seen_ns"],
                   r["last_seen_ns"], r["allowed_by"], r["denied_by"], r["destination_service"])
                  for r in window.records)


@pytest.mark.parametrize("options", [{}, {"skip_replies": False}, {"max_keys": 40}])
def test_batched_aggregation_equals_a_flow_by_flow_reference(options):
    raws = _raws()
    decoder = FlowDecoder()
    batches = [decoder.decode_many(raws[i:i + 300]) for i in range(0, len(raws), 300)]
    records = [record for batch in batches for record in batch]
    shuffled = [batch[::-1] for batch in batches]       # times out of order inside a batch
    for feed in (batches, shuffled):
        aggregator = FlowAggregator(clock=FakeClock(), **options)
        for batch in feed:
            aggregator.add_many(batch)
        window = aggregator.flush()
        assert _rows(window) == _reference([r for b in feed for r in b], **options)
        replies = sum(1 for r in records if r.is_reply) if options.get("skip_replies", 1) else 0
        assert window.counters["flows_in"] == len(records)
        assert window.counters["flows_aggregated"] == len(records) - replies
        assert window.counters.get("replies_skipped", 0) == replies
    if "max_keys" in options:
        assert window.counters["overflow_flows"] > 0


def test_first_and_last_seen_are_the_oldest_and_newest_flow_times():
    decoder = FlowDecoder()
    aggregator = FlowAggregator(clock=FakeClock())
    aggregator.add_many(decoder.decode_many([_flow(t) for t in (5, 3, 9, 4)]))
    aggregator.add_many(decoder.decode_many([_flow(t) for t in (6, 2, 8)]))
    [record] = aggregator.flush().records
    assert (record["count"], record["first_seen_ns"], record["last_seen_ns"]) == (7, 2, 9)


def test_links_are_per_window_and_bounded(monkeypatch):
    monkeypatch.setattr(aggregation, "LINK_LIMIT", 2)
    decoder = FlowDecoder()
    aggregator = FlowAggregator(clock=FakeClock())
    batch = decoder.decode_many([_flow(5), _flow(2, dport=53), _flow(7, verdict=2), _flow(1)])
    aggregator.add_many(batch)
    aggregator.add_many(batch)
    assert len(aggregator._links) <= 2
    first = aggregator.flush()
    assert {(r["destination_port"], r["verdict"]): r["count"] for r in first.records} == {
        (80, "FORWARDED"): 4, (53, "FORWARDED"): 2, (80, "DROPPED"): 2}
    aggregator.add_many(batch[:1])
    second = aggregator.flush()
    assert [(r["count"], r["first_seen_ns"], r["last_seen_ns"]) for r in second.records] == [
        (1, 5, 5)]


def _pod(pod, ip, name):
    return {"op": "UPSERT", "namespace": "shop", "pod": pod, "ip": ip, "ips": [ip],
            "workload_kind": "Deployment", "workload_name": name}


def test_batch_enrichment_equals_flow_by_flow_and_counts_per_flow(monkeypatch):
    raws = _raws()
    flows = FlowDecoder().decode_many(raws)
    bare = [r for r in flows if not r.destination.workload_name and r.destination_ip]
    ips = sorted({r.destination_ip for r in bare})[:5]
    assert ips
    records = [_pod(f"ext-{i}", ip, "gateway") for i, ip in enumerate(ips)]
    records.append(_pod("unrelated", "192.0.2.1", "x"))    # the index never becomes empty
    single, batched = PodIndexCopy(), PodIndexCopy()
    single.apply(records)
    batched.apply(records)
    want = [single.enrich_flow(r) for r in flows]
    got = batched.enrich_flows(flows)
    assert list(got) == want
    assert batched.enriched == single.enriched > 0
    assert list(batched.enrich_flows(flows)) == want                 # from the shape memo
    assert batched.enriched == 2 * single.enriched
    batched.apply([{"op": "DELETE", "namespace": "shop", "pod": f"ext-{i}"}
                   for i in range(len(ips))])
    assert list(batched.enrich_flows(flows)) == list(flows)          # no stale answer
    monkeypatch.setattr(pod_index_copy, "MEMO_LIMIT", 4)
    batched.apply(records)
    assert list(batched.enrich_flows(flows)) == want
    assert len(batched._shapes) <= max(4, len(set(flows.shapes)))


def test_enrichment_hands_back_the_same_batch_when_nothing_changes():
    flows = FlowDecoder().decode_many(_raws(200))
    copy = PodIndexCopy()
    assert copy.enrich_flows(flows) is flows                          # empty index
    copy.apply([_pod("unrelated", "192.0.2.1", "x")])
    assert copy.enrich_flows(flows) is flows
    plain: list[FlowRecord] = list(flows)
    assert copy.enrich_flows(plain) is plain
    assert copy.enriched == 0
    assert len(flows) > 100
