"""Enrichment from the flow collector's pod index copy: memoized, never staler than the index."""

from actors.flows import pod_index_copy
from actors.flows.flow_codec import EndpointInfo, FlowRecord
from actors.flows.pod_index_copy import PodIndexCopy

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
