"""multiprocTCPBase: credit windows under a 100x overloaded slow sink, BLOCK and DROP_OLDEST."""

import time

import pytest

from messages.runtime import LinkStatus, Overflow
from system_tests.conftest import wait_until
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system

WINDOW = 4
SOURCE = {"rate_per_s": 50_000, "batch_records": 50}       # 1000 batches/s offered ...
SLOW_SINK = {"delay_per_batch_s": 0.1}                      # ... 10 batches/s consumed: 100x


def observe(system, seconds, snapshots):
    """Status snapshots for ``seconds``; each must keep the window and balance the books."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status = system.status(3.0)
        assert status is not None
        (link,) = tp.all_links(status)
        assert link.batches_in_flight <= WINDOW
        assert link.received == link.forwarded + link.dropped + link.in_flight
        snapshots.append(link)
        time.sleep(0.1)
    return status


def test_block_link_loses_nothing_under_100x_overload(operator_system):
    system = operator_system(tp.pipeline(SOURCE, SLOW_SINK, window=WINDOW))
    snapshots: list[LinkStatus] = []
    observe(system, 2.0, snapshots)
    assert len(snapshots) >= 5
    assert max(s.batches_in_flight for s in snapshots) == WINDOW     # the window was used
    assert system.drain(5.0)
    status = system.status(3.0)
    (link,) = tp.all_links(status)
    source = tp.counters(tp.find(status, "source/a"))
    sink = tp.counters(tp.find(status, "sink/a"))
    assert source["source_paused"] > 0                     # the source felt the backpressure
    assert link.dropped == 0
    assert link.in_flight == 0
    assert link.received == link.forwarded == source["produced_records"]
    # every sequence number 1..produced arrived exactly once
    assert sink["received_records"] == sink["distinct_records"] == source["produced_records"]
    assert sink["duplicate_records"] == 0
    assert sink["min_seq"] == 1
    assert sink["max_seq"] == source["produced_records"]
    assert system.shutdown(timeout_s=10.0) == []


def test_drop_oldest_link_drops_and_counts_exactly(operator_system):
    system = operator_system(tp.pipeline(SOURCE, SLOW_SINK, window=WINDOW,
                                         overflow=Overflow.DROP_OLDEST))
    snapshots: list[LinkStatus] = []
    observe(system, 1.5, snapshots)
    assert system.drain(5.0)
    status = system.status(3.0)
    (link,) = tp.all_links(status)
    source = tp.counters(tp.find(status, "source/a"))
    sink = tp.counters(tp.find(status, "sink/a"))
    assert link.dropped > 0
    assert link.in_flight == 0
    assert link.received == source["produced_records"] == link.forwarded + link.dropped
    assert sink["received_records"] + link.dropped == source["produced_records"]
    assert sink["duplicate_records"] == 0
    assert system.shutdown(timeout_s=10.0) == []


def test_io_bridge_thread_feeds_100k_records_losslessly(operator_system):
    total = 100_000
    topo = tp.topology([
        tp.supervisor("root", ["sink/a", "source/t"]),
        tp.leaf("sink/a", tp.SINK),
        tp.leaf("source/t", "actors.runtime.synthetic_actor.SyntheticThreadSource",
                total=total, batch_records=1000, chunk_records=100,
                queue_capacity=4),
    ], [tp.link("source/t", "sink/a", window=WINDOW)])
    system = operator_system(topo)

    def delivered():
        status = system.status(3.0)
        sink = tp.counters(tp.find(status, "sink/a"))
        return status if sink["received_records"] >= total else None

    status = wait_until(delivered, timeout_s=40.0, step_s=0.2)
    assert status is not None
    sink = tp.counters(tp.find(status, "sink/a"))
    source = tp.counters(tp.find(status, "source/t"))
    assert sink["received_records"] == sink["distinct_records"] == total
    assert sink["max_seq"] == total
    assert source["bridge_dropped"] == 0
    assert source["bridge_blocked_puts"] > 0               # the thread felt the backpressure
    assert system.shutdown(timeout_s=10.0) == []
