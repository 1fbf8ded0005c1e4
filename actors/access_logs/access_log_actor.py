"""``AccessLogReceiver`` (type ``envoy_als``): Envoy's gRPC Access Log Service, aggregated per
window into ``l7`` records for the uplink.

``AccessLogServer`` (grpc.aio in its own thread and event loop) serves every sidecar stream on
``port`` and hands one ``AccessLogBatch`` per ALS message to this actor through an ``IoBridge``
with ``offer``: access logs are LOSSY, a full bridge drops the batch and counts its entries,
the event loop never blocks on the actor. The actor folds each parsed message straight into
``L7Aggregator`` with ``MessageFolder`` (peers named by ``WorkloadMapper``, pod IPs resolved
through its own pod index, fed by ``pod_index`` records from the kube watcher); batches of
already decoded entries (replays) go through ``WorkloadMapper.map`` + ``L7Aggregator.add``.
Every ``window_s`` (and on drain) the window becomes ``l7`` records emitted to every outgoing
link (``cloud_uplink/main``, DROP_OLDEST in the chart): the aggregator's dict per key
(``reporter, source_namespace, source_kind, source_name, destination_namespace,
destination_kind, destination_name, port, protocol, method, path, code_class, count, errors,
request_bytes, response_bytes, response_flags, latency_count, latency_p50_ms, latency_p95_ms,
latency_p99_ms, latency_max_ms, first_start_ns, last_start_ns``) plus ``window_start_s`` and
``window_end_s``. A port that cannot be bound
fails ``configure`` (the supervisor retries with backoff); malformed streams are refused by
the server and counted; unknown enum numbers and entries with an ``Unknown`` peer are counted
per window (``unknown_enum_values_total``, ``unknown_peers_total``). A crash loses one window;
sidecars reconnect to the restarted server.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from typing import Any

from actors.access_logs.als_server import AccessLogBatch, AccessLogServer
from actors.access_logs.l7_aggregation import L7Aggregator
from actors.access_logs.l7_extraction import MessageFolder
from actors.access_logs.settings import AccessLogSettings, receiver_settings
from actors.access_logs.workload_mapping import WorkloadIndexPods, WorkloadMapper
from actors.flows.pod_index_copy import PodIndexCopy, apply_pod_index_batch
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.io_bridge import IoBridge
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["AccessLogReceiver", "AccessLogTimer"]

logger = logging.getLogger(__name__)


class AccessLogTimer(enum.Enum):
    """The receiver's wakeup: the aggregation window."""

    WINDOW = "window"


