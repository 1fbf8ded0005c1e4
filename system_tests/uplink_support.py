"""Test-only actors and helpers around ``cloud_uplink`` (unit tests on simpleSystemBase and
system tests on the TCP base import them by class path, so they live in an importable module).

- ``UplinkTestProducer``: emits batches of the record kinds in its ``kinds`` setting (one
  batch per kind per tick, ``batch_records`` each) until ``total`` records per kind were
  emitted; every record carries ``{"id", "kind"}`` with ids 0, 1, 2... per kind, so a test can
  prove that every record arrived. It pauses while a BLOCK link lacks credit (lossless source)
  and keeps producing into a DROP_OLDEST link (lossy source).
- ``UplinkTestOwner``: a command owner; answers each ``command`` record on its request link
  with one ``command_result`` ``{request_id, status: ok, payload: JSON of the command}``.
- ``UplinkTestWatcher``: counts the ``session`` records it receives (a kube watcher stand-in).
- ``uplink_topology``: root → [owner, watcher, cloud_uplink/main, producers] with the links.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.topology_model import (
    ComponentSpec,
    LinkSpec,
    OperatorSettings,
    RestartPolicy,
    Strategy,
    Topology,
)
from messages import codec
from messages.runtime import LinkBatch, Overflow
from unit_tests.runtime import topologies

SUPPORT = "system_tests.uplink_support."
UPLINK_CLASS = "actors.uplink.cloud_uplink_actor.CloudUplink"
SUPERVISOR = "actors.runtime.supervisor_actor.Supervisor"
UPLINK_ID, OWNER_ID, WATCHER_ID = "cloud_uplink/main", "command_runner/main", "kube_watcher/main"
FAST = RestartPolicy(max_restarts=5, within_s=30.0, backoff_min_s=0.05, backoff_max_s=0.2)


class SupportTimer(enum.Enum):
    TICK = "tick"


class UplinkTestProducer(ComponentActor):
    """Numbered records of several kinds into every outgoing link (see the module docstring)."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.kinds: list[str] = []
        self.total = 0
        self.batch_records = 10
        self.tick_s = 0.01
        self.pad = 0
        self.produced: dict[str, int] = {}

    def configure(self, settings: dict[str, Any]) -> None:
        self.kinds = [str(kind) for kind in settings.get("kinds", ("incident",))]
        self.total = int(settings.get("total", 100))
        self.batch_records = max(1, int(settings.get("batch_records", 10)))
        self.tick_s = float(settings.get("tick_s", 0.01))
        self.pad = int(settings.get("pad", 0))
        self.produced = dict.fromkeys(self.kinds, 0)
        self.start_timer(self.tick_s, SupportTimer.TICK)

    def on_timer(self, tag: TimerTag) -> None:
        links = self.outgoing_links()
        if links and all(link.overflow is Overflow.DROP_OLDEST or link.has_credit()
                         for link in links):
            for kind in self.kinds:
                self._emit_one(kind)
        if any(count < self.total for count in self.produced.values()):
            self.start_timer(self.tick_s, SupportTimer.TICK)

    def _emit_one(self, kind: str) -> None:
        first = self.produced[kind]
        count = min(self.batch_records, self.total - first)
        if count <= 0:
            return
        if kind == "inventory_commit":
            records: list[Any] = [{"session": f"snap-{first + i}", "counts": {"pods": first + i}}
                                  for i in range(count)]
        else:
            records = [{"id": first + i, "kind": kind, "pad": "p" * self.pad}
                       for i in range(count)]
        payload = codec.pack_records(records)
        self.produced[kind] = first + count
        for link in self.outgoing_links():
            self.emit(link.link_id, kind, count, payload)

    def status_counters(self) -> dict[str, float]:
        out = {f"produced.{kind}": float(count) for kind, count in self.produced.items()}
        out["produced_records"] = float(sum(self.produced.values()))
        return out


