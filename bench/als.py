"""``python -m bench als``: access-log entries/s end to end vs parse-only of the same messages.

End to end: ``python -m sim.envoy --mode synthetic`` (its own process, K sidecars, each its own
connection and stream) → ``AccessLogServer`` (grpc.aio thread in this process: parse + identify)
→ bounded queue → a consumer thread folding each parsed message into ``L7Aggregator`` with
``MessageFolder`` (the actor's path), timed from the first message received to the last entry
aggregated, plus the window's flush. Parse-only: ``StreamAccessLogsMessage.FromString`` over the
very same serialized messages, in this process, in the same run. ``ratio`` = end to end /
parse-only, goal ≥ 0.3. The counts are checked: every entry sent is aggregated exactly once.

The ceilings, measured in the same run so the end-to-end figure can be read against them:
``extract_only``: parse + read the fields the key and numbers need, nothing else, in process;
``grpc_null_consumer``: the same server and sidecar process with a sink that only counts
(entries/s the gRPC path delivers with no processing, timed the same way);
``in_process_pipeline``: parse + fold + flush with no gRPC. ``decode_only`` is the per-entry
tuple decoder (``AlsStreamDecoder.decode_bytes``) that tests and replays use.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.als_server import AccessLogBatch, AccessLogServer
from actors.access_logs.l7_aggregation import L7Aggregator, L7Window
from actors.access_logs.l7_extraction import MessageFolder
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import WorkloadMapper
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.envoy.streams import synthetic_stream


def _best_rate(run: Callable[[], int], repeat: int = 3) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        entries = run()
        best = max(best, entries / (time.perf_counter() - started))
    return best


def _parse_only(streams: list[list[bytes]]) -> float:
    parse = als_pb2.StreamAccessLogsMessage.FromString

    def run() -> int:
        return sum(len(parse(raw).http_logs.log_entry) for stream in streams for raw in stream)
    return _best_rate(run)


def _extract_only(streams: list[list[bytes]]) -> float:
    """Parse + read every field the key and the numbers need (what the fold reads for these
    entries), into locals: the floor of any extraction from upb in this process."""
    parse = als_pb2.StreamAccessLogsMessage.FromString

    def run() -> int:
        entries = 0
        for stream in streams:
            for raw in stream:
                for entry in parse(raw).http_logs.log_entry:
                    common = entry.common_properties
                    request, response = entry.request, entry.response
                    _ = (common.intermediate_log_entry, common.upstream_cluster,
                         request.request_method, entry.protocol_version,
                         response.response_code.value, request.path,
                         request.request_body_bytes, response.response_body_bytes,
                         common.HasField("response_flags"))
                    start, duration = common.start_time, common.duration
                    _ = (start.seconds * 1_000_000_000 + start.nanos,
                         duration.seconds * 1000.0 + duration.nanos / 1e6)
                    entries += 1
        return entries
    return _best_rate(run)


def _decode_only(streams: list[list[bytes]]) -> float:
    def run() -> int:
        entries = 0
        for stream in streams:
            decoder = AlsStreamDecoder()
            for raw in stream:
                entries += len(decoder.decode_bytes(raw))
        return entries
    return _best_rate(run, repeat=1)


def _in_process_pipeline(streams: list[list[bytes]]) -> float:
    """Parse + fold + flush, the server's and the actor's work, with no gRPC in between."""
    def run() -> int:
        aggregator = L7Aggregator()
        folder = MessageFolder(aggregator, WorkloadMapper())
        entries = 0
        for stream in streams:
            decoder = AlsStreamDecoder()
            for raw in stream:
                parsed = decoder.parse(raw)
                assert decoder.identity is not None
                entries += folder.fold(decoder.identity, parsed.message, raw)
        aggregator.flush()
        return entries
    return _best_rate(run)


def _consume(sink: queue.Queue[AccessLogBatch], aggregator: L7Aggregator, want: int,
             done: threading.Event, counted: list[int], span: list[float],
             windows: list[L7Window]) -> None:
    """Drain, fold and flush; ``span`` gets [first batch seen, window flushed]."""
    folder = MessageFolder(aggregator, WorkloadMapper())
    fold = folder.fold
    deadline = time.monotonic() + 300
    while counted[0] < want and time.monotonic() < deadline:
        try:
            batch = sink.get(timeout=0.5)
        except queue.Empty:
            continue
        if not span:
            span.append(time.perf_counter())
        counted[0] += fold(batch.identity, batch.message, batch.raw)
    windows.append(aggregator.flush())
    span.append(time.perf_counter())
    done.set()


class _NullSink:
    """Counts what the server delivers, nothing else; ``span`` as in ``_consume``."""

    def __init__(self, want: int) -> None:
        self.want, self.counted, self.span = want, 0, list[float]()
        self.done = threading.Event()

    def __call__(self, batch: AccessLogBatch) -> bool:
        now = time.perf_counter()
        if not self.span:
            self.span.append(now)
        self.counted += batch.size
        if self.counted >= self.want:
            self.span.append(now)
            self.done.set()
        return True


def _sidecars(port: int, args: argparse.Namespace) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.envoy", "--target", f"127.0.0.1:{port}", "--mode",
         "synthetic", "--sidecars", str(args.sidecars), "--messages", str(args.messages)],
        capture_output=True, text=True, timeout=300, check=False)


def _null_consumer(args: argparse.Namespace, total: int) -> tuple[float, int]:
    """(entries/s delivered by the server to a counting sink, sidecar exit code)."""
    sink = _NullSink(total)
    server = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    port = server.start()
    try:
        sidecars = _sidecars(port, args)
        sink.done.wait(60)
    finally:
        server.stop()
    span = sink.span
    if sink.counted != total or len(span) < 2:
        return 0.0, sidecars.returncode or 1
    return total / (span[-1] - span[0]), sidecars.returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench als", description=__doc__)
    parser.add_argument("--sidecars", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20, help="per sidecar, 50 entries each")
    args = parser.parse_args(argv)
    streams = [synthetic_stream(i, messages=args.messages) for i in range(args.sidecars)]
    total = sum(len(als_pb2.StreamAccessLogsMessage.FromString(raw).http_logs.log_entry)
                for stream in streams for raw in stream)
    parse_rate = _parse_only(streams)
    extract_rate = _extract_only(streams)
    decode_rate = _decode_only(streams)
    pipeline_rate = _in_process_pipeline(streams)
    null_rate, null_exit = _null_consumer(args, total)

    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=4096)
    server = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    port = server.start()
    aggregator = L7Aggregator()
    done, counted, span, windows = threading.Event(), [0], list[float](), list[L7Window]()
    consumer = threading.Thread(target=_consume, args=(
        sink, aggregator, total, done, counted, span, windows), daemon=True)
    try:
        consumer.start()
        started = time.perf_counter()
        sidecars = _sidecars(port, args)
        done.wait(300)
        wall = time.perf_counter() - started
        # from the first message received to the window flushed: the sidecar process's
        # own start-up (imports, building its synthetic streams) is not ours to count
        elapsed = span[-1] - span[0] if len(span) >= 2 else wall
    finally:
        server.stop()
    stats = server.stats()
    window = windows[0] if windows else aggregator.flush()
    aggregated = sum(r["count"] for r in window.records)
    e2e_rate = counted[0] / elapsed
    result: dict[str, Any] = {
        "bench": "als", "ratio": round(e2e_rate / parse_rate, 3), "goal": 0.3,
        "end_to_end_entries_per_s": round(e2e_rate), "parse_only_entries_per_s": round(parse_rate),
        "extract_only_entries_per_s": round(extract_rate),
        "grpc_null_consumer_entries_per_s": round(null_rate),
        "ratio_vs_grpc_null_consumer": round(e2e_rate / null_rate, 3) if null_rate else None,
        "in_process_pipeline_entries_per_s": round(pipeline_rate),
        "ratio_vs_in_process_pipeline": round(e2e_rate / pipeline_rate, 3),
        "decode_only_entries_per_s": round(decode_rate),
        "entries_sent": total, "entries_aggregated": aggregated, "keys": len(window.records),
        "sidecars": args.sidecars, "sidecar_exit": sidecars.returncode,
        "batches_dropped": stats.get("batches_dropped", 0), "seconds": round(elapsed, 2),
        "wall_seconds_incl_sidecar_startup": round(wall, 2)}
    if sidecars.returncode != 0 or null_exit != 0 or aggregated != total:
        result["error"] = (sidecars.stdout + sidecars.stderr)[-500:] or "entry count mismatch"
    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1
