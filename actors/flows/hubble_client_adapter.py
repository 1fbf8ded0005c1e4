"""Hubble Relay client: GetFlows(follow) in its own thread, decoded batches into a bounded sink.

Owns the gRPC side of the flow pipeline. One thread opens a channel to the ``RelayTarget``
(TLS exactly as discovery decided; ``relay_channel`` builds it, the flows bench's null consumer
uses the same one), asks for live flows with relay-side filters from ``FlowSettings`` (reply
packets dropped by default; with ``shards > 1`` the nodes from GetNodes are split by a stable
hash and this shard whitelists only its ``node_name``s, re-read every ``shard_refresh_s`` so new
nodes are picked up; a shard owning no node does not stream, since an empty node filter would
mean every node). The stream runs on gRPC's single-threaded unary-stream path (responses are
read on this thread, no hand-off through the channel's spin thread) and the hot loop only
queues the raw response bytes; they are decoded in bulk with ``FlowDecoder`` when a batch is
full, old, or the consumer calls ``flush_pending``, and handed over as one ``FlowBatch`` to an
injected sink (a callable that returns False when full, or a ``queue.Queue``). A full sink drops
the batch and counts it: flows are a lossy source and the reader must never stall the relay. A
broken stream is reopened after ``Backoff`` delays, asking for flows ``since`` the last one seen;
the time the stream was down is accounted as a gap (``reconnects``, ``gap_ms``). ``stop()``
cancels the call and joins.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import grpc.experimental

from actors.flows.flow_codec import FlowDecoder
from actors.flows.flow_records import DecodedFlows, FlowRecord
from actors.flows.flow_request_codec import build_request, shard_nodes
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import FlowSettings
from actors.runtime.backoff import Backoff
from messages.wire.observer import observer_pb2

__all__ = ["GET_FLOWS", "GET_NODES", "FlowBatch", "HubbleFlowClient", "queue_sink",
           "relay_channel"]

logger = logging.getLogger(__name__)

GET_FLOWS = "/observer.Observer/GetFlows"
GET_NODES = "/observer.Observer/GetNodes"


@dataclasses.dataclass(frozen=True, slots=True)
class FlowBatch:
    """Decoded flows handed to the consumer in one piece (``DecodedFlows`` from the client)."""

    records: Sequence[FlowRecord]


FlowSink = Callable[[FlowBatch], bool]


def queue_sink(target: queue.Queue[FlowBatch]) -> FlowSink:
    """A sink that puts without blocking and reports False when the queue is full."""
    def put(batch: FlowBatch) -> bool:
        try:
            target.put_nowait(batch)
        except queue.Full:
            return False
        return True
    return put


def relay_channel(target: RelayTarget, settings: FlowSettings) -> grpc.Channel:
    """The channel every GetFlows reader (and the bench's null consumer) uses for ``target``."""
    keepalive_ms = int(settings.keepalive_s * 1000)
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", min(20_000, keepalive_ms)),
        ("grpc.http2.max_pings_without_data", 0),
        (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)]
    tls = target.tls
    if tls is None:
        return grpc.insecure_channel(target.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_pem, private_key=tls.client_key_pem or None,
        certificate_chain=tls.client_cert_pem or None)
    options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target.address, credentials, options=options)


