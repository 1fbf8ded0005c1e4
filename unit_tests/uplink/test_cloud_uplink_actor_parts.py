"""The CloudUplink actor's logic parts: record intake and command delivery (no actors)."""

import msgpack
import pytest

from actors.uplink.command_delivery import CommandDelivery, QueuedCommand
from actors.uplink.command_routing import CommandRouted
from actors.uplink.record_intake import RecordIntake
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool
from actors.uplink.uplink_core import AcceptOutcome, UplinkCore
from messages.codec import pack_records
from messages.uplink import (
    CloudCommandIssued,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudSessionWelcomed,
    UplinkStreamOpened,
)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def core(tmp_path):
    settings = UplinkSettings(cluster_id="c", spool_dir=str(tmp_path / "spool"))
    spool = DiskSpool(settings.spool_dir, max_bytes=16384, segment_bytes=4096)
    made = UplinkCore(settings, spool=spool, wall_clock=Clock(1_000.0))
    yield made
    made.close()


def routed(request_id, arguments=b"", deadline_ms=2_000_000, owner="command_runner/main"):
    return CommandRouted(owner, CloudCommandIssued(
        request_id=request_id, kind=CloudCommandKind.SHELL, deadline_unix_ms=deadline_ms,
        arguments=arguments))


def test_intake_backpressure_applies_nothing_and_bad_input_is_counted(core):
    intake = RecordIntake(core)
    big = pack_records([{"id": 1, "pad": "x" * 3000}])
    outcomes = [intake.take("incident", 1, big) for _ in range(8)]
    assert outcomes[0] is AcceptOutcome.ACCEPTED
    assert outcomes[-1] is AcceptOutcome.BACKPRESSURE
    small = pack_records([{"id": 2}])
    for _ in range(200):                         # fill the last bytes too
        if intake.take("incident", 1, small) is AcceptOutcome.BACKPRESSURE:
            break
    assert intake.take("incident", 1, small) is AcceptOutcome.BACKPRESSURE
    commit = pack_records([{"session": "s1", "counts": {"pods": 3}}])
    assert intake.take("inventory_commit", 1, commit) is AcceptOutcome.BACKPRESSURE
    assert intake.counters["inventory_commits_total"] == 0         # not applied: retried later
    assert intake.take("flows", 2, big) is AcceptOutcome.ACCEPTED    # lossy never waits
    assert intake.take("pod_index", 4, big) is AcceptOutcome.REJECTED
    assert intake.counters["rejected_records_total"] == 4


def test_intake_control_records(core, tmp_path):
    intake = RecordIntake(core)
    core.on_cloud_message(UplinkStreamOpened(epoch=1))
    core.on_cloud_message(CloudSessionWelcomed(epoch=1, session_id="s", last_acked_sequence=0,
                                               heartbeat_interval_ms=0))
    core.on_cloud_message(CloudCommandReceived(epoch=1, request_id="r1",
                                               kind=CloudCommandKind.SHELL,
                                               deadline_unix_ms=2_000_000, arguments=b""))
    results = pack_records([{"request_id": "r1", "status": "sideways", "payload": "text"},
                            {"request_id": "r1", "status": "ok"}, {"status": "ok"}, "junk"])
    assert intake.take("command_result", 4, results) is AcceptOutcome.ACCEPTED
    assert intake.counters["command_results_total"] == 2
    assert intake.counters["command_results_late_total"] == 1       # the second r1 answer
    assert intake.counters["bad_control_records_total"] == 2
    assert core.counters()["commands_completed.failed"] == 1        # unknown status → failed
    bad_commit = pack_records([{"session": "", "counts": {}}, {"session": "s2", "counts": []}])
    assert intake.take("inventory_commit", 2, bad_commit) is AcceptOutcome.ACCEPTED
    assert intake.counters["bad_control_records_total"] == 4
    assert intake.take("inventory_commit", 1, b"\xc1") is AcceptOutcome.REJECTED


def test_delivery_builds_records_and_refuses_bad_arguments():
    delivery = CommandDelivery(queue_limit=2, wall_clock=Clock(1_000.0))
    prepared = delivery.prepare(routed("r1", msgpack.packb({"command": "ls"})))
    assert isinstance(prepared, QueuedCommand)
    assert prepared.record == {"request_id": "r1", "deadline_unix": 2000.0, "kind": "shell",
                               "args": {"command": "ls"}}
    for bad in (b"\xc1", msgpack.packb([1, 2])):
        answer = delivery.prepare(routed("r2", bad))
        assert not isinstance(answer, QueuedCommand)
        assert answer.status is CloudCommandStatus.FAILED
    assert delivery.counters["commands_answered_locally_total"] == 2


def test_delivery_queue_is_bounded_and_expires_by_deadline():
    clock = Clock(1_000.0)
    delivery = CommandDelivery(queue_limit=2, wall_clock=clock)
    soon = delivery.prepare(routed("soon", deadline_ms=1_500_000))
    later = delivery.prepare(routed("later"))
    extra = delivery.prepare(routed("extra"))
    assert isinstance(soon, QueuedCommand)
    assert isinstance(later, QueuedCommand)
    assert isinstance(extra, QueuedCommand)
    assert delivery.enqueue("o", soon) is None
    assert delivery.enqueue("o", later) is None
    refusal = delivery.enqueue("o", extra)
    assert refusal is not None
    assert refusal.status is CloudCommandStatus.REJECTED
    clock.now = 1_600.0                          # "soon" expired: the core answers it
    assert delivery.owners_waiting() == ["o"]
    assert delivery.counters["commands_expired_in_queue_total"] == 1
    taken = delivery.take("o")
    assert taken is not None
    assert taken.request_id == "later"
    assert delivery.take("o") is None
    assert delivery.enqueue("gone", extra) is None
    (answer,) = delivery.refuse_all("gone", CloudCommandStatus.UNSUPPORTED, "not linked")
    assert answer.request_id == "extra"
    assert answer.status is CloudCommandStatus.UNSUPPORTED
    assert msgpack.unpackb(answer.payload) == {"error": "not linked"}
    assert delivery.queued() == 0
