"""sim/envoy sidecars → AccessLogReceiver (real process tree, TCP base) → recording consumer.

The tree comes from a topology file through ``load_topology`` with ``DISABLE_CILIUM_FLOWS=true``
and a registry that adds the test-only recorder type: the flow shard vanishes with its link and
the rest of the tree runs without it. 200 simulated sidecars (each its own HTTP/2 connection)
hold their streams open together, then send re-identified golden streams; the per-key counts
of the ``l7`` records the recorder receives must equal those computed directly from the same
bytes, and nothing may be dropped.
"""

import asyncio
import collections

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.workload_mapping import WorkloadMapper
from actors.runtime.registry import default_registry
from actors.runtime.settings_schema import ComponentType, Kind, Setting
from actors.runtime.topology import load_topology
from messages.runtime import ComponentState, CrashMode
from sim.envoy.sidecars import run_sidecars
from sim.envoy.streams import fixture_stream, replay_stream
from system_tests import netflow_support as ns
from system_tests.conftest import free_port, wait_until
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system

SIDECARS = 200
NUMBERS = ("count", "errors", "request_bytes", "response_bytes", "latency_count")

TOPOLOGY = """
operator: {{actor_system: {{admin_port: 0}}, logging: {{level: WARNING}}}}
actors:
  supervisor/root: {{children: [recorder/main, supervisor/flows, envoy_als/main]}}
  recorder/main: {{dump_path: "{dump}"}}
  supervisor/flows: {{children: [hubble_flows/shard-0]}}
  hubble_flows/shard-0: {{relay_address: "127.0.0.1:1", tls_enabled: false}}
  envoy_als/main: {{port: {port}, host: 127.0.0.1, window_s: 0.5}}
links:
  - {{from: hubble_flows/shard-0, to: recorder/main, window: 8, overflow: drop_oldest}}
  - {{from: envoy_als/main, to: recorder/main, window: 8, overflow: drop_oldest}}
"""


def registry_with_recorder():
    registry = default_registry()
    registry.register(ComponentType(
        name="recorder", actor_class=ns.SUPPORT + "RecordRecorder", doc="test-only consumer",
        settings=(Setting(name="dump_path", kind=Kind.STR, default="/dev/null",
                          doc="where batches are appended"),)))
    return registry


def keyed(records):
    totals: dict[tuple[object, ...], list[int]] = collections.defaultdict(
        lambda: [0] * len(NUMBERS))
    for record in records:
        key = tuple(sorted((k, v) for k, v in record.items() if not k.startswith(
            (*NUMBERS, "latency", "response_flags", "first_", "last_", "window_"))))
        totals[key] = [a + record[k] for a, k in zip(totals[key], NUMBERS, strict=True)]
    return {key: tuple(value) for key, value in totals.items()}


def test_sidecars_through_the_actor_equal_direct_counts_without_flows(operator_system,
                                                                       tmp_path):
    port = free_port()
    topology = load_topology(TOPOLOGY.format(dump=tmp_path / "dump.bin", port=port),
                             env={"DISABLE_CILIUM_FLOWS": "true"},
                             registry=registry_with_recorder())
    assert "hubble_flows/shard-0" not in topology.components
    http, tcp = fixture_stream("http"), fixture_stream("tcp")
    streams = [replay_stream(http if i % 2 == 0 else tcp, i, max_messages=3)
               for i in range(SIDECARS)]
    direct, mapper, entries = L7Aggregator(), WorkloadMapper(), 0
    for stream in streams:
        decoder = AlsStreamDecoder()
        for raw in stream:
            for entry in decoder.decode_bytes(raw):
                assert decoder.identity is not None
                direct.add(mapper.map(decoder.identity, entry), entry)
                entries += 1
    expected = keyed(direct.flush().records)

    system = operator_system(topology)
    status = system.status(5.0)
    assert [c.component_id for c in status.children] == ["recorder/main", "supervisor/flows",
                                                         "envoy_als/main"]
    assert tp.find(status, "supervisor/flows").children == ()

    def als():
        return tp.counters(tp.find(system.status(3.0), "envoy_als/main"))

    async def all_open():
        for _ in range(400):
            if (await asyncio.to_thread(als))["streams_active"] >= SIDECARS:
                return
            await asyncio.sleep(0.05)

    report = asyncio.run(run_sidecars(f"127.0.0.1:{port}", streams, hold_open=True,
                                      hold_until=all_open, timeout=60))
    assert report.streams_ok == SIDECARS, report.statuses
    assert wait_until(lambda: als()["entries_received_total"] >= entries, 20.0)
    assert wait_until(lambda: tp.counters(tp.find(system.status(3.0), "recorder/main"))[
        "recorded_count_sum_total"] >= sum(v[0] for v in expected.values()), 20.0)
    counters = als()
    assert counters["entries_received_total"] == entries
    assert counters["entries_dropped_total"] == 0
    assert counters["streams_opened_total"] == SIDECARS
    assert counters["streams_max_active"] == SIDECARS       # all held open at once
    assert counters["malformed_total"] == 0
    dumped = ns.read_dump(tmp_path / "dump.bin")
    assert {kind for kind, _ in dumped} == {"l7"}
    assert keyed([record for _, record in dumped]) == expected


def test_a_crashed_receiver_rebinds_its_port_and_serves_again(operator_system, tmp_path):
    port = free_port()
    topology = load_topology(TOPOLOGY.format(dump=tmp_path / "dump.bin", port=port),
                             env={"DISABLE_CILIUM_FLOWS": "true"},
                             registry=registry_with_recorder())
    system = operator_system(topology)
    system.inject_crash("envoy_als/main", CrashMode.RAISE)

    def restarted():
        node = tp.find(system.status(3.0), "envoy_als/main")
        return node is not None and node.incarnation == 2 and \
            node.state is ComponentState.RUNNING
    assert wait_until(restarted, 20.0)
    http = fixture_stream("http")
    streams = [replay_stream(http, i, max_messages=2) for i in range(4)]
    report = asyncio.run(run_sidecars(f"127.0.0.1:{port}", streams, timeout=30))
    assert report.streams_ok == 4, report.statuses
    node = tp.find(system.status(3.0), "envoy_als/main")
    assert node.restarts == 1
    assert tp.counters(node)["streams_opened_total"] == 4
