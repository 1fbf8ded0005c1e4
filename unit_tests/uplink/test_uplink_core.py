"""UplinkCore: accept/backpressure, sessions and resend, coalescing, commands and deadlines."""

import msgpack
import pytest

from actors.uplink import frames
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool
from actors.uplink.uplink_core import AcceptOutcome, UplinkCore
from messages.uplink import (
    CloudBatchesAcked,
    CloudCommandAnswered,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudSessionWelcomed,
    UplinkRecordKind,
    UplinkStreamClosed,
    UplinkStreamOpened,
)

EVENTS, FLOWS = UplinkRecordKind.EVENTS, UplinkRecordKind.FLOWS


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def make_core(tmp_path):
    made = []

    def make(spool_max=1 << 20, **overrides):
        settings = UplinkSettings(cluster_id="c1", spool_dir=str(tmp_path / "spool"),
                                  **overrides)
        clock, wall = Clock(), Clock(1_700_000_000.0)
        spool = DiskSpool(settings.spool_dir, max_bytes=spool_max, segment_bytes=4096,
                          fsync_interval_s=1.0, clock=clock)
        core = UplinkCore(settings, spool=spool, clock=clock, wall_clock=wall,
                          instance_id="inst-1")
        made.append(core)
        return core, clock, wall

    yield make
    for core in made:
        core.close()


def _connect(core, epoch=1, acked=0):
    core.on_cloud_message(UplinkStreamOpened(epoch=epoch))
    core.on_cloud_message(CloudSessionWelcomed(epoch=epoch, session_id=f"s{epoch}",
                                               last_acked_sequence=acked,
                                               heartbeat_interval_ms=1000))


def _drain(core):
    sent: list[frames.OutgoingItem] = []
    for _ in range(1000):
        frame = core.next_to_send()
        if frame is None:
            return sent
        sent.extend(frame.items)
    raise AssertionError("next_to_send never ran dry")


def test_nothing_is_sent_before_welcome_and_everything_after(make_core):
    core, _, _ = make_core()
    for i in range(5):
        assert core.accept(EVENTS, 1, bytes([i]) * 10, True) is AcceptOutcome.ACCEPTED
    assert core.accept(FLOWS, 7, b"f" * 10, False) is AcceptOutcome.ACCEPTED
    assert core.next_to_send() is None
    core.on_cloud_message(UplinkStreamOpened(epoch=1))
    assert core.next_to_send() is None
    _connect(core)
    items = _drain(core)
    reliable = [i.sequence for i in items if isinstance(i, frames.ReliableBatch)]
    lossy = [i for i in items if isinstance(i, frames.LossyBatch)]
    assert reliable == [1, 2, 3, 4, 5]
    assert [b.count for b in lossy] == [7]


def test_small_batches_are_coalesced_into_big_frames(make_core):
    core, clock, _ = make_core()
    _connect(core)
    core.accept(EVENTS, 1, b"a" * 100, True)
    first = core.next_to_send()          # idle link: goes at once
    assert first is not None
    assert len(first.items) == 1
    for _ in range(400):
        core.accept(EVENTS, 1, b"a" * 100, True)
    frame = core.next_to_send()
    assert frame is not None
    assert frame.payload_bytes >= 16 << 10
    # a small remainder waits for linger while something is in flight
    core.accept(EVENTS, 1, b"a" * 100, True)
    _drain(core)
    core.accept(EVENTS, 1, b"b" * 100, True)
    assert core.next_to_send() is None
    clock.now += 0.05
    assert core.next_to_send() is not None


def test_reconnect_resends_everything_after_the_clouds_acked_sequence(make_core):
    core, _, _ = make_core()
    for i in range(10):
        core.accept(EVENTS, 1, bytes([i]), True)
    _connect(core, epoch=1)
    assert len(_drain(core)) == 10
    core.on_cloud_message(CloudBatchesAcked(epoch=1, through_sequence=4,
                                            lossy_through_sequence=0))
    core.on_cloud_message(UplinkStreamClosed(epoch=1, code="UNAVAILABLE", reason="gone"))
    assert core.next_to_send() is None
    _connect(core, epoch=2, acked=6)
    resent = [i.sequence for i in _drain(core)]
    assert resent == [7, 8, 9, 10]
    assert core.spool.acked_sequence == 6


def test_stale_epoch_messages_are_ignored_and_counted(make_core):
    core, _, _ = make_core()
    _connect(core, epoch=3)
    core.on_cloud_message(CloudBatchesAcked(epoch=2, through_sequence=99,
                                            lossy_through_sequence=0))
    assert core.counters()["stale_stream_messages"] == 1
    assert core.sequencer.acked_sequence == 0


def test_full_spool_is_backpressure_not_loss(make_core):
    core, _, _ = make_core(spool_max=4096 * 4)
    outcomes = [core.accept(EVENTS, 1, b"z" * 1000, True) for _ in range(40)]
    accepted = outcomes.count(AcceptOutcome.ACCEPTED)
    assert AcceptOutcome.BACKPRESSURE in outcomes
    assert outcomes[accepted:] == [AcceptOutcome.BACKPRESSURE] * (40 - accepted)
    assert core.counters()["backpressure_refusals"] == 40 - accepted
    _connect(core)
    items = _drain(core)
    assert [i.sequence for i in items] == list(range(1, accepted + 1))
    core.on_cloud_message(CloudBatchesAcked(epoch=1, through_sequence=accepted,
                                            lossy_through_sequence=0))
    assert core.accept(EVENTS, 1, b"z" * 1000, True) is AcceptOutcome.ACCEPTED


