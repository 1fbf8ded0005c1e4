"""DiskSpool: framing, rotation, cumulative ack, crash recovery, bounds, fsync policy."""

import os
import struct
import zlib

import pytest

from actors.uplink.spool import DiskSpool, SpoolEntryTooLargeError


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _fill(spool, first, last, size=100):
    for seq in range(first, last + 1):
        assert spool.append(seq, bytes([seq % 256]) * size)


def _read_all(spool):
    out: list[tuple[int, bytes]] = []
    for _ in range(10_000):
        chunk = spool.read(max_items=50, max_bytes=1 << 20)
        if not chunk:
            return out
        out.extend(chunk)
    raise AssertionError("read did not finish")


def test_append_read_rotate_and_ack_deletes_whole_segments(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=1000)
    _fill(spool, 1, 30)
    assert spool.segment_count > 3
    entries = _read_all(spool)
    assert [seq for seq, _ in entries] == list(range(1, 31))
    assert entries[4][1] == bytes([5]) * 100
    segments_before = spool.segment_count
    deleted = spool.ack(15)
    assert deleted >= 1
    assert spool.segment_count == segments_before - deleted
    # a segment holding 15 and 16 stays: whole segments only
    spool.rewind(15)
    assert spool.read(max_items=1, max_bytes=1)[0][0] == 16
    spool.ack(30)
    assert spool.segment_count == 0
    assert spool.size_bytes == 0
    spool.close()


def test_reopen_finds_the_unacked_range_and_keeps_numbering(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=500)
    _fill(spool, 1, 20)
    spool.ack(8)
    spool.close()
    again = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=500)
    assert again.acked_sequence == 8
    assert again.last_sequence == 20
    assert [seq for seq, _ in _read_all(again)] == list(range(9, 21))
    again.ack(20)
    again.close()
    # everything acked and deleted: the ack file still stops the sequence from going back
    third = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=500)
    assert third.last_sequence == 20
    with pytest.raises(ValueError, match="must increase"):
        third.append(5, b"x")
    assert third.append(21, b"x")
    third.close()


@pytest.mark.parametrize("damage", ["truncate", "garble", "garbage_tail"])
def test_a_torn_or_garbled_tail_is_cut_off_and_counted(tmp_path, damage):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    _fill(spool, 1, 10)
    spool.close()
    (segment,) = sorted(tmp_path.glob("seg-*"))
    data = segment.read_bytes()
    if damage == "truncate":
        segment.write_bytes(data[:-37])
    elif damage == "garble":
        segment.write_bytes(data[:-5] + b"\xff\x00\xff\x00\xff")
    else:
        segment.write_bytes(data + b"\x07" * 11)
    again = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    assert again.corrupt_tails == 1
    assert again.corrupt_bytes > 0
    expected = list(range(1, 11)) if damage == "garbage_tail" else list(range(1, 10))
    assert [seq for seq, _ in _read_all(again)] == expected
    # the cut-off point is clean: new entries append and read back
    assert again.append(expected[-1] + 1, b"fresh")
    again.close()
    third = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    assert third.corrupt_tails == 0
    assert _read_all(third)[-1] == (expected[-1] + 1, b"fresh")
    third.close()


def test_full_spool_refuses_instead_of_dropping(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=2000, segment_bytes=500)
    seq = 0
    while spool.has_room(100):
        seq += 1
        assert spool.append(seq, b"a" * 100)
    assert spool.append(seq + 1, b"a" * 100) is False
    assert spool.last_sequence == seq
    with pytest.raises(SpoolEntryTooLargeError):
        spool.append(seq + 1, b"a" * 5000)
    spool.ack(seq)
    assert spool.append(seq + 1, b"a" * 100)
    spool.close()


def test_fsync_policy_per_interval_with_an_injected_clock(tmp_path, monkeypatch):
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    clock = FakeClock()
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, fsync_interval_s=0.05, clock=clock)
    spool.append(1, b"x")
    spool.append(2, b"y")
    spool.drain()
    before = spool.fsyncs
    clock.now += 0.01
    spool.flush_due()
    spool.drain()
    assert spool.fsyncs == before
    clock.now += 0.05
    spool.flush_due()            # handed to the background thread: append never waits
    spool.drain()
    assert spool.fsyncs == before + 1
    spool.flush_due()
    spool.drain()
    assert spool.fsyncs == before + 1
    spool.close()


def test_fsync_every_batch_when_interval_is_zero(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, fsync_interval_s=0.0)
    spool.append(1, b"x")
    spool.append(2, b"y")
    assert spool.fsyncs == 2
    spool.close()


def test_unread_bytes_tracks_the_cursor(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    _fill(spool, 1, 10)
    total = spool.unread_bytes()
    assert total == spool.size_bytes
    spool.read(max_items=5, max_bytes=1 << 20)
    assert 0 < spool.unread_bytes() < total
    _read_all(spool)
    assert spool.unread_bytes() == 0
    spool.rewind(0)
    assert spool.unread_bytes() == total
    spool.close()


def test_append_parts_writes_one_entry_in_the_zlib_crc_format(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=1 << 20, fsync_interval_s=0.0)
    assert spool.append_parts(1, (b"head-", b"payload" * 1000, b"-tail"))
    assert spool.append(2, b"plain")
    spool.close()
    (segment,) = sorted(tmp_path.glob("seg-*"))
    data = segment.read_bytes()
    length, crc, seq = struct.unpack_from("<IIQ", data)
    body = data[16:16 + length]
    assert (seq, body) == (1, b"head-" + b"payload" * 1000 + b"-tail")
    assert crc == zlib.crc32(struct.pack("<Q", 1) + body)      # same file format as plain zlib
    again = DiskSpool(tmp_path, max_bytes=1 << 20)
    assert again.corrupt_tails == 0
    assert _read_all(again) == [(1, body), (2, b"plain")]
    again.close()


def test_a_short_writev_is_finished_so_no_entry_is_left_torn(tmp_path, monkeypatch):
    real_writev = os.writev
    short: list[int] = []

    def writev_that_stops_early(fd, buffers):
        joined = b"".join(buffers)
        short.append(len(joined))
        return real_writev(fd, [joined[:len(joined) // 3]])

    monkeypatch.setattr(os, "writev", writev_that_stops_early)
    spool = DiskSpool(tmp_path, max_bytes=1 << 20)
    assert spool.append_parts(1, (b"a" * 100, b"b" * 5000))
    monkeypatch.setattr(os, "writev", real_writev)
    assert spool.append(2, b"c")
    spool.close()
    assert short
    again = DiskSpool(tmp_path, max_bytes=1 << 20)
    assert again.corrupt_tails == 0
    assert _read_all(again) == [(1, b"a" * 100 + b"b" * 5000), (2, b"c")]
    again.close()
