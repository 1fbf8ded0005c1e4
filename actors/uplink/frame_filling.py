"""Fills one outgoing frame within the ack window's budget (plain logic, no I/O of its own).

Owns the order of what goes out: lossy batches being resent after a reconnect first, then
reliable items in sequence (from the in-memory send cache when it holds the next sequence,
otherwise read back from the spool, whose cursor is kept in step), then new lossy batches
(numbered and retained until acked). A spool entry that cannot be decoded is replaced by an
empty OPERATOR_STATS batch with the same sequence (so the cloud's cumulative ack can pass it),
counted in ``unreadable`` and logged.
"""

from __future__ import annotations

import logging

from actors.uplink import frames
from actors.uplink.lossy_buffer import LossyBuffer
from actors.uplink.send_cache import SendCache
from actors.uplink.sequencing import Sequencer
from actors.uplink.spool import DiskSpool
from messages.uplink import UplinkRecordKind

__all__ = ["FrameFiller", "payload_len"]

logger = logging.getLogger(__name__)


def payload_len(item: frames.OutgoingItem) -> int:
    return 0 if isinstance(item, frames.ReliableInventoryCommit) else len(item.payload)


class FrameFiller:
    """Takes items for a frame and records them as sent in the sequencer."""

    def __init__(self, sequencer: Sequencer, spool: DiskSpool, cache: SendCache,
                 lossy: LossyBuffer) -> None:
        self.sequencer, self.spool, self._cache, self.lossy = sequencer, spool, cache, lossy
        self.unreadable = 0

    def fill(self, *, max_items: int, max_bytes: int) -> list[frames.OutgoingItem]:
        items: list[frames.OutgoingItem] = []
        used = self._fill_lossy_resend(items, max_items, max_bytes)
        used += self._fill_reliable(items, max_items, max_bytes - used)
        self._fill_lossy_new(items, max_items, max_bytes - used)
        return items

    def _fill_lossy_resend(self, items: list[frames.OutgoingItem], max_items: int,
                           max_bytes: int) -> int:
        used = 0
        while len(items) < max_items and used < max_bytes:
            batch = self.sequencer.take_lossy_resend()
            if batch is None:
                break
            items.append(batch)
            used += len(batch.payload)
            self.sequencer.record_sent(is_lossy=True, sequence=batch.lossy_sequence,
                                       payload_bytes=len(batch.payload))
        return used

    def _fill_reliable(self, items: list[frames.OutgoingItem], max_items: int,
                       max_bytes: int) -> int:
        if len(items) >= max_items or max_bytes <= 0:
            return 0
        next_seq = self.sequencer.sent_sequence + 1
        cached, position, used = self._cache.take(next_seq, max_items=max_items - len(items),
                                                  max_bytes=max_bytes)
        if position is not None:
            self.spool.seek(position)
            items += cached
            self.sequencer.record_sent_run([(item.sequence, payload_len(item))
                                            for item in cached])
            return used
        limit = max_items - len(items)
        first_cached = self._cache.first_sequence
        if first_cached is not None and first_cached > next_seq:
            limit = min(limit, first_cached - next_seq)
        for seq, body in self.spool.read(max_items=limit, max_bytes=max_bytes):
            try:
                item = frames.decode_reliable(seq, body)
            except frames.FrameDecodeError as exc:
                self.unreadable += 1
                logger.error("uplink: %s; sending an empty batch in its place", exc)
                item = frames.ReliableBatch(seq, UplinkRecordKind.OPERATOR_STATS, 0, b"", 0)
            items.append(item)
            size = payload_len(item)
            used += size
            self.sequencer.record_sent(is_lossy=False, sequence=seq, payload_bytes=size)
        return used

    def _fill_lossy_new(self, items: list[frames.OutgoingItem], max_items: int,
                        max_bytes: int) -> None:
        used = 0
        while len(self.lossy) and len(items) < max_items and \
                (used + self.lossy.peek_bytes() <= max_bytes or not items):
            pending = self.lossy.take()
            if pending is None:
                break
            batch = frames.LossyBatch(self.sequencer.take_lossy_sequence(), pending.kind,
                                      pending.count, pending.payload, pending.accepted_unix_ms)
            self.sequencer.retain_lossy(batch)
            self.sequencer.record_sent(is_lossy=True, sequence=batch.lossy_sequence,
                                       payload_bytes=len(batch.payload))
            items.append(batch)
            used += len(batch.payload)
