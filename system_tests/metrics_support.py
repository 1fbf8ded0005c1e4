"""Test-only actors and topologies for the metrics actors (unit and system tests).

- ``QueryClient`` plays the uplink: every ``poll_s`` it reads new JSON lines from
  ``requests_path`` (``{request_id, kind?, args, deadline_in_s?}``), sends them as ``command``
  records on its request link to ``metrics_ring/main`` and appends every ``command_result`` it
  gets to ``results_path`` as one JSON line (msgpack payload decoded, bytes as latin-1 text).
  The test process drives it through files because it cannot reach into the actor processes.
- ``PodIndexSource`` plays the kube watcher: it sends its ``records`` as one ``pod_index``
  batch to each new consumer incarnation (as the real watcher re-sends its index on attach),
  the first one ``delay_s`` after start.
- ``PointsSource`` emits pre-encoded ``metric_points`` payloads (``payloads`` setting) once.
- ``cart_sdk_meters`` starts the real OpenTelemetry SDK (OTLP gRPC exporter, gzip) towards a
  receiver and records three export cycles of a counter and a histogram.
- ``metrics_topology`` builds root → [supervisor/metrics (rest_for_one) → [ring, receiver],
  fake uplink, fake kube watcher] with the chart's links; ``None`` leaves a component out.
"""

from __future__ import annotations

import enum
import json
import pathlib
import time
from collections.abc import Mapping
from typing import Any

import grpc
import msgpack
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Counter, Histogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

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

RING_ID = "metrics_ring/main"
RECEIVER_ID = "otlp_receiver/main"
UPLINK_ID = "cloud_uplink/main"
KUBE_ID = "kube_watcher/main"
POINTS_ID = "points_source/main"
SUPPORT = "system_tests.metrics_support."


class SupportTimer(enum.Enum):
    POLL = "poll"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class QueryClient(ComponentActor):
    """File-driven fake uplink (see the module docstring)."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.requests_path = pathlib.Path()
        self.results_path = pathlib.Path()
        self.poll_s = 0.05
        self.read_lines = 0
        self.waiting: list[dict[str, Any]] = []
        self.sent = 0
        self.results = 0

    def configure(self, settings: dict[str, Any]) -> None:
        self.requests_path = pathlib.Path(settings["requests_path"])
        self.results_path = pathlib.Path(settings["results_path"])
        self.poll_s = float(settings.get("poll_s", 0.05))
        self.start_timer(self.poll_s, SupportTimer.POLL)

    def on_timer(self, tag: TimerTag) -> None:
        if self.requests_path.exists():
            lines = self.requests_path.read_text().splitlines()
            for line in lines[self.read_lines:]:
                if line.strip():
                    request = json.loads(line)
                    record = {"request_id": request["request_id"],
                              "kind": request.get("kind", "metrics_query"),
                              "args": request.get("args", {})}
                    if "deadline_in_s" in request:
                        record["deadline_unix"] = time.time() + request["deadline_in_s"]
                    self.waiting.append(record)
            self.read_lines = len(lines)
        self._send()
        self.start_timer(self.poll_s, SupportTimer.POLL)

    def on_credit_available(self, link_id: str) -> None:
        self._send()

    def _send(self) -> None:
        if self.waiting and self.has_credit(RING_ID):
            batch, self.waiting = self.waiting, []
            self.emit(RING_ID, "command", len(batch), codec.pack_records(batch))
            self.sent += len(batch)

    def on_batch(self, batch: LinkBatch) -> bool:
        lines = []
        for record in codec.unpack_records(batch.payload):
            shown = dict(record)
            shown["payload"] = _plain(msgpack.unpackb(record["payload"], raw=False))
            lines.append(json.dumps(shown) + "\n")
        with self.results_path.open("a", encoding="utf-8") as out:
            out.writelines(lines)
        self.results += batch.count
        return True

    def status_counters(self) -> dict[str, float]:
        return {"sent_total": self.sent, "results_total": self.results}


class PodIndexSource(ComponentActor):
    """Sends its ``records`` once per consumer incarnation (link epoch), the first time no
    earlier than ``delay_s`` after configure."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.records: list[Any] = []
        self.sent_epochs: set[int] = set()
        self.sent = 0
        self.started = False

    def configure(self, settings: dict[str, Any]) -> None:
        self.records = list(settings.get("records", ()))
        self.start_timer(float(settings.get("delay_s", 0.0)), SupportTimer.POLL)

    def on_timer(self, tag: TimerTag) -> None:
        self.started = True
        self.on_credit_available("")

    def on_credit_available(self, link_id: str) -> None:
        if not self.started:
            return
        for link in self.outgoing_links():
            if link.epoch is not None and link.epoch not in self.sent_epochs and self.records:
                self.sent_epochs.add(link.epoch)
                self.emit(link.link_id, "pod_index", len(self.records),
                          codec.pack_records(self.records))
                self.sent += len(self.records)

    def status_counters(self) -> dict[str, float]:
        return {"sent_total": self.sent}


