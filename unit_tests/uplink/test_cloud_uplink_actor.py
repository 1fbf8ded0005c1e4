"""CloudUplink on simpleSystemBase with a fake stream adapter: the test plays the cloud by
putting stream events into the stack's inbox and reads the frames the uplink offered."""

import time
from typing import Any

import msgpack
import pytest

from actors.runtime.thespian_system import OperatorSystem
from actors.uplink import frames
from actors.uplink.assembly import build_uplink
from actors.uplink.cloud_uplink_actor import CloudUplink
from actors.uplink.pump import UplinkPump
from actors.uplink.uplink_status import last_error_code
from messages.runtime import Overflow
from messages.uplink import (
    CloudBatchesAcked,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudSessionWelcomed,
    UplinkStreamOpened,
)
from system_tests import uplink_support as us

STACKS: dict[str, Any] = {}      # component id -> live stack of FakeStackUplink (same process)
FAKE_CLASS = "unit_tests.uplink.test_cloud_uplink_actor.FakeStackUplink"


class FakeAdapter:
    """Stands in for CloudStreamAdapter: always has room, keeps every frame."""

    def __init__(self):
        self.frames = []
        self.last_error = ""
        self.epoch = 1

    def start(self):
        pass

    def stop(self, timeout_s=5.0):
        pass

    def has_room(self):
        return True

    def offer(self, frame):
        self.frames.append(frame)

    def counters(self):
        return {"stream_attempts": 1.0}


class FakeStackUplink(CloudUplink):
    def build_stack(self, settings, bridge):
        stack = build_uplink(settings, on_command=self.routed.append)
        stack.adapter = FakeAdapter()  # type: ignore[assignment]
        stack.pump = UplinkPump(stack.core, stack.adapter, stack.inbox,
                                on_command=self.routed.append)
        STACKS[self.component_id] = stack
        return stack


def uplink_settings(tmp_path, **extra):
    return {"server_address": "127.0.0.1:9", "token_url": "https://127.0.0.1:9/token",
            "cluster_id": "unit", "spool_dir": str(tmp_path / "spool"), "tick_interval": 0.02,
            "link_grace": 0.2, "fsync_interval": 0, **extra}


@pytest.fixture
def system():
    STACKS.clear()
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.2)
    STACKS.clear()


def pump(system, predicate, seconds=4.0, step=0.02):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        system.run_for(step)
    return predicate()


def connect(stack, epoch=1, session="s1", acked=0):
    stack.inbox.put(UplinkStreamOpened(epoch=epoch))
    stack.inbox.put(CloudSessionWelcomed(epoch=epoch, session_id=session,
                                         last_acked_sequence=acked, heartbeat_interval_ms=1000))


def sent_items(stack):
    return [item for frame in stack.adapter.frames for item in frame.items]


def ack_all(stack, epoch=1):
    items = sent_items(stack)
    reliable = [i.sequence for i in items if not isinstance(i, frames.LossyBatch)]
    lossy = [i.lossy_sequence for i in items if isinstance(i, frames.LossyBatch)]
    stack.inbox.put(CloudBatchesAcked(epoch=epoch, through_sequence=max(reliable, default=0),
                                      lossy_through_sequence=max(lossy, default=0)))


def test_last_error_classes():
    assert last_error_code("") == 0
    assert last_error_code("TLS: the cloud rejected client certificate x") == 1
    assert last_error_code("token: HTTP 503") == 2
    assert last_error_code("stream UNAVAILABLE: gone") == 5
    assert last_error_code("something new") == 9


def test_record_kinds_are_mapped_and_unknown_kinds_rejected(system, tmp_path):
    kinds = ["incident", "logs", "inventory", "flows", "l7", "operator_stats", "pod_index",
             "inventory_commit"]
    topo = us.uplink_topology(uplink_settings(tmp_path), [
        ("producer/a", {"kinds": kinds, "total": 6, "batch_records": 3}, Overflow.BLOCK)],
        uplink_class=FAKE_CLASS)
    system.start(topo, base="simpleSystemBase")
    status = pump(system, lambda: (lambda s: s if us.counters(s, us.UPLINK_ID).get(
        "inventory_commits_total") == 6 and all(
        link.in_flight == 0 for link in us.links_of(s)) else None)(system.status(1.0)))
    assert status is not None
    stats = STACKS[us.UPLINK_ID].core.counters()
    for cloud_kind in ("events", "logs", "inventory"):
        assert stats[f"lossless_accepted_records.{cloud_kind}"] == 6
    for cloud_kind in ("flows", "l7", "operator_stats"):
        assert stats[f"lossy_accepted_records.{cloud_kind}"] == 6
    uplink = us.counters(status, us.UPLINK_ID)
    assert uplink["rejected_batches_total"] == 2        # the two pod_index batches
    assert uplink["rejected_records_total"] == 6
    assert uplink["lossless_accepted_records_total"] == 18
    assert uplink["connected"] == 0
    for link in us.links_of(status):
        assert link.received == link.forwarded + link.dropped + link.in_flight


