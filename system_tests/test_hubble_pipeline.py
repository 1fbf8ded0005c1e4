"""sim/hubble relay → HubbleFlowClient → FlowAggregator over loopback gRPC, counted exactly.

The relay replays the golden fixture (and synthetic flows); the expected per-key counts are
computed directly from the very frames the relay serves (decoded without gRPC, reply packets
removed the way the relay-side blacklist does). A relay restart mid-stream must be survived with
every flow delivered (resume with ``since``) and the outage accounted as a gap.
"""

import collections
import datetime
import queue
import subprocess
import sys
import time

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actors.flows.aggregation import FlowAggregator, flow_key
from actors.flows.flow_codec import FlowDecoder
from actors.flows.flow_request_codec import shard_nodes
from actors.flows.hubble_client_adapter import FlowBatch, HubbleFlowClient
from actors.flows.relay_discovery import RelayTarget, TlsMaterial
from actors.flows.settings import FlowSettings
from messages.wire.observer import observer_pb2, observer_pb2_grpc
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator

pytestmark = pytest.mark.system


def _expected(sequence):
    decoder = FlowDecoder()
    records = [decoder.decode_bytes(sequence.frame(i)) for i in range(sequence.total)]
    return collections.Counter(flow_key(r) for r in records if r is not None and not r.is_reply)


def _drain(client, sink, aggregator, want, deadline_s=25.0):
    deadline = time.monotonic() + deadline_s
    got = 0
    while got < want and time.monotonic() < deadline:
        try:
            batch = sink.get(timeout=0.2)
        except queue.Empty:
            client.flush_pending()
            continue
        aggregator.add_many(batch.records)
        got += len(batch.records)
    return got


def _window_counts(aggregator):
    window = aggregator.flush()
    return collections.Counter({
        tuple(r[k] for k in ("source_namespace", "source_kind", "source_name",
                             "destination_namespace", "destination_kind", "destination_name",
                             "destination_port", "l4_protocol", "direction", "verdict",
                             "drop_reason")): r["count"] for r in window.records}), window


@pytest.fixture
def relay_factory():
    relays = []

    def make(sequence, port=0):
        relay = RelaySimulator(sequence, port=port)
        relay.start()
        relays.append(relay)
        return relay
    yield make
    for relay in relays:
        relay.stop(0)


def test_replayed_fixture_counts_equal_direct_counts(relay_factory):
    sequence = build_sequence("replay", loops=2)
    expected = _expected(sequence)
    relay = relay_factory(sequence)
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=1000)
    client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", None, "test"),
                              FlowSettings(batch_max_records=256), sink)
    aggregator = FlowAggregator()
    client.start()
    try:
        got = _drain(client, sink, aggregator, sum(expected.values()))
    finally:
        client.stop()
    counts, window = _window_counts(aggregator)
    assert got == sum(expected.values())
    assert counts == expected
    stats = client.stats()
    assert stats["flows"] == got  # replies never left the relay
    assert stats["lost_events"] > 0
    assert stats["node_status.NODE_CONNECTED"] == 6
    assert window.counters.get("replies_skipped", 0) == 0
    with grpc.insecure_channel(f"127.0.0.1:{relay.port}") as channel:
        stub = observer_pb2_grpc.ObserverStub(channel)
        nodes = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=5)
        status = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)
    assert sorted(n.name for n in nodes.nodes) == [f"prod-eu-1/node-{i}" for i in range(1, 7)]
    assert status.num_connected_nodes.value == 6
    assert status.seen_flows == sequence.total


def test_relay_restart_mid_stream_resumes_and_accounts_the_gap(relay_factory):
    sequence = build_sequence("synthetic", total=6000, rate=1500.0, nodes=4)
    expected = _expected(sequence)
    relay = relay_factory(sequence)
    port = relay.port
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=1000)
    settings = FlowSettings(batch_max_records=64, batch_max_delay_s=0.05,
                            reconnect_min_s=0.1, reconnect_max_s=0.5)
    client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{port}", None, "test"), settings, sink)
    aggregator = FlowAggregator()
    client.start()
    try:
        first = _drain(client, sink, aggregator, 1000, deadline_s=10.0)
        assert first >= 1000
        relay.stop(0)
        time.sleep(0.6)
        relay_factory(sequence, port=port)
        rest = _drain(client, sink, aggregator, sum(expected.values()) - first)
    finally:
        client.stop()
    counts, _ = _window_counts(aggregator)
    assert first + rest == sum(expected.values())
    assert counts == expected
    stats = client.stats()
    assert stats["reconnects"] >= 1
    assert stats["since_resumes"] >= 1
    assert stats["gap_ms"] >= 500