class PointsSource(ComponentActor):
    """Emits its ``payloads`` ([[record_kind, count, bytes], ...]) once, in order, starting
    ``delay_s`` after configure."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.payloads: list[tuple[str, int, bytes]] = []
        self.sent = 0
        self.started = False

    def configure(self, settings: dict[str, Any]) -> None:
        self.payloads = [(str(k), int(n), bytes(p)) for k, n, p in settings.get("payloads", ())]
        self.start_timer(float(settings.get("delay_s", 0.0)), SupportTimer.POLL)

    def on_timer(self, tag: TimerTag) -> None:
        self.started = True
        self.on_credit_available("")

    def on_credit_available(self, link_id: str) -> None:
        while self.started and self.sent < len(self.payloads) and self.has_credit(RING_ID):
            kind, count, payload = self.payloads[self.sent]
            self.emit(RING_ID, kind, count, payload)
            self.sent += 1

    def status_counters(self) -> dict[str, float]:
        return {"sent_total": self.sent}


FAST = RestartPolicy(max_restarts=5, within_s=30.0, backoff_min_s=0.05, backoff_max_s=0.3)


def _spec(cid: str, ctype: str, actor_class: str, settings: Mapping[str, Any],
          **extra: Any) -> ComponentSpec:
    return ComponentSpec(component_id=cid, component_type=ctype, actor_class=actor_class,
                         settings=dict(settings), shutdown_timeout_s=3.0, **extra)


def metrics_topology(*, ring: Mapping[str, Any], receiver: Mapping[str, Any] | None = None,
                     client: Mapping[str, Any] | None = None,
                     pods: Mapping[str, Any] | None = None,
                     points: Mapping[str, Any] | None = None, window: int = 8) -> Topology:
    """The chart's metrics subtree plus the fake neighbours that were given settings."""
    metrics_children = [RING_ID] + ([RECEIVER_ID] if receiver is not None else [])
    specs = [_spec("supervisor/metrics", "supervisor", "actors.runtime.supervisor_actor.Supervisor",
                   {"ready_timeout_s": 10.0}, strategy=Strategy.REST_FOR_ONE, policy=FAST,
                   children=tuple(metrics_children)),
             _spec(RING_ID, "metrics_ring", "actors.metrics.metrics_ring_actor.MetricsRingActor",
                   ring)]
    links = []
    if receiver is not None:
        specs.append(_spec(RECEIVER_ID, "otlp_receiver",
                           "actors.metrics.otlp_receiver_actor.OtlpReceiver", receiver))
        links.append(LinkSpec(link_id=f"{RECEIVER_ID}->{RING_ID}", producer_id=RECEIVER_ID,
                              consumer_id=RING_ID, window=window, overflow=Overflow.BLOCK))
    root_children = ["supervisor/metrics"]
    for cid, ctype, cls, settings in ((UPLINK_ID, "fake_uplink", "QueryClient", client),
                                      (KUBE_ID, "fake_kube", "PodIndexSource", pods),
                                      (POINTS_ID, "points_source", "PointsSource", points)):
        if settings is None:
            continue
        specs.append(_spec(cid, ctype, SUPPORT + cls, settings))
        root_children.append(cid)
        links.append(LinkSpec(link_id=f"{cid}->{RING_ID}", producer_id=cid, consumer_id=RING_ID,
                              window=4, overflow=Overflow.BLOCK, request=cid == UPLINK_ID))
        if cid == UPLINK_ID:
            links.append(LinkSpec(link_id=f"{RING_ID}->{UPLINK_ID}", producer_id=RING_ID,
                                  consumer_id=UPLINK_ID, window=4, overflow=Overflow.BLOCK))
    specs.insert(0, _spec("root", "supervisor", "actors.runtime.supervisor_actor.Supervisor",
                          {"ready_timeout_s": 10.0}, strategy=Strategy.ONE_FOR_ONE, policy=FAST,
                          children=tuple(root_children)))
    return Topology(operator=OperatorSettings(admin_port=0, log_level="WARNING"),
                    root_id="root", components={s.component_id: s for s in specs},
                    links=tuple(links))


def find(status: Any, component_id: str) -> Any:
    return topologies.find(status, component_id)


def counters(status: Any, component_id: str) -> dict[str, float]:
    found = find(status, component_id)
    return dict(found.counters) if found is not None else {}


def all_links(status: Any) -> list[Any]:
    found = list(status.links)
    for child in status.children:
        found.extend(all_links(child))
    return found


def read_results(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ask(requests_path: pathlib.Path, request_id: str, args: Mapping[str, Any],
        **extra: Any) -> None:
    """Append one query for the QueryClient to send."""
    with requests_path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"request_id": request_id, "args": dict(args), **extra}) + "\n")


def cart_sdk_meters(port: int, resource: Mapping[str, str]) -> tuple[MeterProvider, Counter,
                                                                      Histogram]:
    """A MeterProvider exporting to ``127.0.0.1:port`` (flushed by hand) after three cycles of
    ``cart.requests`` (+5 each) and ``cart.latency`` (0.01, 0.02, 0.03 s); shut it down."""
    exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                  compression=grpc.Compression.Gzip, timeout=5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create(dict(resource)), metric_readers=[reader])
    meter = provider.get_meter("cart", "1.0")
    requests_counter = meter.create_counter("cart.requests", unit="1")
    latency = meter.create_histogram("cart.latency", unit="s")
    for cycle in range(3):
        requests_counter.add(5, {"route": "/add"})
        latency.record(0.01 * (cycle + 1), {"route": "/add"})
        if not provider.force_flush(timeout_millis=10_000):
            provider.shutdown(timeout_millis=5000)
            raise AssertionError("the SDK could not export a cycle")
        time.sleep(0.01)
    return provider, requests_counter, latency
