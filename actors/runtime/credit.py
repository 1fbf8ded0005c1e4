"""Credit-based flow control for one producer → consumer link (both ends), no thespian.

``LinkSender`` (producer side) keeps at most ``window`` batches unacknowledged. Batches offered
beyond that wait in a pending queue: on a BLOCK link the queue is never trimmed (the actor
checks ``has_credit()`` and stops pulling from its source, so it stays short), on a DROP_OLDEST
link it is bounded and the oldest batches are dropped with their records counted. Sent batches
stay in ``unacked`` until the consumer credits them; on ``connect`` (a new consumer incarnation,
a new epoch) they are resent, so a consumer restart loses nothing on a lossless link. Credits
carrying another epoch are stale and ignored. The accounting holds at every instant, in records:
received = forwarded + dropped + in_flight, in_flight = pending + unacked.

``LinkReceiver`` (consumer side) detects duplicate and stale batches per link and epoch, tracks
which batches are finished (in order), and returns cumulative ``LinkCredit`` messages batched to
about half a window so a large window does not cost one credit message per batch.

Bad input (unknown links, stale epochs, credit for sequences never sent) is counted, never raised.
"""

from __future__ import annotations

import collections
import dataclasses

from messages.runtime import LinkBatch, LinkCredit, LinkStatus, Overflow

__all__ = ["BatchVerdict", "LinkReceiver", "LinkSender"]


class LinkSender:
    """Producer end of one link; returns the batches the actor must send now."""

    def __init__(self, link_id: str, producer_id: str, consumer_id: str, *,
                 window: int = 8, overflow: Overflow = Overflow.BLOCK,
                 pending_limit: int | None = None) -> None:
        if window < 1:
            raise ValueError(f"link {link_id}: window must be >= 1, got {window}")
        self.link_id = link_id
        self.producer_id = producer_id
        self.consumer_id = consumer_id
        self.window = window
        self.overflow = overflow
        self.pending_limit = pending_limit if pending_limit is not None else window
        self.epoch: int | None = None          # None until the broker connected a consumer
        self._next_seq = 1
        self.acked_through = 0                 # highest sequence number credited so far
        self._pending: collections.deque[LinkBatch] = collections.deque()
        self._unacked: collections.OrderedDict[int, LinkBatch] = collections.OrderedDict()
        self.received = 0
        self.forwarded = 0
        self.dropped = 0
        self.dropped_batches = 0
        self.stale_credits = 0
        self._pending_records = 0
        self._unacked_records = 0

    # ---- producer API ----------------------------------------------------------------------

    def has_credit(self) -> bool:
        """True if a new batch would be sent at once (nothing waits, window not full)."""
        return self.epoch is not None and not self._pending and \
            len(self._unacked) < self.window

    def offer(self, record_kind: str, count: int, payload: bytes) -> list[LinkBatch]:
        """Queue one batch of ``count`` records; returns what may be sent now."""
        self.received += count
        self._pending.append(LinkBatch(link_id=self.link_id, epoch=self.epoch or 0, seq=0,
                                       record_kind=record_kind, count=count, payload=payload,
                                       window=self.window))
        self._pending_records += count
        if self.overflow is Overflow.DROP_OLDEST:
            while len(self._pending) > self.pending_limit:
                oldest = self._pending.popleft()
                self._pending_records -= oldest.count
                self.dropped += oldest.count
                self.dropped_batches += 1
        return self._release()

    def on_credit(self, epoch: int, through_seq: int) -> list[LinkBatch]:
        """Cumulative credit from the consumer; returns the batches now sendable."""
        if epoch != self.epoch or through_seq >= self._next_seq:
            self.stale_credits += 1
            return []
        while self._unacked and next(iter(self._unacked)) <= through_seq:
            _, batch = self._unacked.popitem(last=False)
            self._unacked_records -= batch.count
            self.forwarded += batch.count
        self.acked_through = max(self.acked_through, through_seq)
        return self._release()

    def connect(self, epoch: int, window: int | None = None) -> list[LinkBatch]:
        """A (new) consumer under ``epoch``: resend everything unacknowledged, then pending."""
        if self.epoch is not None and epoch <= self.epoch:
            self.stale_credits += 1
            return []
        self.epoch = epoch
        if window is not None and window >= 1:
            self.window = window
        resend = list(self._unacked.values())
        while len(resend) > self.window:         # a smaller new window: the rest waits
            extra = resend.pop()
            del self._unacked[extra.seq]
            self._unacked_records -= extra.count
            self._pending.appendleft(dataclasses.replace(extra, seq=0))
            self._pending_records += extra.count
        out = []
        for seq, batch in list(self._unacked.items()):
            fresh = dataclasses.replace(batch, epoch=epoch, window=self.window,
                                        acked_through=self.acked_through)
            self._unacked[seq] = fresh
            out.append(fresh)
        return out + self._release()

    def flushed(self) -> bool:
        """Nothing pending and nothing unacknowledged."""
        return not self._pending and not self._unacked

    def status(self) -> LinkStatus:
        return LinkStatus(
            link_id=self.link_id, producer_id=self.producer_id, consumer_id=self.consumer_id,
            overflow=self.overflow, window=self.window, batches_in_flight=len(self._unacked),
            received=self.received, forwarded=self.forwarded, dropped=self.dropped,
            in_flight=self._pending_records + self._unacked_records)

    @property
    def batches_unacked(self) -> int:
        return len(self._unacked)

    @property
    def batches_pending(self) -> int:
        return len(self._pending)

    # ---- internals -------------------------------------------------------------------------

    def _release(self) -> list[LinkBatch]:
        out: list[LinkBatch] = []
        if self.epoch is None:
            return out
        while self._pending and len(self._unacked) < self.window:
            waiting = self._pending.popleft()
            self._pending_records -= waiting.count
            batch = dataclasses.replace(waiting, epoch=self.epoch, seq=self._next_seq,
                                        window=self.window, acked_through=self.acked_through)
            self._next_seq += 1
            self._unacked[batch.seq] = batch
            self._unacked_records += batch.count
            out.append(batch)
        return out


