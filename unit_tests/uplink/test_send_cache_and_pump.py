"""SendCache bookkeeping and one UplinkPump step against a fake sink."""

import queue

from actors.uplink import frames
from actors.uplink.pump import UplinkPump
from actors.uplink.send_cache import SendCache
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool
from actors.uplink.uplink_core import UplinkCore
from messages.uplink import CloudSessionWelcomed, UplinkRecordKind, UplinkStreamOpened


def _batch(seq, size=10):
    return frames.ReliableBatch(seq, UplinkRecordKind.EVENTS, 1, b"x" * size, 0)


def test_send_cache_serves_contiguous_runs_within_its_bound():
    cache = SendCache(max_bytes=50)
    for seq in range(1, 8):
        cache.add(_batch(seq), (1, seq * 100), 10)
    assert cache.first_sequence == 3                 # 7 x 10 bytes > 50: oldest evicted
    items, position, used = cache.take(4, max_items=2, max_bytes=1000)
    assert [i.sequence for i in items] == [4, 5]
    assert position == (1, 500)
    assert used == 20
    assert cache.take(2, max_items=5, max_bytes=1000) == ([], None, 0)
    assert cache.take(9, max_items=5, max_bytes=1000) == ([], None, 0)
    items, _, _ = cache.take(6, max_items=5, max_bytes=5)
    assert [i.sequence for i in items] == [6]          # at least one even over the byte limit
    cache.drop_through(5)
    assert cache.first_sequence == 6
    cache.add(_batch(20), (2, 0), 10)                  # a gap resets the run
    assert cache.first_sequence == 20


class FakeSink:
    def __init__(self, room):
        self.room = room
        self.frames = []

    def has_room(self):
        return len(self.frames) < self.room

    def offer(self, frame):
        self.frames.append(frame)


def test_pump_step_feeds_events_and_sends_frames(tmp_path):
    settings = UplinkSettings(cluster_id="c", spool_dir=str(tmp_path), frame_max_bytes=64,
                              frame_target_bytes=32)
    core = UplinkCore(settings, spool=DiskSpool(tmp_path, max_bytes=1 << 20))
    inbox: queue.Queue[object] = queue.Queue()
    sink = FakeSink(room=2)
    pump = UplinkPump(core, sink, inbox)
    for i in range(5):
        core.accept(UplinkRecordKind.EVENTS, 1, bytes([i]) * 40, True)
    inbox.put(UplinkStreamOpened(epoch=1))
    inbox.put("not an event")
    inbox.put(CloudSessionWelcomed(epoch=1, session_id="s", last_acked_sequence=0,
                                   heartbeat_interval_ms=0))
    assert pump.step() == 3 + 2                          # 3 events, 2 frames (sink full)
    assert pump.unknown_events == 1
    assert len(sink.frames) == 2
    assert all(f.epoch == 1 for f in sink.frames)
    core.close()
