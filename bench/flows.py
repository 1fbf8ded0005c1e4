"""``python -m bench flows``: Hubble flows/s through client + decode + aggregation vs the transport.

A simulated grpcio relay process (``python -m sim.hubble --mode synthetic``) serves one history
to every GetFlows call. Measured in the same run, against the same relay, with the same
relay-side filters (replies dropped) and the same channel (``relay_channel``: options and
gRPC's single-threaded stream path exactly as ``HubbleFlowClient`` uses them):
1. a null consumer (raw bytes off the stream, nothing else) — the transport's limit;
2. ``HubbleFlowClient`` → queue → ``FlowAggregator`` in this process;
3. the same pipeline as 1 worker process (shards=1) vs 2 worker processes (shards=2, node_name
   partitions), each in its own process, wall time until every flow is aggregated.
``ratio`` = (2) / (1), the median over ``--rounds`` alternating rounds (the machine is shared
and its load drifts), goal ≥ 0.9; ``{null,pipeline}_{client,relay}_cpu_us_per_flow`` (medians)
show the transport's CPU per flow on each side and what decoding + aggregation add to it;
``shard_speedup`` = flows/s of 2 shards / 1 shard (the median of ``--rounds`` alternating
1-shard/2-shard rounds, each listed in ``round_shard_speedups``), goal ≥ 1.7. On this 2-core
machine the relay simulator and the workers share the cores, so the JSON carries what bounds the
speedup: the CPU seconds the relay and the workers used in each shard run (relay from
``/proc``, workers' own ``process_time`` around the streaming), their µs per flow, how many
cores they kept busy,
``shard_2_cpu_bound_flows_per_s`` (2 cores' 2e6 µs/s over relay + workers' µs per flow in the
2-shard run) and ``shard_speedup_ceiling_2_cores``: at the 1-shard run's relay (r) and worker (w)
CPU per flow, 2·max(r, w) / (r + w), the best 2 shards can do on 2 cores against an ideal
1-shard run (relay and worker each on a core of its own); ``cores_obtainable_by_{1,2}_processes``
(busy loops just before the shard runs) say how much CPU the machine's other load left them.
A second relay, the cheap ``--engine h2`` one (``sim.hubble.h2_relay``: ~1-3 µs of CPU per flow,
like a real Go relay far below the client's cost; history ``--fast-total``, the largest it keeps
pre-framed, so the runs last long enough for start-up and the last batch's flush not to skew
them), gives the same null/pipeline rounds as ``ratio_fast_relay`` (and ``fast_relay_*``
figures) and serves the shard runs (3), so ``shard_speedup`` measures the operator, not the
simulator; ``shard_speedup_grpcio_relay`` repeats them against the grpcio relay. Each relay's
pass must carry exactly the flows its filters allow in its history, the two shards' passes must
add up to it, and every shard run must aggregate exactly that many, or the bench fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from actors.flows.settings import FlowSettings
from bench import _flows_passes as passes
from sim.hubble.flow_source import FRAME_CACHE_LIMIT


def _start_relay(total: int, nodes: int, engine: str) -> tuple[subprocess.Popen[str], str]:
    relay = subprocess.Popen(
        [sys.executable, "-m", "sim.hubble", "--mode", "synthetic", "--total", str(total),
         "--nodes", str(nodes), "--seconds", "600", "--engine", engine],
        stdout=subprocess.PIPE, text=True)
    assert relay.stdout is not None
    line = relay.stdout.readline().strip()
    if "listening on" not in line:
        relay.kill()
        raise RuntimeError(f"relay did not start: {line!r}")
    return relay, line.rsplit(" ", 1)[1]


def _worker(args: argparse.Namespace) -> int:
    settings = FlowSettings(shards=args.shards, shard_index=args.index)
    cpu_before = time.process_time()
    got, elapsed = passes.pipeline(args.target, settings, args.expect)
    stream_cpu = time.process_time() - cpu_before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"flows": got, "seconds": elapsed, "stream_cpu_s": stream_cpu,
                      "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
    return 0


def _run_workers(target: str, relay_pid: int, shards: int,
                 expects: list[int]) -> dict[str, float]:
    relay_before = passes.process_cpu_s(relay_pid)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bench", "flows", "--worker", "--target", target,
         "--shards", str(shards), "--index", str(i), "--expect", str(expects[i])],
        stdout=subprocess.PIPE, text=True) for i in range(shards)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        results.append(json.loads(out.strip().splitlines()[-1]))
    relay_cpu = passes.process_cpu_s(relay_pid) - relay_before
    flows = sum(r["flows"] for r in results)
    seconds = max(r["seconds"] for r in results)
    workers_stream_cpu = sum(r["stream_cpu_s"] for r in results)
    # the relay's CPU covers the workers' start-up too (it idles then): per flow it is an
    # upper bound, which only lowers the CPU-bound ceiling below
    return {"flows": flows, "seconds": seconds, "rate": flows / seconds,
            "relay_cpu_s": relay_cpu, "workers_cpu_s": sum(r["cpu_s"] for r in results),
            "workers_stream_cpu_s": workers_stream_cpu,
            "relay_us_per_flow": relay_cpu / max(1, flows) * 1e6,
            "worker_us_per_flow": workers_stream_cpu / max(1, flows) * 1e6,
            "worker_cpu_us_per_flow_with_startup":
                sum(r["cpu_s"] for r in results) / max(1, flows) * 1e6,
            "cores_busy": (relay_cpu + workers_stream_cpu) / seconds}


def _shard_figures(one: dict[str, float], two: dict[str, float]) -> dict[str, Any]:
    # at the 1-shard run's CPU per flow (relay r, worker w): one shard gets at most 1/max(r, w)
    # (each on its own core), two shards at most 2 cores / (r + w), whoever else is running
    relay_us, worker_us = one["relay_us_per_flow"], one["worker_us_per_flow"]
    figures: dict[str, Any] = {
        "shard_2_cpu_bound_flows_per_s": round(
            2e6 / max(1e-9, two["relay_us_per_flow"] + two["worker_us_per_flow"])),
        "shard_speedup_ceiling_2_cores": round(
            2 * max(relay_us, worker_us) / max(1e-9, relay_us + worker_us), 3)}
    for name, run in (("shard_1", one), ("shard_2", two)):
        figures.update({f"{name}_{key}": round(run[key], 3 if key.endswith("_s") else 1)
                        for key in ("relay_cpu_s", "workers_cpu_s", "workers_stream_cpu_s",
                                    "relay_us_per_flow", "worker_us_per_flow",
                                    "worker_cpu_us_per_flow_with_startup", "cores_busy")})
        figures[f"{name}_seconds"] = round(run["seconds"], 3)
    return figures


def _cores_obtainable(processes: int, seconds: float = 0.5) -> float:
    """CPU cores ``processes`` busy-looping processes get right now: what the shared machine's
    other load leaves for N shards (2.0 on an idle 2-core machine; start-up CPU included)."""
    spin = (f"import time\nend = time.perf_counter() + {seconds}\n"
            "while time.perf_counter() < end: pass\nprint(time.process_time())")
    procs = [subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    return round(sum(float(proc.communicate(timeout=60)[0]) for proc in procs) / seconds, 2)


def _ratio_rounds(relay: subprocess.Popen[str], target: str, settings: FlowSettings,
                  expect: int, count: int) -> tuple[list[tuple[float, float]],
                                                    dict[str, list[float]]]:
    """Alternating null-consumer / pipeline passes: their rates and both sides' CPU per flow."""
    rounds = []
    cpu_per_flow: dict[str, list[float]] = {}
    for _ in range(max(1, count)):
        rates = []
        for name, run in (("null", passes.null_consumer), ("pipeline", passes.pipeline)):
            relay_before, own_before = passes.process_cpu_s(relay.pid), time.process_time()
            flows, seconds = run(target, settings, expect)
            for side, used in (("client", time.process_time() - own_before),
                               ("relay", passes.process_cpu_s(relay.pid) - relay_before)):
                cpu_per_flow.setdefault(f"{name}_{side}", []).append(used / flows * 1e6)
            rates.append(flows / seconds)
        rounds.append((rates[0], rates[1]))
    return rounds, cpu_per_flow


