"""Test kit for the kube actors: a recording uplink stand-in, topologies, inventory replay.

``KubeRecorder`` (an actor; it lives here so thespian can import it in every process) plays
``cloud_uplink/main``: it appends every received batch, in each link's sequence order
(``InOrder``: thespian may reorder), as ``[record_kind, records, link_id, epoch, seq]``
(msgpack) to the file named by its ``path`` setting, sends ``session`` records (setting
``session``) to the kube watcher and ``command`` records (setting ``commands``) to pod_logs over
request links as soon as those links (re)connect, and with ``hold_s`` finishes its first
inventory batch only that long after it arrived (a consumer that stalls once).
``replay_inventory`` applies the recorded snapshot and deltas in order and reports every
protocol violation;
``expected_inventory`` converts a simulator's ground truth with the operator's own converters,
so the two can be compared key by key and field by field.
"""

from __future__ import annotations

import collections
import enum
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgpack

from actors.kube.converters import RESOURCES
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

RECORDER = "system_tests.kube_support.KubeRecorder"
WATCHER = "actors.kube.watcher_actor.ResourceWatcher"
POD_LOGS = "actors.kube.pod_logs_actor.PodLogCapture"
SUPERVISOR = "actors.runtime.supervisor_actor.Supervisor"
UPLINK_ID, WATCHER_ID, POD_LOGS_ID = "cloud_uplink/main", "kube_watcher/main", "pod_logs/main"
INDEX_ID = "metrics_ring/main"
FAST = RestartPolicy(max_restarts=5, within_s=30.0, backoff_min_s=0.05, backoff_max_s=0.2)


class RecorderTimer(enum.Enum):
    RELEASE = "release"


class InOrder:
    """Per-link delivery in sequence order: thespian may deliver a link's batches out of order
    (seen right after a producer restart), and an inventory stream must be applied in order."""

    def __init__(self) -> None:
        self.links: dict[str, tuple[int, int, dict[int, LinkBatch]]] = {}

    def push(self, batch: LinkBatch) -> list[LinkBatch]:
        epoch, next_seq, waiting = self.links.get(batch.link_id, (-1, 0, {}))
        if batch.epoch > epoch:
            epoch, next_seq, waiting = batch.epoch, batch.acked_through + 1, {}
        waiting[batch.seq] = batch
        ready = []
        while next_seq in waiting:
            ready.append(waiting.pop(next_seq))
            next_seq += 1
        self.links[batch.link_id] = (epoch, next_seq, waiting)
        return ready


