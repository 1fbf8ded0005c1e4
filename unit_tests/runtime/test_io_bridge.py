"""IoBridge: 100k items through a small queue into a slow drain; lossless put, counted drops."""

import select
import threading

import pytest

from actors.runtime.io_bridge import BridgeClosedError, IoBridge

N = 100_000


def drain_until(bridge, done, expect, slow_every=0):
    """Drain like an actor: wait for the fd, take up to 64 per wake-up."""
    got: list[int] = []
    for rounds in range(10**7):
        if done() and len(got) >= expect:
            break
        ready, _, _ = select.select([bridge.fileno()], [], [], 0.5)
        if not ready and done() and bridge.pending() == 0:
            break
        got.extend(bridge.drain(64))
        if slow_every and rounds % slow_every == 0:
            threading.Event().wait(0.0005)     # a slow consumer
    return got


def test_block_put_loses_nothing_through_a_tiny_queue():
    bridge: IoBridge[object] = IoBridge(capacity=32)
    def produce():
        for i in range(N):
            bridge.put(i)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    got = drain_until(bridge, lambda: not producer.is_alive(), N, slow_every=200)
    producer.join(10)
    assert got == list(range(N))                      # nothing lost, order kept
    assert bridge.blocked_puts > 0                    # backpressure reached the producer
    assert bridge.counters()["bridge_dropped"] == 0
    bridge.close()


def test_offer_drops_exactly_what_did_not_fit():
    bridge: IoBridge[object] = IoBridge(capacity=8)
    accepted: list[int] = []

    def produce():
        accepted.extend(i for i in range(N) if bridge.offer(i))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    got = drain_until(bridge, lambda: not producer.is_alive(), 0, slow_every=5)
    producer.join(10)
    got += bridge.drain(100)
    assert got == accepted
    assert bridge.dropped == N - len(accepted)
    assert bridge.dropped > 0
    bridge.close()


def test_blocked_put_is_released_by_close():
    bridge: IoBridge[object] = IoBridge(capacity=1)
    bridge.put("fill")
    outcome = []

    def blocked():
        try:
            bridge.put("never")
        except BridgeClosedError:
            outcome.append("closed")

    thread = threading.Thread(target=blocked, daemon=True)
    thread.start()
    bridge.close()
    thread.join(5)
    assert outcome == ["closed"]
    bridge.close()                                     # idempotent


def test_drain_repokes_when_items_remain():
    bridge: IoBridge[object] = IoBridge(capacity=10)
    for i in range(5):
        bridge.put(i)
    assert bridge.drain(2) == [0, 1]
    ready, _, _ = select.select([bridge.fileno()], [], [], 0)
    assert ready                                        # a wake-up is pending for the rest
    assert bridge.drain(10) == [2, 3, 4]
    ready, _, _ = select.select([bridge.fileno()], [], [], 0)
    assert not ready
    bridge.close()


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        IoBridge(capacity=0)
