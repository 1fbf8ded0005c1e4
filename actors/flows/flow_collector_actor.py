"""``FlowCollector`` (type ``hubble_flows``): one node_name shard of Hubble Relay flows,
aggregated per window into ``flows`` records for the uplink.

A ``RelayConnector`` thread discovers the relay (explicit address, else the hubble-relay
Service through the Kubernetes API; TLS material from files or Secrets, never a plaintext
fallback) and streams GetFlows; decoded ``FlowBatch``es reach the actor through an ``IoBridge``
with ``offer`` — flows are LOSSY: a full bridge drops the batch and counts it, the gRPC reader
never stalls the relay. The actor enriches flows that lack a workload from its own pod index
(``pod_index`` records from the kube watcher, on a BLOCK link) and feeds ``FlowAggregator``.
Every ``window_s`` (and on drain) the window becomes ``flows`` records emitted to every
outgoing link (``cloud_uplink/main``, DROP_OLDEST in the chart): the aggregator's dict per key
(``source_namespace, source_kind, source_name, destination_namespace, destination_kind,
destination_name, destination_port, l4_protocol, direction, verdict, drop_reason, count,
first_seen_ns, last_seen_ns, allowed_by, denied_by, destination_service``) plus
``window_start_s``, ``window_end_s`` and ``shard_index``. Discovery/TLS/stream failures show as
``last_error`` in this component's status and as counters, and are retried with backoff.
A crash loses one window; the restarted actor re-discovers and resumes streaming.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Mapping
from typing import Any

from actors.flows.aggregation import FlowAggregator
from actors.flows.hubble_client_adapter import FlowBatch
from actors.flows.pod_index_copy import PodIndexCopy, apply_pod_index_batch
from actors.flows.relay_connector_adapter import RelayConnector
from actors.flows.settings import FlowSettings, collector_settings
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.io_bridge import IoBridge
from messages.records import RecordKind
from messages.runtime import ComponentStatus, LinkBatch

__all__ = ["FlowCollector", "FlowTimer"]

logger = logging.getLogger(__name__)

PENDING_FLUSH_S = 0.25     # hand over the reader's partial batch at least this often


class FlowTimer(enum.Enum):
    """The collector's wakeups: the aggregation window and the reader's partial batch."""

    WINDOW = "window"
    PENDING = "pending"


class FlowCollector(ComponentActor):
    """The ``hubble_flows`` component: relay stream → enrichment → windowed aggregation."""

    MAX_DRAIN = 32             # batches of up to batch_max_records flows: keep handlers short

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.connector: RelayConnector | None = None
        self.aggregator: FlowAggregator | None = None
        self.pods = PodIndexCopy()
        self.window_s = 10.0
        self.shard_index = 0
        self.records_per_batch = 5000
        self.totals: dict[str, float] = dict.fromkeys((
            "flows_received_total", "flows_overflow_total", "replies_skipped_total",
            "windows_flushed_total", "records_emitted_total", "records_unlinked_total",
            "pod_index_records_total", "unknown_records_total"), 0.0)

    # ---- lifecycle -------------------------------------------------------------------------
    def configure(self, settings: dict[str, Any]) -> None:
        values, flow_settings = collector_settings(settings)
        self.window_s = float(values["window_s"])
        self.shard_index = flow_settings.shard_index
        self.records_per_batch = int(values["records_per_batch"])
        self.aggregator = FlowAggregator(max_keys=flow_settings.max_keys,
                                         skip_replies=flow_settings.drop_replies)
        bridge: IoBridge[FlowBatch] = IoBridge(flow_settings.queue_batches)
        self.attach_bridge(bridge)
        self.connector = self.make_connector(values, flow_settings, bridge.offer)
        self.connector.start()
        self.start_timer(self.window_s, FlowTimer.WINDOW)
        self.start_timer(PENDING_FLUSH_S, FlowTimer.PENDING)

    def make_connector(self, values: Mapping[str, Any], flow_settings: FlowSettings,
                       sink: Callable[[FlowBatch], bool]) -> RelayConnector:
        """The relay stream feeding ``sink`` (tests substitute a scripted source)."""
        return RelayConnector(
            flow_settings, sink, client_secret=str(values["tls_client_secret"]),
            api_settings={key: values[key] for key in ("api_url", "token_file", "ca_file")}
            | {"request_timeout": values["request_timeout"]},
            rediscover_after_s=float(values["rediscover_after"]))

    def stop_io(self) -> None:
        # the reader only ever offers (never blocks), so it is stopped BEFORE the base class
        # closes the bridge: no wake-up byte can go to a closed (or reused) descriptor
        if self.connector is not None:
            self.connector.stop(2.0)

    def drain_sources(self) -> None:
        if self.connector is not None:
            self.connector.flush_pending()
        self._drain_all()
        self._flush_window()

    # ---- input -----------------------------------------------------------------------------
    def on_bridge_items(self, items: list[Any]) -> None:
        aggregator = self.aggregator
        if aggregator is None:
            return
        enrich = self.pods.enrich_flows
        for batch in items:
            if isinstance(batch, FlowBatch):
                self.totals["flows_received_total"] += len(batch.records)
                aggregator.add_many(enrich(batch.records))

    def on_batch(self, batch: LinkBatch) -> bool:
        apply_pod_index_batch(self.pods, batch, self.totals, self)
        return True

    # ---- windows ---------------------------------------------------------------------------
    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is FlowTimer.PENDING:
            if self.connector is not None:
                self.connector.flush_pending()
            self.start_timer(PENDING_FLUSH_S, FlowTimer.PENDING)
        elif tag.kind is FlowTimer.WINDOW:
            self._drain_all()
            self._flush_window()
            self.start_timer(self.window_s, FlowTimer.WINDOW)

    def _drain_all(self) -> None:
        """Take what is already queued into this window (bounded by the bridge capacity)."""
        bridge = self.io_bridge
        if bridge is not None and not self.exiting:
            self.on_bridge_items(bridge.drain(bridge.capacity))

    def _flush_window(self) -> None:
        if self.aggregator is None:
            return
        window = self.aggregator.flush()
        counters = window.counters
        self.totals["flows_overflow_total"] += counters.get("overflow_flows", 0)
        self.totals["replies_skipped_total"] += counters.get("replies_skipped", 0)
        self.totals["windows_flushed_total"] += 1
        if not window.records:
            return
        extra = {"window_start_s": window.start_s, "window_end_s": window.end_s,
                 "shard_index": self.shard_index}
        records = [{**record, **extra} for record in window.records]
        if self.emit_records(RecordKind.FLOWS.value, records, self.records_per_batch):
            self.totals["records_emitted_total"] += len(records)
        else:
            self.totals["records_unlinked_total"] += len(records)

    # ---- status ----------------------------------------------------------------------------
    def status_counters(self) -> dict[str, float]:
        stats = self.connector.stats() if self.connector is not None else {}
        bridge_dropped = float(stats.get("flows_dropped_sink_full", 0))
        counters = dict(self.totals)
        counters.update({
            "flows_dropped_bridge_total": bridge_dropped,
            "flows_dropped_total": bridge_dropped + self.totals["flows_overflow_total"],
            "lost_events_total": float(stats.get("lost_events", 0)),
            "streaming": 1.0 if self.connector is not None and self.connector.streaming
            else 0.0,
            "gap_ms_total": float(stats.get("gap_ms", 0)),
            "reconnects_total": float(stats.get("reconnects", 0)),
            "since_resumes_total": float(stats.get("since_resumes", 0)),
            "stream_errors_total": float(stats.get("stream_errors", 0)),
            "discovery_failures_total": float(stats.get("discovery_failures", 0)),
            "rediscoveries_total": float(stats.get("rediscoveries", 0)),
            "relay_flows_total": float(stats.get("flows", 0)),
            "malformed_frames_total": float(stats.get("malformed_frames", 0)),
            "relay_error": 1.0 if self._last_error() else 0.0,
            "pod_index_pods": float(self.pods.pods()),
            "pod_index_bad_records_total": float(self.pods.bad_records),
            "flows_enriched_total": float(self.pods.enriched),
            "window_keys": float(len(self.aggregator) if self.aggregator else 0),
        })
        return counters

    def _last_error(self) -> str:
        return self.connector.last_error if self.connector is not None else ""

    def status_snapshot(self, request_id: int) -> ComponentStatus:
        status = super().status_snapshot(request_id)
        error = self._last_error()
        return dataclasses.replace(status, last_error=error) if error else status
