"""Test-only actors and helpers for the network-telemetry actors (flows and access logs).

- ``RecordRecorder``: a consumer that appends every batch it receives to ``dump_path`` as a
  length-prefixed ``(record_kind, payload)`` msgpack frame and counts records (``read_dump``
  reads them back), so a test can compare exact per-key counts across processes;
- ``PodIndexSource``: emits the ``pod_index`` records of its settings once per link epoch;
- ``ScriptedFlowCollector`` / ``ScriptedAccessLogReceiver``: the real actors with their gRPC
  source replaced by a thread that offers scripted batches to the same bridge sink (lossy,
  counted like the real adapters), optionally only after the pod index holds N pods;
- ``topology_of``: a ``Topology`` from plain component/link tuples (no file, no validation).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from actors.access_logs.access_log_actor import AccessLogReceiver
from actors.access_logs.als_codec import AccessLogEntry, AlsStreamDecoder
from actors.access_logs.als_server import AccessLogBatch
from actors.access_logs.workload_mapping import ProxyIdentity
from actors.flows.flow_codec import EndpointInfo, FlowDecoder, FlowRecord
from actors.flows.flow_collector_actor import FlowCollector
from actors.flows.hubble_client_adapter import FlowBatch
from actors.runtime.component_actor import ComponentActor
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
from sim.envoy.streams import fixture_stream, replay_stream
from sim.hubble import frames

SUPPORT = "system_tests.netflow_support."
SUPERVISOR = "actors.runtime.supervisor_actor.Supervisor"
FAST = RestartPolicy(max_restarts=5, within_s=30.0, backoff_min_s=0.05, backoff_max_s=0.2)


# ---- consumers and sources ------------------------------------------------------------------

class RecordRecorder(ComponentActor):
    """Appends every batch to ``dump_path``; counts records and the sum of their ``count``."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.dump_path = ""
        self.records = 0
        self.count_sum = 0
        self.batches = 0

    def configure(self, settings: dict[str, Any]) -> None:
        self.dump_path = str(settings.get("dump_path", ""))

    def on_batch(self, batch: LinkBatch) -> bool:
        records = codec.unpack_records(batch.payload)
        self.records += len(records)
        self.batches += 1
        self.count_sum += sum(int(r.get("count", 0)) for r in records)
        if self.dump_path:
            frame = msgpack.packb([batch.record_kind, batch.payload])
            with open(self.dump_path, "ab") as handle:
                handle.write(struct.pack(">I", len(frame)) + frame)
        return True

    def status_counters(self) -> dict[str, float]:
        return {"recorded_records_total": self.records, "recorded_count_sum_total":
                self.count_sum, "recorded_batches_total": self.batches}


def read_dump(path: Any) -> list[tuple[str, dict[str, Any]]]:
    """(record_kind, record) for every record a ``RecordRecorder`` dumped, in order."""
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        data = open(path, "rb").read()  # noqa: SIM115 - tiny test file
    except FileNotFoundError:
        return out
    for raw in frames.split_frames(data):
        kind, payload = msgpack.unpackb(raw)
        out.extend((kind, record) for record in codec.unpack_records(payload))
    return out