def _ratio_figures(prefix: str, rounds: list[tuple[float, float]],
                   cpu_per_flow: dict[str, list[float]]) -> dict[str, Any]:
    """``ratio`` (prefix "") or ``ratio_fast_relay``: the median pipeline ÷ null consumer."""
    ratios = sorted(full / null for null, full in rounds)
    suffix = "_fast_relay" if prefix else ""
    return {f"ratio{suffix}": round(statistics.median(ratios), 3),
            f"round_ratios{suffix}": [round(r, 3) for r in ratios],
            f"{prefix}null_consumer_flows_per_s": round(statistics.median(n for n, _ in rounds)),
            f"{prefix}pipeline_flows_per_s": round(statistics.median(f for _, f in rounds)),
            **{f"{prefix}{key}_cpu_us_per_flow": round(statistics.median(values), 1)
               for key, values in sorted(cpu_per_flow.items())}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench flows", description=__doc__)
    parser.add_argument("--total", type=int, default=20_000, help="flows in the relay history")
    parser.add_argument("--fast-total", type=int, default=FRAME_CACHE_LIMIT,
                        help="flows in the h2 relay's history (kept pre-framed up to the default)")
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

    load_before = os.getloadavg()
    settings = FlowSettings()
    relays = [_start_relay(total, args.nodes, engine)
              for engine, total in (("grpcio", args.total), ("h2", args.fast_total))]
    try:
        (slow, slow_target), (fast, fast_target) = relays
        expect, per_shard = passes.expected_passes(slow_target, args.total, args.nodes)
        fast_expect, fast_per_shard = passes.expected_passes(fast_target, args.fast_total,
                                                             args.nodes)
        rounds, cpu_per_flow = _ratio_rounds(slow, slow_target, settings, expect, args.rounds)
        fast_rounds, fast_cpu = _ratio_rounds(fast, fast_target, settings, fast_expect,
                                              args.rounds)
        cores = {f"cores_obtainable_by_{n}_processes": _cores_obtainable(n) for n in (1, 2)}
        shard_rounds = [(_run_workers(fast_target, fast.pid, 1, [fast_expect]),
                         _run_workers(fast_target, fast.pid, 2, fast_per_shard))
                        for _ in range(args.rounds)]
        slow_one = _run_workers(slow_target, slow.pid, 1, [expect])
        slow_two = _run_workers(slow_target, slow.pid, 2, per_shard)
    finally:
        for relay, _ in relays:
            relay.terminate()
            relay.wait(10)
    checks = [(run, fast_expect) for pair in shard_rounds for run in pair]
    for run, want in [*checks, (slow_one, expect), (slow_two, expect)]:
        if run["flows"] != want:
            raise RuntimeError(f"a shard run aggregated {run['flows']} flows, not {want}")
    # alternating 1-shard / 2-shard rounds; the round with the median speedup is reported
    shard_rounds.sort(key=lambda pair: pair[1]["rate"] / pair[0]["rate"])
    one, two = shard_rounds[len(shard_rounds) // 2]
    result: dict[str, Any] = {
        "bench": "flows", **_ratio_figures("", rounds, cpu_per_flow), "goal": 0.9,
        **_ratio_figures("fast_relay_", fast_rounds, fast_cpu),
        "flows_per_pass": expect, "fast_relay_flows_per_pass": fast_expect,
        "shard_relay": "h2", "shard_1_flows_per_s": round(one["rate"]),
        "shard_2_flows_per_s": round(two["rate"]),
        "shard_speedup": round(two["rate"] / one["rate"], 3), "shard_goal": 1.7,
        "round_shard_speedups": [round(b["rate"] / a["rate"], 3) for a, b in shard_rounds],
        **_shard_figures(one, two), **cores,
        "shard_speedup_grpcio_relay": round(slow_two["rate"] / slow_one["rate"], 3),
        "grpcio_relay_shard_1_flows_per_s": round(slow_one["rate"]),
        "grpcio_relay_shard_2_flows_per_s": round(slow_two["rate"]),
        "grpcio_relay_shard_1_relay_us_per_flow": round(slow_one["relay_us_per_flow"], 1),
        "grpcio_relay_shard_2_relay_us_per_flow": round(slow_two["relay_us_per_flow"], 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count()}
    print(json.dumps(result), flush=True)
    return 0
