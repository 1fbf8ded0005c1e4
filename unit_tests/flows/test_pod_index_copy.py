"""Enrichment from the flow collector's pod index copy: memoized, never staler than the index."""

from actors.flows import pod_index_copy
from actors.flows.flow_codec import EndpointInfo, FlowRecord
from actors.flows.pod_index_copy import PodIndexCopy
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

BARE = EndpointInfo("", "", "", "", 0, (), "")
WEB = EndpointInfo("shop", "web-1", "Deployment", "web", 7, (), "c1")


def _flow(source_ip, source=BARE):
    return FlowRecord(1, "FORWARDED", "", 4, source_ip, "10.0.9.9", "TCP", 80, source, WEB,
                      "", "EGRESS", False, (), (), "c1/n1", 4)


def _pod(op, pod, ip, name="web"):
    return {"op": op, "namespace": "shop", "pod": pod, "ip": ip, "ips": [ip],
            "workload_kind": "Deployment", "workload_name": name}


def test_enrichment_by_ip_is_counted_per_flow_and_forgotten_when_the_index_changes():
    copy = PodIndexCopy()
    copy.apply([_pod("UPSERT", "api-1", "10.0.0.1", name="api")])
    for _ in range(3):  # the second and third come from the memo, and still count
        enriched = copy.enrich_flow(_flow("10.0.0.1"))
        assert (enriched.source.pod, enriched.source.workload_name) == ("api-1", "api")
    assert copy.enriched == 3
    unknown = _flow("10.0.0.2")
    assert copy.enrich_flow(unknown) is unknown
    assert copy.enrich_flow(_flow("10.0.0.2")).source is BARE  # a memo hit returns the input
    copy.apply([_pod("DELETE", "api-1", "10.0.0.1")])
    assert copy.enrich_flow(_flow("10.0.0.1")).source is BARE  # no stale answer
    copy.apply([_pod("UPSERT", "api-2", "10.0.0.1", name="api-v2")])
    assert copy.enrich_flow(_flow("10.0.0.1")).source.workload_name == "api-v2"
    assert copy.enriched == 4


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(pod_index_copy, "MEMO_LIMIT", 4)
    copy = PodIndexCopy()
    copy.apply([_pod("UPSERT", f"web-{i}", f"10.0.0.{i}") for i in range(10)])
    for i in range(10):
        assert copy.enrich_flow(_flow(f"10.0.0.{i}")).source.pod == f"web-{i}"
    assert len(copy._memo) <= 4
    assert copy.enriched == 10


def _batch(seq, kind, count, payload):
    return LinkBatch(link_id="l", epoch=1, seq=seq, record_kind=kind, count=count,
                     payload=payload)


def test_an_enrichers_link_batches_apply_pod_index_and_count_anything_else():
    copy = PodIndexCopy()
    totals = dict.fromkeys(("pod_index_records_total", "unknown_records_total"), 0.0)
    payload = codec.pack_records([_pod("UPSERT", "api-1", "10.0.0.1"), "not a record"])
    pod_index_copy.apply_pod_index_batch(
        copy, _batch(1, RecordKind.POD_INDEX.value, 2, payload), totals, "test")
    pod_index_copy.apply_pod_index_batch(
        copy, _batch(2, RecordKind.FLOWS.value, 5, payload), totals, "test")
    pod_index_copy.apply_pod_index_batch(
        copy, _batch(3, RecordKind.POD_INDEX.value, 3, b"\xc1"), totals, "test")
    assert totals == {"pod_index_records_total": 1.0, "unknown_records_total": 8.0}
    assert (copy.pods(), copy.bad_records) == (1, 1)
