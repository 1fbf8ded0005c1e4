"""MessageFolder (upb message → aggregation) must give exactly what the tuple path gives:
``AlsStreamDecoder.decode_bytes`` + ``WorkloadMapper.map`` + ``L7Aggregator.add``."""

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.l7_extraction import MessageFolder
from actors.access_logs.l7_routes import RouteResolver
from actors.access_logs.workload_mapping import WorkloadMapper, WorkloadRef
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.envoy.streams import fixture_stream, replay_stream, synthetic_stream

NODE = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local"


class Clock:
    def __call__(self):
        return 7.0


class SomeIps:
    """A pod index naming the IPs that end in 1, 3 or 7; empty until ``fill()``."""

    def __init__(self, filled=True):
        self.filled = filled

    def workload_for_ip(self, ip):
        if self.filled and ip.endswith(("1", "3", "7")):
            return WorkloadRef("lab", "Deployment", "p" + ip[-1])
        return None

    def is_empty(self):
        return not self.filled


def _windows(streams, mapper_factory=WorkloadMapper, max_keys=10_000, between=None):
    slow = L7Aggregator(max_keys=max_keys, clock=Clock())
    fast = L7Aggregator(max_keys=max_keys, clock=Clock())
    slow_mapper, fast_mapper = mapper_factory(), mapper_factory()
    folder = MessageFolder(fast, fast_mapper)
    for number, stream in enumerate(streams):
        if between is not None:
            between(number, slow_mapper, fast_mapper)
        slow_decoder, fast_decoder = AlsStreamDecoder(), AlsStreamDecoder()
        for raw in stream:
            for entry in slow_decoder.decode_bytes(raw):
                slow.add(slow_mapper.map(slow_decoder.identity, entry), entry)
            parsed = fast_decoder.parse(raw)
            assert fast_decoder.identity is not None
            assert folder.fold(fast_decoder.identity, parsed.message, raw) == parsed.size
        for what in ("request_method", "protocol_version"):  # the enums a key is made of
            name = f"unknown_enum_values.{what}"
            if slow_decoder.counters[name]:
                slow.counters[name] += slow_decoder.counters[name]
    return slow.flush(), fast.flush()


def _assert_same(streams, **kwargs):
    slow, fast = _windows(streams, **kwargs)

    def rows(window):
        return sorted(tuple(sorted(record.items())) for record in window.records)
    assert rows(fast) == rows(slow)
    ignore = {"filter_state_not_struct"}   # counted per entry there, per route here
    assert {k: v for k, v in fast.counters.items() if k not in ignore} == {
        k: v for k, v in slow.counters.items() if k not in ignore}
    return fast


def _fixture_streams(sidecars=6):
    http, tcp = fixture_stream("http"), fixture_stream("tcp")
    return [replay_stream(http if i % 2 == 0 else tcp, i) for i in range(sidecars)]


@pytest.mark.parametrize("mapper_factory", [WorkloadMapper, lambda: WorkloadMapper(SomeIps())])
def test_fixture_streams_fold_exactly_like_the_tuple_path(mapper_factory):
    window = _assert_same(_fixture_streams(), mapper_factory=mapper_factory)
    assert window.counters["intermediate_entries"] > 0
    assert {r["reporter"] for r in window.records} == {"source", "destination"}


def test_synthetic_streams_and_the_overflow_bucket_fold_alike():
    _assert_same([synthetic_stream(i, messages=3) for i in range(8)])
    window = _assert_same(_fixture_streams(2), max_keys=10)
    assert window.counters["overflow_entries"] > 0


def test_pods_arriving_between_streams_change_the_answers_alike():
    ips = SomeIps(filled=False)

    def fill(number, _slow, _fast):
        ips.filled = number >= 2
    window = _assert_same(_fixture_streams(4), mapper_factory=lambda: WorkloadMapper(ips),
                          between=fill)
    assert any(r["source_namespace"] == "lab" or r["destination_namespace"] == "lab"
               for r in window.records)


def _message(*entries, identified=True):
    message = als_pb2.StreamAccessLogsMessage()
    if identified:
        message.identifier.node.id = NODE
    for build in entries:
        build(message.http_logs.log_entry.add())
    return message.SerializeToString()


def _inbound(principal="", port=9080, cluster=None):
    def build(entry):
        common = entry.common_properties
        common.upstream_cluster = cluster if cluster is not None else f"inbound|{port}||"
        common.downstream_local_address.socket_address.address = "10.0.0.1"
        common.downstream_local_address.socket_address.port_value = port
        common.downstream_remote_address.socket_address.address = "10.0.0.9"
        common.duration.nanos = 5_000_000
        if principal:
            common.tls_properties.peer_certificate_properties.subject_alt_name.add(
                uri=principal)
        entry.request.path = "/r/12"
        entry.response.response_code.value = 200
    return build


