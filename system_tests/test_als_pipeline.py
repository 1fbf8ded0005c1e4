"""sim/envoy sidecars → AccessLogServer (grpc.aio) → mapping → L7Aggregator, counted exactly.

500 simulated sidecars (each its own HTTP/2 connection) open StreamAccessLogs at once and hold
them open until the server reports 500 concurrent streams; then they send the rest of their
(re-identified golden) streams. The per-key counts folded from what the server delivered
(``MessageFolder``, the actor's path) must equal those computed directly from the same bytes
without gRPC through the tuple decoder, the mapper and ``L7Aggregator.add``, and no batch may be
dropped.
"""

import asyncio
import collections
import queue
import resource
import subprocess
import sys
import time

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.als_server import AccessLogBatch, AccessLogServer
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.l7_extraction import MessageFolder
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import WorkloadMapper
from sim.envoy.sidecars import run_sidecars
from sim.envoy.streams import fixture_stream, replay_stream

pytestmark = pytest.mark.system

SIDECARS = 500


def _key_counts(window):
    return collections.Counter({
        tuple(v for k, v in sorted(r.items()) if not k.startswith(("count", "errors", "latency",
                                                                   "request_bytes",
                                                                   "response_bytes",
                                                                   "response_flags",
                                                                   "first_", "last_"))):
        (r["count"], r["errors"], r["request_bytes"], r["response_bytes"])
        for r in window.records})


def _enough_file_descriptors(needed=4096):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard >= needed):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_500_concurrent_sidecars_counts_equal_direct_counts():
    _enough_file_descriptors()  # 500 client + 500 server sockets in this one process
    http, tcp = fixture_stream("http"), fixture_stream("tcp")
    streams = [replay_stream(http if i % 2 == 0 else tcp, i, max_messages=3)
               for i in range(SIDECARS)]
    mapper = WorkloadMapper()
    direct = L7Aggregator()
    direct_entries = 0
    for stream in streams:
        decoder = AlsStreamDecoder()
        for raw in stream:
            entries = decoder.decode_bytes(raw)
            identity = decoder.identity
            assert identity is not None
            for entry in entries:
                direct.add(mapper.map(identity, entry), entry)
                direct_entries += 1

    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=100_000)
    server = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    port = server.start()
    try:
        async def all_open():
            deadline = time.monotonic() + 20
            while server.active_streams < SIDECARS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

        report = asyncio.run(run_sidecars(f"127.0.0.1:{port}", streams, hold_open=True,
                                          hold_until=all_open, timeout=60))
        deadline = time.monotonic() + 20
        while server.stats().get("streams_closed", 0) < SIDECARS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    stats = server.stats()
    assert report.streams_ok == SIDECARS, report.statuses
    assert stats["max_active_streams"] == SIDECARS
    assert stats["streams_identified"] == SIDECARS
    assert stats.get("batches_dropped", 0) == 0
    aggregator = L7Aggregator()
    folder = MessageFolder(aggregator, WorkloadMapper())
    received = 0
    while True:
        try:
            batch = sink.get_nowait()
        except queue.Empty:
            break
        received += folder.fold(batch.identity, batch.message, batch.raw)
    assert received == direct_entries == stats["entries_delivered"]
    assert _key_counts(aggregator.flush()) == _key_counts(direct.flush())


def test_sim_envoy_cli_replays_fixture_streams(processes):
    sink: queue.Queue[AccessLogBatch] = queue.Queue(maxsize=10_000)
    server = AccessLogServer(AccessLogSettings(host="127.0.0.1", port=0), sink)
    port = server.start()
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "sim.envoy", "--target", f"127.0.0.1:{port}",
             "--sidecars", "4", "--hold-open"], stdout=subprocess.PIPE, text=True)
        processes.add_pids([run.pid])
        out, _ = run.communicate(timeout=60)
    finally:
        server.stop()
    assert run.returncode == 0, out
    assert "ok=4 failed=0" in out
    stats = server.stats()
    assert stats["entries_delivered"] == 2 * 500 + 2 * 200
    assert stats["streams_identified"] == 4
