"""``MetricsRingActor`` (component type ``metrics_ring``): the single owner of the metrics store.

Takes metric points from an OTLP/gRPC receiver in its own process (``receiver.enabled``, the
chart's default: ``embedded_receiver``, drained through an ``IoBridge``) and/or from a separate
OtlpReceiver's link, and consumes three record kinds on its inbound links (every batch finished
in its handler, except the start-up hold below):
- ``metric_points`` from an OtlpReceiver: frames decoded by ``point_frames.FrameDecoder`` go
  through the core ``MetricsRing`` (``queue`` → ``drain`` → ``RingStore``), as do the embedded
  receiver's decoded requests; a payload that cannot be decoded is counted with its points and
  dropped, never a crash;
- ``pod_index`` from the kube watcher: pod → workload facts for series whose resource named
  no workload (``RingRequests.pod_index``);
- ``command`` (request link from the uplink): ``metrics_query`` commands, each answered with
  exactly one ``command_result`` record on the link back to the requesting producer.
The pod→workload fallback is applied when a series is created, so until the first ``pod_index``
batch arrived (at most ``pod_index_wait_s`` after configure) ``metric_points`` batches are held
unfinished (and the embedded receiver's bridge is not drained): the link's credit stops, the
receiver answers UNAVAILABLE, nothing is lost, and series are not created without the workload
the kube watcher is about to tell.
A timer evicts idle series every ``eviction_interval_s``. The store holds up to millions of
long-lived objects; a full GC pass over a full store (100k series) took ~200 ms here and ~0 ms
once frozen, so the actor calls ``gc.freeze()`` after warm-up and again whenever
``gc_refreeze_series`` new series arrived (series objects are acyclic: refcounting still frees
evicted ones). Every ``HEAP_TRIM_S`` after ingesting it hands free heap pages back to the
kernel (``actors.runtime.heap``: the link payloads and numpy temporaries of a burst). A crash
loses the store; the restarted actor starts empty, the receiver's link resends unacknowledged
batches and the kube watcher re-sends its whole pod index to the new incarnation.
"""

from __future__ import annotations

import enum
import gc
import logging
import time
from collections.abc import Mapping
from typing import Any

from actors.metrics.decoded import DecodedMetrics
from actors.metrics.embedded_receiver import EmbeddedReceiver
from actors.metrics.metrics_ring import MetricsRing
from actors.metrics.point_frames import FrameDecoder, FrameError
from actors.metrics.ring_requests import RingRequests
from actors.metrics.settings import ring_settings
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.heap import HeapTrimmer
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["MetricsRingActor"]

logger = logging.getLogger(__name__)

METRIC_POINTS = RecordKind.METRIC_POINTS.value
WARM_UP_S = 5.0           # first gc.freeze() this long after configure
HEAP_TRIM_S = 5.0         # free heap pages back to the kernel at most this often, after work


class RingTimer(enum.Enum):
    EVICT = "evict"
    HEAP_TRIM = "heap_trim"
    WARM_UP = "warm_up"
    POD_INDEX_WAIT = "pod_index_wait"


