"""The simulated cloud's gRPC side: ``CloudUplink/Connect`` over mTLS, with a recorder and faults.

Per stream: checks the bearer token against ``IssuedTokens`` (UNAUTHENTICATED when unknown or
expired, and again mid-stream the moment it expires), answers Hello with Welcome (the recorder's
contiguous acked sequence), records every batch, inventory commit and command result (deduped by
sequence; lossy batches by ``(instance, lossy_sequence)``), acks cumulatively every
``ack_every`` items or ``ack_interval_s``, sends heartbeats and queued commands. Faults (see
``CloudFaults``): reject streams, drop streams, delay acks, answer slowly; ``go_away(seconds)``
stops listening and comes back on the same port. Only loopback is bound. Errors inside a stream
end that stream with a status; they never take the server down.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc

from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from messages.wire.kestrel.cloud.v1 import uplink_pb2_grpc as pb_grpc
from sim.cloud.token_server import IssuedTokens

__all__ = ["CloudFaults", "CloudRecorder", "StreamServer"]

logger = logging.getLogger(__name__)

_KIND_NAMES = {number: name for name, number in pb.RecordKind.items()}


@dataclasses.dataclass(slots=True)
class CloudFaults:
    """Fault switches of the stream server (flip them at any time)."""

    reject_streams: bool = False
    ack_delay_s: float = 0.0          # hold every ack back this long
    slow_s: float = 0.0               # wait this long before Welcome and before each ack
    stop_acking: bool = False


class CloudRecorder:
    """The cloud's "database": everything received, deduplicated, thread-safe."""

    def __init__(self, *, keep_payloads: bool = True) -> None:
        self.lock = threading.Lock()
        self.keep_payloads = keep_payloads
        self.reliable: set[int] = set()
        self.acked_through = 0
        self.lossy: dict[str, set[int]] = collections.defaultdict(set)
        self._lossy_through: collections.Counter[str] = collections.Counter()
        self.records_by_kind: collections.Counter[str] = collections.Counter()
        self.payloads_by_kind: dict[str, list[bytes]] = collections.defaultdict(list)
        self.inventory_commits: list[tuple[int, str, dict[str, int]]] = []
        self.command_results: dict[str, pb.CommandResult] = {}
        self.hellos: list[pb.Hello] = []
        self.duplicates = 0
        self.gaps_settled = 0
        self.batches = 0

    def settle_through(self, sequence: int) -> None:
        """The operator says it had everything through ``sequence`` acked: accept the gap."""
        with self.lock:
            if sequence > self.acked_through:
                self.gaps_settled += sequence - self.acked_through
                self.acked_through = sequence
                self._advance()

    def _advance(self) -> None:
        while self.acked_through + 1 in self.reliable:
            self.acked_through += 1

    def _new_lossy(self, instance_id: str, lossy_sequence: int) -> bool:
        seen = self.lossy[instance_id]
        if lossy_sequence in seen:
            self.duplicates += 1
            return False
        seen.add(lossy_sequence)
        while self._lossy_through[instance_id] + 1 in seen:
            self._lossy_through[instance_id] += 1
        return True

    def _new_reliable(self, sequence: int) -> bool:
        if sequence <= 0 or sequence <= self.acked_through or sequence in self.reliable:
            self.duplicates += 1
            return False
        self.reliable.add(sequence)
        self._advance()
        return True

    def record(self, message: pb.OperatorMessage, instance_id: str,
               which: str | None = None) -> int:
        """Store one operator message; returns how many reliable/lossy items it carried."""
        if which is None:
            which = message.WhichOneof("body")
        with self.lock:
            if which == "frame":
                batches = message.frame.batches
                self.batches += len(batches)
                for batch in batches:
                    if batch.lossless:
                        fresh = self._new_reliable(batch.sequence)
                    else:
                        fresh = self._new_lossy(instance_id, batch.lossy_sequence)
                    if fresh:
                        kind = _KIND_NAMES.get(batch.kind) or pb.RecordKind.Name(batch.kind)
                        self.records_by_kind[kind] += batch.record_count
                        if self.keep_payloads:
                            self.payloads_by_kind[kind].append(batch.payload)
                return len(batches)
            if which == "inventory_commit":
                commit = message.inventory_commit
                if self._new_reliable(commit.sequence):
                    self.inventory_commits.append((commit.sequence, commit.snapshot_id,
                                                   dict(commit.counts)))
                return 1
            if which == "command_result":
                result = message.command_result
                if self._new_reliable(result.sequence):
                    self.command_results[result.request_id] = result
                return 1
        return 0

    def lossy_through(self, instance_id: str) -> int:
        with self.lock:
            return self._lossy_through[instance_id]


