"""``python -m bench actor_hop``: items/s through one actor hop vs multiprocessing.Queue.

Runs the production base (multiprocTCPBase, loopback-hardened, credit window W) with a
``HopSource`` → ``HopSink`` link carrying msgpack batches, and in the same run moves the same
payload bytes between two processes through a ``multiprocessing.Queue``. Ratio = actor-hop
records/s ÷ mp.Queue records/s for the large batches (the shape our high-volume links use);
goal ≥ 0.5 (reference/thespian.md measured 0.55–2.0 here with ≥ 256 KiB payloads, window 8).
A small-batch figure is printed too: the per-message cost that makes batching necessary.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from typing import Any

from actors.runtime.thespian_system import OperatorSystem
from actors.runtime.topology_model import (
    ComponentSpec,
    LinkSpec,
    OperatorSettings,
    RestartPolicy,
    Strategy,
    Topology,
)
from messages import codec
from messages.runtime import ComponentStatus

GOAL = 0.5


def _topology(batch_records: int, record_bytes: int, batches: int, window: int) -> Topology:
    settings = {"batch_records": batch_records, "record_bytes": record_bytes, "batches": batches}
    components = {
        "supervisor/root": ComponentSpec(
            component_id="supervisor/root", component_type="supervisor",
            actor_class="actors.runtime.supervisor_actor.Supervisor", settings={},
            strategy=Strategy.ONE_FOR_ONE, policy=RestartPolicy(),
            children=("hop_sink/b", "hop_source/a")),
        "hop_sink/b": ComponentSpec(component_id="hop_sink/b", component_type="hop_sink",
                                    actor_class="bench.hop_actors.HopSink", settings={}),
        "hop_source/a": ComponentSpec(component_id="hop_source/a", component_type="hop_source",
                                      actor_class="bench.hop_actors.HopSource",
                                      settings=settings),
    }
    link = LinkSpec(link_id="hop_source/a->hop_sink/b", producer_id="hop_source/a",
                    consumer_id="hop_sink/b", window=window)
    return Topology(operator=OperatorSettings(log_level="WARNING"), root_id="supervisor/root",
                    components=components, links=(link,))


def _sink_counters(status: ComponentStatus | None) -> dict[str, float]:
    if status is None:
        return {}
    stack = [status]
    while stack:
        node = stack.pop()
        if node.component_id == "hop_sink/b":
            return dict(node.counters)
        stack.extend(node.children)
    return {}


def actor_hop(batch_records: int, record_bytes: int, batches: int, window: int,
              limit_s: float = 120.0) -> dict[str, float]:
    system = OperatorSystem()
    system.start(_topology(batch_records, record_bytes, batches, window))
    try:
        total = batch_records * batches
        deadline = time.monotonic() + limit_s
        counters: dict[str, float] = {}
        while time.monotonic() < deadline:
            counters = _sink_counters(system.status(timeout_s=5.0))
            if counters.get("received_records_total", 0) >= total:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"actor hop did not finish within {limit_s}s: {counters}")
        elapsed = max(1e-9, counters["last_arrival"] - counters["first_arrival"])
        # the first batch starts the clock: it is not counted in the rate
        return {"records_per_s": (total - batch_records) / elapsed,
                "bytes_per_s": counters["received_bytes_total"] * (batches - 1) / batches
                / elapsed, "seconds": elapsed}
    finally:
        system.shutdown(timeout_s=20.0, drain_s=0.0)


def _queue_consumer(queue: Any, batches: int, result: Any) -> None:
    first = last = 0.0
    for _ in range(batches):
        queue.get()
        last = time.monotonic()
        first = first or last
    result.put((first, last))


def mp_queue(batch_records: int, record_bytes: int, batches: int) -> dict[str, float]:
    payload = codec.pack_records([[i, b"x" * record_bytes] for i in range(batch_records)])
    context = multiprocessing.get_context("fork")
    queue, result = context.Queue(maxsize=8), context.Queue()
    consumer = context.Process(target=_queue_consumer, args=(queue, batches, result))
    consumer.start()
    for _ in range(batches):
        queue.put(payload)
    first, last = result.get(timeout=120)
    consumer.join(10)
    elapsed = max(1e-9, last - first)
    return {"records_per_s": batch_records * (batches - 1) / elapsed,
            "bytes_per_s": len(payload) * (batches - 1) / elapsed, "seconds": elapsed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench actor_hop", description=__doc__)
    parser.add_argument("--batch-records", type=int, default=4096)
    parser.add_argument("--record-bytes", type=int, default=64)
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args(argv)
    large = (args.batch_records, args.record_bytes, args.batches)
    small = (100, args.record_bytes, max(200, args.batches))
    hop_large = actor_hop(*large, window=args.window)
    queue_large = mp_queue(*large)
    hop_small = actor_hop(*small, window=args.window)
    queue_small = mp_queue(*small)
    payload_bytes = len(codec.pack_records([[i, b"x" * args.record_bytes]
                                            for i in range(args.batch_records)]))
    ratio = hop_large["records_per_s"] / queue_large["records_per_s"]
    print(f"actor hop   {hop_large['records_per_s']:>12,.0f} records/s  "
          f"{hop_large['bytes_per_s'] / 1e6:8.1f} MB/s  ({payload_bytes} B batches)")
    print(f"mp.Queue    {queue_large['records_per_s']:>12,.0f} records/s  "
          f"{queue_large['bytes_per_s'] / 1e6:8.1f} MB/s")
    print(f"small batches (100 records): actor hop {hop_small['records_per_s']:,.0f}/s, "
          f"mp.Queue {queue_small['records_per_s']:,.0f}/s")
    print(json.dumps({
        "bench": "actor_hop", "ratio": round(ratio, 3), "goal": GOAL,
        "goal_met": ratio >= GOAL, "base": "multiprocTCPBase", "window": args.window,
        "batch_records": args.batch_records, "payload_bytes": payload_bytes,
        "actor_records_per_s": round(hop_large["records_per_s"]),
        "actor_bytes_per_s": round(hop_large["bytes_per_s"]),
        "queue_records_per_s": round(queue_large["records_per_s"]),
        "queue_bytes_per_s": round(queue_large["bytes_per_s"]),
        "small_batch_actor_records_per_s": round(hop_small["records_per_s"]),
        "small_batch_queue_records_per_s": round(queue_small["records_per_s"]),
    }))
    return 0