def test_two_shards_split_nodes_without_overlap(relay_factory):
    sequence = build_sequence("synthetic", total=3000, nodes=6)
    expected = _expected(sequence)
    relay = relay_factory(sequence)
    totals: collections.Counter[tuple[object, ...]] = collections.Counter()
    for index in range(2):
        mine = set(shard_nodes(relay.nodes, 2, index))
        decoder = FlowDecoder()
        records = [decoder.decode_bytes(sequence.frame(i)) for i in range(sequence.total)]
        want = collections.Counter(flow_key(r) for r in records
                                   if r is not None and not r.is_reply and r.node_name in mine)
        sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=1000)
        settings = FlowSettings(shards=2, shard_index=index, shard_refresh_s=0.3)
        client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", None, "t"), settings,
                                  sink)
        aggregator = FlowAggregator()
        client.start()
        try:
            _drain(client, sink, aggregator, sum(want.values()))
            deadline = time.monotonic() + 5
            while client.stats().get("shard_refreshes", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            _drain(client, sink, aggregator, 1, deadline_s=0.3)  # nothing more may arrive
        finally:
            client.stop()
        counts, _ = _window_counts(aggregator)
        assert client.stats()["shard_refreshes"] >= 1
        assert counts == want
        assert 0 < sum(counts.values()) < sum(expected.values())
        assert client.stats()["shard_nodes"] == len(mine)
        totals.update(counts)
    assert totals == expected


def _mint(dns_name):
    """(ca_pem, server_cert_pem, server_key_pem): a throwaway CA and a cert for ``dns_name``."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def build(subject, issuer, key, signer, extensions):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("relay-ca", "relay-ca", ca_key, ca_key,
               [(x509.BasicConstraints(ca=True, path_length=None), True)])
    cert = build("relay", "relay-ca", key, ca_key,
                 [(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), False)])
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_tls_relay_with_server_name_and_no_plaintext_fallback(relay_factory):
    ca_pem, cert_pem, key_pem = _mint("*.hubble-relay.cilium.io")
    other_ca, _, _ = _mint("*.hubble-relay.cilium.io")
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    sequence = build_sequence("synthetic", total=500)
    relay = RelaySimulator(sequence, server_credentials=credentials)
    relay.start()
    try:
        expected = _expected(sequence)
        for ca, should_work in ((ca_pem, True), (other_ca, False)):
            tls = TlsMaterial(ca_pem=ca,
                              server_name="instance.hubble-relay.cilium.io")
            sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=1000)
            client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", tls, "tls"),
                                      FlowSettings(reconnect_min_s=0.1, reconnect_max_s=0.2),
                                      sink)
            aggregator = FlowAggregator()
            client.start()
            try:
                got = _drain(client, sink, aggregator, sum(expected.values()),
                             deadline_s=10.0 if should_work else 1.5)
            finally:
                client.stop()
            if should_work:
                assert got == sum(expected.values())
            else:
                assert got == 0
                assert client.stats()["stream_errors"] >= 1
                assert "UNAVAILABLE" in client.last_error
    finally:
        relay.stop(0)


def test_full_sink_drops_batches_and_counts_them(relay_factory):
    sequence = build_sequence("synthetic", total=2000)
    relay = relay_factory(sequence)
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=1)
    client = HubbleFlowClient(RelayTarget(f"127.0.0.1:{relay.port}", None, "t"),
                              FlowSettings(batch_max_records=100), sink)
    client.start()
    try:
        deadline = time.monotonic() + 10
        while client.stats().get("batches_dropped", 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.stop()
    stats = client.stats()
    assert stats["batches_dropped"] >= 3
    assert stats["flows_dropped_sink_full"] >= 300
    assert stats["batches_delivered"] == 1


def test_sim_hubble_cli_serves_a_follow_stream(processes):
    relay = subprocess.Popen(
        [sys.executable, "-m", "sim.hubble", "--mode", "synthetic", "--total", "300",
         "--rate", "1000", "--seconds", "20"], stdout=subprocess.PIPE, text=True)
    processes.add_pids([relay.pid])
    try:
        assert relay.stdout is not None
        line = relay.stdout.readline()
        assert "sim.hubble listening on 127.0.0.1:" in line
        target = line.strip().rsplit(" ", 1)[1]
        sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=100)
        client = HubbleFlowClient(RelayTarget(target, None, "cli"), FlowSettings(), sink)
        aggregator = FlowAggregator()
        client.start()
        try:
            got = _drain(client, sink, aggregator, 50, deadline_s=10.0)
        finally:
            client.stop()
        assert got >= 50
    finally:
        relay.terminate()
        relay.wait(10)