class MetricsRingActor(ComponentActor):
    """Store owner: ingests metric_points, applies pod_index, answers metrics_query."""

    MAX_DRAIN = 8       # decoded requests per handler from the embedded receiver (queries wait)

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.ring: MetricsRing | None = None
        self.requests: RingRequests | None = None
        self.frames = FrameDecoder()
        self.receiver: EmbeddedReceiver | None = None
        self.eviction_interval_s = 30.0
        self.refreeze_series = 10_000
        self._series_at_freeze = 0
        self.heap = HeapTrimmer()
        self._held: list[LinkBatch] = []     # metric_points waiting for the first pod_index
        self._holding = False
        self.counters: dict[str, float] = dict.fromkeys(
            ("metric_batches_total", "metric_frames_total", "points_received_total",
             "points_undecodable_total", "batches_undecodable_total", "records_unknown_total",
             "command_batches_total", "gc_freezes_total", "eviction_sweeps_total",
             "pod_index_waits_expired_total"), 0)

    def configure(self, settings: dict[str, Any]) -> None:
        values, metrics_settings = ring_settings(settings)
        self.eviction_interval_s = float(values["eviction_interval_s"])
        self.refreeze_series = int(values["gc_refreeze_series"])
        self.ring = MetricsRing(metrics_settings, clock_ns=time.time_ns)
        self.requests = RingRequests(answer=self.ring.answer, resolver=self.ring.resolver,
                                     wall_clock=time.time)
        self.start_timer(self.eviction_interval_s, RingTimer.EVICT)
        self.start_timer(WARM_UP_S, RingTimer.WARM_UP)
        self.start_timer(HEAP_TRIM_S, RingTimer.HEAP_TRIM)
        wait_s = float(values["pod_index_wait_s"])
        self._holding = wait_s > 0
        if self._holding:
            self.start_timer(wait_s, RingTimer.POD_INDEX_WAIT)
        logger.info("%s: ring of %s series x %s points, retention %s", self,
                    metrics_settings.max_series, metrics_settings.ring_size,
                    metrics_settings.retention)
        if values["receiver"]["enabled"]:
            self.receiver = EmbeddedReceiver(values["receiver"])
            self.attach_bridge(self.receiver.bridge)
            self.receiver.start()

    # ---- the embedded receiver -------------------------------------------------------------

    def bridge_ready(self) -> bool:
        return not self._holding

    def on_bridge_items(self, items: list[DecodedMetrics]) -> None:
        self.counters["points_received_total"] += sum(decoded.points for decoded in items)
        self._store(items)

    # ---- inbound records -------------------------------------------------------------------

    def on_batch(self, batch: LinkBatch) -> bool:
        kind = batch.record_kind
        if kind == METRIC_POINTS:
            if self._holding:
                self._held.append(batch)
                return False                     # finished (credited) once released
            self._ingest(batch)
        elif kind == RecordKind.POD_INDEX.value:
            self._core()[1].pod_index(self._records(batch))
            self._release_held()
        elif kind == RecordKind.COMMAND.value:
            self._answer(batch)
        else:
            self.counters["records_unknown_total"] += batch.count
            logger.warning("%s: %d records of unknown kind %r on %s dropped", self, batch.count,
                           kind, batch.link_id)
        return True

    def _records(self, batch: LinkBatch) -> list[Any]:
        try:
            return list(codec.unpack_records(batch.payload))
        except codec.CodecError as exc:
            self.counters["batches_undecodable_total"] += 1
            logger.warning("%s: undecodable %s batch on %s: %s", self, batch.record_kind,
                           batch.link_id, exc)
            return []

    def _core(self) -> tuple[MetricsRing, RingRequests]:
        if self.ring is None or self.requests is None:
            raise RuntimeError("metrics ring used before it was configured")
        return self.ring, self.requests

    def _ingest(self, batch: LinkBatch) -> None:
        self.counters["metric_batches_total"] += 1
        self.counters["points_received_total"] += batch.count
        try:
            decoded = self.frames.decode(batch.payload)
        except FrameError as exc:
            self.counters["batches_undecodable_total"] += 1
            self.counters["points_undecodable_total"] += batch.count
            logger.warning("%s: %s (%d points dropped)", self, exc, batch.count)
            return
        self.counters["metric_frames_total"] += len(decoded)
        self._store(decoded)

    def _store(self, batches: list[DecodedMetrics]) -> None:
        ring = self._core()[0]
        for decoded in batches:
            if not ring.queue.offer(decoded):     # full: make room, then it fits
                ring.drain()
                ring.queue.offer(decoded)
        ring.drain()
        self.heap.note_work()

    def _release_held(self) -> None:
        self._holding = False
        held, self._held = self._held, []
        for batch in held:
            self._ingest(batch)
            self.finish_batch(batch)
        if self.receiver is not None:
            self.on_bridge_items(self.receiver.bridge.drain(self.MAX_DRAIN))

    def drain_sources(self) -> None:
        """Stop taking Export calls, then store what was already accepted."""
        if self.receiver is not None:
            self.receiver.stop_accepting()
        self._release_held()
        if self.receiver is not None:
            for _ in range(1000):
                items = self.receiver.bridge.drain(256)
                if not items:
                    break
                self.on_bridge_items(items)

    def stop_io(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()

    def _answer(self, batch: LinkBatch) -> None:
        self.counters["command_batches_total"] += 1
        results = self._core()[1].commands(self._records(batch))
        if results:
            requester = batch.link_id.split("->", 1)[0]   # answers go back to the producer
            self.emit(requester, RecordKind.COMMAND_RESULT.value, len(results),
                      codec.pack_records(results))

    # ---- timers ----------------------------------------------------------------------------

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is RingTimer.EVICT:
            evicted = self._core()[0].evict_if_due()
            self.counters["eviction_sweeps_total"] += 1
            if evicted:
                logger.info("%s: evicted %d idle series", self, evicted)
            self._maybe_refreeze()
            self.start_timer(self.eviction_interval_s, RingTimer.EVICT)
        elif tag.kind is RingTimer.HEAP_TRIM:
            self.heap.on_tick()
            self.start_timer(HEAP_TRIM_S, RingTimer.HEAP_TRIM)
        elif tag.kind is RingTimer.WARM_UP:
            self._freeze()
        elif tag.kind is RingTimer.POD_INDEX_WAIT and self._holding:
            self.counters["pod_index_waits_expired_total"] += 1
            logger.info("%s: no pod_index yet; ingesting without it", self)
            self._release_held()

    def _maybe_refreeze(self) -> None:
        if self._core()[0].store.index.live - self._series_at_freeze >= self.refreeze_series:
            self._freeze()

    def _freeze(self) -> None:
        """Move every object alive now out of the collector's reach (see the docstring)."""
        gc.collect()
        gc.freeze()
        self._series_at_freeze = self._core()[0].store.index.live
        self.counters["gc_freezes_total"] += 1

    # ---- status ----------------------------------------------------------------------------

    def status_counters(self) -> dict[str, float]:
        if self.ring is None or self.requests is None:
            return dict(self.counters)
        store = self.ring.store
        stats = store.stats()
        out: dict[str, float] = {
            **self.counters, **self.requests.counters,
            "frames_decoded_total": self.frames.counters["frames_decoded"],
            "series_blobs_unpacked_total": self.frames.counters["series_blobs_unpacked"],
            "frame_cache_bytes": self.frames.cache_bytes(),
            "series": stats["series"], "points": int(store.filled.sum()),
            "memory_bytes": stats["memory_bytes"], "max_series": stats["max_series"],
            "queries_answered_total": sum(v for k, v in self.requests.counters.items()
                                          if k.startswith("commands_")
                                          and k != "commands_unanswerable_total"),
            "gc_frozen_objects": gc.get_freeze_count(), "metric_batches_held": len(self._held),
            "heap_trims_total": self.heap.trims}
        if self.receiver is not None:
            out.update({f"receiver_{k}": v for k, v in self.receiver.counters().items()})
        for key, value in stats.items():
            if key.startswith(("points_", "series_")) and key != "series":
                out[f"{key}_total"] = value
        return out
