"""LinkSender / LinkReceiver: window bound, conservation, loss-free BLOCK, exact drops, epochs."""

import random

import pytest

from actors.runtime.credit import BatchVerdict, LinkReceiver, LinkSender
from messages.runtime import LinkBatch, Overflow


def conserved(sender):
    st = sender.status()
    return st.received == st.forwarded + st.dropped + st.in_flight


class Wire:
    """Random interleaving of: produce, deliver a batch, finish a batch, deliver a credit,
    restart the consumer (new epoch). Checks invariants after every single step."""

    def __init__(self, overflow, window, seed):
        self.rng = random.Random(seed)
        self.sender = LinkSender("a->b", "a", "b", window=window, overflow=overflow)
        self.receiver = LinkReceiver()
        self.to_consumer = []     # LinkBatch in transit
        self.to_producer = []     # LinkCredit in transit
        self.accepted = []        # (seq, payload) accepted by the consumer, not yet finished
        self.done = []            # payload ints finished by the consumer
        self.epoch = 1
        self.produced = 0
        self.to_consumer += self.sender.connect(self.epoch)

    def step(self, produce_bias):
        r = self.rng.random()
        if r < produce_bias:
            if self.sender.overflow is Overflow.BLOCK and not self.sender.has_credit():
                return
            self.produced += 1
            payload = self.produced.to_bytes(4, "big")
            self.to_consumer += self.sender.offer("n", 3, payload)
        elif r < produce_bias + 0.25 and self.to_consumer:
            # thespian does not guarantee order: sometimes a later batch overtakes
            overtake = self.rng.random() < 0.2
            batch = self.to_consumer.pop(self.rng.randrange(len(self.to_consumer))
                                         if overtake else 0)
            verdict, credit = self.receiver.on_batch(batch)
            if verdict == BatchVerdict.ACCEPT:
                self.accepted.append(batch)
            if credit:
                self.to_producer.append(credit)
        elif r < produce_bias + 0.5 and self.accepted:
            batch = self.accepted.pop(0)
            self.done.append(int.from_bytes(batch.payload, "big"))
            credit = self.receiver.finished(batch.link_id, batch.epoch, batch.seq)
            if credit:
                self.to_producer.append(credit)
        elif r < produce_bias + 0.7 and self.to_producer:
            credit = self.to_producer.pop(0)
            self.to_consumer += self.sender.on_credit(credit.epoch, credit.through_seq)
        elif r < produce_bias + 0.72:
            self.to_producer += self.receiver.flush()
        elif r < produce_bias + 0.73:
            # consumer restart: in-transit and unfinished work is lost with the old process
            self.receiver = LinkReceiver()
            self.to_consumer.clear()
            self.to_producer.clear()
            self.accepted.clear()
            self.epoch += 1
            self.to_consumer += self.sender.connect(self.epoch)
        assert conserved(self.sender)
        assert self.sender.batches_unacked <= self.sender.window

    def settle(self):
        for batch in self.accepted:
            self.done.append(int.from_bytes(batch.payload, "big"))
            credit = self.receiver.finished(batch.link_id, batch.epoch, batch.seq)
            if credit:
                self.to_producer.append(credit)
        self.accepted.clear()
        for _ in range(100_000):
            if self.sender.flushed():
                return
            if self.to_consumer:
                batch = self.to_consumer.pop(0)
                verdict, credit = self.receiver.on_batch(batch)
                if verdict == BatchVerdict.ACCEPT:
                    self.done.append(int.from_bytes(batch.payload, "big"))
                    credit = self.receiver.finished(batch.link_id, batch.epoch, batch.seq)
                if credit:
                    self.to_producer.append(credit)
            else:
                self.to_producer += self.receiver.flush()
            while self.to_producer:
                credit = self.to_producer.pop(0)
                self.to_consumer += self.sender.on_credit(credit.epoch, credit.through_seq)
            assert conserved(self.sender)
        raise AssertionError("link did not settle")


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("window", [1, 4, 8, 32])
def test_block_link_loses_nothing_and_respects_the_window(seed, window):
    wire = Wire(Overflow.BLOCK, window, seed)
    for _ in range(1500):
        wire.step(produce_bias=0.45)
    wire.settle()
    st = wire.sender.status()
    assert st.dropped == 0
    assert st.forwarded == st.received == wire.produced * 3
    # at-least-once across consumer restarts: every produced batch was finished at least once
    assert set(wire.done) == set(range(1, wire.produced + 1))


@pytest.mark.parametrize("seed", range(12))
def test_drop_oldest_counts_every_drop_exactly(seed):
    wire = Wire(Overflow.DROP_OLDEST, 4, seed)
    for _ in range(1500):
        wire.step(produce_bias=0.6)          # overload: production outpaces delivery
    wire.settle()
    st = wire.sender.status()
    assert st.dropped > 0
    assert st.dropped == wire.sender.dropped_batches * 3
    assert st.received == st.forwarded + st.dropped
    assert len(set(wire.done)) * 3 + st.dropped == wire.produced * 3


def test_no_credit_before_connect_and_pending_is_sent_on_connect():
    sender = LinkSender("l", "p", "c", window=2)
    assert not sender.has_credit()
    assert sender.offer("k", 5, b"1") == []
    assert sender.offer("k", 5, b"2") == []
    assert sender.offer("k", 5, b"3") == []             # BLOCK never drops
    sent = sender.connect(1)
    assert [b.seq for b in sent] == [1, 2]
    assert all(b.epoch == 1 and b.window == 2 for b in sent)
    assert sender.status().in_flight == 15


