"""``ResourceWatcher`` (type ``kube_watcher``): list+watch of every kind → inventory, incidents,
log-capture triggers and the pod index, with backpressure down to the API reads.

One ``WatchIoThread`` per resource does only HTTP I/O and puts raw pages/lines into ONE shared
``IoBridge``; the actor applies them to ``WatcherCore`` (watch states, policy targets, inventory
sessions, pod index, incident monitors) and emits, only while the consumer has credit:
- to ``cloud_uplink/*``: ``inventory`` records ``{op, kind, namespace, name, uid,
  resource_version, record, session, snapshot}`` and once per session ``inventory_commit``
  ``{session, counts, snapshot}``, plus ``incident`` records (signal dicts). ``snapshot`` is
  this actor's incarnation: a restarted watcher re-sends a full snapshot under the same session,
  and the new number tells the cloud it replaces the previous one. While that BLOCK link lacks
  credit the bridge is not drained (``bridge_ready``), the threads block on ``put`` and API
  reads stop;
- to ``pod_logs/*``: ``incident`` records of problem pods worth a capture (the pod-log
  component plans, de-duplicates and fetches);
- to every other consumer: ``pod_index`` records (``pod_index_feed``), the full index again
  whenever that consumer's link gets a new epoch (it restarted).
``session`` records ``{session, resume}`` arriving on the request link from the uplink open a
new inventory session: a snapshot from memory (no API re-list) followed by one commit.
Steps that must wait (backoff, Retry-After, a skipped 404/403 resource) are WAIT steps the
resource's thread sleeps through (no actor wakeup to lose). The incident monitors tick on a
timer and, in case a wakeup is lost, whenever bridge items arrive and a tick is overdue.
A crash loses everything here: the restarted actor re-lists.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from typing import Any

from actors.kube.api_connection import ApiConnection
from actors.kube.kube_http_adapter import KubeHttpAdapter
from actors.kube.settings import component_settings, kube_settings
from actors.kube.watch_io_adapter import WatchIo, WatchIoThread, stop_all
from actors.kube.watcher_core import WatcherCore
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.credit import LinkSender
from actors.runtime.io_bridge import IoBridge
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["ResourceWatcher", "WatcherTimer"]

logger = logging.getLogger(__name__)

UPLINK_TYPE, POD_LOGS_TYPE = "cloud_uplink/", "pod_logs/"
BRIDGE_CAPACITY = 256
SIGNALS_PER_BATCH = 200
POD_INDEX_PER_BATCH = 1000


class WatcherTimer(enum.Enum):
    """The watcher's own timers."""

    MONITORS = "monitors"      # time-based incident rules


