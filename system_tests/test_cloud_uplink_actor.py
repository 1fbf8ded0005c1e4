"""CloudUplink in a real process tree (multiprocTCPBase) against the simulated Kestrel Cloud.

Test producers (``uplink_support``) send numbered ``incident``/``logs`` (lossless, BLOCK links)
and ``flows`` (lossy, DROP_OLDEST link) records to ``cloud_uplink/main``, which streams them over
mTLS gRPC to ``sim.cloud``. Checked: everything arrives and a cloud command comes back
correlated (an owner that is not linked gets an error answer); a 5 s cloud outage loses no
lossless record and every lossy record that did not arrive is counted as dropped, with the link
conservation of ``/status`` holding throughout; SIGKILL of the uplink's process mid-send: the
supervisor restarts it, it re-opens its spool and every lossless record arrives.
"""

from __future__ import annotations

import json
import os
import signal
import time

import msgpack
import pytest

from actors.runtime import prometheus
from actors.runtime.status_http import readiness_check
from messages.runtime import ComponentState, Overflow
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from sim.cloud.cloud import SimulatedCloud
from system_tests import uplink_support as us
from system_tests.conftest import wait_until

pytestmark = pytest.mark.system

EVENTS, LOGS, FLOWS = "RECORD_KIND_EVENTS", "RECORD_KIND_LOGS", "RECORD_KIND_FLOWS"


@pytest.fixture
def cloud(tmp_path):
    sim = SimulatedCloud(tmp_path / "cloud", ack_every=32, ack_interval_s=0.05,
                         heartbeat_interval_s=1.0).start()
    yield sim
    sim.close()


def component_settings(cloud: SimulatedCloud, spool_dir, **extra) -> dict[str, object]:
    """The chart's keys (plus cluster_id and test timings) for ``cloud_uplink/main``."""
    raw = cloud.uplink_settings()
    settings = {key: raw[key] for key in (
        "server_address", "server_name", "token_url", "client_id_file", "client_secret_file",
        "cert_file", "key_file", "ca_file")}
    settings.update(cluster_id=raw["cluster_id"], spool_dir=str(spool_dir),
                    heartbeat_interval=1.0, cloud_silence_timeout=5.0, connect_timeout=3.0,
                    backoff_min=0.1, backoff_max=1.0, keepalive_time=10.0,
                    spool_segment_bytes=256 << 10, spool_max_bytes=64 << 20, link_grace=0.5)
    settings.update(extra)
    return settings


def producers(total: int, *, pad: int = 50, tick_s: float = 0.01
              ) -> list[tuple[str, dict[str, object], Overflow]]:
    lossless = {"kinds": ["incident", "logs"], "total": total, "batch_records": 20,
                "tick_s": tick_s, "pad": pad}
    lossy = {"kinds": ["flows"], "total": total, "batch_records": 20, "tick_s": tick_s,
             "pad": pad}
    return [("producer/events", lossless, Overflow.BLOCK),
            ("producer/flows", lossy, Overflow.DROP_OLDEST)]


def ids(cloud: SimulatedCloud, kind: str) -> list[int]:
    with cloud.recorder.lock:
        payloads = list(cloud.recorder.payloads_by_kind[kind])
    return [record["id"] for payload in payloads for record in msgpack.unpackb(payload)]


def lossy_accounted(cloud: SimulatedCloud, system, total: int):
    """The status once every flow record either reached the cloud or was counted as dropped."""
    status = system.status(5.0)
    if status is None:
        return None
    uplink = us.counters(status, us.UPLINK_ID)
    link_drops = sum(link.dropped for link in us.links_of(status)
                     if link.producer_id == "producer/flows")
    received = cloud.recorder.records_by_kind[FLOWS]
    if received + uplink.get("lossy_dropped_records_total", -1) + link_drops == total:
        return status
    return None


