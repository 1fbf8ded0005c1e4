"""Test-only actors and topologies for the command runner (unit and system tests).

``FakeUplink`` plays the uplink: it sends ``command`` records on its request link (each command
no earlier than its ``after_s``; ``deadline_in_s`` becomes an absolute ``deadline_unix``,
absent = no deadline; ``paced``: one batch per 50 ms tick) and writes every ``command_result``
it receives as one JSON line to ``path`` (msgpack payload decoded) for the test to read.
``hold_results_s`` keeps the result batches unfinished for that long after the first arrives
(a consumer without credit).
"""

from __future__ import annotations

import enum
import json
import pathlib
import time
from collections.abc import Mapping
from typing import Any

import msgpack

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

RUNNER_CLASS = "actors.commands.command_runner_actor.CommandRunner"
UPLINK_CLASS = "unit_tests.commands.actor_support.FakeUplink"
UPLINK_ID = "cloud_uplink/main"
RUNNER_ID = "command_runner/main"
TEST_ALLOWLIST = ({"program": "echo", "max_positionals": 16},
                  {"program": "sleep", "max_positionals": 1})


class FakeTimer(enum.Enum):
    SEND = "send"
    RELEASE = "release"


class FakeUplink(ComponentActor):
    """Sends scripted commands and records the results (see the module docstring)."""

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.commands: list[dict[str, Any]] = []
        self.sent = 0
        self.batch_size = 10
        self.path = ""
        self.hold_results_s = 0.0
        self.paced = False
        self.started = 0.0
        self.received = 0
        self._held: list[LinkBatch] = []
        self._release_at = 0.0

    def configure(self, settings: dict[str, Any]) -> None:
        self.commands = [dict(c) for c in settings.get("commands", ())]
        self.batch_size = int(settings.get("batch_size", 10))
        self.path = str(settings["path"])
        self.hold_results_s = float(settings.get("hold_results_s", 0.0))
        self.paced = bool(settings.get("paced", False))
        self.started = time.monotonic()
        self.start_timer(0.05, FakeTimer.SEND)

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is FakeTimer.SEND:
            self._send()
            if self.sent < len(self.commands):
                self.start_timer(0.05, FakeTimer.SEND)
        elif tag.kind is FakeTimer.RELEASE:
            held, self._held = self._held, []
            for batch in held:
                self.finish_batch(batch)

    def on_credit_available(self, link_id: str) -> None:
        if not self.paced:
            self._send()

    def _send(self) -> None:
        elapsed = time.monotonic() - self.started
        batches = 0
        while self.sent < len(self.commands) and self.has_credit(RUNNER_ID) and \
                not (self.paced and batches):
            batches += 1
            batch: list[dict[str, Any]] = []
            while self.sent < len(self.commands) and len(batch) < self.batch_size and \
                    self.commands[self.sent].get("after_s", 0.0) <= elapsed:
                command = self.commands[self.sent]
                record: dict[str, Any] = {key: command[key] for key in
                                          ("request_id", "kind", "args") if key in command}
                if "deadline_in_s" in command:
                    record["deadline_unix"] = time.time() + command["deadline_in_s"]
                batch.append(record)
                self.sent += 1
            if not batch:
                return
            self.emit(RUNNER_ID, "command", len(batch), codec.pack_records(batch))

    def on_batch(self, batch: LinkBatch) -> bool:
        lines = []
        for record in codec.unpack_records(batch.payload):
            shown = dict(record)
            shown["payload"] = msgpack.unpackb(record["payload"], raw=False)
            lines.append(json.dumps(shown) + "\n")
        with pathlib.Path(self.path).open("a", encoding="utf-8") as out:
            out.writelines(lines)
        self.received += batch.count
        if self.hold_results_s and not self._release_at:
            self._release_at = time.monotonic() + self.hold_results_s
            self.start_timer(self.hold_results_s, FakeTimer.RELEASE)
        if self._release_at and time.monotonic() < self._release_at:
            self._held.append(batch)
            return False
        return True

    def status_counters(self) -> dict[str, float]:
        return {"sent_total": self.sent, "results_total": self.received,
                "held_result_batches": len(self._held)}


def runner_topology(runner: Mapping[str, Any], uplink: Mapping[str, Any], *,
                    request_window: int = 4, result_window: int = 4,
                    admin_port: int = 0) -> Topology:
    """root → [fake uplink, command runner]; request link uplink → runner, results back."""
    policy = RestartPolicy(max_restarts=3, within_s=30.0, backoff_min_s=0.05,
                           backoff_max_s=0.2)
    components = [
        ComponentSpec(component_id="root", component_type="supervisor",
                      actor_class="actors.runtime.supervisor_actor.Supervisor",
                      settings={"ready_timeout_s": 10.0}, shutdown_timeout_s=5.0,
                      strategy=Strategy.ONE_FOR_ONE, policy=policy,
                      children=(UPLINK_ID, RUNNER_ID)),
        ComponentSpec(component_id=UPLINK_ID, component_type="fake_uplink",
                      actor_class=UPLINK_CLASS, settings=dict(uplink), shutdown_timeout_s=2.0),
        ComponentSpec(component_id=RUNNER_ID, component_type="command_runner",
                      actor_class=RUNNER_CLASS, settings=dict(runner), shutdown_timeout_s=3.0),
    ]
    links = (
        LinkSpec(link_id=f"{UPLINK_ID}->{RUNNER_ID}", producer_id=UPLINK_ID,
                 consumer_id=RUNNER_ID, window=request_window, overflow=Overflow.BLOCK,
                 request=True),
        LinkSpec(link_id=f"{RUNNER_ID}->{UPLINK_ID}", producer_id=RUNNER_ID,
                 consumer_id=UPLINK_ID, window=result_window, overflow=Overflow.BLOCK),
    )
    return Topology(operator=OperatorSettings(admin_port=admin_port, log_level="WARNING"),
                    root_id="root", components={c.component_id: c for c in components},
                    links=links)


def read_results(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def find(status: Any, component_id: str) -> Any:
    return topologies.find(status, component_id)


def counters(status: Any, component_id: str) -> dict[str, float]:
    found = find(status, component_id)
    return dict(found.counters) if found is not None else {}
