"""The uplink's only gRPC code: one thread running a grpc.aio loop that owns the bidi stream.

Each connection attempt re-reads the TLS files (rotation without restart), makes sure a token is
cached (``TokenSource``), opens a fresh mTLS channel with bearer call credentials and calls
``CloudUplink/Connect``. The request iterator sends Hello (from the injected ``hello`` callable),
then frames the core handed over with ``offer()`` (a bounded queue per stream, so nothing from a
dead stream leaks into the next; ``offer`` wakes the loop only when the sender is idle), and a
Heartbeat whenever nothing else went out for ``heartbeat_interval_s``. Everything the cloud sends is
decoded (``cloud_codec``) and put on the injected bounded ``inbox`` (when it is full the stream
stops reading, so HTTP/2 flow control pushes back), followed by ``notify()``. Stream starts and ends
are reported as ``UplinkStreamOpened`` / ``UplinkStreamClosed`` with the stream's epoch. grpc.aio
keeps the stream on this one thread (the sync API adds a request-consumer thread per call and costs
more CPU per message, protocols.md §4); requests go out as the bytes ``cloud_codec`` serialized (no
protobuf objects on the send path); blocking work (token fetch, TLS file reads) runs in the loop's
executor.

How it fails: never raises out of its thread. TLS file problems, token endpoint failures,
handshake errors (wrong CA, rejected client certificate), refused streams and silent clouds are
described in ``last_error``, logged once per change, counted, and retried after a ``Backoff``
delay (full jitter, reset after a healthy period). UNAUTHENTICATED on a stream that had been
welcomed (token expired mid-stream) reopens at once with a fresh token.

Keepalive: client pings every ``keepalive_time_s`` (default 30 s), which the server must permit
(``grpc.http2.min_ping_interval_without_data_ms`` <= that; gRPC's server default is 5 min and
answers faster pings with GOAWAY too_many_pings).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable

import grpc

from actors.runtime.backoff import Backoff
from actors.uplink import cloud_codec
from actors.uplink.frames import HelloInfo, OutgoingFrame
from actors.uplink.settings import UplinkSettings
from actors.uplink.tls import TlsConfigError, TlsFiles, describe_handshake_failure
from actors.uplink.token_source import BearerTokenPlugin, TokenSource, TokenUnavailableError
from messages.uplink import CloudSessionWelcomed, UplinkStreamClosed, UplinkStreamOpened
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb

__all__ = ["CloudStreamAdapter", "channel_options"]

logger = logging.getLogger(__name__)

_POLL_S = 0.2
# requests are serialized by cloud_codec (bytes pass through gRPC as they are)
CONNECT_METHOD = "/" + pb.DESCRIPTOR.services_by_name["CloudUplink"].full_name + "/Connect"


def channel_options(settings: UplinkSettings) -> list[tuple[str, int | str]]:
    options: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.enable_retries", 0),
    ]
    if settings.server_name:
        options.append(("grpc.ssl_target_name_override", settings.server_name))
    return options


class CloudStreamAdapter:
    """Keeps one bidi stream to the cloud open, reconnecting with backoff."""

    def __init__(self, settings: UplinkSettings, *, tokens: TokenSource, tls: TlsFiles,
                 hello: Callable[[], HelloInfo], inbox: queue.Queue[object],
                 notify: Callable[[], None] | None = None, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._tokens, self._tls, self._hello = tokens, tls, hello
        self._inbox = inbox
        self._notify = notify or (lambda: None)
        self._clock = clock
        self.backoff = backoff or Backoff(min_s=settings.backoff_min_s,
                                          max_s=settings.backoff_max_s,
                                          reset_after_s=settings.backoff_reset_after_s,
                                          clock=clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._epoch = 0
        self._send_q: queue.Queue[OutgoingFrame] = queue.Queue(settings.send_queue_frames)
        self._call: grpc.aio.StreamStreamCall | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._opened_at = 0.0
        self._last_received = 0.0
        self._welcomed = False
        self._sender_waiting = False
        self.state = "idle"
        self.last_error = ""
        self.stats: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("attempts", "sessions", "failures", "tls_errors", "token_errors",
             "reauthentications", "watchdog_cancels", "frames_sent", "messages_sent",
             "messages_received", "payload_bytes_sent", "heartbeats_sent"), 0))

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cloud-uplink-stream",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._poke(cancel=True)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _poke(self, *, cancel: bool = False) -> None:
        """Wake the loop (from any thread); optionally cancel the current call."""
        loop, wake, call = self._loop, self._wake, self._call
        if loop is None or loop.is_closed():
            return
        try:
            if wake is not None:
                loop.call_soon_threadsafe(wake.set)
            if cancel and call is not None:
                loop.call_soon_threadsafe(call.cancel)
        except RuntimeError:          # the loop closed in between
            pass

    @property
    def epoch(self) -> int:
        return self._epoch

    def has_room(self) -> bool:
        return not self._send_q.full()

    def offer(self, frame: OutgoingFrame) -> None:
        """Queue ``frame`` for its stream (check ``has_room`` first; blocks only if full)."""
        if frame.epoch != self._epoch:
            self.stats["stale_frames_discarded"] += 1      # resent after the next Welcome
            return
        queue_of_frame = self._send_q
        while not self._stop.is_set():
            try:
                queue_of_frame.put(frame, timeout=_POLL_S)
                break
            except queue.Full:
                if frame.epoch != self._epoch:
                    return
        if self._sender_waiting:       # a busy sender finds the frame without a wakeup
            self._poke()

    def counters(self) -> dict[str, float]:
        out = {f"stream_{k}": float(v) for k, v in self.stats.items()}
        out["stream_connected"] = float(self.state == "connected")
        out["stream_backoff_attempts"] = float(self.backoff.attempts)
        out.update(self._tokens.counters())
        out["tls_reloads"] = float(self._tls.reloads)
        return out

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self._stop.is_set():
            prepared = await self._loop.run_in_executor(None, self._prepare)
            if isinstance(prepared, float):
                delay = prepared
            else:
                delay = self._after_stream(*await self._stream(prepared))
            if delay > 0:
                self.state = "backoff"
                await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        deadline = self._clock() + seconds
        while not self._stop.is_set() and self._clock() < deadline:
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - self._clock())))

    def _prepare(self) -> grpc.ChannelCredentials | float:
        """TLS files and a token for the next attempt, or the backoff delay when they fail."""
        try:
            creds = self._tls.credentials()
            self._tokens.token()
        except TlsConfigError as exc:
            self.stats["tls_errors"] += 1
            return self._failed(f"TLS: {exc}")
        except TokenUnavailableError as exc:
            self.stats["token_errors"] += 1
            return self._failed(f"token: {exc}")
        call_creds = grpc.metadata_call_credentials(BearerTokenPlugin(self._tokens),
                                                    name="oauth2-client-credentials")
        return grpc.composite_channel_credentials(creds, call_creds)

    async def _stream(self, creds: grpc.ChannelCredentials) -> tuple[grpc.StatusCode, str]:
        self._epoch += 1
        epoch = self._epoch
        self._send_q = queue.Queue(self.settings.send_queue_frames)
        self._welcomed = False
        self._opened_at = self._last_received = self._clock()
        self.state = "connecting"
        self.stats["attempts"] += 1
        await self._deliver(UplinkStreamOpened(epoch=epoch))
        code, details = grpc.StatusCode.OK, "stream ended by the cloud"
        channel = grpc.aio.secure_channel(self.settings.server_address, creds,
                                          options=channel_options(self.settings))
        try:
            connect = channel.stream_stream(CONNECT_METHOD, request_serializer=None,
                                            response_deserializer=pb.CloudMessage.FromString)
            call = connect(self._requests(epoch))
            self._call = call
            async for response in call:
                self._last_received = self._clock()
                self.stats["messages_received"] += 1
                event = cloud_codec.decode_cloud_message(response, epoch)
                if event is None:
                    self.stats["messages_not_understood"] += 1
                    continue
                if isinstance(event, CloudSessionWelcomed):
                    self._on_welcomed()
                await self._deliver(event)
        except grpc.aio.AioRpcError as err:
            code, details = err.code(), err.details() or ""
        except asyncio.CancelledError:
            code, details = grpc.StatusCode.CANCELLED, "stream cancelled"
        finally:
            self._call = None
            await channel.close()
        await self._deliver(UplinkStreamClosed(epoch=epoch, code=code.name,
                                               reason=details[:300]))
        return code, details

    def _on_welcomed(self) -> None:
        self._welcomed = True
        self.state = "connected"
        self.stats["sessions"] += 1
        self.backoff.healthy()
        if self.last_error:
            logger.info("uplink stream: connected again after: %s", self.last_error)
        self.last_error = ""

    def _after_stream(self, code: grpc.StatusCode, details: str) -> float:
        self.stats[f"closed_{code.name.lower()}"] += 1
        if self._stop.is_set():
            return 0.0
        if code == grpc.StatusCode.UNAUTHENTICATED:
            self._tokens.invalidate()
            if self._welcomed:
                self.stats["reauthentications"] += 1
                logger.info("uplink stream: token no longer accepted (%s); reopening", details)
                return 0.0
            return self._failed(f"cloud refused the token: {details}")
        tls = describe_handshake_failure(details, ca_file=self._tls.ca_file,
                                         cert_file=self._tls.cert_file)
        if tls is not None and not self._welcomed:
            self.stats["tls_errors"] += 1
            return self._failed(tls)
        if "metadata from plugin" in details.lower():
            self.stats["token_errors"] += 1
            return self._failed(f"token: {details}")
        return self._failed(f"stream {code.name}: {details}")

    def _failed(self, reason: str) -> float:
        self.stats["failures"] += 1
        if reason != self.last_error:
            logger.warning("uplink stream: %s", reason)
        self.last_error = reason
        return self.backoff.next_delay()

    async def _requests(self, epoch: int) -> AsyncIterator[bytes]:
        yield cloud_codec.encode_hello(self._hello())
        last_sent = last_check = self._clock()
        send_q, wake = self._send_q, self._wake or asyncio.Event()
        while not self._stop.is_set() and epoch == self._epoch:
            try:
                frame: OutgoingFrame | None = send_q.get_nowait()
            except queue.Empty:
                frame = None
                await self._wait_for_frames(send_q, wake)
            now = self._clock()
            if now - last_check >= _POLL_S:
                last_check = now
                if not self._watchdog_ok():
                    return
                refreshed = await asyncio.get_running_loop().run_in_executor(
                    None, self._tokens.refresh_ahead)
                if refreshed:
                    self.stats["token_refreshed_ahead"] += 1
                if frame is None and now - last_sent >= self.settings.heartbeat_interval_s:
                    yield cloud_codec.encode_heartbeat(int(time.time() * 1000))
                    self.stats["heartbeats_sent"] += 1
                    last_sent = self._clock()
            if frame is None:
                continue
            for message in cloud_codec.encode_frame(frame):
                yield message
                self.stats["messages_sent"] += 1
            self.stats["frames_sent"] += 1
            self.stats["payload_bytes_sent"] += frame.payload_bytes
            last_sent = self._clock()

    async def _wait_for_frames(self, send_q: queue.Queue[OutgoingFrame],
                               wake: asyncio.Event) -> None:
        """Sleep until ``offer`` pokes (it only does while this waits) or ``_POLL_S`` passed."""
        wake.clear()
        self._sender_waiting = True          # from here on, offer() pokes
        try:
            if send_q.empty():               # re-check: a frame may have come before the flag
                timer = asyncio.get_running_loop().call_later(_POLL_S, wake.set)
                try:
                    await wake.wait()
                finally:
                    timer.cancel()
        finally:
            self._sender_waiting = False

    def _watchdog_ok(self) -> bool:
        now = self._clock()
        reason = ""
        if not self._welcomed and now - self._opened_at > self.settings.connect_timeout_s:
            reason = "no Welcome within connect_timeout_s"
        elif self._welcomed and now - self._last_received > self.settings.cloud_silence_timeout_s:
            reason = "cloud silent for cloud_silence_timeout_s"
        if not reason:
            return True
        self.stats["watchdog_cancels"] += 1
        self.last_error = reason
        call = self._call
        if call is not None:
            call.cancel()
        return False

    async def _deliver(self, event: object) -> None:
        while not self._stop.is_set():
            try:
                self._inbox.put_nowait(event)
                break
            except queue.Full:
                self.stats["inbox_full_waits"] += 1
                await asyncio.sleep(0.01)   # the stream stops reading: HTTP/2 pushes back
        self._notify()