def test_records_arrive_and_commands_come_back_correlated(cloud, tmp_path, operator_system):
    total = 600
    system = operator_system(us.uplink_topology(
        component_settings(cloud, tmp_path / "spool"), producers(total)))
    assert wait_until(lambda: sorted(ids(cloud, EVENTS)) == list(range(total))
                      and sorted(ids(cloud, LOGS)) == list(range(total)), 20)
    later_ms = int((time.time() + 30) * 1000)
    cloud.stream.send_command(pb.Command(request_id="shell-1", deadline_unix_ms=later_ms,
                                         shell=pb.ShellRequest(command="echo hi")))
    cloud.stream.send_command(pb.Command(
        request_id="metrics-1", deadline_unix_ms=later_ms,
        metrics_query=pb.MetricsQuery(namespace="shop", metric_names=["up"])))
    results = cloud.recorder.command_results
    assert wait_until(lambda: {"shell-1", "metrics-1"} <= set(results), 15)
    assert results["shell-1"].status == pb.COMMAND_STATUS_OK
    echo = json.loads(results["shell-1"].payload)
    assert echo["kind"] == "shell"
    assert echo["args"] == {"command": "echo hi"}
    assert results["metrics-1"].status == pb.COMMAND_STATUS_UNSUPPORTED
    assert "metrics_ring/main" in results["metrics-1"].error
    status = wait_until(lambda: lossy_accounted(cloud, system, total), 45)
    assert status is not None
    uplink = us.counters(status, us.UPLINK_ID)
    assert uplink["connected"] == 1
    assert uplink["commands_routed_total"] == 1
    assert uplink["commands_answered_total"] == 2
    assert us.counters(status, us.WATCHER_ID)["sessions_received"] >= 1
    assert readiness_check()(status) == []
    assert all(prometheus.link_balanced(link) for link in prometheus.all_links(status))


def test_cloud_outage_loses_no_lossless_record_and_counts_lossy_drops(cloud, tmp_path,
                                                                      operator_system):
    total = 9000          # ~9 s at 1000 records/s per kind: spans the whole outage
    settings = component_settings(cloud, tmp_path / "spool", lossy_max_bytes=64 << 10)
    system = operator_system(us.uplink_topology(settings, producers(total, pad=150, tick_s=0.02),
                                                owner=False))
    assert wait_until(lambda: len(ids(cloud, EVENTS)) > 500, 15)
    cloud.stream.go_away(5.0)
    balanced_samples = 0
    for _ in range(8):                                    # conservation during the outage
        status = system.status(5.0)
        assert status is not None
        assert all(prometheus.link_balanced(link) for link in prometheus.all_links(status))
        balanced_samples += 1
        time.sleep(0.5)
    during = us.counters(status, us.UPLINK_ID)
    assert during["connected"] == 0
    assert during["spool_unacked_items"] > 0
    assert wait_until(lambda: sorted(ids(cloud, EVENTS)) == list(range(total))
                      and sorted(ids(cloud, LOGS)) == list(range(total)), 90)
    status = wait_until(lambda: lossy_accounted(cloud, system, total), 45)
    assert status is not None
    uplink = us.counters(status, us.UPLINK_ID)
    assert uplink["lossy_dropped_records_total"] > 0       # the outage overflowed the buffer
    assert uplink["reconnects_total"] >= 1
    assert uplink["sessions_total"] >= 2
    assert us.counters(status, us.WATCHER_ID)["sessions_received"] >= 2
    assert balanced_samples == 8
    assert all(prometheus.link_balanced(link) for link in prometheus.all_links(status))


def test_sigkill_of_the_uplink_process_loses_no_accepted_record(cloud, tmp_path,
                                                               operator_system):
    total = 4000
    cloud.stream.faults.ack_delay_s = 0.5                  # much unacked when the kill lands
    system = operator_system(us.uplink_topology(
        component_settings(cloud, tmp_path / "spool"), producers(total), owner=False))
    assert wait_until(lambda: len(ids(cloud, EVENTS)) > 600, 15)
    status = system.status(5.0)
    before = us.find(status, us.UPLINK_ID)
    assert before.incarnation == 1
    assert before.pid != os.getpid()
    os.kill(before.pid, signal.SIGKILL)
    assert dict(before.counters)["spool_unacked_items"] > 0          # mid-send: unacked
    assert us.counters(status, "producer/events")["produced_records"] < 2 * total
    restarted = wait_until(lambda: (lambda node: node if node is not None and node.incarnation
                                    == 2 and node.state is ComponentState.RUNNING else None)(
        us.find(system.status(5.0), us.UPLINK_ID)), 20)
    assert restarted is not None
    assert restarted.restarts == 1
    assert wait_until(lambda: set(range(total)) <= set(ids(cloud, EVENTS))
                      and set(range(total)) <= set(ids(cloud, LOGS)), 30)
    status = system.status(5.0)
    uplink = us.counters(status, us.UPLINK_ID)
    assert uplink["connected"] == 1
    assert all(prometheus.link_balanced(link) for link in prometheus.all_links(status))
    first_instance = cloud.recorder.hellos[0].instance_id
    reopened = next(h for h in cloud.recorder.hellos if h.instance_id != first_instance)
    assert reopened.next_sequence - 1 > reopened.resume_acked_sequence   # spool had unacked
    # the cloud saw one gap-free reliable sequence across both incarnations
    assert wait_until(lambda: cloud.recorder.acked_through == max(cloud.recorder.reliable), 10)