class UplinkTestOwner(ComponentActor):
    """Answers every command at once with an ``ok`` result that echoes the command."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.answered = 0

    def on_batch(self, batch: LinkBatch) -> bool:
        if batch.record_kind != "command":
            return True
        results = []
        for record in codec.unpack_records(batch.payload):
            echo = {"kind": record["kind"], "args": record["args"],
                    "deadline_unix": record["deadline_unix"]}
            results.append({"request_id": record["request_id"], "status": "ok", "error": "",
                            "payload": json.dumps(echo).encode(), "truncated": False})
        for link in self.outgoing_links():
            self.emit(link.link_id, "command_result", len(results), codec.pack_records(results))
        self.answered += len(results)
        return True

    def status_counters(self) -> dict[str, float]:
        return {"answered": float(self.answered)}


class UplinkTestWatcher(ComponentActor):
    """Counts ``session`` records (and remembers the last one) like a kube watcher would."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.sessions = 0
        self.resumes = 0

    def on_batch(self, batch: LinkBatch) -> bool:
        if batch.record_kind == "session":
            for record in codec.unpack_records(batch.payload):
                self.sessions += 1
                self.resumes += int(bool(record.get("resume")))
        return True

    def status_counters(self) -> dict[str, float]:
        return {"sessions_received": float(self.sessions), "resumes": float(self.resumes)}


def leaf(component_id: str, actor_class: str, settings: Mapping[str, Any]) -> ComponentSpec:
    return ComponentSpec(component_id=component_id, component_type=component_id.split("/")[0],
                         actor_class=actor_class, settings=dict(settings),
                         shutdown_timeout_s=3.0)


def link(producer: str, consumer: str, *, window: int = 4, request: bool = False,
         overflow: Overflow = Overflow.BLOCK) -> LinkSpec:
    return LinkSpec(link_id=f"{producer}->{consumer}", producer_id=producer,
                    consumer_id=consumer, window=window, overflow=overflow, request=request)


def uplink_topology(uplink_settings: Mapping[str, Any],
                    producers: Sequence[tuple[str, Mapping[str, Any], Overflow]], *,
                    uplink_class: str = UPLINK_CLASS, owner: bool = True,
                    watcher: bool = True, admin_port: int = 0) -> Topology:
    """root → [owner?, watcher?, cloud_uplink/main, producers...] and every link between."""
    specs = [leaf(UPLINK_ID, uplink_class, uplink_settings)]
    links: list[LinkSpec] = []
    if owner:
        specs.append(leaf(OWNER_ID, SUPPORT + "UplinkTestOwner", {}))
        links += [link(OWNER_ID, UPLINK_ID), link(UPLINK_ID, OWNER_ID, request=True)]
    if watcher:
        specs.append(leaf(WATCHER_ID, SUPPORT + "UplinkTestWatcher", {}))
        links.append(link(UPLINK_ID, WATCHER_ID, request=True))
    for producer_id, settings, overflow in producers:
        specs.append(leaf(producer_id, SUPPORT + "UplinkTestProducer", settings))
        links.append(link(producer_id, UPLINK_ID, overflow=overflow))
    producer_ids = [producer_id for producer_id, _, _ in producers]
    consumers = [spec.component_id for spec in specs[1:] if spec.component_id not in producer_ids]
    root = ComponentSpec(component_id="supervisor/root", component_type="supervisor",
                         actor_class=SUPERVISOR, settings={"ready_timeout_s": 15.0},
                         strategy=Strategy.ONE_FOR_ONE, policy=FAST,
                         children=(*consumers, UPLINK_ID, *producer_ids))
    return Topology(operator=OperatorSettings(admin_port=admin_port, log_level="WARNING"),
                    root_id="supervisor/root",
                    components={s.component_id: s for s in [root, *specs]}, links=tuple(links))


def find(status: Any, component_id: str) -> Any:
    return topologies.find(status, component_id)


def counters(status: Any, component_id: str) -> dict[str, float]:
    found = find(status, component_id)
    return dict(found.counters) if found is not None else {}


def links_of(status: Any) -> list[Any]:
    """Every link status in the tree."""
    found = list(status.links)
    for child in status.children:
        found += links_of(child)
    return found
