"""LossyBuffer drop policy and Sequencer window/ack/resend/coalescing logic."""

import pytest

from actors.uplink.frames import LossyBatch
from actors.uplink.lossy_buffer import LossyBatchPending, LossyBuffer
from actors.uplink.sequencing import Sequencer
from messages.uplink import UplinkRecordKind

FLOWS, L7 = UplinkRecordKind.FLOWS, UplinkRecordKind.L7


def _pending(kind, count, size):
    return LossyBatchPending(kind, count, b"x" * size, 0)


def test_lossy_buffer_drops_oldest_first_and_balances():
    buf = LossyBuffer(max_bytes=1000, max_batches=100)
    for i in range(10):
        buf.push(_pending(FLOWS if i % 2 else L7, 3, 300))
    assert buf.buffered_bytes <= 1000
    assert len(buf) == 3
    taken = 0
    while (batch := buf.take()) is not None:
        taken += batch.count
    counters = buf.counters()
    assert counters["lossy_accepted_records"] == 30
    assert counters["lossy_dropped_records"] == 30 - taken
    assert counters["lossy_dropped_batches"] == 7
    assert counters["lossy_dropped_records.l7"] + counters["lossy_dropped_records.flows"] == 21


def test_lossy_buffer_batch_bound_and_oversized_batch():
    buf = LossyBuffer(max_bytes=10_000, max_batches=2)
    for _ in range(5):
        buf.push(_pending(FLOWS, 1, 10))
    assert len(buf) == 2
    assert buf.dropped_records["flows"] == 3
    assert buf.push(_pending(L7, 4, 20_000)) == 4
    assert len(buf) == 2


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_window_budget_and_cumulative_ack():
    seq = Sequencer(window_batches=3, window_bytes=1000, frame_max_bytes=800)
    assert seq.budget().items == 3
    assert seq.budget().payload_bytes == 800
    for n in (1, 2, 3):
        seq.record_sent(is_lossy=False, sequence=seq.assign(), payload_bytes=100 * n)
    assert not seq.budget().open
    assert seq.on_ack(2, 0)
    assert seq.in_flight == 1
    assert seq.in_flight_bytes == 300
    assert not seq.on_ack(1, 0)  # going backwards changes nothing


def test_bogus_ack_is_clamped_and_counted():
    seq = Sequencer(window_batches=8, window_bytes=1000)
    seq.record_sent(is_lossy=False, sequence=seq.assign(), payload_bytes=10)
    seq.on_ack(50, 7)
    assert seq.bogus_acks == 1
    assert seq.acked_sequence == 1
    assert seq.lossy_acked_sequence == 0


def test_welcome_rewinds_reliable_and_queues_unacked_lossy_for_resend():
    seq = Sequencer(window_batches=8, window_bytes=10_000)
    seq.restore(last_stored=10, acked=4)
    assert seq.next_sequence == 11
    for s in range(5, 11):
        seq.record_sent(is_lossy=False, sequence=s, payload_bytes=10)
    for _ in range(2):
        lossy = LossyBatch(seq.take_lossy_sequence(), FLOWS, 1, b"f", 0)
        seq.retain_lossy(lossy)
        seq.record_sent(is_lossy=True, sequence=lossy.lossy_sequence, payload_bytes=1)
    seq.on_ack(6, 1)
    seq.on_welcome(last_acked=6)
    assert seq.sent_sequence == 6
    assert seq.in_flight == 0
    resend = seq.take_lossy_resend()
    assert resend is not None
    assert resend.lossy_sequence == 2
    assert seq.take_lossy_resend() is None
    assert seq.resent_reliable == 4


def test_welcome_ahead_of_our_numbering_jumps_forward():
    seq = Sequencer(window_batches=8, window_bytes=10_000)
    seq.on_welcome(last_acked=41)
    assert seq.assign() == 42


@pytest.mark.parametrize(("pending", "in_flight", "waited", "expected"), [
    (20_000, True, 0.0, True),     # big enough
    (100, False, 0.0, True),       # idle link: send at once
    (100, True, 0.001, False),     # small and busy: wait to coalesce
    (100, True, 0.05, True),       # lingered long enough
])
def test_coalescing_decision(pending, in_flight, waited, expected):
    clock = Clock()
    seq = Sequencer(window_batches=8, window_bytes=1 << 20, frame_target_bytes=16384,
                    linger_s=0.02, clock=clock)
    if in_flight:
        seq.record_sent(is_lossy=False, sequence=seq.assign(), payload_bytes=1)
    clock.now = waited
    assert seq.should_send(pending_bytes=pending, pending_since=0.0) is expected


def test_record_sent_run_is_record_sent_for_each_item():
    one_by_one = Sequencer(window_batches=8, window_bytes=1000)
    as_run = Sequencer(window_batches=8, window_bytes=1000)
    run = [(1, 100), (2, 0), (3, 250)]
    for sequence, size in run:
        one_by_one.record_sent(is_lossy=False, sequence=sequence, payload_bytes=size)
    as_run.record_sent_run(run)
    as_run.record_sent_run([])
    assert as_run.counters() == one_by_one.counters()
    assert as_run.budget() == one_by_one.budget()
    assert as_run.on_ack(2, 0)
    assert one_by_one.on_ack(2, 0)
    assert as_run.counters() == one_by_one.counters()
