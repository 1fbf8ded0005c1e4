"""The relay's flow history as a deterministic, paced sequence of pre-encoded responses.

Owns what the simulated relay "has seen": frame ``i`` is pool entry ``i % len(pool)`` with its
time shifted by ``(i // len(pool)) * span`` (replayed fixture) or set to ``start + i / rate``
(synthetic). Frame ``i`` becomes available once the wall clock passes ``start + i / rate``
(``rate=0``: all at once), up to ``total`` frames. Because the sequence is a pure function of
``i``, any number of streams, a relay restart and a client resuming with ``since`` all see the
same flows, so tests can count exactly. Responses are encoded once; per frame only the time
fields are appended (a repeated embedded message merges, so an appended ``flow.time`` wins), and
a history of at most ``FRAME_CACHE_LIMIT`` frames keeps each stamped frame once built, so every
later stream (and every shard) is served pre-serialized bytes.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import threading
import time
from collections.abc import Sequence

from messages.wire.observer import observer_pb2

__all__ = ["FRAME_CACHE_LIMIT", "FlowSequence", "PoolEntry", "pool_from_responses"]

FRAME_CACHE_LIMIT = 200_000     # frames (~1 kB each) kept once stamped; larger histories re-stamp
_SMALL_VARINTS = [bytes([n]) for n in range(128)]


def _varint(value: int) -> bytes:
    if value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _timestamp(ns: int) -> bytes:
    seconds, nanos = divmod(ns, 1_000_000_000)
    body = b""
    if seconds:
        body += b"\x08" + _varint(seconds)
    if nanos:
        body += b"\x10" + _varint(nanos)
    return body


@dataclasses.dataclass(frozen=True, slots=True)
class PoolEntry:
    """One response without its times, plus what the relay-side filters look at."""

    body: bytes           # serialized GetFlowsResponse with flow.time and time cleared
    is_flow: bool
    time_ns: int          # original time (replay) or 0
    node_name: str
    is_reply: bool | None
    verdict: int


def pool_from_responses(responses: Sequence[observer_pb2.GetFlowsResponse]) -> list[PoolEntry]:
    pool = []
    for original in responses:
        response = observer_pb2.GetFlowsResponse()
        response.CopyFrom(original)
        time_ns = response.time.ToNanoseconds()
        response.ClearField("time")
        is_flow = response.WhichOneof("response_types") == "flow"
        reply: bool | None = None
        verdict = 0
        node = response.node_name
        if is_flow:
            flow = response.flow
            time_ns = flow.time.ToNanoseconds() or time_ns
            flow.ClearField("time")
            reply = flow.is_reply.value if flow.HasField("is_reply") else None
            verdict = flow.verdict
            node = flow.node_name or node
        pool.append(PoolEntry(response.SerializeToString(), is_flow, time_ns, node, reply,
                              verdict))
    return pool


class FlowSequence:
    """Frames 0..total-1 over a pool; ``replay`` keeps pool times, else times follow the rate."""

    def __init__(self, pool: Sequence[PoolEntry], *, total: int, rate: float = 0.0,
                 replay: bool = True, start_wall: float | None = None) -> None:
        if not pool:
            raise ValueError("empty flow pool")
        self.pool = list(pool)
        self.total = total
        self.rate = rate
        self.replay = replay
        self.start_wall = 0.0
        self.start_ns = 0
        self.started = False
        self._start_lock = threading.Lock()
        if start_wall is not None:
            self.start(start_wall)
        times = [e.time_ns for e in self.pool]
        if replay and any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError("replay pool must be time-sorted")
        self._times = times
        self._span = (times[-1] - times[0] + 1_000_000) if replay else 0
        self._step_ns = max(1, int(1e9 / rate)) if rate > 0 else 1_000
        self._frames: list[bytes | None] = [None] * total if total <= FRAME_CACHE_LIMIT else []

    def start(self, wall: float | None = None) -> bool:
        """Start the clock (first stream opening); True only for the call that started it."""
        with self._start_lock:
            if self.started:
                return False
            self.start_wall = time.time() if wall is None else wall
            self.start_ns = int(self.start_wall * 1e9)
            self.started = True
            return True

    def time_ns(self, index: int) -> int:
        if self.replay:
            loop, slot = divmod(index, len(self.pool))
            return self._times[slot] + loop * self._span
        return self.start_ns + index * self._step_ns

    def available(self, now_wall: float | None = None) -> int:
        """How many frames have been 'observed' so far."""
        if self.rate <= 0:
            return self.total
        if not self.started:
            return 0
        now = time.time() if now_wall is None else now_wall
        return max(0, min(self.total, int((now - self.start_wall) * self.rate) + 1))

    def first_index_since(self, since_ns: int) -> int:
        """The first frame whose time is >= ``since_ns``."""
        if not self.replay:
            return min(self.total, max(0, -(-(since_ns - self.start_ns) // self._step_ns)))
        n = len(self.pool)
        loop = max(0, (since_ns - self._times[0]) // self._span)
        slot = bisect.bisect_left(self._times, since_ns - loop * self._span)
        return min(self.total, loop * n + slot)

    def frame(self, index: int) -> bytes:
        """Frame ``index`` as sent: the pool entry's bytes with its stamped times appended."""
        frames = self._frames
        if index < len(frames) and (self.started or self.replay):  # synthetic: needs the start
            found = frames[index]
            if found is None:
                found = frames[index] = self._stamp(index)
            return found
        return self._stamp(index)

    def _stamp(self, index: int) -> bytes:
        entry = self.pool[index % len(self.pool)]
        stamp = _timestamp(self.time_ns(index))
        if entry.is_flow:
            return entry.body + _field(1, _field(1, stamp)) + _field(1001, stamp)
        return entry.body + _field(1001, stamp)

    def entry(self, index: int) -> PoolEntry:
        return self.pool[index % len(self.pool)]