def _outbound(cluster, authority="x.example:443", trailers=None, version=2, flags=False,
              ttl_ms=0, intermediate=False, code=200):
    def build(entry):
        common = entry.common_properties
        common.upstream_cluster = cluster
        common.upstream_remote_address.socket_address.address = "10.0.3.3"
        common.upstream_remote_address.socket_address.port_value = 8443
        common.downstream_local_address.socket_address.address = "10.9.9.9"
        common.downstream_local_address.socket_address.port_value = 80
        common.intermediate_log_entry = intermediate
        if ttl_ms:
            common.time_to_last_downstream_tx_byte.nanos = ttl_ms * 1_000_000
        if flags:
            common.response_flags.upstream_connection_failure = True
        entry.protocol_version = version
        entry.request.authority = authority
        entry.request.path = "/p/7f3a9c2e-1b4d-4e5f-8a6b-9c0d1e2f3a4b?x=1"
        if code:
            entry.response.response_code.value = code
        for name, value in (trailers or {}).items():
            entry.response.response_trailers[name] = value
    return build


def test_crafted_entries_fold_exactly_like_the_tuple_path():
    spiffe = "spiffe://cluster.local/ns/shop/sa/cart"
    stream = [
        _message(_inbound(), _inbound(spiffe), _inbound(), _inbound(spiffe, port=9081)),
        _message(_inbound(cluster=""), _inbound(cluster="InboundPassthroughClusterIpv4"),
                 identified=False),
        _message(_outbound("PassthroughCluster"), _outbound("BlackHoleCluster"),
                 _outbound("outbound|0||cart.shop.svc.cluster.local"),
                 _outbound("outbound|443||api.example.com"), _outbound("odd|cluster"),
                 identified=False),
        _message(_outbound("outbound|80||a.b.svc.cluster.local", trailers={"grpc-status": "0"},
                           version=3),
                 _outbound("outbound|80||a.b.svc.cluster.local", trailers={"grpc-status": "14"},
                           version=3),
                 _outbound("outbound|80||a.b.svc.cluster.local", trailers={"grpc-status": "2"},
                           version=2),
                 _outbound("outbound|80||a.b.svc.cluster.local", flags=True, ttl_ms=9, code=0),
                 _outbound("outbound|80||a.b.svc.cluster.local", intermediate=True),
                 _outbound("outbound|80||a.b.svc.cluster.local", version=9, code=1234),
                 identified=False),
    ]
    for mapper_factory in (WorkloadMapper, lambda: WorkloadMapper(SomeIps())):
        window = _assert_same([stream, stream], mapper_factory=mapper_factory)
        sources = {r["source_kind"] for r in window.records}
        assert {"ServiceAccount", "Unknown"} <= sources or "Deployment" in sources
    counters = window.counters
    assert counters["unknown_enum_values.protocol_version"] == 2
    assert counters["entries_without_duration"] > 0
    assert any(r["protocol"] == "gRPC" and r["errors"] for r in window.records)
    assert any(r["response_flags"] == {"UF": 2} for r in window.records)


def test_a_principal_after_a_memoized_inbound_route_is_still_read():
    spiffe = "spiffe://cluster.local/ns/shop/sa/cart"
    aggregator = L7Aggregator(clock=Clock())
    folder = MessageFolder(aggregator, WorkloadMapper())
    decoder = AlsStreamDecoder()
    for raw in (_message(_inbound()), _message(_inbound(spiffe), identified=False)):
        parsed = decoder.parse(raw)
        assert decoder.identity is not None
        folder.fold(decoder.identity, parsed.message, raw)
    sources = sorted((r["source_kind"], r["source_name"]) for r in aggregator.flush().records)
    assert sources == [("ServiceAccount", "cart"), ("Unknown", "")]


def test_bounded_route_memos_and_forgotten_peer_ids_change_nothing():
    streams = _fixture_streams(6)
    slow = L7Aggregator(max_keys=2, clock=Clock())
    fast = L7Aggregator(max_keys=2, clock=Clock())
    mapper = WorkloadMapper()
    folder = MessageFolder(fast, mapper)
    folder.routes = RouteResolver(fast, mapper, max_routes=3)
    generations = set()
    for stream in streams:   # one window per stream: interned peers pile up past 8 x max_keys
        slow_decoder, fast_decoder = AlsStreamDecoder(), AlsStreamDecoder()
        for raw in stream:
            entries = slow_decoder.decode_bytes(raw)
            assert slow_decoder.identity is not None
            for entry in entries:
                slow.add(mapper.map(slow_decoder.identity, entry), entry)
            parsed = fast_decoder.parse(raw)
            assert fast_decoder.identity is not None
            folder.fold(fast_decoder.identity, parsed.message, raw)
            assert folder.routes.routes <= 3
        assert fast.flush().records == slow.flush().records
        generations.add(fast.peer_generation)
    assert len(generations) > 1


@pytest.mark.parametrize("mapper_factory", [WorkloadMapper, lambda: WorkloadMapper(SomeIps())])
def test_inbound_routes_remembered_per_principal_fold_alike(mapper_factory):
    cart, web = "spiffe://td/ns/shop/sa/cart", "spiffe://td/ns/front/sa/web"
    order = [cart, "", web, cart, "", "https://not-spiffe", web, "", cart]
    stream = [_message(_inbound(order[0]))] + [
        _message(_inbound(principal), identified=False) for principal in order[1:]]
    window = _assert_same([stream, stream[::-1][-1:] + stream[1:]],
                          mapper_factory=mapper_factory)
    names = {r["source_name"] for r in window.records}
    assert {"cart", "web"} <= names