class BatchVerdict:
    """What the consumer should do with an incoming batch."""

    ACCEPT = "accept"        # new: process it, then call ``finished``
    DUPLICATE = "duplicate"  # seen already in this epoch: drop it (credit re-sent if finished)
    STALE = "stale"          # an older epoch: drop it; the producer resends under the new one
    HELD = "held"            # arrived ahead of a gap: delivered once the missing ones arrive


@dataclasses.dataclass(slots=True)
class _InboundLink:
    epoch: int
    window: int
    finished_through: int                   # every seq <= this was received and finished
    credited_through: int
    received: set[int] = dataclasses.field(default_factory=set)   # accepted, > finished_through
    finished: set[int] = dataclasses.field(default_factory=set)   # finished, > finished_through
    delivered_through: int = 0                                    # handed to the actor in order
    held: dict[int, LinkBatch] = dataclasses.field(default_factory=dict)  # ahead of a gap


class LinkReceiver:
    """Consumer end of every inbound link of one actor (keyed by link id).

    Batches may arrive out of order (thespian does not guarantee order): a batch is new if its
    sequence number is above ``finished_through`` and not seen yet; credit only ever covers a
    gap-free prefix, so a batch overtaken in transit is never acknowledged unseen.
    """

    def __init__(self) -> None:
        self._links: dict[str, _InboundLink] = {}
        self.duplicates = 0
        self.stale = 0
        self.held = 0
        self.unknown_finishes = 0

    def on_batch(self, batch: LinkBatch) -> tuple[str, LinkCredit | None]:
        """Classify ``batch``; for a duplicate that was finished, the credit to re-send."""
        link = self._links.get(batch.link_id)
        if link is None or batch.epoch > link.epoch:
            link = _InboundLink(epoch=batch.epoch, window=max(1, batch.window),
                                finished_through=batch.acked_through,
                                credited_through=batch.acked_through,
                                delivered_through=batch.acked_through)
            self._links[batch.link_id] = link
        if batch.epoch < link.epoch:
            self.stale += 1
            return BatchVerdict.STALE, None
        if batch.seq <= link.finished_through or batch.seq in link.received:
            self.duplicates += 1
            if batch.seq <= link.finished_through:
                return BatchVerdict.DUPLICATE, self._credit(batch.link_id, link)
            return BatchVerdict.DUPLICATE, None
        link.window = max(1, batch.window)
        link.received.add(batch.seq)
        return BatchVerdict.ACCEPT, None

    def admit(self, batch: LinkBatch) -> tuple[str, LinkCredit | None, list[LinkBatch]]:
        """``on_batch`` plus in-order delivery: the batches to hand to the actor now, in
        sequence order. Thespian may reorder messages on TCP (observed after a producer
        restart: #2 after #9); a batch ahead of a gap is held (at most a window's worth) until
        the gap fills, so consumers see every link's batches in the order they were sent."""
        verdict, credit = self.on_batch(batch)
        if verdict != BatchVerdict.ACCEPT:
            return verdict, credit, []
        link = self._links[batch.link_id]
        if batch.seq != link.delivered_through + 1:
            link.held[batch.seq] = batch
            self.held += 1
            return BatchVerdict.HELD, None, []
        ready = [batch]
        link.delivered_through = batch.seq
        while (after := link.held.pop(link.delivered_through + 1, None)) is not None:
            ready.append(after)
            link.delivered_through = after.seq
        return BatchVerdict.ACCEPT, None, ready

    def finished(self, link_id: str, epoch: int, seq: int) -> LinkCredit | None:
        """Mark a batch finished; returns a credit once about half a window is due."""
        link = self._links.get(link_id)
        if link is None or link.epoch != epoch or seq not in link.received \
                or seq in link.finished:
            self.unknown_finishes += 1
            return None
        link.finished.add(seq)
        while link.finished_through + 1 in link.finished:
            link.finished_through += 1
            link.finished.discard(link.finished_through)
            link.received.discard(link.finished_through)
        due = link.finished_through - link.credited_through
        if due >= max(1, link.window // 2):
            return self._credit(link_id, link)
        return None

    def flush(self) -> list[LinkCredit]:
        """Credits for every link with finished but uncredited batches (timer / idle)."""
        return [self._credit(link_id, link) for link_id, link in self._links.items()
                if link.finished_through > link.credited_through]

    def owed(self) -> bool:
        """True if ``flush`` would return something."""
        return any(link.finished_through > link.credited_through
                   for link in self._links.values())

    def unfinished(self, link_id: str) -> int:
        link = self._links.get(link_id)
        return len(link.received) - len(link.finished) if link else 0

    @staticmethod
    def _credit(link_id: str, link: _InboundLink) -> LinkCredit:
        link.credited_through = link.finished_through
        return LinkCredit(link_id=link_id, epoch=link.epoch, through_seq=link.finished_through)
