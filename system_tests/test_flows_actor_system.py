"""sim/hubble relay → FlowCollector (real process tree, TCP base) → recording consumer.

The relay replays the golden fixture; the per-key counts the recorder receives in ``flows``
records must equal the counts computed directly from the very frames the relay serves (reply
packets removed, as the relay-side blacklist does). A relay restart mid-stream must be resumed
(``since``) with nothing lost and the outage accounted as a gap and a reconnect.
"""

import collections

import grpc
import pytest

from actors.flows.aggregation import flow_key
from actors.flows.flow_codec import FlowDecoder
from messages.runtime import CrashMode, Overflow
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator
from system_tests import netflow_support as ns
from system_tests.conftest import wait_until
from system_tests.test_hubble_pipeline import _mint
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system

KEY = ("source_namespace", "source_kind", "source_name", "destination_namespace",
       "destination_kind", "destination_name", "destination_port", "l4_protocol", "direction",
       "verdict", "drop_reason")
COLLECTOR = "actors.flows.flow_collector_actor.FlowCollector"


def expected_counts(sequence):
    decoder = FlowDecoder()
    records = [decoder.decode_bytes(sequence.frame(i)) for i in range(sequence.total)]
    return collections.Counter(flow_key(r) for r in records if r is not None and not r.is_reply)


def recorded_counts(path):
    counts: collections.Counter[tuple[object, ...]] = collections.Counter()
    for kind, record in ns.read_dump(path):
        assert kind == "flows"
        counts[tuple(record[k] for k in KEY)] += record["count"]
    return counts


def collector_tree(port, dump_path, **extra):
    settings = {"relay_address": f"127.0.0.1:{port}", "tls_enabled": False, "window_s": 0.5,
                "reconnect_min": 0.1, "reconnect_max": 0.3, **extra}
    return ns.topology_of(
        [("recorder/a", ns.SUPPORT + "RecordRecorder", {"dump_path": str(dump_path)}),
         ("hubble_flows/shard-0", COLLECTOR, settings)],
        [("hubble_flows/shard-0", "recorder/a", Overflow.DROP_OLDEST, 8)])


def counters_of(system, cid):
    status = system.status(3.0)
    node = tp.find(status, cid)
    return tp.counters(node) if node is not None else {}


@pytest.fixture
def relays():
    started = []

    def make(sequence, port=0):
        relay = RelaySimulator(sequence, port=port)
        relay.start()
        started.append(relay)
        return relay
    yield make
    for relay in started:
        relay.stop(0)


def test_replayed_fixture_through_the_actor_equals_direct_counts(operator_system, relays,
                                                                 tmp_path):
    sequence = build_sequence("replay", loops=2)
    expected = expected_counts(sequence)
    relay = relays(sequence)
    system = operator_system(collector_tree(relay.port, tmp_path / "dump.bin"))
    want = sum(expected.values())
    assert wait_until(lambda: counters_of(system, "recorder/a").get(
        "recorded_count_sum_total", 0) >= want, 25.0)
    assert recorded_counts(tmp_path / "dump.bin") == expected
    flows = counters_of(system, "hubble_flows/shard-0")
    assert flows["flows_received_total"] == want            # replies never left the relay
    assert flows["flows_dropped_total"] == 0
    assert flows["lost_events_total"] > 0                   # the fixture's lost-event frames
    assert flows["streaming"] == 1
    assert flows["relay_error"] == 0