class HubbleFlowClient:
    """Streams flows from one relay until ``stop()``; safe to read ``stats()`` from any thread."""

    def __init__(self, target: RelayTarget, settings: FlowSettings, sink: FlowSink | Any, *,
                 backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.settings = settings
        self._sink: FlowSink = queue_sink(sink) if isinstance(sink, queue.Queue) else sink
        self._clock = clock
        self._backoff = backoff or Backoff(min_s=settings.reconnect_min_s,
                                           max_s=settings.reconnect_max_s,
                                           reset_after_s=settings.reconnect_reset_after_s,
                                           clock=clock)
        self.decoder = FlowDecoder()
        self.counters = self.decoder.counters
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: collections.deque[bytes] = collections.deque()  # raw, not yet decoded
        self._pending_since = clock()
        self._call: Any = None
        self._thread: threading.Thread | None = None
        self.last_time_ns: int | None = None
        self.last_error = ""
        self._refreshing = False
        self.streaming = False   # True once the current stream delivered its first response

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        # under the lock: a stop() from another thread sees no thread or a started one
        with self._lock:
            if self._stop.is_set():
                return
            self._thread = threading.Thread(target=self.run, name="hubble-getflows",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.flush_pending()

    def stats(self) -> dict[str, int]:
        for _ in range(5):
            try:
                return dict(self.counters)
            except RuntimeError:  # resized by the reader thread mid-copy: try again
                continue
        return {}

    # -- batching --------------------------------------------------------------------------
    def flush_pending(self) -> None:
        """Decode and hand over whatever is pending (the consumer may call this on its own
        timer; the reader calls it when a batch is full or old)."""
        pending = self._pending
        with self._lock:  # the sink never blocks, so decoding and delivering under it is fine
            self._pending_since = self._clock()
            count = len(pending)  # the reader only appends: these ``count`` are complete
            if not count:
                return
            take = pending.popleft
            records = self.decoder.decode_many([take() for _ in range(count)])
            newest = records.newest_time_ns()
            if newest is not None:
                if self.last_time_ns is None or newest > self.last_time_ns:
                    self.last_time_ns = newest
                self._deliver(records)

    def _deliver(self, records: DecodedFlows) -> None:
        if self._sink(FlowBatch(records)):
            self.counters["batches_delivered"] += 1
        else:
            self.counters["batches_dropped"] += 1
            self.counters["flows_dropped_sink_full"] += len(records)

    # -- the stream ------------------------------------------------------------------------
    def _nodes(self, channel: grpc.Channel) -> list[str] | None:
        if self.settings.shards <= 1:
            return None
        get_nodes = channel.unary_unary(
            GET_NODES, request_serializer=observer_pb2.GetNodesRequest.SerializeToString,
            response_deserializer=observer_pb2.GetNodesResponse.FromString)
        response = get_nodes(observer_pb2.GetNodesRequest(), timeout=10.0)
        mine = shard_nodes([n.name for n in response.nodes], self.settings.shards,
                           self.settings.shard_index)
        self.counters["shard_nodes"] = len(mine)
        if not mine:  # an empty node_name filter would mean ALL nodes: never stream then
            self.counters["shard_without_nodes"] += 1
            raise ValueError(f"shard {self.settings.shard_index}/{self.settings.shards} owns "
                             f"none of the relay's {len(response.nodes)} nodes yet")
        return mine

    def _refresh_partition(self) -> None:
        """Timer: end the stream so the next one re-reads the nodes (resumes with since)."""
        call = self._call
        if call is not None and not self._stop.is_set():
            self._refreshing = True
            call.cancel()

    def run(self) -> None:
        down_since: float | None = None
        timer: threading.Timer | None = None
        while not self._stop.is_set():
            self._refreshing = False
            try:
                with relay_channel(self.target, self.settings) as channel:
                    since = None
                    if self.last_time_ns is not None and self.settings.resume_with_since:
                        since = self.last_time_ns + 1
                        self.counters["since_resumes"] += 1
                    request = build_request(self.settings, self._nodes(channel), since)
                    stream = channel.unary_stream(
                        GET_FLOWS,
                        request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
                        response_deserializer=None)
                    self._call = stream(request)
                    if self._stop.is_set():  # stop() ran before the call existed
                        self._call.cancel()
                    if self.settings.shards > 1:
                        timer = threading.Timer(self.settings.shard_refresh_s,
                                                self._refresh_partition)
                        timer.daemon = True
                        timer.start()
                    down_since = self._consume(self._call, down_since)
                self.counters["streams_ended"] += 1
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    break
                if self._refreshing:
                    self._refreshing = False
                    self.counters["shard_refreshes"] += 1
                    self.flush_pending()
                    continue
                self.last_error = f"{exc.code()}: {exc.details()}"
                self.counters["stream_errors"] += 1
                logger.warning("hubble GetFlows on %s failed: %s", self.target.address,
                               self.last_error)
            except ValueError as exc:
                self.last_error = str(exc)
                self.counters["request_errors"] += 1
                logger.error("hubble GetFlows request invalid: %s", exc)
            except Exception as exc:  # the reader thread must never die silently
                self.last_error = f"internal error: {exc!r}"
                self.counters["internal_errors"] += 1
                logger.exception("hubble GetFlows reader failed; retrying after backoff")
            finally:
                self._call = None
                self.streaming = False
                if timer is not None:
                    timer.cancel()
                    timer = None
            self.flush_pending()
            if self._stop.is_set():
                break
            if down_since is None:
                down_since = self._clock()
            self.counters["reconnects"] += 1
            self._stop.wait(self._backoff.next_delay())

    def _consume(self, call: Any, down_since: float | None) -> float | None:
        limit = self.settings.batch_max_records
        delay = self.settings.batch_max_delay_s
        clock, pending = self._clock, self._pending
        append = pending.append
        responses = iter(call)
        for raw in responses:  # the first response: the stream is up
            self.streaming = True
            self._backoff.healthy()
            if down_since is not None:
                self.counters["gap_ms"] += int((clock() - down_since) * 1000)
                down_since = None
            append(raw)
            break
        for raw in responses:  # hot loop: queue the bytes, decode in bulk
            append(raw)
            if len(pending) >= limit or clock() - self._pending_since >= delay:
                self.flush_pending()
        return down_since