class ResourceWatcher(ComponentActor):
    """The kube watcher: one actor for all kinds, one adapter thread per kind."""

    MAX_DRAIN = 256

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.core: WatcherCore | None = None
        self.adapter: KubeHttpAdapter | None = None
        self.threads: dict[str, WatchIoThread] = {}
        self.batch_records = 500
        self.monitor_interval_s = 5.0
        self._last_tick = time.monotonic()
        self.draining = False
        self._epochs: dict[str, int | None] = {}
        self.emitted: dict[str, int] = {kind.value: 0 for kind in (
            RecordKind.INVENTORY, RecordKind.INVENTORY_COMMIT, RecordKind.INCIDENT,
            RecordKind.POD_INDEX)}
        self.emitted["capture_signals"] = 0
        self.sessions = 0
        self.unknown_records = 0

    # ---- lifecycle -------------------------------------------------------------------------
    def configure(self, settings: dict[str, Any]) -> None:
        values = component_settings("kube_watcher", settings)
        kube = kube_settings("kube_watcher", settings)
        problems = [f"{key}: {message}" for key, message in kube.problems()]
        if problems:
            raise ValueError("; ".join(problems))
        self.batch_records = int(values["inventory_batch_records"])
        self.monitor_interval_s = float(values["monitor_interval"])
        self.core = WatcherCore(kube, wall_clock=time.time, clock=time.monotonic,
                                recheck_s=float(values["absent_recheck"]),
                                max_signals=int(values["max_pending_signals"]))
        self.adapter = ApiConnection.from_settings(values).adapter()
        bridge: IoBridge[WatchIo] = IoBridge(BRIDGE_CAPACITY)
        self.attach_bridge(bridge)
        for resource in self.core.states:
            thread = WatchIoThread(resource, self.adapter, bridge, page_size=kube.page_size,
                                   watch_timeout_s=kube.watch_timeout_s,
                                   bookmarks=kube.bookmarks)
            self.threads[resource] = thread
            thread.start()
        for resource in self.core.states:
            self._dispatch(resource)
        self._tick()

    def stop_io(self) -> None:
        stuck = stop_all(list(self.threads.values()), self.adapter, self.io_bridge)
        if stuck:
            logger.warning("%s: watch threads still running at exit: %s", self, stuck)

    def drain_sources(self) -> None:
        self.draining = True
        self._pump()

    # ---- input -----------------------------------------------------------------------------
    def bridge_ready(self) -> bool:
        if self.draining:
            return False
        uplink = self._link(UPLINK_TYPE)
        return uplink is None or uplink.has_credit()

    def on_bridge_items(self, items: list[Any]) -> None:
        core = self._configured()
        for item in items:
            if isinstance(item, WatchIo) and core.on_io(item):
                self._dispatch(item.resource)
        if time.monotonic() - self._last_tick > 2 * self.monitor_interval_s:
            self._tick()                          # the MONITORS wakeup was lost
        self._pump()

    def on_batch(self, batch: LinkBatch) -> bool:
        core = self._configured()
        if batch.record_kind != RecordKind.SESSION.value:
            self.unknown_records += batch.count
            logger.warning("%s: ignored %d %r records", self, batch.count, batch.record_kind)
            return True
        try:
            records = codec.unpack_records(batch.payload)
        except codec.CodecError as error:
            self.unknown_records += batch.count
            logger.warning("%s: undecodable session batch: %s", self, error)
            return True
        for record in records:
            session = str(record.get("session") or "") if isinstance(record, dict) else ""
            if session and core.tracker.open_session(session):
                self.sessions += 1
                logger.info("%s: inventory snapshot for session %s (%d objects)", self,
                            session, len(core.tracker.store))
        self._pump()
        return True

    def on_credit_available(self, link_id: str) -> None:
        if self.core is None:           # a link connected before configure(): nothing to send
            return
        self._pump()

    def on_timer(self, tag: TimerTag) -> None:
        if self.core is None:
            return
        if tag.kind is WatcherTimer.MONITORS:
            self._tick()
            self._pump()

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._configured().tick()
        self.start_timer(self.monitor_interval_s, WatcherTimer.MONITORS)

    def _dispatch(self, resource: str) -> None:
        core = self._configured()
        if self.draining:
            return
        step = core.step_for(resource)
        if step is not None:
            self.threads[resource].assign(*step)

    # ---- output ----------------------------------------------------------------------------
    def _configured(self) -> WatcherCore:
        if self.core is None:
            raise RuntimeError("kube_watcher used before configure()")
        return self.core

    def _link(self, type_prefix: str) -> LinkSender | None:
        return next((link for link in self.outgoing_links()
                     if link.consumer_id.startswith(type_prefix)), None)

    def _emit(self, link: LinkSender, kind: RecordKind, records: list[Any]) -> None:
        self.emit(link.link_id, kind.value, len(records), codec.pack_records(records))
        self.emitted[kind.value] = self.emitted.get(kind.value, 0) + len(records)

    def _pump(self) -> None:
        core = self._configured()
        uplink = self._link(UPLINK_TYPE)
        while uplink is not None and uplink.has_credit():
            piece = core.tracker.drain(self.batch_records)
            if piece is not None:
                if piece.deltas:
                    self._emit(uplink, RecordKind.INVENTORY, [
                        {"op": op, "kind": kind, "namespace": key[1], "name": key[2],
                         "uid": record.get("uid") or "",
                         "resource_version": record.get("resource_version") or "",
                         "record": record, "session": piece.session_id,
                         "snapshot": self.incarnation}
                        for op, kind, key, record in piece.deltas])
                if piece.commit is not None:
                    self._emit(uplink, RecordKind.INVENTORY_COMMIT, [
                        {"session": piece.session_id, "counts": piece.commit,
                         "snapshot": self.incarnation}])
                continue
            signals = core.take_signals(SIGNALS_PER_BATCH)
            if not signals:
                break
            self._emit(uplink, RecordKind.INCIDENT, signals)
        for link in self.outgoing_links():
            if link.epoch is None or link is uplink:
                continue
            if link.consumer_id.startswith(POD_LOGS_TYPE):
                while link.has_credit() and core.captures:
                    captures = core.take_captures(SIGNALS_PER_BATCH)
                    self.emit(link.link_id, RecordKind.INCIDENT.value, len(captures),
                              codec.pack_records(captures))
                    self.emitted["capture_signals"] += len(captures)
                continue
            if self._epochs.get(link.link_id) != link.epoch:
                self._epochs[link.link_id] = link.epoch
                core.pod_index.attach(link.link_id)
            while link.has_credit() and core.pod_index.pending(link.link_id):
                self._emit(link, RecordKind.POD_INDEX,
                           core.pod_index.take(link.link_id, POD_INDEX_PER_BATCH))

    # ---- status ----------------------------------------------------------------------------
    def status_counters(self) -> dict[str, float]:
        if self.core is None:
            return {}
        out = self.core.status_counters()
        out.update({f"emitted_{kind}_total": float(n) for kind, n in self.emitted.items()})
        out["sessions_total"] = float(self.sessions)
        out["unknown_records_total"] = float(self.unknown_records)
        out["watch_threads_alive"] = float(sum(t.alive() for t in self.threads.values()))
        for resource in self.core.skipped:
            out[f"skipped_{resource}"] = 1.0
        return out