class AccessLogReceiver(ComponentActor):
    """The ``envoy_als`` component: ALS server → workload mapping → windowed L7 aggregation."""

    MAX_DRAIN = 64             # ALS messages (Envoy batches up to 16 KiB each) per handler

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.server: AccessLogServer | None = None
        self.aggregator: L7Aggregator | None = None
        self.folder: MessageFolder | None = None
        self.pods = PodIndexCopy()
        self.mapper = WorkloadMapper(WorkloadIndexPods(self.pods.index))
        self.window_s = 10.0
        self.records_per_batch = 5000
        self.port = 0
        self.totals: dict[str, float] = dict.fromkeys((
            "entries_received_total", "entries_overflow_total", "windows_flushed_total",
            "records_emitted_total", "records_unlinked_total", "pod_index_records_total",
            "unknown_records_total", "unknown_peers_total", "unknown_enum_values_total"), 0.0)

    # ---- lifecycle -------------------------------------------------------------------------
    def configure(self, settings: dict[str, Any]) -> None:
        values, als_settings = receiver_settings(settings)
        self.window_s = float(values["window_s"])
        self.records_per_batch = int(values["records_per_batch"])
        self.aggregator = L7Aggregator(max_keys=als_settings.max_keys,
                                       max_path_segments=als_settings.max_path_segments)
        self.folder = MessageFolder(self.aggregator, self.mapper)
        bridge: IoBridge[AccessLogBatch] = IoBridge(als_settings.queue_batches)
        self.attach_bridge(bridge)
        self.server = self.make_server(als_settings, bridge.offer)
        self.port = self.server.start()          # OSError (port taken) fails this incarnation
        logger.info("%s: ALS listening on %s:%d", self, als_settings.host, self.port)
        self.start_timer(self.window_s, AccessLogTimer.WINDOW)

    def make_server(self, als_settings: AccessLogSettings,
                    sink: Callable[[AccessLogBatch], bool]) -> AccessLogServer:
        """The ALS server feeding ``sink`` (tests substitute a scripted source)."""
        return AccessLogServer(als_settings, sink)

    def stop_io(self) -> None:
        # the event loop only ever offers (never blocks), so the server stops BEFORE the base
        # class closes the bridge: no wake-up byte can go to a closed (or reused) descriptor
        if self.server is not None:
            self.server.stop(3.0)

    def drain_sources(self) -> None:
        self._drain_all()
        self._flush_window()

    # ---- input -----------------------------------------------------------------------------
    def on_bridge_items(self, items: list[Any]) -> None:
        aggregator, folder = self.aggregator, self.folder
        if aggregator is None or folder is None:
            return
        mapper, received = self.mapper, 0
        for batch in items:
            if not isinstance(batch, AccessLogBatch):
                continue
            if batch.message is not None:
                received += folder.fold(batch.identity, batch.message, batch.raw)
                continue
            identity = batch.identity
            for entry in batch.entries:
                aggregator.add(mapper.map(identity, entry), entry)
            received += len(batch.entries)
        self.totals["entries_received_total"] += received

    def on_batch(self, batch: LinkBatch) -> bool:
        apply_pod_index_batch(self.pods, batch, self.totals, self)
        return True

    # ---- windows ---------------------------------------------------------------------------
    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is AccessLogTimer.WINDOW:
            self._drain_all()
            self._flush_window()
            self.start_timer(self.window_s, AccessLogTimer.WINDOW)

    def _drain_all(self) -> None:
        bridge = self.io_bridge
        if bridge is not None and not self.exiting:
            self.on_bridge_items(bridge.drain(bridge.capacity))

    def _flush_window(self) -> None:
        if self.aggregator is None:
            return
        window = self.aggregator.flush()
        counters = window.counters
        self.totals["entries_overflow_total"] += counters.get("overflow_entries", 0)
        self.totals["unknown_peers_total"] += counters.get("unknown_peer_entries", 0)
        self.totals["unknown_enum_values_total"] += sum(
            value for name, value in counters.items() if name.startswith("unknown_enum_values."))
        self.totals["windows_flushed_total"] += 1
        if not window.records:
            return
        extra = {"window_start_s": window.start_s, "window_end_s": window.end_s}
        records = [{**record, **extra} for record in window.records]
        if self.emit_records(RecordKind.L7.value, records, self.records_per_batch):
            self.totals["records_emitted_total"] += len(records)
        else:
            self.totals["records_unlinked_total"] += len(records)

    # ---- status ----------------------------------------------------------------------------
    def status_counters(self) -> dict[str, float]:
        stats = self.server.stats() if self.server is not None else {}
        dropped = float(stats.get("entries_dropped_sink_full", 0))
        counters = dict(self.totals)
        counters.update({
            "streams_active": float(stats.get("active_streams", 0)),
            "streams_max_active": float(stats.get("max_active_streams", 0)),
            "streams_opened_total": float(stats.get("streams_opened", 0)),
            "streams_rejected_total": float(stats.get("streams_rejected", 0)),
            "messages_total": float(stats.get("messages", 0)),
            "entries_dropped_total": dropped,
            "batches_dropped_total": float(stats.get("batches_dropped", 0)),
            "malformed_total": float(stats.get("malformed_frames", 0)
                                     + stats.get("missing_identifier", 0)),
            "oversized_messages_total": float(stats.get("oversized_messages", 0)),
            "listen_port": float(self.port),
            "pod_index_pods": float(self.pods.pods()),
            "pod_index_bad_records_total": float(self.pods.bad_records),
            "window_keys": float(len(self.aggregator) if self.aggregator else 0),
        })
        return counters
