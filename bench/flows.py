"""``python -m bench flows``: Hubble flows/s through client + decode + aggregation vs the transport.

One simulated relay process (``python -m sim.hubble --mode synthetic``) serves the same history
to every GetFlows call. Measured in the same run, against the same relay, with the same
relay-side filters (replies dropped):
1. a null consumer (raw bytes off the stream, nothing else) — the transport's limit;
2. ``HubbleFlowClient`` → queue → ``FlowAggregator`` in this process;
3. the same pipeline as 1 worker process (shards=1) vs 2 worker processes (shards=2, node_name
   partitions), each in its own process, wall time until every flow is aggregated.
``ratio`` = (2) / (1), the median over ``--rounds`` alternating rounds (the machine is shared
and its load drifts), goal ≥ 0.9; ``shard_speedup`` = flows/s of 2 shards / 1 shard, goal ≥
1.7. On this 2-core machine the Python relay simulator and the workers share the cores and the
relay is the bottleneck, so the speedup is bounded here; the workers' CPU per flow (process
start-up included) shows whether sharding adds client-side cost.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import grpc

from actors.flows.aggregation import FlowAggregator
from actors.flows.flow_request_codec import build_request, shard_nodes
from actors.flows.hubble_client_adapter import GET_FLOWS, FlowBatch, HubbleFlowClient
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import FlowSettings
from messages.wire.observer import observer_pb2
from sim.hubble.synthetic import synthetic_pool


def _start_relay(total: int, nodes: int) -> tuple[subprocess.Popen[str], str]:
    relay = subprocess.Popen(
        [sys.executable, "-m", "sim.hubble", "--mode", "synthetic", "--total", str(total),
         "--nodes", str(nodes), "--seconds", "300"],
        stdout=subprocess.PIPE, text=True)
    assert relay.stdout is not None
    line = relay.stdout.readline().strip()
    if "listening on" not in line:
        relay.kill()
        raise RuntimeError(f"relay did not start: {line!r}")
    return relay, line.rsplit(" ", 1)[1]


def _open(channel: grpc.Channel, settings: FlowSettings, nodes: list[str] | None) -> Any:
    stream = channel.unary_stream(
        GET_FLOWS, request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
        response_deserializer=None)
    return stream(build_request(settings, nodes, None), timeout=120)


def _null_consumer(target: str, settings: FlowSettings, expect: int) -> tuple[int, float]:
    """Receive ``expect`` raw responses and do nothing with them: the transport's rate."""
    with grpc.insecure_channel(target) as channel:
        call = _open(channel, settings, None)
        count, started = 0, time.perf_counter()
        for _ in call:
            count += 1
            if count >= expect:
                break
        elapsed = time.perf_counter() - started
        call.cancel()
    return count, elapsed


def _count_pass(target: str, settings: FlowSettings, nodes: list[str] | None) -> int:
    """How many responses the relay sends for this request: read until the stream idles."""
    counted = [0]
    with grpc.insecure_channel(target) as channel:
        call = _open(channel, settings, nodes)

        def reader() -> None:
            try:
                for _ in call:
                    counted[0] += 1
            except grpc.RpcError:
                pass
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        previous = -1
        while counted[0] != previous:
            previous = counted[0]
            time.sleep(0.5)
        call.cancel()
        thread.join(5)
    return counted[0]


def _pipeline(target: str, settings: FlowSettings, expect: int) -> tuple[int, float]:
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=256)
    client = HubbleFlowClient(RelayTarget(target, None, "bench"), settings, sink)
    aggregator = FlowAggregator()
    started = time.perf_counter()
    client.start()
    got = 0
    deadline = started + 120
    try:
        while got < expect and time.perf_counter() < deadline:
            try:
                batch = sink.get(timeout=0.1)
            except queue.Empty:
                client.flush_pending()
                continue
            aggregator.add_many(batch.records)
            got += len(batch.records)
        elapsed = time.perf_counter() - started
    finally:
        client.stop()
    window = aggregator.flush()
    assert sum(r["count"] for r in window.records) == got
    return got, elapsed


def _worker(args: argparse.Namespace) -> int:
    settings = FlowSettings(shards=args.shards, shard_index=args.index)
    got, elapsed = _pipeline(args.target, settings, args.expect)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"flows": got, "seconds": elapsed,
                      "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
    return 0


def _run_workers(target: str, shards: int, expects: list[int]) -> tuple[int, float, float]:
    started = time.perf_counter()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bench", "flows", "--worker", "--target", target,
         "--shards", str(shards), "--index", str(i), "--expect", str(expects[i])],
        stdout=subprocess.PIPE, text=True) for i in range(shards)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    flows = sum(r["flows"] for r in results)
    cpu_us_per_flow = sum(r["cpu_s"] for r in results) / max(1, flows) * 1e6
    return flows, max(r["seconds"] for r in results) or wall, cpu_us_per_flow


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench flows", description=__doc__)
    parser.add_argument("--total", type=int, default=20_000, help="flows in the relay history")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating null/pipeline rounds (median ratio: load varies)")
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", default="")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--expect", type=int, default=0)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    relay, target = _start_relay(args.total, args.nodes)
    try:
        settings = FlowSettings()
        expect = _count_pass(target, settings, None)
        rounds = []
        for _ in range(max(1, args.rounds)):
            null_count, null_s = _null_consumer(target, settings, expect)
            full_count, full_s = _pipeline(target, settings, expect)
            rounds.append((null_count / null_s, full_count / full_s))
        nodes = sorted({e.node_name for e in synthetic_pool(64, nodes=args.nodes)})
        per_shard = [_count_pass(target, FlowSettings(), shard_nodes(nodes, 2, i))
                     for i in range(2)]
        one_count, one_s, one_cpu = _run_workers(target, 1, [expect])
        two_count, two_s, two_cpu = _run_workers(target, 2, per_shard)
    finally:
        relay.terminate()
        relay.wait(10)
    ratios = sorted(full / null for null, full in rounds)
    null_rate = statistics.median(null for null, _ in rounds)
    full_rate = statistics.median(full for _, full in rounds)
    one_rate, two_rate = one_count / one_s, two_count / two_s
    result: dict[str, Any] = {
        "bench": "flows", "ratio": round(statistics.median(ratios), 3), "goal": 0.9,
        "round_ratios": [round(r, 3) for r in ratios],
        "null_consumer_flows_per_s": round(null_rate), "pipeline_flows_per_s": round(full_rate),
        "flows_per_pass": expect, "shard_1_flows_per_s": round(one_rate),
        "shard_2_flows_per_s": round(two_rate),
        "shard_speedup": round(two_rate / one_rate, 3), "shard_goal": 1.7,
        "worker_cpu_us_per_flow_1_shard": round(one_cpu, 1),
        "worker_cpu_us_per_flow_2_shards": round(two_cpu, 1),
        "cpus": os.cpu_count()}
    print(json.dumps(result), flush=True)
    return 0
