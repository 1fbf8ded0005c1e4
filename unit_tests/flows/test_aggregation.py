import collections

from actors.flows.aggregation import OVERFLOW_KIND, FlowAggregator, flow_key, peer_identity
from actors.flows.flow_codec import EndpointInfo, FlowDecoder, FlowRecord
from sim.hubble import frames


def _endpoint(ns="shop", pod="web-1", kind="Deployment", name="web", identity=100, labels=()):
    return EndpointInfo(ns, pod, kind, name, identity, tuple(labels), "c1")


def _record(time_ns=1, dst=None, port=80, verdict="FORWARDED", reply=False, allowed=(),
            src=None, service=""):
    return FlowRecord(time_ns=time_ns, verdict=verdict, drop_reason="", ip_version=1,
                      source_ip="10.0.0.1", destination_ip="10.0.0.2", l4_protocol="TCP",
                      destination_port=port, source=src or _endpoint(),
                      destination=dst or _endpoint(pod="cart-1", name="cart"),
                      destination_service=service, traffic_direction="EGRESS",
                      is_reply=reply, allowed_by=tuple(allowed), denied_by=(),
                      node_name="c1/n1", event_type=4)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_flows_differing_only_by_source_ip_and_port_share_a_key():
    aggregator = FlowAggregator(clock=FakeClock())
    first = _record(time_ns=50)
    second = first._replace(source_ip="10.9.9.9", time_ns=10)
    aggregator.add_many([first, second])
    window = aggregator.flush()
    assert len(window.records) == 1
    record = window.records[0]
    assert record["count"] == 2
    assert (record["first_seen_ns"], record["last_seen_ns"]) == (10, 50)  # the flows' own times
    assert "source_port" not in record


def test_replies_skipped_and_policies_merged():
    aggregator = FlowAggregator(clock=FakeClock())
    aggregator.add(_record(allowed=["ingress:NetworkPolicy:shop/a"]))
    aggregator.add(_record(allowed=["egress:NetworkPolicy:shop/b"]))
    aggregator.add(_record(reply=True))
    window = aggregator.flush()
    assert window.counters["replies_skipped"] == 1
    assert window.counters["flows_in"] == 3
    assert window.records[0]["allowed_by"] == ["egress:NetworkPolicy:shop/b",
                                               "ingress:NetworkPolicy:shop/a"]


def test_key_bound_overflows_into_a_counted_bucket():
    clock = FakeClock()
    aggregator = FlowAggregator(max_keys=3, clock=clock)
    for port in range(10):
        aggregator.add(_record(port=port))
    aggregator.add(_record(port=0))  # existing key still counts normally
    assert len(aggregator) == 4  # 3 keys + overflow bucket
    clock.now = 1030.0
    window = aggregator.flush()
    overflow = [r for r in window.records if r["source_kind"] == OVERFLOW_KIND]
    assert overflow[0]["count"] == 7
    assert window.counters["overflow_flows"] == 7
    assert sum(r["count"] for r in window.records) == 11
    assert (window.start_s, window.end_s) == (1000.0, 1030.0)
    assert len(aggregator) == 0
    assert aggregator.flush().records == []


def test_peer_identity_fallbacks():
    assert peer_identity(_endpoint()) == ("shop", "Deployment", "web")
    assert peer_identity(_endpoint(kind="", name="")) == ("shop", "Pod", "web-1")
    bare = _endpoint(ns="", pod="", kind="", name="", identity=2, labels=["reserved:world"])
    assert peer_identity(bare, "shop/cart") == ("shop", "Service", "cart")
    assert peer_identity(bare) == ("", "Reserved", "world")
    fqdn = bare._replace(labels=("fqdn:api.stripe.com", "reserved:world"), identity=16777217)
    assert peer_identity(fqdn) == ("", "FQDN", "api.stripe.com")
    assert peer_identity(bare._replace(labels=())) == ("", "Identity", "2")
    assert peer_identity(bare._replace(labels=(), identity=0)) == ("", "Unknown", "")


def test_fixture_aggregation_conserves_counts():
    decoder = FlowDecoder()
    records = [r for r in map(decoder.decode_bytes, frames.read_frames("hubble/getflows.bin"))
               if r is not None]
    aggregator = FlowAggregator(skip_replies=True, clock=FakeClock())
    aggregator.add_many(records)
    window = aggregator.flush()
    non_replies = [r for r in records if not r.is_reply]
    assert sum(r["count"] for r in window.records) == len(non_replies)
    expected = collections.Counter(flow_key(r) for r in non_replies)
    assert len(window.records) == len(expected) < len(non_replies)
    dropped = sum(r["count"] for r in window.records if r["verdict"] == "DROPPED")
    assert dropped == sum(1 for r in non_replies if r.verdict == "DROPPED")
