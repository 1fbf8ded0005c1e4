"""Cloud commands end to end: routed to their owner, results correlated, deadlines enforced.

The simulated cloud sends typed ``Command`` messages over the real stream; the uplink routes
them (``on_command``) by kind, a fake owner answers one, and the one nobody answers comes back
to the cloud as DEADLINE_EXCEEDED. A kind without an owner is answered UNSUPPORTED; a retried
request id is not run twice.
"""

from __future__ import annotations

import time

import msgpack
import pytest

from actors.uplink.assembly import build_uplink
from actors.uplink.command_routing import CommandRouted
from messages.uplink import CloudCommandAnswered, CloudCommandStatus
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from system_tests.test_uplink_outage import (
    cloud,  # noqa: F401  (fixture)
    pump_until,
    uplink_settings,
)

pytestmark = pytest.mark.system


def test_commands_round_trip_with_deadlines(cloud, tmp_path):  # noqa: F811
    routed: list[CommandRouted] = []
    settings = uplink_settings(cloud, tmp_path / "spool",
                               command_owners={"log_tail": "pod_logs", "cilium_request": ""})
    stack = build_uplink(settings, on_command=routed.append)
    stack.start()
    try:
        assert pump_until(stack, lambda: stack.core.connected, 15)
        soon_ms = int((time.time() + 1.5) * 1000)
        later_ms = int((time.time() + 60) * 1000)
        cloud.stream.send_command(pb.Command(
            request_id="k1", deadline_unix_ms=later_ms,
            k8s_request=pb.K8sRequest(method="GET", path="/api/v1/namespaces")))
        cloud.stream.send_command(pb.Command(
            request_id="logs1", deadline_unix_ms=soon_ms,
            log_tail=pb.LogTail(namespace="shop", pod="cart-1", tail_lines=50)))
        cloud.stream.send_command(pb.Command(
            request_id="k1", deadline_unix_ms=later_ms,
            k8s_request=pb.K8sRequest(method="GET", path="/api/v1/namespaces")))
        assert pump_until(stack, lambda: len(routed) >= 2, 10)
        owners = {r.command.request_id: r.owner_id for r in routed}
        assert owners == {"k1": "commands", "logs1": "pod_logs"}
        args = msgpack.unpackb(routed[0].command.arguments)
        assert args == {"method": "GET", "path": "/api/v1/namespaces"}
        stack.core.complete_command(CloudCommandAnswered(
            request_id="k1", status=CloudCommandStatus.OK, error="",
            payload=b'{"items": []}', truncated=False))
        results = cloud.recorder.command_results
        assert pump_until(stack, lambda: {"k1", "logs1"} <= set(results), 15)
    finally:
        stack.close()
    assert results["k1"].status == pb.COMMAND_STATUS_OK
    assert results["k1"].payload == b'{"items": []}'
    assert results["logs1"].status == pb.COMMAND_STATUS_DEADLINE_EXCEEDED
    assert stack.core.counters()["commands_duplicate"] == 1
    assert len(routed) == 2
