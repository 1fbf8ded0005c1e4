"""``python -m bench uplink``: uplink throughput vs a raw gRPC bidi stream, same run, same sizes.

Starts the simulated cloud (``python -m sim.cloud``) in its own process and pushes lossless
batches through the real uplink (spool with fsync policy on, mTLS, OAuth2 token, windowed acks)
until the cloud has acknowledged the last sequence. Then a raw bidi stream (bytes, no protobuf,
no spool; the server acks every 32 messages) sends messages of the size the uplink actually put
on the wire, over the same mTLS certificates, to a raw server process. ratio = uplink bytes/s ÷
raw bytes/s (goal >= 0.5). With two or more CPUs the server processes are pinned to CPU 0 and
this process to the others. ``spool_accept_only_mb_per_s`` (accept into a spool, no network)
shows how the uplink's cost splits between spooling and sending.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import grpc

from actors.uplink.assembly import build_uplink
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool
from actors.uplink.uplink_core import AcceptOutcome, UplinkCore
from messages.codec import pack_records
from messages.uplink import UplinkRecordKind

_METHOD = "/bench.RawUplink/Stream"
GOAL = 0.5


def _pin(cpu_set: set[int], pid: int = 0) -> None:
    if os.environ.get("BENCH_NO_PIN"):
        return
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, cpu_set)


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    _pin({0}, proc.pid)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    return proc, json.loads("".join(lines))


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_uplink(info: dict[str, str], spool: pathlib.Path, total_bytes: int,
               record_bytes: int, records_per_batch: int) -> dict[str, float]:
    raw: dict[str, object] = {k: v for k, v in info.items()
                              if k in UplinkSettings.__dataclass_fields__}
    raw.update(spool_dir=str(spool), spool_max_bytes=256 << 20, fsync_interval_s=0.05)
    settings, errors = UplinkSettings.from_mapping(raw)
    if errors:
        raise SystemExit("bench uplink: " + "; ".join(errors))
    stack = build_uplink(settings)
    stack.start()
    payload = pack_records([{"id": i, "body": "x" * record_bytes}
                            for i in range(records_per_batch)])
    batches = max(1, total_bytes // len(payload))
    try:
        deadline = time.monotonic() + 20
        while not stack.core.connected and time.monotonic() < deadline:
            stack.pump.step()
            time.sleep(0.01)
        start = time.perf_counter()
        sent = 0
        while sent < batches:
            if stack.core.accept(UplinkRecordKind.EVENTS, records_per_batch, payload,
                                 True) is AcceptOutcome.ACCEPTED:
                sent += 1
            else:
                stack.pump.step()
            if sent % 8 == 0:
                stack.pump.step()
                if not stack.adapter.has_room():
                    time.sleep(0.0005)       # like an actor between messages: let the sender run
        last = stack.core.sequencer.next_sequence - 1
        while stack.core.sequencer.acked_sequence < last:
            if not stack.pump.step():
                time.sleep(0.0005)
        elapsed = time.perf_counter() - start
        counters = stack.counters()
    finally:
        stack.close()
    messages = max(1.0, counters["stream_messages_sent"])
    return {"seconds": elapsed, "bytes": float(batches * len(payload)),
            "records": float(batches * records_per_batch),
            "wire_messages": messages,
            "avg_message_bytes": counters["stream_payload_bytes_sent"] / messages,
            "fsyncs": counters["spool_fsyncs"]}


def run_spool_only(spool: pathlib.Path, total_bytes: int, record_bytes: int,
                   records_per_batch: int) -> float:
    """MB/s of ``accept`` alone (spool writes, CRC, fsync policy; no network): a cost split."""
    settings = UplinkSettings(cluster_id="bench", spool_dir=str(spool),
                              spool_max_bytes=max(256 << 20, 2 * total_bytes),
                              fsync_interval_s=0.05)
    core = UplinkCore(settings, spool=DiskSpool(spool, max_bytes=settings.spool_max_bytes,
                                                fsync_interval_s=0.05))
    payload = pack_records([{"id": i, "body": "x" * record_bytes}
                            for i in range(records_per_batch)])
    batches = max(1, total_bytes // len(payload))
    start = time.perf_counter()
    for _ in range(batches):
        core.accept(UplinkRecordKind.EVENTS, records_per_batch, payload, True)
        core.tick()
    elapsed = time.perf_counter() - start
    core.close()
    return batches * len(payload) / elapsed / 1e6


def _raw_requests(count: int, size: int) -> Iterator[bytes]:
    body = b"r" * size
    for _ in range(count):
        yield body


def run_raw(info: dict[str, str], address: str, message_bytes: int,
            count: int) -> dict[str, float]:
    creds = grpc.ssl_channel_credentials(
        root_certificates=pathlib.Path(info["ca_file"]).read_bytes(),
        private_key=pathlib.Path(info["key_file"]).read_bytes(),
        certificate_chain=pathlib.Path(info["cert_file"]).read_bytes())
    options = [("grpc.ssl_target_name_override", "localhost"),
               ("grpc.max_send_message_length", 64 << 20)]
    with grpc.secure_channel(address, creds, options=options) as channel:
        stream = channel.stream_stream(_METHOD)
        start = time.perf_counter()
        acks = list(stream(_raw_requests(count, message_bytes)))
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "bytes": float(count * message_bytes),
            "messages": float(count), "final_ack": float(int(acks[-1]) if acks else 0)}


def serve_raw(info_json: str) -> int:
    info = json.loads(info_json)

    def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        received = 0
        for _ in requests:
            received += 1
            if received % 32 == 0:
                yield str(received).encode()
        yield str(received).encode()

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(4), options=[
        ("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "bench.RawUplink", {"Stream": grpc.stream_stream_rpc_method_handler(handle)})])
    creds = grpc.ssl_server_credentials(
        [(pathlib.Path(info["server_key"]).read_bytes(),
          pathlib.Path(info["server_cert"]).read_bytes())],
        root_certificates=pathlib.Path(info["ca_file"]).read_bytes(),
        require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    print(json.dumps({"address": f"127.0.0.1:{port}"}, indent=0), flush=True)
    sys.stdin.read()
    server.stop(0)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench uplink", description=__doc__)
    parser.add_argument("--megabytes", type=int, default=128, help="payload through the uplink")
    parser.add_argument("--record-bytes", type=int, default=200)
    parser.add_argument("--records-per-batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    parser.add_argument("--switch-interval", type=float, default=0.001,
                        help="sys.setswitchinterval for this process, both legs (0 = keep)")
    parser.add_argument("--serve-raw", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_raw:
        return serve_raw(args.serve_raw)
    if args.switch_interval > 0:
        sys.setswitchinterval(args.switch_interval)
    _pin(set(range(1, os.cpu_count() or 1)) or {0})
    uplinks: list[dict[str, float]] = []
    raws: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-uplink-") as tmp:
        for round_no in range(max(1, args.rounds)):
            work = pathlib.Path(tmp) / f"round{round_no}"
            cloud, info = _spawn(["-m", "sim.cloud", "--workdir", str(work / "cloud"),
                                  "--no-payloads"])
            try:
                uplinks.append(run_uplink(info, work / "spool", args.megabytes << 20,
                                          args.record_bytes, args.records_per_batch))
            finally:
                _stop(cloud)
            raws.append(_raw_round(info, int(uplinks[0]["avg_message_bytes"]),
                                   uplinks[0]["bytes"]))
        spool_only = run_spool_only(pathlib.Path(tmp) / "spool-only", args.megabytes << 20,
                                    args.record_bytes, args.records_per_batch)
    uplink = max(uplinks, key=lambda r: r["bytes"] / r["seconds"])
    raw = max(raws, key=lambda r: r["bytes"] / r["seconds"])
    uplink_bps = uplink["bytes"] / uplink["seconds"]
    raw_bps = raw["bytes"] / raw["seconds"]
    result = {"bench": "uplink", "ratio": round(uplink_bps / raw_bps, 3), "goal": GOAL,
              "uplink_mb_per_s": round(uplink_bps / 1e6, 1),
              "uplink_records_per_s": round(uplink["records"] / uplink["seconds"]),
              "raw_mb_per_s": round(raw_bps / 1e6, 1),
              "raw_messages_per_s": round(raw["messages"] / raw["seconds"]),
              "message_bytes": int(uplink["avg_message_bytes"]),
              "uplink_wire_messages": int(uplink["wire_messages"]),
              "uplink_seconds": round(uplink["seconds"], 2), "spool_fsyncs": uplink["fsyncs"],
              "raw_seconds": round(raw["seconds"], 2), "rounds": len(uplinks),
              "spool_accept_only_mb_per_s": round(spool_only, 1),
              "uplink_mb_per_s_each": [round(r["bytes"] / r["seconds"] / 1e6, 1)
                                       for r in uplinks],
              "raw_mb_per_s_each": [round(r["bytes"] / r["seconds"] / 1e6, 1) for r in raws]}
    print(f"uplink {result['uplink_mb_per_s']} MB/s ({result['uplink_records_per_s']} rec/s) "
          f"vs raw gRPC {result['raw_mb_per_s']} MB/s at {result['message_bytes']} B/message")
    print(json.dumps(result))
    return 0


def _raw_round(info: dict[str, str], message_bytes: int, total_bytes: float) -> dict[str, float]:
    pki = pathlib.Path(info["ca_file"]).parent
    raw_info = {"ca_file": info["ca_file"], "cert_file": info["cert_file"],
                "key_file": info["key_file"], "server_cert": str(pki / "server.crt"),
                "server_key": str(pki / "server.key")}
    server = subprocess.Popen(
        [sys.executable, "-m", "bench", "uplink", "--serve-raw", json.dumps(raw_info)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _pin({0}, server.pid)
    try:
        assert server.stdout is not None
        address = json.loads(server.stdout.readline() + server.stdout.readline()
                             + server.stdout.readline())["address"]
        size = max(1, message_bytes)
        return run_raw(raw_info, address, size, max(100, int(total_bytes // size)))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        _stop(server)