class KubeRecorder(ComponentActor):
    """Records batches to a file; sends session/command records; optionally slow."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.path: pathlib.Path | None = None
        self.session = ""
        self.commands: list[Any] = []
        self.hold_s = 0.0
        self.stalled = False
        self.held: collections.deque[LinkBatch] = collections.deque()
        self.sent: set[tuple[str, int | None]] = set()
        self.in_order = InOrder()
        self.records = 0

    def configure(self, settings: dict[str, Any]) -> None:
        self.path = pathlib.Path(settings["path"])
        base = str(settings.get("session") or "")
        self.session = f"{base}-{self.incarnation}" if base else ""   # a restart = new session
        self.commands = list(settings.get("commands") or ())
        self.hold_s = float(settings.get("hold_s") or 0.0)

    def on_batch(self, batch: LinkBatch) -> bool:
        for ready in self.in_order.push(batch):
            self._record(ready)
        return False

    def _record(self, batch: LinkBatch) -> None:
        assert self.path is not None
        records = codec.unpack_records(batch.payload)
        with self.path.open("ab") as out:
            out.write(msgpack.packb([batch.record_kind, list(records), batch.link_id,
                                     batch.epoch, batch.seq], use_bin_type=True, default=list))
        self.records += batch.count
        if not self.hold_s or self.stalled or batch.record_kind != "inventory":
            self.finish_batch(batch)
            return
        self.stalled = True                      # stall once, on the first inventory batch
        self.held.append(batch)
        self.start_timer(self.hold_s, RecorderTimer.RELEASE)

    def on_timer(self, tag: TimerTag) -> None:
        while self.held:
            self.finish_batch(self.held.popleft())

    def on_credit_available(self, link_id: str) -> None:
        for link in self.outgoing_links():     # again to a restarted consumer (new epoch)
            if (link.link_id, link.epoch) in self.sent or not link.has_credit():
                continue
            if link.consumer_id.startswith("kube_watcher/") and self.session:
                self.emit(link.link_id, "session", 1, codec.pack_records(
                    [{"session": self.session, "resume": False}]))
            elif link.consumer_id.startswith("pod_logs/") and self.commands:
                self.emit(link.link_id, "command", len(self.commands),
                          codec.pack_records(self.commands))
            self.sent.add((link.link_id, link.epoch))

    def status_counters(self) -> dict[str, float]:
        return {"recorded_records_total": float(self.records), "held": float(len(self.held))}


def read_batches(path: pathlib.Path) -> list[tuple[str, list[Any]]]:
    if not path.exists():
        return []
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(path.read_bytes())
    return [(kind, records) for kind, records, *_ in unpacker]


def records_of(batches: Iterable[tuple[str, list[Any]]], kind: str) -> list[Any]:
    return [record for batch_kind, records in batches if batch_kind == kind
            for record in records]


def replay_inventory(batches: Iterable[tuple[str, list[Any]]], session: str | None = None,
                     snapshot: int | None = None,
                     ) -> tuple[dict[tuple[str, str, str], dict[str, Any]], list[str], int]:
    """(final inventory by key, protocol violations, commits seen) of one session and watcher
    snapshot (default: every record, for a single-session recording)."""
    state: dict[tuple[str, str, str], dict[str, Any]] = {}
    problems: list[str] = []
    commits = 0
    for kind, all_records in batches:
        if kind not in ("inventory", "inventory_commit"):
            continue
        records = [r for r in all_records if (session is None or r["session"] == session)
                   and (snapshot is None or r["snapshot"] == snapshot)]
        if not records:
            continue
        if kind == "inventory_commit":
            commits += 1
            counts = collections.Counter(key[0] for key in state)
            for record_kind, count in records[0]["counts"].items():
                if commits == 1 and counts.get(record_kind, 0) != count:
                    problems.append(f"commit {record_kind}: {count} != {counts[record_kind]}")
            continue
        if kind != "inventory":
            continue
        for record in records:
            key = (record["kind"], record["namespace"], record["name"])
            if record["op"] == "DELETE":
                if key not in state:
                    problems.append(f"DELETE of unknown {key}")
                state.pop(key, None)
            elif record["op"] == "CREATE":
                if key in state:
                    problems.append(f"duplicate CREATE {key}")
                state[key] = record["record"]
            else:
                if key not in state:
                    problems.append(f"UPDATE of unknown {key}")
                state[key] = record["record"]
    return state, problems, commits


def _normal(record: dict[str, Any]) -> Any:
    trimmed = {k: v for k, v in record.items() if k not in ("resource_version",
                                                           "target_workloads")}
    return msgpack.unpackb(msgpack.packb(trimmed, use_bin_type=True), raw=False)


def expected_inventory(truth: Mapping[str, list[dict[str, Any]]], resources: Iterable[str]
                       ) -> dict[tuple[str, str, str], Any]:
    """The records the operator should hold for the simulator's objects (normalized)."""
    out: dict[tuple[str, str, str], Any] = {}
    for resource in resources:
        spec = RESOURCES[resource]
        key = next((k for k in truth if k.split(".")[0] == resource), None)
        parts = spec.paths[0].strip("/").split("/")
        api_version = "/".join(parts[1:3]) if parts[0] == "apis" else parts[1]
        for obj in truth.get(key, []) if key else []:
            obj = {"apiVersion": api_version, **obj}
            for kind, convert in spec.views:
                record = convert(obj)
                if record is not None:
                    out[(kind, record["namespace"], record["name"])] = _normal(record)
    return out