def test_oversized_lossless_batch_is_rejected_with_a_counter(make_core):
    core, _, _ = make_core(spool_max=8192)
    assert core.accept(EVENTS, 1, b"z" * 10_000, True) is AcceptOutcome.REJECTED
    assert core.counters()["rejected_batches"] == 1


def _command(request_id, kind=CloudCommandKind.SHELL, deadline_ms=0, epoch=1):
    args = msgpack.packb({"command": "kubectl get pods"})
    return CloudCommandReceived(epoch=epoch, request_id=request_id, kind=kind,
                                deadline_unix_ms=deadline_ms, arguments=args)


def test_commands_are_routed_by_kind_and_results_correlated(make_core):
    core, _, _ = make_core()
    _connect(core)
    routed = core.on_cloud_message(_command("r1"))
    assert [(r.owner_id, r.command.request_id) for r in routed] == [("commands", "r1")]
    metrics = core.on_cloud_message(_command("r2", CloudCommandKind.METRICS_QUERY))
    assert metrics[0].owner_id == "metrics_ring"
    assert core.on_cloud_message(_command("r1")) == []          # retry: not run twice
    assert core.counters()["commands_duplicate"] == 1
    answer = CloudCommandAnswered(request_id="r1", status=CloudCommandStatus.OK, error="",
                                  payload=b"out", truncated=False)
    assert core.complete_command(answer) is AcceptOutcome.ACCEPTED
    assert core.complete_command(answer) is AcceptOutcome.REJECTED  # late/duplicate result
    results = [i for i in _drain(core) if isinstance(i, frames.ReliableCommandResult)]
    assert [(r.request_id, r.status, r.payload) for r in results] == [
        ("r1", CloudCommandStatus.OK, b"out")]


def test_a_command_past_its_deadline_is_answered_never_dropped(make_core):
    core, _, wall = make_core()
    _connect(core)
    deadline_ms = int((wall.now + 5) * 1000)
    core.on_cloud_message(_command("slow", deadline_ms=deadline_ms))
    assert core.tick() == []
    wall.now += 6
    assert core.tick() == ["slow"]
    late = CloudCommandAnswered(request_id="slow", status=CloudCommandStatus.OK, error="",
                                payload=b"", truncated=False)
    assert core.complete_command(late) is AcceptOutcome.REJECTED
    results = [i for i in _drain(core) if isinstance(i, frames.ReliableCommandResult)]
    assert [(r.request_id, r.status) for r in results] == [
        ("slow", CloudCommandStatus.DEADLINE_EXCEEDED)]


def test_unsupported_and_already_expired_commands_are_answered(make_core):
    core, _, wall = make_core(command_owners=(("shell", "commands"),))
    _connect(core)
    assert core.on_cloud_message(_command("k", CloudCommandKind.LOG_TAIL)) == []
    past = int((wall.now - 1) * 1000)
    assert core.on_cloud_message(_command("old", deadline_ms=past)) == []
    results = {i.request_id: i.status for i in _drain(core)
               if isinstance(i, frames.ReliableCommandResult)}
    assert results == {"k": CloudCommandStatus.UNSUPPORTED,
                       "old": CloudCommandStatus.DEADLINE_EXCEEDED}


def test_a_result_too_big_for_the_spool_is_still_answered(make_core):
    core, _, _ = make_core(spool_max=8192)
    _connect(core)
    core.on_cloud_message(_command("big"))
    huge = CloudCommandAnswered(request_id="big", status=CloudCommandStatus.OK, error="",
                                payload=b"o" * 20_000, truncated=False)
    assert core.complete_command(huge) is AcceptOutcome.ACCEPTED
    results = [i for i in _drain(core) if isinstance(i, frames.ReliableCommandResult)]
    assert [(r.request_id, r.status, r.truncated) for r in results] == [
        ("big", CloudCommandStatus.FAILED, True)]


def test_inventory_commit_and_counters(make_core):
    core, clock, _ = make_core()
    core.accept(EVENTS, 3, b"e", True)
    core.commit_inventory("snap-1", {"pods": 3})
    clock.now += 7
    counters = core.counters()
    assert counters["oldest_unacked_age_s"] == pytest.approx(7)
    assert counters["spool_unacked_items"] == 2
    _connect(core)
    items = _drain(core)
    assert isinstance(items[-1], frames.ReliableInventoryCommit)
    assert items[-1].counts == (("pods", 3),)
    core.on_cloud_message(CloudBatchesAcked(epoch=1, through_sequence=2,
                                            lossy_through_sequence=0))
    assert core.counters()["oldest_unacked_age_s"] == 0


def test_restart_continues_from_the_spool(make_core, tmp_path):
    core, _, _ = make_core()
    for i in range(3):
        core.accept(EVENTS, 1, bytes([i]), True)
    core.close()
    again, _, _ = make_core()
    hello = again.hello()
    assert hello.next_sequence == 4
    assert hello.resume_acked_sequence == 0
    _connect(again)
    assert [i.sequence for i in _drain(again)] == [1, 2, 3]