def test_relay_restart_mid_stream_resumes_and_accounts_the_gap(operator_system, relays,
                                                              tmp_path):
    sequence = build_sequence("synthetic", total=6000, rate=1500.0, nodes=4)
    expected = expected_counts(sequence)
    relay = relays(sequence)
    port = relay.port
    system = operator_system(collector_tree(port, tmp_path / "dump.bin"))
    assert wait_until(lambda: counters_of(system, "hubble_flows/shard-0").get(
        "relay_flows_total", 0) >= 1000, 15.0)
    relay.stop(0)
    assert wait_until(lambda: counters_of(system, "hubble_flows/shard-0").get(
        "streaming") == 0, 10.0)
    relays(sequence, port=port)
    want = sum(expected.values())
    assert wait_until(lambda: counters_of(system, "recorder/a").get(
        "recorded_count_sum_total", 0) >= want, 25.0)
    assert recorded_counts(tmp_path / "dump.bin") == expected
    flows = counters_of(system, "hubble_flows/shard-0")
    assert flows["reconnects_total"] >= 1
    assert flows["since_resumes_total"] >= 1
    assert flows["gap_ms_total"] > 0
    assert flows["flows_dropped_total"] == 0


def test_tls_relay_with_a_ca_file_and_a_wrong_ca_never_goes_plaintext(operator_system,
                                                                     tmp_path):
    ca_pem, cert_pem, key_pem = _mint("*.hubble-relay.cilium.io")
    other_ca, _, _ = _mint("*.hubble-relay.cilium.io")
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "other.pem").write_bytes(other_ca)
    sequence = build_sequence("synthetic", total=500)
    expected = expected_counts(sequence)
    relay = RelaySimulator(sequence, server_credentials=grpc.ssl_server_credentials(
        [(key_pem, cert_pem)]))
    relay.start()
    try:
        common = {"relay_address": f"127.0.0.1:{relay.port}", "tls_enabled": True,
                  "window_s": 0.3, "reconnect_min": 0.1, "reconnect_max": 0.3}
        system = operator_system(ns.topology_of(
            [("recorder/a", ns.SUPPORT + "RecordRecorder",
              {"dump_path": str(tmp_path / "dump.bin")}),
             ("hubble_flows/good", COLLECTOR,
              {**common, "tls_ca_file": str(tmp_path / "ca.pem")}),
             ("hubble_flows/bad", COLLECTOR,
              {**common, "tls_ca_file": str(tmp_path / "other.pem")})],
            [("hubble_flows/good", "recorder/a", Overflow.DROP_OLDEST, 8),
             ("hubble_flows/bad", "recorder/a", Overflow.DROP_OLDEST, 8)]))
        assert wait_until(lambda: counters_of(system, "recorder/a").get(
            "recorded_count_sum_total", 0) >= sum(expected.values()), 20.0)
        assert wait_until(lambda: counters_of(system, "hubble_flows/bad").get(
            "stream_errors_total", 0) >= 2, 10.0)
        assert recorded_counts(tmp_path / "dump.bin") == expected
        good, bad = (counters_of(system, f"hubble_flows/{n}") for n in ("good", "bad"))
        assert good["streaming"] == 1
        assert good["relay_error"] == 0
        assert bad["streaming"] == 0
        assert bad["relay_error"] == 1
        assert bad["flows_received_total"] == 0
        assert bad["relay_flows_total"] == 0
        assert tp.find(system.status(3.0), "hubble_flows/bad").restarts == 0
    finally:
        relay.stop(0)


def test_a_crashed_collector_is_restarted_and_streams_again(operator_system, relays,
                                                            tmp_path):
    relay = relays(build_sequence("synthetic", total=60_000, rate=2000.0, nodes=4))
    system = operator_system(collector_tree(relay.port, tmp_path / "dump.bin"))
    assert wait_until(lambda: counters_of(system, "hubble_flows/shard-0").get(
        "flows_received_total", 0) > 0, 15.0)
    system.inject_crash("hubble_flows/shard-0", CrashMode.RAISE)

    def restarted_and_streaming():
        node = tp.find(system.status(3.0), "hubble_flows/shard-0")
        return node is not None and node.incarnation == 2 and \
            tp.counters(node).get("flows_received_total", 0) > 0
    assert wait_until(restarted_and_streaming, 20.0)
    node = tp.find(system.status(3.0), "hubble_flows/shard-0")
    assert node.restarts == 1
    assert tp.counters(node)["streaming"] == 1
