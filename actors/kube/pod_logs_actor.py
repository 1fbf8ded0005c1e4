"""``PodLogCapture`` (type ``pod_logs``): pod-log captures on incidents and log_tail commands.

Inputs: ``incident`` records from the kube watcher (BLOCK link; problem pods worth a capture)
and ``command`` records ``{request_id, deadline_unix, kind: log_tail, args}`` on a request link
from the uplink. ``LogCaptureCore`` plans (de-duplicated, bounded) and schedules; a
``LogFetchPool`` of ``concurrency`` threads does the pods/log GETs and puts the answers into the
actor's ``IoBridge``. Outputs go to ``cloud_uplink/*`` only while it has credit: ``logs``
records for every capture and successful tail, and exactly one ``command_result`` per request
id (a deadline error when the deadline passes first — checked on every ``LogTick`` of the
pool's ticker thread, never silence). While
the uplink lacks credit no new GETs start and the bridge is not drained. Inbound batches are
finished at once (the planner and the pending-tail bound are the buffers; overflow is counted
or answered ``rejected``). A crash loses planned captures and unanswered tails; the uplink's
own deadline tracking answers those.

Continuous streaming (opt-in: ``stream_namespace_label`` non-empty): a ``LogStreamManager``
lists namespaces and their Running pods every ``STREAM_DISCOVERY_S``, the core picks at most
``max_streams`` containers of namespaces labelled ``<label>=true``, and each gets a follow
thread whose line batches arrive through the same bridge (lossless: while the uplink lacks
credit the bridge is not drained and the stream threads stop reading) and leave as ``logs``
records with ``streamed: true``. Streams of pods that disappear or of namespaces that lose the
label are closed at the next listing; a crash restarts streaming from a fresh listing (the
last few lines of each container again: ``INITIAL_TAIL_LINES``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from actors.kube.api_connection import ApiConnection
from actors.kube.log_capture_core import LogCaptureCore
from actors.kube.log_fetch_adapter import LogFetched, LogFetchPool, StreamTargetsListed
from actors.kube.log_stream_adapter import (
    FollowingLogClient,
    LogLinesStreamed,
    LogStreamEnded,
    LogStreamManager,
)
from actors.kube.settings import component_settings, kube_settings
from actors.runtime.component_actor import ComponentActor
from actors.runtime.credit import LinkSender
from actors.runtime.io_bridge import IoBridge
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["PodLogCapture"]

logger = logging.getLogger(__name__)

UPLINK_TYPE = "cloud_uplink/"
DEADLINE_CHECK_S = 0.25
STREAM_DISCOVERY_S = 15.0
MAX_OUTPUTS_PENDING = 256      # stop draining the bridge beyond this many records waiting


class PodLogCapture(ComponentActor):
    """Fetches pod logs on a bounded worker pool; answers every log_tail exactly once."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.core: LogCaptureCore | None = None
        self.pool: LogFetchPool | None = None
        self.workers = 2
        self.emitted = {RecordKind.LOGS.value: 0, RecordKind.COMMAND_RESULT.value: 0}
        self.unknown_records = 0
        self.draining = False
        self.streams: LogStreamManager | None = None
        self.streams_ended = 0

    def configure(self, settings: dict[str, Any]) -> None:
        values = component_settings("pod_logs", settings)
        kube = kube_settings("pod_logs", settings)
        self.workers = int(values["concurrency"])
        self.core = LogCaptureCore(kube, wall_clock=time.time, clock=time.monotonic,
                                   cooldown_s=float(values["cooldown"]),
                                   max_pending_tails=int(values["max_pending_tails"]),
                                   tail_timeout_s=float(values["tail_timeout"]))
        connection = ApiConnection.from_settings(values)
        adapter = connection.adapter()
        bridge: IoBridge[Any] = IoBridge(max(4, 2 * self.workers))
        self.attach_bridge(bridge)
        self.pool = LogFetchPool(adapter, bridge, self.workers, tick_s=DEADLINE_CHECK_S)
        self.pool.start()
        if kube.log_stream_max_streams > 0:
            self.streams = LogStreamManager(
                connection.adapter(), lambda: FollowingLogClient(
                    connection.url, connection.read_token, ca_file=adapter_ca(connection),
                    timeout_s=connection.timeout_s),
                bridge, label=kube.log_stream_namespace_label, discovery_s=STREAM_DISCOVERY_S)
            self.streams.start()

    def stop_io(self) -> None:
        if self.streams is not None and self.streams.stop():
            logger.warning("%s: log stream threads still running at exit", self)
        if self.pool is not None and self.pool.stop():
            logger.warning("%s: log workers still running at exit", self)

    def drain_sources(self) -> None:
        self.draining = True
        if self.streams is not None:
            self.streams.quiesce()
        self._pump()

    # ---- input -----------------------------------------------------------------------------
    def on_batch(self, batch: LinkBatch) -> bool:
        core = self._configured()
        try:
            records = codec.unpack_records(batch.payload)
        except codec.CodecError as error:
            self.unknown_records += batch.count
            logger.warning("%s: undecodable %s batch: %s", self, batch.record_kind, error)
            return True
        if batch.record_kind == RecordKind.INCIDENT.value:
            core.on_signals(r for r in records if isinstance(r, dict))
        elif batch.record_kind == RecordKind.COMMAND.value:
            for record in records:
                core.on_command(record)
        else:
            self.unknown_records += batch.count
        self._schedule()
        self._pump()
        return True

    def bridge_ready(self) -> bool:
        uplink = self._uplink()
        if self.core is not None and len(self.core.outputs) >= MAX_OUTPUTS_PENDING:
            return False
        return uplink is None or uplink.has_credit()

    def on_bridge_items(self, items: list[Any]) -> None:
        core = self._configured()
        for item in items:
            if isinstance(item, LogFetched):
                core.on_fetched(item)
            elif isinstance(item, LogLinesStreamed):
                core.on_streamed(item)
            elif isinstance(item, StreamTargetsListed):
                self._restream(item)
            elif isinstance(item, LogStreamEnded):
                self.streams_ended += 1
        core.expire()
        self._pump()
        self._schedule()

    def on_credit_available(self, link_id: str) -> None:
        if self.core is None:           # a link connected before configure(): nothing to send
            return
        self._pump()
        self._schedule()

    # ---- scheduling and output -------------------------------------------------------------
    def _configured(self) -> LogCaptureCore:
        if self.core is None:
            raise RuntimeError("pod_logs used before configure()")
        return self.core

    def _uplink(self) -> LinkSender | None:
        return next((link for link in self.outgoing_links()
                     if link.consumer_id.startswith(UPLINK_TYPE)), None)

    def _restream(self, listed: StreamTargetsListed) -> None:
        if self.streams is None or self.draining:
            return
        to_open, to_close = self._configured().plan_streams(listed, self.streams.active())
        for key in to_close:
            self.streams.close(key)
        for key, pod_uid in to_open:
            self.streams.open(key, pod_uid)
        if to_open or to_close:
            logger.info("%s: log streams +%d -%d", self, len(to_open), len(to_close))

    def _schedule(self) -> None:
        core = self._configured()
        if self.pool is None or self.draining or not self.bridge_ready():
            return
        for job in core.next_jobs(self.workers - core.busy()):
            self.pool.submit(job)

    def _pump(self) -> None:
        core = self._configured()
        uplink = self._uplink()
        outputs = core.outputs
        while uplink is not None and uplink.has_credit() and outputs:
            kind, record = outputs.popleft()
            self.emit(uplink.link_id, kind, 1, codec.pack_records([record]))
            self.emitted[kind] += 1

    def status_counters(self) -> dict[str, float]:
        if self.core is None:
            return {}
        out = {f"{k}_total": float(v) for k, v in self.core.counters.items()}
        out.update({f"planner_{k}_total": float(v)
                    for k, v in self.core.planner.counters.items()})
        out.update({f"emitted_{k}_total": float(v) for k, v in self.emitted.items()})
        out["unknown_records_total"] = float(self.unknown_records)
        out["tails_pending"] = float(len(self.core.deadlines))
        out["fetches_in_flight"] = float(self.core.busy())
        out["outputs_pending"] = float(len(self.core.outputs))
        out["workers_alive"] = float(self.pool.alive() if self.pool else 0)
        out["streams_active"] = float(len(self.streams.active()) if self.streams else 0)
        out["stream_reconnects_total"] = float(self.streams.reconnects if self.streams else 0)
        out["streams_ended_total"] = float(self.streams_ended)
        return out


def adapter_ca(connection: ApiConnection) -> str | None:
    """The CA bundle ``ApiConnection.adapter`` would use (https only)."""
    return connection.ca_file if connection.url.startswith("https") else None
