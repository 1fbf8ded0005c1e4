"""Cloud ``cilium`` commands over TLS to a simulated Hubble Relay, in a real process tree.

One fake uplink (routing each command to the runner it names) and four ``command_runner``
processes: ``good`` dials the TLS relay with the right CA file (status, observe and nodes are
answered), ``bad`` with another CA (error answers naming TLS, nothing in plaintext), ``strict``
points at a plaintext relay with the default settings (TLS: an error answer, never a silent
plaintext fallback) and ``plain`` at the same relay with ``hubble_tls_enabled: false``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest

from actors.runtime.topology_model import (
    ComponentSpec,
    LinkSpec,
    OperatorSettings,
    RestartPolicy,
    Strategy,
    Topology,
)
from messages import codec
from messages.runtime import Overflow
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator
from system_tests.test_hubble_pipeline import _mint
from unit_tests.commands.actor_support import RUNNER_CLASS, FakeUplink, read_results
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system

UPLINK = "cloud_uplink/main"
ROUTING_UPLINK = "system_tests.test_command_runner_relay_tls.RoutingUplink"


class RoutingUplink(FakeUplink):
    """``FakeUplink`` sending each command, one per batch, to the runner in its ``to`` key."""

    def _send(self) -> None:
        while self.sent < len(self.commands):
            command = self.commands[self.sent]
            if not self.has_credit(command["to"]):
                return
            record: dict[str, Any] = {key: command[key] for key in ("request_id", "kind", "args")}
            record["deadline_unix"] = time.time() + float(command.get("deadline_in_s", 10.0))
            self.emit(command["to"], "command", 1, codec.pack_records([record]))
            self.sent += 1


def tree(runners: dict[str, dict[str, Any]], uplink: dict[str, Any]) -> Topology:
    policy = RestartPolicy(max_restarts=3, within_s=30.0, backoff_min_s=0.05, backoff_max_s=0.2)
    ids = [f"command_runner/{name}" for name in runners]
    components = [
        ComponentSpec(component_id="root", component_type="supervisor",
                      actor_class="actors.runtime.supervisor_actor.Supervisor",
                      settings={"ready_timeout_s": 10.0}, shutdown_timeout_s=5.0,
                      strategy=Strategy.ONE_FOR_ONE, policy=policy, children=(UPLINK, *ids)),
        ComponentSpec(component_id=UPLINK, component_type="fake_uplink",
                      actor_class=ROUTING_UPLINK, settings=uplink, shutdown_timeout_s=2.0)]
    links = []
    for runner_id, settings in zip(ids, runners.values(), strict=True):
        components.append(ComponentSpec(component_id=runner_id, component_type="command_runner",
                                        actor_class=RUNNER_CLASS, settings=settings,
                                        shutdown_timeout_s=3.0))
        links += [LinkSpec(link_id=f"{UPLINK}->{runner_id}", producer_id=UPLINK,
                           consumer_id=runner_id, window=2, overflow=Overflow.BLOCK,
                           request=True),
                  LinkSpec(link_id=f"{runner_id}->{UPLINK}", producer_id=runner_id,
                           consumer_id=UPLINK, window=2, overflow=Overflow.BLOCK)]
    return Topology(operator=OperatorSettings(admin_port=0, log_level="WARNING"),
                    root_id="root", components={c.component_id: c for c in components},
                    links=tuple(links))


@pytest.fixture
def relays():
    ca_pem, cert_pem, key_pem = _mint("*.hubble-relay.cilium.io")
    tls_relay = RelaySimulator(build_sequence("synthetic", total=200),
                               server_credentials=grpc.ssl_server_credentials(
                                   [(key_pem, cert_pem)]))
    plain_relay = RelaySimulator(build_sequence("synthetic", total=200))
    tls_relay.start()
    plain_relay.start()
    yield ca_pem, tls_relay, plain_relay
    tls_relay.stop(0)
    plain_relay.stop(0)


def test_cilium_commands_over_tls_and_tls_failures_as_answers(operator_system, tmp_path,
                                                                relays):
    ca_pem, tls_relay, plain_relay = relays
    other_ca, _, _ = _mint("*.hubble-relay.cilium.io")
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "other.pem").write_bytes(other_ca)
    common = {"audit_path": "", "timeout_s": 10.0}
    runners = {
        "good": {**common, "hubble_relay_address": f"127.0.0.1:{tls_relay.port}",
                 "hubble_tls_ca_file": str(tmp_path / "ca.pem")},
        "bad": {**common, "hubble_relay_address": f"127.0.0.1:{tls_relay.port}",
                "hubble_tls_ca_file": str(tmp_path / "other.pem")},
        "strict": {**common, "hubble_relay_address": f"127.0.0.1:{plain_relay.port}",
                   "hubble_tls_ca_file": str(tmp_path / "ca.pem")},
        "plain": {**common, "hubble_relay_address": f"127.0.0.1:{plain_relay.port}",
                  "hubble_tls_enabled": False}}
    observe = {"op": "observe", "filters": {"number": 5, "verdicts": ["FORWARDED"]}}
    script = [("good", "good-status", {"op": "status"}), ("good", "good-observe", observe),
              ("good", "good-nodes", {"op": "nodes"}), ("bad", "bad-status", {"op": "status"}),
              ("bad", "bad-observe", observe), ("strict", "strict-status", {"op": "status"}),
              ("plain", "plain-status", {"op": "status"})]
    commands = [{"to": f"command_runner/{to}", "request_id": rid, "kind": "cilium",
                 "args": args} for to, rid, args in script]
    path = tmp_path / "results.jsonl"
    system = operator_system(tree(runners, {"commands": commands, "path": str(path)}))
    end = time.monotonic() + 12.0
    while len(read_results(path)) < len(commands) and time.monotonic() < end:
        time.sleep(0.1)
    one = {result["request_id"]: result for result in read_results(path)}
    assert sorted(one) == sorted(rid for _, rid, _ in script)

    for rid in ("good-status", "good-observe", "good-nodes", "plain-status"):
        assert one[rid]["status"] == "ok", one[rid]
    assert json.loads(one["good-status"]["payload"]["body"])["version"] == tls_relay.version
    assert json.loads(one["plain-status"]["payload"]["body"])["version"] == plain_relay.version
    flows = json.loads(one["good-observe"]["payload"]["body"])
    assert 1 <= len(flows) <= 5
    assert all(flow["verdict"] == "FORWARDED" for flow in flows)
    nodes = json.loads(one["good-nodes"]["payload"]["body"])
    assert sorted(node["name"] for node in nodes) == tls_relay.nodes

    for rid in ("bad-status", "bad-observe", "strict-status"):
        answer = one[rid]
        assert answer["status"] == "failed", answer
        assert answer["error"].startswith("Hubble: tls: TLS to hubble relay 127.0.0.1:"), answer
        assert "handshake" in answer["error"].lower()
        assert "no plaintext fallback" in answer["error"]
        assert answer["payload"]["body"] == ""
    status = system.status(5.0)
    good, bad = (tp.counters(tp.find(status, f"command_runner/{name}")) for name in ("good", "bad"))
    assert good["hubble_discoveries_total"] == 1
    assert good["hubble_tls_failures_total"] == 0
    assert bad["hubble_tls_failures_total"] == 2
    assert bad["hubble_discovery_failures_total"] == 0