def test_full_spool_holds_credit_until_acks_free_it(system, tmp_path):
    settings = uplink_settings(tmp_path, spool_max_bytes=16384, spool_segment_bytes=4096)
    topo = us.uplink_topology(settings, [
        ("producer/a", {"kinds": ["incident"], "total": 120, "batch_records": 2, "pad": 400},
         Overflow.BLOCK)], uplink_class=FAKE_CLASS, owner=False, watcher=False)
    system.start(topo, base="simpleSystemBase")

    def stuck():
        status = system.status(1.0)
        uplink = us.counters(status, us.UPLINK_ID)
        return status if uplink.get("held_batches", 0) > 0 else None

    status = pump(system, stuck)
    assert status is not None
    system.run_for(0.3)
    status = system.status(1.0)
    (link,) = us.links_of(status)
    assert link.in_flight > 0
    assert link.batches_in_flight == link.window
    produced = us.counters(status, "producer/a")["produced_records"]
    assert produced < 120                                             # the source paused
    assert us.counters(status, us.UPLINK_ID)["backpressure_holds_total"] >= 1
    stack = STACKS[us.UPLINK_ID]
    connect(stack)

    def delivered():
        ack_all(stack)
        stats = stack.core.counters()
        return stats["lossless_accepted_records"] == 120 and \
            stats["acked_sequence"] == stats["next_sequence"] - 1

    assert pump(system, delivered, seconds=8.0)
    ids = [record["id"] for item in sent_items(stack) if isinstance(item, frames.ReliableBatch)
           for record in msgpack.unpackb(item.payload)]
    assert sorted(set(ids)) == list(range(120))
    status = system.status(1.0)
    (link,) = us.links_of(status)
    assert link.in_flight == 0
    assert link.forwarded == 120


def test_commands_go_to_owners_and_unlinked_owners_get_an_error(system, tmp_path):
    topo = us.uplink_topology(uplink_settings(tmp_path), [], uplink_class=FAKE_CLASS)
    system.start(topo, base="simpleSystemBase")
    stack = pump(system, lambda: STACKS.get(us.UPLINK_ID))
    connect(stack)
    args = msgpack.packb({"command": "echo hi"})
    deadline_ms = int((time.time() + 30) * 1000)
    stack.inbox.put(CloudCommandReceived(epoch=1, request_id="r-shell",
                                         kind=CloudCommandKind.SHELL,
                                         deadline_unix_ms=deadline_ms, arguments=args))
    system.run_for(0.4)        # past link_grace: metrics_ring/main is not in this topology
    stack.inbox.put(CloudCommandReceived(epoch=1, request_id="r-metrics",
                                         kind=CloudCommandKind.METRICS_QUERY,
                                         deadline_unix_ms=deadline_ms, arguments=b""))

    def results():
        found = {i.request_id: i for i in sent_items(stack)
                 if isinstance(i, frames.ReliableCommandResult)}
        return found if len(found) == 2 else None

    found = pump(system, results)
    assert found is not None
    ok = found["r-shell"]
    assert ok.status is CloudCommandStatus.OK
    assert b'"echo hi"' in ok.payload
    assert b'"shell"' in ok.payload
    refused = found["r-metrics"]
    assert refused.status is CloudCommandStatus.UNSUPPORTED
    assert "metrics_ring/main" in refused.error
    status = system.status(1.0)
    uplink = us.counters(status, us.UPLINK_ID)
    assert uplink["commands_routed_total"] == 1
    assert uplink["commands_answered_total"] == 2
    assert uplink["commands_answered_locally_total"] == 1
    assert us.counters(status, us.OWNER_ID)["answered"] == 1


def test_every_welcome_sends_a_session_record_to_the_watcher(system, tmp_path):
    topo = us.uplink_topology(uplink_settings(tmp_path), [], uplink_class=FAKE_CLASS,
                              owner=False)
    system.start(topo, base="simpleSystemBase")
    stack = pump(system, lambda: STACKS.get(us.UPLINK_ID))
    connect(stack, epoch=1, session="s1")
    assert pump(system, lambda: us.counters(system.status(1.0), us.WATCHER_ID).get(
        "sessions_received") == 1)
    connect(stack, epoch=2, session="s2")
    watcher = pump(system, lambda: (lambda c: c if c.get("sessions_received") == 2 else None)(
        us.counters(system.status(1.0), us.WATCHER_ID)))
    assert watcher is not None
    assert watcher["resumes"] == 0
    uplink = us.counters(system.status(1.0), us.UPLINK_ID)
    assert uplink["connected"] == 1
    assert uplink["sessions_announced_total"] == 2
    assert uplink["sessions_total"] == 2



def test_drain_fsyncs_and_refuses_new_commands(system, tmp_path):
    topo = us.uplink_topology(uplink_settings(tmp_path, fsync_interval=30), [
        ("producer/a", {"kinds": ["incident"], "total": 10, "batch_records": 5},
         Overflow.BLOCK)], uplink_class=FAKE_CLASS, watcher=False)
    system.start(topo, base="simpleSystemBase")
    stack = pump(system, lambda: STACKS.get(us.UPLINK_ID))
    assert pump(system, lambda: stack.core.counters()["lossless_accepted_records"] == 10)
    fsyncs = stack.core.spool.fsyncs
    assert system.drain(3.0)
    assert stack.core.spool.fsyncs > fsyncs              # not waiting for the 30 s interval
    connect(stack)
    stack.inbox.put(CloudCommandReceived(epoch=1, request_id="late", kind=CloudCommandKind.SHELL,
                                         deadline_unix_ms=int((time.time() + 30) * 1000),
                                         arguments=b""))
    found = pump(system, lambda: [i for i in sent_items(stack)
                                  if isinstance(i, frames.ReliableCommandResult)])
    assert found
    assert found[0].status is CloudCommandStatus.REJECTED
    assert "shutting down" in found[0].error