class _Stream:
    def __init__(self, token: str) -> None:
        self.token = token
        self.outbox: collections.deque[pb.CloudMessage] = collections.deque()
        self.instance_id = ""
        self.welcomed = False
        self.unacked = 0
        self.first_unacked_at = 0.0
        self.drop: tuple[grpc.StatusCode, str] | None = None
        self.ended = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()


class StreamServer:
    """mTLS gRPC server on 127.0.0.1 that plays Kestrel Cloud's stream side."""

    def __init__(self, *, ca_file: str, cert_file: str, key_file: str, tokens: IssuedTokens,
                 recorder: CloudRecorder | None = None, port: int = 0, ack_every: int = 32,
                 ack_interval_s: float = 0.05, heartbeat_interval_s: float = 5.0) -> None:
        with open(ca_file, "rb") as ca, open(cert_file, "rb") as crt, \
                open(key_file, "rb") as key:
            self._creds = grpc.ssl_server_credentials([(key.read(), crt.read())],
                                                      root_certificates=ca.read(),
                                                      require_client_auth=True)
        self.tokens = tokens
        self.recorder = recorder or CloudRecorder()
        self.faults = CloudFaults()
        self.ack_every = ack_every
        self.ack_interval_s = ack_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.port = port
        self.stats: collections.Counter[str] = collections.Counter()
        self.peer_common_names: list[str] = []
        self._streams: list[_Stream] = []
        self._pending_commands: list[pb.CloudMessage] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self._return_timer: threading.Timer | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> StreamServer:
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=16), options=[
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.max_receive_message_length", 32 << 20)])
        pb_grpc.add_CloudUplinkServicer_to_server(_Servicer(self), server)
        self.port = server.add_secure_port(f"127.0.0.1:{self.port}", self._creds)
        if self.port == 0:
            raise OSError("sim cloud: could not bind the stream port")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._return_timer is not None:
            self._return_timer.cancel()
        self._end_all(grpc.StatusCode.UNAVAILABLE, "cloud shutting down")
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None

    def go_away(self, seconds: float) -> None:
        """Stop listening now and come back on the same port after ``seconds``."""
        self.stats["go_aways"] += 1
        self._end_all(grpc.StatusCode.UNAVAILABLE, "cloud going away")
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None
        self._return_timer = threading.Timer(seconds, self.start)
        self._return_timer.daemon = True
        self._return_timer.start()

    @property
    def listening(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ faults and commands
    def drop_streams(self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self._end_all(code, "stream dropped by the cloud")

    def send_command(self, command: pb.Command) -> None:
        """Deliver to the current stream(s), or to the next one that opens."""
        message = pb.CloudMessage(command=command)
        with self._lock:
            live = [s for s in self._streams if s.welcomed and not s.ended.is_set()]
            if not live:
                self._pending_commands.append(message)
            for stream in live:
                stream.outbox.append(message)
                stream.wake.set()

    def active_streams(self) -> int:
        with self._lock:
            return sum(1 for s in self._streams if not s.ended.is_set())

    def _end_all(self, code: grpc.StatusCode, reason: str) -> None:
        with self._lock:
            for stream in self._streams:
                stream.drop = (code, reason)
                stream.wake.set()

    # ------------------------------------------------------------------ one stream
    def serve(self, requests: Iterator[pb.OperatorMessage],
              context: grpc.ServicerContext) -> Iterator[pb.CloudMessage]:
        self.stats["streams"] += 1
        token = dict(context.invocation_metadata()).get("authorization", "")
        token = token.removeprefix("Bearer ")
        if self.faults.reject_streams:
            self.stats["rejected"] += 1
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "streams refused (fault)")
        expires_at = self.tokens.expires_at(token)
        if expires_at is None or expires_at <= time.time():
            self.stats["bad_tokens"] += 1
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or expired token")
        cn = context.auth_context().get("x509_common_name", [b""])
        self.peer_common_names.append(cn[0].decode() if cn else "")
        stream = _Stream(token)
        with self._lock:
            self._streams.append(stream)
        reader = threading.Thread(target=self._read, args=(requests, stream), daemon=True,
                                  name="sim-cloud-reader")
        reader.start()
        try:
            yield from self._respond(stream, context)
        finally:
            stream.ended.set()
            with self._lock:
                self._streams.remove(stream)

    def _read(self, requests: Iterator[pb.OperatorMessage], stream: _Stream) -> None:
        try:
            for message in requests:
                which = message.WhichOneof("body")
                if which == "hello":
                    self._on_hello(stream, message.hello)
                elif which == "heartbeat":
                    self.stats["heartbeats_received"] += 1
                else:
                    items = self.recorder.record(message, stream.instance_id, which)
                    with stream.lock:
                        if items and not stream.unacked:
                            stream.first_unacked_at = time.monotonic()
                        stream.unacked += items
                    if stream.unacked >= self.ack_every:
                        stream.wake.set()
        except grpc.RpcError:
            pass
        finally:
            stream.ended.set()
            stream.wake.set()

    def _on_hello(self, stream: _Stream, hello: pb.Hello) -> None:
        if self.faults.slow_s:
            time.sleep(self.faults.slow_s)
        self.recorder.hellos.append(hello)
        self.recorder.settle_through(hello.resume_acked_sequence)
        stream.instance_id = hello.instance_id
        welcome = pb.Welcome(session_id=uuid.uuid4().hex,
                             last_acked_sequence=self.recorder.acked_through,
                             heartbeat_interval_ms=int(self.heartbeat_interval_s * 1000))
        with self._lock:
            stream.outbox.append(pb.CloudMessage(welcome=welcome))
            stream.outbox.extend(self._pending_commands)
            self._pending_commands.clear()
            stream.welcomed = True
        stream.wake.set()

    def _respond(self, stream: _Stream, context: grpc.ServicerContext) -> Iterator[Any]:
        last_heartbeat = time.monotonic()
        while context.is_active():
            stream.wake.clear()          # before looking: a set() from now on is not lost
            if stream.drop is not None:
                self.stats["dropped"] += 1
                context.abort(*stream.drop)
            expires_at = self.tokens.expires_at(stream.token)
            if expires_at is None or expires_at <= time.time():
                self.stats["expired_mid_stream"] += 1
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "token expired mid-stream")
            while stream.outbox:
                yield stream.outbox.popleft()
            now = time.monotonic()
            if stream.welcomed and self._ack_due(stream, now):
                if self.faults.slow_s:
                    time.sleep(self.faults.slow_s)
                with stream.lock:
                    stream.unacked = 0
                    ack = pb.Ack(through_sequence=self.recorder.acked_through,
                                 lossy_through_sequence=self.recorder.lossy_through(
                                     stream.instance_id))
                self.stats["acks"] += 1
                yield pb.CloudMessage(ack=ack)
            if now - last_heartbeat >= self.heartbeat_interval_s:
                last_heartbeat = now
                yield pb.CloudMessage(heartbeat=pb.Heartbeat(unix_ms=int(time.time() * 1000)))
            if stream.ended.is_set() and not stream.outbox and not stream.unacked:
                return
            stream.wake.wait(0.02)

    def _ack_due(self, stream: _Stream, now: float) -> bool:
        if not stream.unacked or self.faults.stop_acking:
            return False
        waited = now - stream.first_unacked_at
        if waited < self.faults.ack_delay_s:
            return False
        return stream.unacked >= self.ack_every or waited >= self.ack_interval_s


class _Servicer(pb_grpc.CloudUplinkServicer):
    def __init__(self, owner: StreamServer) -> None:
        self._owner = owner

    def Connect(self, request_iterator: Iterator[pb.OperatorMessage],  # noqa: N802
                context: grpc.ServicerContext) -> Iterator[pb.CloudMessage]:
        return self._owner.serve(request_iterator, context)