def compare_inventory(recorded: Mapping[tuple[str, str, str], dict[str, Any]],
                      expected: Mapping[tuple[str, str, str], Any]) -> list[str]:
    """Missing, phantom and differing objects (at most 20 lines)."""
    problems = [f"missing {key}" for key in sorted(set(expected) - set(recorded))]
    problems += [f"phantom {key}" for key in sorted(set(recorded) - set(expected))]
    problems += [f"differs {key}" for key in sorted(set(expected) & set(recorded))
                 if _normal(recorded[key]) != expected[key]]
    return problems[:20]


def kube_topology(*, path: pathlib.Path, watcher: Mapping[str, Any],
                  pod_logs: Mapping[str, Any] | None = None, session: str = "s1",
                  commands: list[Any] | None = None, hold_s: float = 0.0, window: int = 8,
                  index_path: pathlib.Path | None = None, admin_port: int = 0) -> Topology:
    """root → [cloud_uplink/main (recorder), metrics_ring/main (recorder of pod_index)?,
    pod_logs/main?, kube_watcher/main] with their links."""
    def leaf(cid: str, actor: str, settings: Mapping[str, Any]) -> ComponentSpec:
        return ComponentSpec(component_id=cid, component_type=cid.split("/")[0],
                             actor_class=actor, settings=dict(settings), shutdown_timeout_s=3.0)

    children = [UPLINK_ID, *([INDEX_ID] if index_path is not None else []),
                *([POD_LOGS_ID] if pod_logs is not None else []), WATCHER_ID]
    specs = [ComponentSpec(component_id="supervisor/root", component_type="supervisor",
                           actor_class=SUPERVISOR, settings={"ready_timeout_s": 10.0},
                           strategy=Strategy.ONE_FOR_ONE, policy=FAST, children=tuple(children)),
             leaf(UPLINK_ID, RECORDER, {"path": str(path), "session": session,
                                        "commands": commands or [], "hold_s": hold_s}),
             leaf(WATCHER_ID, WATCHER, watcher)]
    links = [_link(WATCHER_ID, UPLINK_ID, window), _link(UPLINK_ID, WATCHER_ID, 4, True)]
    if index_path is not None:
        specs.append(leaf(INDEX_ID, RECORDER, {"path": str(index_path)}))
        links.append(_link(WATCHER_ID, INDEX_ID, 4))
    if pod_logs is not None:
        specs.append(leaf(POD_LOGS_ID, POD_LOGS, pod_logs))
        links += [_link(POD_LOGS_ID, UPLINK_ID, 4), _link(WATCHER_ID, POD_LOGS_ID, 4),
                  _link(UPLINK_ID, POD_LOGS_ID, 4, True)]
    return Topology(operator=OperatorSettings(admin_port=admin_port, log_level="WARNING"),
                    root_id="supervisor/root", components={s.component_id: s for s in specs},
                    links=tuple(links))


def _link(producer: str, consumer: str, window: int, request: bool = False) -> LinkSpec:
    return LinkSpec(link_id=f"{producer}->{consumer}", producer_id=producer,
                    consumer_id=consumer, window=window, overflow=Overflow.BLOCK,
                    request=request)


def find_status(status: Any, component_id: str) -> Any:
    return topologies.find(status, component_id)


def counters(status: Any, component_id: str) -> dict[str, float]:
    found = find_status(status, component_id)
    return dict(found.counters) if found is not None else {}


def connection(server: Any, directory: pathlib.Path, token: str | None = None
               ) -> dict[str, Any]:
    """Connection settings for ``server`` (a ``sim.kubeapi.KubeApiServer``) with ``token``
    (default: its read-only service-account token) written like a projected volume."""
    server.write_in_cluster_files(directory, token=token)
    settings: dict[str, Any] = {"api_url": server.url, "token_file": str(directory / "token")}
    if server.ca_file:
        settings["ca_file"] = str(directory / "ca.crt")
    return settings


def pump_until(system: Any, predicate: Any, timeout_s: float = 10.0, step_s: float = 0.05
               ) -> Any:
    """Run the actor system until ``predicate()`` is truthy (its value) or the bound ends."""
    for _ in range(max(1, int(timeout_s / step_s))):
        value = predicate()
        if value:
            return value
        system.run_for(step_s)
    return predicate()
