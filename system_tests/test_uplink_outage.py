"""Uplink against the simulated cloud over real mTLS gRPC: an outage loses no lossless record.

Traffic flows through stream_adapter + uplink_core (via UplinkPump) to sim/cloud; the cloud stops
listening for OUTAGE_S seconds (env ``KESTREL_UPLINK_OUTAGE_S``, default 5; 60 works too) and
comes back on the same port. Every lossless record must arrive (sequence sets and record ids
compared) and the lossy records that did not arrive must equal the drop counters exactly.
The helpers here are shared by the other ``test_uplink_*`` system tests.
"""

from __future__ import annotations

import os
import time

import msgpack
import pytest

from actors.uplink.assembly import UplinkStack, build_uplink
from actors.uplink.settings import UplinkSettings
from actors.uplink.uplink_core import AcceptOutcome
from messages.codec import pack_records
from messages.uplink import UplinkRecordKind
from sim.cloud.cloud import SimulatedCloud

pytestmark = pytest.mark.system

OUTAGE_S = float(os.environ.get("KESTREL_UPLINK_OUTAGE_S", "5"))
EVENTS, FLOWS = UplinkRecordKind.EVENTS, UplinkRecordKind.FLOWS


def uplink_settings(cloud: SimulatedCloud, spool_dir, **overrides) -> UplinkSettings:
    raw = dict(cloud.uplink_settings())
    raw.update(spool_dir=str(spool_dir), heartbeat_interval_s=1.0, cloud_silence_timeout_s=5.0,
               connect_timeout_s=3.0, backoff_min_s=0.1, backoff_max_s=1.0,
               backoff_reset_after_s=5.0, keepalive_time_s=10.0, token_leeway_s=1.0,
               spool_max_bytes=64 << 20, spool_segment_bytes=256 << 10, token_timeout_s=3.0)
    raw.update(overrides)
    settings, errors = UplinkSettings.from_mapping(raw)
    assert errors == []
    return settings


def pump_until(stack: UplinkStack, predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if not stack.pump.step():
            time.sleep(0.005)
    return bool(predicate())


def produce(stack: UplinkStack, seconds: float, state: dict[str, int], *,
            per_step: int = 4) -> None:
    """Offer lossless EVENTS (ids) and lossy FLOWS for ``seconds``, pumping in between."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(per_step):
            record_id = state["next_id"]
            payload = pack_records([{"id": record_id, "pad": "p" * 200}])
            outcome = stack.core.accept(EVENTS, 1, payload, True)
            assert outcome is AcceptOutcome.ACCEPTED
            state["next_id"] += 1
            stack.core.accept(FLOWS, 5, pack_records([{"f": record_id}] * 5), False)
            state["lossy"] += 5
        stack.pump.step()
        time.sleep(0.002)


def received_ids(cloud: SimulatedCloud) -> set[int]:
    with cloud.recorder.lock:
        payloads = list(cloud.recorder.payloads_by_kind["RECORD_KIND_EVENTS"])
    return {record["id"] for payload in payloads for record in msgpack.unpackb(payload)}


def all_delivered(stack: UplinkStack, cloud: SimulatedCloud) -> bool:
    counters = stack.core.counters()
    return (cloud.recorder.acked_through == stack.core.sequencer.next_sequence - 1
            and counters["acked_sequence"] == counters["next_sequence"] - 1
            and counters["lossy_buffered_records"] == 0 and counters["lossy_unacked"] == 0)


@pytest.fixture
def cloud(tmp_path):
    sim = SimulatedCloud(tmp_path / "cloud", ack_every=32, ack_interval_s=0.05,
                         heartbeat_interval_s=1.0).start()
    yield sim
    sim.close()


def test_outage_loses_no_lossless_record_and_lossy_drops_are_counted(cloud, tmp_path):
    settings = uplink_settings(cloud, tmp_path / "spool", lossy_max_bytes=48 << 10,
                               lossy_max_batches=200)
    stack = build_uplink(settings)
    stack.start()
    state = {"next_id": 0, "lossy": 0}
    try:
        assert pump_until(stack, lambda: stack.core.connected, 15)
        produce(stack, 1.0, state)
        cloud.stream.go_away(OUTAGE_S)
        assert pump_until(stack, lambda: not stack.core.connected, 10)
        produce(stack, OUTAGE_S * 0.8, state)
        during = stack.counters()
        assert during["spool_unacked_items"] > 0            # lossless waits on disk
        assert during["lossy_dropped_records"] > 0          # lossy overflowed its bound
        assert pump_until(stack, lambda: stack.core.connected, OUTAGE_S + 15)
        produce(stack, 1.0, state)
        assert pump_until(stack, lambda: all_delivered(stack, cloud), 30)
        counters = stack.counters()
    finally:
        stack.close()
    last = stack.core.sequencer.next_sequence - 1
    assert cloud.recorder.reliable == set(range(1, last + 1))
    assert received_ids(cloud) == set(range(state["next_id"]))
    assert cloud.recorder.records_by_kind["RECORD_KIND_EVENTS"] == state["next_id"]
    lossy_received = cloud.recorder.records_by_kind["RECORD_KIND_FLOWS"]
    assert counters["lossy_accepted_records"] == state["lossy"]
    assert lossy_received + counters["lossy_dropped_records"] == state["lossy"]
    assert counters["sessions"] >= 2
    assert counters["stream_failures"] >= 1
    assert counters["spool_bytes"] == 0                     # every segment acked and deleted
