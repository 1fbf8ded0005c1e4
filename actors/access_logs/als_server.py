"""Envoy ALS receiver: a grpc.aio server in its own thread and event loop.

Owns ``/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs`` on the configured
host:port. It must be asyncio: every sidecar keeps one client stream open forever and a sync
server pins one worker thread per stream. Each stream gets an ``AlsStreamDecoder`` (the
identifier arrives only in the first message); the event loop only parses and identifies each
message (no per-entry work: the consumer folds the parsed message, ``l7_extraction``) and hands
it on as one ``AccessLogBatch`` to an injected bounded sink (a callable returning False when
full, or a ``queue.Queue``); a full sink drops the batch and counts it (L7 logs are a lossy
source, the event loop never blocks on a consumer). Malformed frames and a missing identifier
end that stream with INVALID_ARGUMENT and a counter; messages over ``max_message_bytes`` end it
with RESOURCE_EXHAUSTED and counted (``oversized_messages``; past 4x the limit gRPC itself
refuses them and the stream shows as ``streams_without_messages``); nothing crashes the server.
Unknown enum values are the consumer's to count (``l7_extraction``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from actors.access_logs.als_codec import AccessLogEntry, AlsProtocolError, AlsStreamDecoder
from actors.access_logs.settings import AccessLogSettings
from actors.access_logs.workload_mapping import ProxyIdentity
from messages.wire.envoy.service.accesslog.v3 import als_pb2

__all__ = ["AccessLogBatch", "AccessLogServer"]

logger = logging.getLogger(__name__)

SERVICE = "envoy.service.accesslog.v3.AccessLogService"
_EMPTY_RESPONSE = als_pb2.StreamAccessLogsResponse().SerializeToString()


@dataclasses.dataclass(frozen=True, slots=True)
class AccessLogBatch:
    """One ALS message's entries and the proxy that sent them: the parsed ``message`` (and the
    ``raw`` bytes it was parsed from, ``count`` entries) from the server, or decoded
    ``entries`` (replays and tests)."""

    identity: ProxyIdentity
    entries: Sequence[AccessLogEntry] = ()
    message: Any = None
    raw: bytes = b""
    count: int = 0

    @property
    def size(self) -> int:
        """How many entries the batch carries, in either form."""
        return self.count if self.message is not None else len(self.entries)


AccessLogSink = Callable[[AccessLogBatch], bool]


async def _nothing() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for item in empty:  # an empty async generator: a refused stream reads nothing
        yield item


def _queue_sink(target: queue.Queue[AccessLogBatch]) -> AccessLogSink:
    def put(batch: AccessLogBatch) -> bool:
        try:
            target.put_nowait(batch)
        except queue.Full:
            return False
        return True
    return put


class AccessLogServer:
    """Serves ALS until ``stop()``; ``start()`` returns the bound port or raises OSError."""

    def __init__(self, settings: AccessLogSettings, sink: AccessLogSink | Any) -> None:
        self.settings = settings
        self._sink: AccessLogSink = _queue_sink(sink) if isinstance(sink, queue.Queue) else sink
        self.counters: collections.Counter[str] = collections.Counter()
        self.active_streams = 0
        self.port = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def start(self, timeout: float = 10.0) -> int:
        self._thread = threading.Thread(target=self._run, name="als-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise OSError("ALS server did not start in time")
        if self._error is not None:
            raise OSError(f"ALS server failed to start: {self._error}") from self._error
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self) -> dict[str, int]:
        for _ in range(5):
            try:
                result = dict(self.counters)
            except RuntimeError:
                continue
            result["active_streams"] = self.active_streams
            return result
        return {}

    # -- the event loop thread -------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            logger.exception("ALS server loop ended with an error")
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        settings = self.settings
        self._stopping = asyncio.Event()
        server = grpc.aio.server(options=[
            # gRPC's own cap is a hard memory bound 4x ours; between the two we count and
            # answer ourselves (gRPC's own refusal is invisible to the handler)
            ("grpc.max_receive_message_length", settings.max_message_bytes * 4),
            ("grpc.max_concurrent_streams", settings.max_streams_per_connection),
            ("grpc.http2.min_ping_interval_without_data_ms",
             int(settings.keepalive_min_interval_s * 1000)),
            ("grpc.so_reuseport", 0)])
        handler = grpc.stream_unary_rpc_method_handler(
            self._stream, request_deserializer=None, response_serializer=None)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"StreamAccessLogs": handler}),))
        self.port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        await server.start()
        logger.info("ALS server listening on %s:%s", settings.host, self.port)
        self._ready.set()
        await self._stopping.wait()
        await server.stop(settings.grace_s)

    async def _stream(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        counters = self.counters
        decoder = AlsStreamDecoder(counters)
        counters["streams_opened"] += 1
        self.active_streams += 1
        if self.active_streams > counters["max_active_streams"]:
            counters["max_active_streams"] = self.active_streams
        failure: tuple[grpc.StatusCode, str] | None = None
        limit = self.settings.max_message_bytes
        received = 0
        if self.active_streams > self.settings.max_concurrent_streams:
            counters["streams_over_limit"] += 1
            failure = (grpc.StatusCode.RESOURCE_EXHAUSTED,
                       f"more than {self.settings.max_concurrent_streams} concurrent ALS streams")
        try:
            async for raw in requests if failure is None else _nothing():
                counters["messages"] += 1
                received += 1
                if len(raw) > limit:
                    counters["oversized_messages"] += 1
                    failure = (grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"StreamAccessLogsMessage of {len(raw)} bytes exceeds "
                               f"max_message_bytes {limit}")
                    break
                try:
                    parsed = decoder.parse(raw)
                except AlsProtocolError as exc:
                    failure = (grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                    break
                if parsed.size and decoder.identity is not None:
                    self._deliver(AccessLogBatch(decoder.identity, message=parsed.message,
                                                 raw=raw, count=parsed.size))
        except (grpc.RpcError, asyncio.CancelledError) as exc:
            counters["streams_failed"] += 1
            logger.info("ALS stream from %s ended abnormally: %s",
                        decoder.identity.node_id if decoder.identity else "?", type(exc).__name__)
            if isinstance(exc, asyncio.CancelledError):
                raise
        except Exception as exc:  # a bug must cost one stream, not the server
            counters["internal_errors"] += 1
            logger.exception("ALS stream handler failed")
            failure = (grpc.StatusCode.INTERNAL, f"ALS receiver internal error: {exc!r}")
        finally:
            self.active_streams -= 1
            counters["streams_closed"] += 1
            if received == 0:
                counters["streams_without_messages"] += 1  # incl. refused by gRPC's hard cap
        if failure is not None:
            counters["streams_rejected"] += 1
            rejected = counters["streams_rejected"]
            if rejected <= 10 or rejected % 1000 == 0:  # a hostile sender must not flood logs
                logger.warning("ALS stream rejected (%d so far): %s", rejected, failure[1])
            await context.abort(failure[0], failure[1])
        return _EMPTY_RESPONSE

    def _deliver(self, batch: AccessLogBatch) -> None:
        if self._sink(batch):
            self.counters["batches_delivered"] += 1
            self.counters["entries_delivered"] += batch.size
        else:
            self.counters["batches_dropped"] += 1
            self.counters["entries_dropped_sink_full"] += batch.size
