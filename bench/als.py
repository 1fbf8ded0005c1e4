"""``python -m bench als``: access-log entries/s end to end vs parse-only of the same messages.

End to end: ``python -m sim.envoy --mode synthetic`` (its own process, K sidecars, each its own
connection and stream) → ``AccessLogServer`` (grpc.aio thread in this process) → bounded queue →
a consumer thread doing ``WorkloadMapper`` + ``L7Aggregator``, timed from the first stream to the
last entry aggregated. Parse-only: ``StreamAccessLogsMessage.FromString`` over the very same
serialized messages, in this process, in the same run. ``ratio`` = end to end / parse-only,
goal ≥ 0.3. The counts are checked: every entry sent is aggregated exactly once.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.als_server import AccessLogBatch, AccessLogServer
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import WorkloadMapper
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.envoy.streams import synthetic_stream


def _parse_only(streams: list[list[bytes]], repeat: int = 3) -> float:
    parse = als_pb2.StreamAccessLogsMessage.FromString
    best = 0.0
    for _ in range(repeat):
        entries, started = 0, time.perf_counter()
        for stream in streams:
            for raw in stream:
                entries += len(parse(raw).http_logs.log_entry)
        best = max(best, entries / (time.perf_counter() - started))
    return best


def _in_process(streams: list[list[bytes]]) -> tuple[float, float]:
    """Entries/s of decode only, and of decode + map + aggregate, with no gRPC in between."""
    started = time.perf_counter()
    entries = 0
    for stream in streams:
        decoder = AlsStreamDecoder()
        for raw in stream:
            entries += len(decoder.decode_bytes(raw))
    decode_rate = entries / (time.perf_counter() - started)
    mapper, aggregator = WorkloadMapper(), L7Aggregator()
    started = time.perf_counter()
    for stream in streams:
        decoder = AlsStreamDecoder()
        for raw in stream:
            batch = decoder.decode_bytes(raw)
            identity = decoder.identity
            assert identity is not None
            for entry in batch:
                aggregator.add(mapper.map(identity, entry), entry)
    return decode_rate, entries / (time.perf_counter() - started)


def _consume(sink: queue.Queue[AccessLogBatch], aggregator: L7Aggregator, want: int,
             done: threading.Event, counted: list[int], span: list[float]) -> None:
    """Drain, map and aggregate; ``span`` gets [first batch seen, last batch aggregated]."""
    mapper = WorkloadMapper()
    add, map_entry = aggregator.add, mapper.map
    deadline = time.monotonic() + 300
    while counted[0] < want and time.monotonic() < deadline:
        try:
            batch = sink.get(timeout=0.5)
        except queue.Empty:
            continue
        if not span:
            span.append(time.perf_counter())
        identity = batch.identity
        for entry in batch.entries:
            add(map_entry(identity, entry), entry)
        counted[0] += len(batch.entries)
    span.append(time.perf_counter())
    done.set()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench als", description=__doc__)
    parser.add_argument("--sidecars", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20, help="per sidecar, 50 entries each")
    args = parser.parse_args(argv)
    streams = [synthetic_stream(i, messages=args.messages) for i in range(args.sidecars)]
    total = sum(len(als_pb2.StreamAccessLogsMessage.FromString(raw).http_logs.log_entry)
                for stream in streams for raw in stream)
    parse_rate = _parse_only(streams)
    decode_rate, pipeline_rate = _in_process(streams)

    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=4096)
    server = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    port = server.start()
    aggregator = L7Aggregator()
    done, counted, span = threading.Event(), [0], list[float]()
    consumer = threading.Thread(target=_consume,
                                args=(sink, aggregator, total, done, counted, span), daemon=True)
    try:
        consumer.start()
        started = time.perf_counter()
        sidecars = subprocess.run(
            [sys.executable, "-m", "sim.envoy", "--target", f"127.0.0.1:{port}", "--mode",
             "synthetic", "--sidecars", str(args.sidecars), "--messages", str(args.messages)],
            capture_output=True, text=True, timeout=300, check=False)
        done.wait(300)
        wall = time.perf_counter() - started
        # from the first message received to the last entry aggregated: the sidecar process's
        # own start-up (imports, building its synthetic streams) is not ours to count
        elapsed = span[-1] - span[0] if len(span) >= 2 else wall
    finally:
        server.stop()
    stats = server.stats()
    window = aggregator.flush()
    aggregated = sum(r["count"] for r in window.records)
    e2e_rate = counted[0] / elapsed
    result: dict[str, Any] = {
        "bench": "als", "ratio": round(e2e_rate / parse_rate, 3), "goal": 0.3,
        "end_to_end_entries_per_s": round(e2e_rate), "parse_only_entries_per_s": round(parse_rate),
        "decode_only_entries_per_s": round(decode_rate),
        "decode_map_aggregate_entries_per_s": round(pipeline_rate),
        "ratio_vs_decode_map_aggregate": round(e2e_rate / pipeline_rate, 3),
        "entries_sent": total, "entries_aggregated": aggregated, "keys": len(window.records),
        "sidecars": args.sidecars, "sidecar_exit": sidecars.returncode,
        "batches_dropped": stats.get("batches_dropped", 0), "seconds": round(elapsed, 2),
        "wall_seconds_incl_sidecar_startup": round(wall, 2)}
    if sidecars.returncode != 0 or aggregated != total:
        result["error"] = (sidecars.stdout + sidecars.stderr)[-500:] or "entry count mismatch"
    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1