class PodIndexSource(ComponentActor):
    """Emits ``settings["records"]`` as one ``pod_index`` batch per link epoch."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.records: list[dict[str, Any]] = []
        self.sent: set[tuple[str, Any]] = set()

    def configure(self, settings: dict[str, Any]) -> None:
        self.records = list(settings.get("records", ()))

    def on_credit_available(self, link_id: str) -> None:
        for link in self.outgoing_links():
            key = (link.link_id, link.epoch)
            if key not in self.sent and link.has_credit():
                self.sent.add(key)
                self.emit(link.link_id, "pod_index", len(self.records),
                          codec.pack_records(self.records))


# ---- scripted sources in place of the gRPC adapters ----------------------------------------

class _ScriptedSource:
    """Offers scripted batches to ``sink`` from a thread, like the real adapters (lossy)."""

    def __init__(self, batches: list[Any], sink: Callable[[Any], bool], size: Callable[[Any], int],
                 gate: threading.Event) -> None:
        self.batches, self.sink, self.size, self.gate = batches, sink, size, gate
        self.counters = {"offered": 0, "flows_dropped_sink_full": 0,
                         "entries_dropped_sink_full": 0, "batches_dropped": 0}
        self.streaming = False
        self.last_error = ""
        self.active_streams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="scripted")

    def start(self, timeout: float = 0.0) -> int:
        self._thread.start()
        return 0

    def _run(self) -> None:
        while not self.gate.wait(0.05):
            if self._stop.is_set():
                return
        self.streaming = True
        for batch in self.batches:
            if self._stop.is_set():
                return
            self.counters["offered"] += self.size(batch)
            if not self.sink(batch):
                self.counters["batches_dropped"] += 1
                self.counters["flows_dropped_sink_full"] += self.size(batch)
                self.counters["entries_dropped_sink_full"] += self.size(batch)

    def done(self) -> bool:
        return not self._thread.is_alive() and self.streaming

    def flush_pending(self) -> None:
        """Nothing is held back here."""

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def _gate(settings: Mapping[str, Any]) -> threading.Event:
    gate = threading.Event()
    if not settings.get("script_wait_pods"):
        gate.set()
    return gate


def fixture_flow_records() -> list[FlowRecord]:
    """Every flow of the golden Hubble fixture, decoded."""
    decoder = FlowDecoder()
    records = [decoder.decode_bytes(raw) for raw in frames.read_frames("hubble/getflows.bin")]
    return [r for r in records if r is not None]


def bare_flow(source_ip: str, destination_ip: str, port: int, time_ns: int) -> FlowRecord:
    """A forwarded TCP flow whose endpoints Hubble could not name (IPs only)."""
    empty = EndpointInfo("", "", "", "", 0, (), "")
    return FlowRecord(time_ns, "FORWARDED", "", 4, source_ip, destination_ip, "TCP", port,
                      empty, empty, "", "EGRESS", False, (), (), "node-1", 4)


def scripted_flows(settings: Mapping[str, Any]) -> list[FlowBatch]:
    script = settings.get("script", "fixture")
    if script == "bare":
        records = [bare_flow(f"10.0.0.{i % 4 + 1}", "10.0.1.1", 80, 1_000 + i)
                   for i in range(int(settings.get("script_flows", 100)))]
    else:
        records = fixture_flow_records() * int(settings.get("script_loops", 1))
    size = int(settings.get("script_batch", 100))
    return [FlowBatch(records[i:i + size]) for i in range(0, len(records), size)]


class ScriptedFlowCollector(FlowCollector):
    """``FlowCollector`` fed by ``scripted_flows(settings)`` instead of a relay."""

    def make_connector(self, values: Mapping[str, Any], flow_settings: Any,
                       sink: Callable[[FlowBatch], bool]) -> Any:
        self._script_gate = _gate(values)
        self._script_wait = int(values.get("script_wait_pods", 0))
        return _ScriptedSource(scripted_flows(values), sink, lambda b: len(b.records),
                               self._script_gate)

    def on_batch(self, batch: LinkBatch) -> bool:
        finished = super().on_batch(batch)
        if self.pods.pods() >= self._script_wait:
            self._script_gate.set()
        return finished

    def status_counters(self) -> dict[str, float]:
        counters = super().status_counters()
        counters["script_done"] = 1.0 if self.connector is not None and \
            self.connector.done() else 0.0  # type: ignore[attr-defined]
        return counters


def fixture_als_batches(sidecars: int = 4) -> list[AccessLogBatch]:
    """The golden http/tcp ALS streams as sent by ``sidecars`` sidecars, decoded."""
    http, tcp = fixture_stream("http"), fixture_stream("tcp")
    out = []
    for index in range(sidecars):
        decoder = AlsStreamDecoder()
        for raw in replay_stream(http if index % 2 == 0 else tcp, index):
            entries = decoder.decode_bytes(raw)
            if entries and decoder.identity is not None:
                out.append(AccessLogBatch(decoder.identity, entries))
    return out


def identity_and_entries(batches: list[AccessLogBatch]
                         ) -> list[tuple[ProxyIdentity, AccessLogEntry]]:
    return [(b.identity, e) for b in batches for e in b.entries]


class ScriptedAccessLogReceiver(AccessLogReceiver):
    """``AccessLogReceiver`` fed by ``fixture_als_batches`` instead of a gRPC server."""

    def make_server(self, als_settings: Any, sink: Callable[[AccessLogBatch], bool]) -> Any:
        self._script_gate = _gate(self._script_settings)
        self._script_wait = int(self._script_settings.get("script_wait_pods", 0))
        batches = fixture_als_batches(int(self._script_settings.get("script_sidecars", 4)))
        return _ScriptedSource(batches, sink, lambda b: len(b.entries), self._script_gate)

    def on_batch(self, batch: LinkBatch) -> bool:
        finished = super().on_batch(batch)
        if self.pods.pods() >= self._script_wait:
            self._script_gate.set()
        return finished

    def configure(self, settings: dict[str, Any]) -> None:
        self._script_settings = dict(settings)
        super().configure({k: v for k, v in settings.items() if not k.startswith("script_")})


# ---- topologies -----------------------------------------------------------------------------

def topology_of(leaves: list[tuple[str, str, dict[str, Any]]],
                links: list[tuple[str, str, Overflow, int]], *,
                admin_port: int = 0) -> Topology:
    """root supervisor → the leaves (started in the given order); links (from, to, overflow,
    window)."""
    specs = {cid: ComponentSpec(component_id=cid, component_type=cid.split("/")[0],
                                actor_class=actor_class, settings=settings,
                                shutdown_timeout_s=3.0)
             for cid, actor_class, settings in leaves}
    specs["root"] = ComponentSpec(
        component_id="root", component_type="supervisor", actor_class=SUPERVISOR,
        settings={"ready_timeout_s": 10.0}, strategy=Strategy.ONE_FOR_ONE, policy=FAST,
        children=tuple(cid for cid, _, _ in leaves), shutdown_timeout_s=5.0)
    return Topology(operator=OperatorSettings(admin_port=admin_port, log_level="WARNING"),
                    root_id="root", components=specs,
                    links=tuple(LinkSpec(link_id=f"{a}->{b}", producer_id=a, consumer_id=b,
                                         window=window, overflow=overflow)
                                for a, b, overflow, window in links))