def test_stale_credit_and_stale_connect_are_ignored():
    sender = LinkSender("l", "p", "c", window=2)
    sender.connect(3)
    sender.offer("k", 1, b"a")
    assert sender.on_credit(2, 1) == []                  # old epoch
    assert sender.on_credit(3, 9) == []                  # never sent
    assert sender.connect(3) == []                       # same epoch again
    assert sender.stale_credits == 3
    assert sender.batches_unacked == 1


def test_unacked_batches_are_resent_under_the_new_epoch():
    sender = LinkSender("l", "p", "c", window=3)
    sender.connect(1)
    for i in range(5):
        sender.offer("k", 1, bytes([i]))
    sender.on_credit(1, 1)
    resent = sender.connect(2)
    assert [(b.seq, b.epoch) for b in resent] == [(2, 2), (3, 2), (4, 2)]
    assert sender.batches_unacked == 3
    assert sender.batches_pending == 1


def test_smaller_window_on_reconnect_moves_excess_back_to_pending():
    sender = LinkSender("l", "p", "c", window=4)
    sender.connect(1)
    for i in range(4):
        sender.offer("k", 2, bytes([i]))
    resent = sender.connect(2, window=2)
    assert [b.seq for b in resent] == [1, 2]
    assert sender.batches_unacked == 2
    assert sender.batches_pending == 2
    assert conserved(sender)


def test_receiver_batches_credits_to_half_a_window():
    receiver = LinkReceiver()
    credits = []
    for seq in range(1, 33):
        batch = LinkBatch(link_id="l", epoch=1, seq=seq, record_kind="k", count=1,
                          payload=b"", window=16)
        assert receiver.on_batch(batch) == (BatchVerdict.ACCEPT, None)
        credit = receiver.finished("l", 1, seq)
        if credit:
            credits.append(credit.through_seq)
    assert credits == [8, 16, 24, 32]
    assert receiver.flush() == []


def test_receiver_duplicates_stale_epochs_and_out_of_order_finish():
    receiver = LinkReceiver()

    def batch(epoch, seq):
        return LinkBatch(link_id="l", epoch=epoch, seq=seq, record_kind="k", count=1,
                         payload=b"", window=2)

    assert receiver.on_batch(batch(2, 1))[0] == BatchVerdict.ACCEPT
    assert receiver.on_batch(batch(2, 2))[0] == BatchVerdict.ACCEPT
    assert receiver.on_batch(batch(1, 3))[0] == BatchVerdict.STALE
    assert receiver.finished("l", 2, 2) is None              # 1 is not finished yet
    credit = receiver.finished("l", 2, 1)
    assert credit is not None
    assert credit.through_seq == 2
    verdict, again = receiver.on_batch(batch(2, 2))          # duplicate of a finished batch
    assert verdict == BatchVerdict.DUPLICATE
    assert again is not None
    assert again.through_seq == 2
    assert receiver.finished("l", 2, 7) is None
    assert (receiver.duplicates, receiver.stale, receiver.unknown_finishes) == (1, 1, 1)


def test_overtaken_batch_is_accepted_and_never_credited_unseen():
    receiver = LinkReceiver()

    def batch(seq, acked=0):
        return LinkBatch(link_id="l", epoch=1, seq=seq, record_kind="k", count=1,
                         payload=b"", window=2, acked_through=acked)

    assert receiver.on_batch(batch(3, acked=1))[0] == BatchVerdict.ACCEPT   # first arrival
    assert receiver.finished("l", 1, 3) is None          # 2 not seen: no credit past 1
    assert receiver.flush() == []
    assert receiver.on_batch(batch(2, acked=1))[0] == BatchVerdict.ACCEPT   # overtaken one
    credit = receiver.finished("l", 1, 2)
    assert credit is not None
    assert credit.through_seq == 3
    assert receiver.on_batch(batch(1))[0] == BatchVerdict.DUPLICATE


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window"):
        LinkSender("l", "p", "c", window=0)


def test_batches_overtaken_in_transit_are_delivered_in_sequence_order():
    receiver = LinkReceiver()

    def batch(seq, acked=0):
        return LinkBatch(link_id="a->b", epoch=1, seq=seq, record_kind="x", count=1,
                         payload=b"", window=8, acked_through=acked)

    verdict, _, ready = receiver.admit(batch(1))
    assert (verdict, [b.seq for b in ready]) == (BatchVerdict.ACCEPT, [1])
    assert receiver.admit(batch(4))[0] == BatchVerdict.HELD
    assert receiver.admit(batch(3))[0] == BatchVerdict.HELD
    assert receiver.admit(batch(4))[0] == BatchVerdict.DUPLICATE
    verdict, _, ready = receiver.admit(batch(2))
    assert (verdict, [b.seq for b in ready]) == (BatchVerdict.ACCEPT, [2, 3, 4])
    assert receiver.held == 2


def test_a_new_epoch_starts_delivery_after_the_producers_acked_position():
    receiver = LinkReceiver()
    first = LinkBatch(link_id="a->b", epoch=2, seq=7, record_kind="x", count=1, payload=b"",
                      window=8, acked_through=5)
    assert receiver.admit(first)[0] == BatchVerdict.HELD          # #6 is still missing
    sixth = LinkBatch(link_id="a->b", epoch=2, seq=6, record_kind="x", count=1, payload=b"",
                      window=8, acked_through=5)
    assert [b.seq for b in receiver.admit(sixth)[2]] == [6, 7]
