"""Hubble queries are validated before the port is called; Cilium resources use the GET path."""

from __future__ import annotations

import dataclasses

import pytest

from actors.commands.cilium_request import (
    CiliumQueries,
    FlowQuery,
    HubbleQueryError,
    parse_flow_query,
)
from actors.commands.k8s_request import KubeApiReader
from actors.commands.settings import CommandSettings
from unit_tests.commands.fake_kube import FakeTransport


class FakeHubble:
    def __init__(self, flows=None, fail: bool = False) -> None:
        self.queries: list[FlowQuery] = []
        self.flows = flows or []
        self.fail = fail

    def observe(self, query, *, timeout_s):
        self.queries.append(query)
        if self.fail:
            raise HubbleQueryError("relay unreachable")
        return self.flows[:query.number]

    def server_status(self, *, timeout_s):
        return {"num_flows": 10, "max_flows": 4095, "num_connected_nodes": 2}

    def nodes(self, *, timeout_s):
        return [{"name": "node-a", "state": "NODE_CONNECTED"}]


def queries(hubble=None, transport=None, cap=1 << 20):
    reader = KubeApiReader(transport or FakeTransport(), CommandSettings())
    return CiliumQueries(hubble, reader, output_cap_bytes=cap)


def test_valid_filters_become_a_flow_query():
    query = parse_flow_query({"number": 50, "namespaces": ["prod"], "pods": ["prod/web-1"],
                              "verdicts": ["DROPPED"], "protocols": ["tcp"], "ports": [443],
                              "ips": ["10.0.0.0/8"], "labels": ["app=web"]})
    assert query == FlowQuery(number=50, namespaces=("prod",), pods=("prod/web-1",),
                              verdicts=("DROPPED",), protocols=("tcp",), ports=(443,),
                              ips=("10.0.0.0/8",), labels=("app=web",))


@pytest.mark.parametrize(("raw", "fragment"), [
    ({"number": 0}, "between 1 and"),
    ({"number": 100000}, "between 1 and"),
    ({"number": "5"}, "non-negative integer"),
    ({"follow": True}, "unknown flow filter"),
    ({"namespaces": "prod"}, "must be a list"),
    ({"namespaces": ["Prod;rm"]}, "invalid namespaces"),
    ({"pods": ["a/b/c"]}, "invalid pods"),
    ({"verdicts": ["ALLOWED"]}, "invalid verdicts"),
    ({"protocols": ["ftp"]}, "invalid protocols"),
    ({"ports": [70000]}, "port numbers"),
    ({"ips": ["not-an-ip"]}, "invalid ips"),
    ({"labels": ["a b"]}, "invalid labels"),
])
def test_bad_filters_are_refused_before_the_relay_is_asked(raw, fragment):
    hubble = FakeHubble()
    result = queries(hubble).observe(filters=raw, timeout_s=5)
    assert not result.success
    assert fragment in result.error_message
    assert hubble.queries == []


def test_observe_returns_json_with_credential_headers_masked():
    flows = [{"verdict": "FORWARDED", "l7": {"http": {"headers": [
        {"key": "Authorization", "value": "Bearer abc"}, {"key": "Accept", "value": "*/*"}]}}}]
    result = queries(FakeHubble(flows)).observe(filters={"number": 5}, timeout_s=5)
    assert result.success
    assert "Bearer abc" not in result.body
    assert '"*/*"' in result.body


def test_large_answers_are_cut_with_a_note_and_failures_are_answers():
    flows = [{"verdict": "DROPPED", "id": i} for i in range(500)]
    result = queries(FakeHubble(flows), cap=1000).observe(filters={"number": 500}, timeout_s=5)
    assert result.truncated
    assert len(result.body) <= 1000
    assert "of 500 entries" in result.note
    failed = queries(FakeHubble(fail=True)).observe(filters={}, timeout_s=5)
    assert failed.error_message == "Hubble: relay unreachable"
    assert "not available" in queries(None).status(timeout_s=5).error_message
    assert queries(FakeHubble()).nodes(timeout_s=5).body == \
        '[{"name":"node-a","state":"NODE_CONNECTED"}]'


def test_cilium_resources_go_through_the_checked_get_path():
    transport = FakeTransport()
    transport.json("GET", "/apis/cilium.io/v2/", {"kind": "List", "items": []})
    cilium = queries(FakeHubble(), transport)
    result = cilium.resources(request_id="c1", kind="cnp", namespace="prod",
                              label_selector="app=web,tier!=db")
    assert result.success
    assert transport.calls[-1]["path"] == (
        "/apis/cilium.io/v2/namespaces/prod/ciliumnetworkpolicies"
        "?labelSelector=app%3Dweb%2Ctier%21%3Ddb")
    cilium.resources(request_id="c2", kind="CiliumIdentity", name="12345")
    assert transport.calls[-1]["path"] == "/apis/cilium.io/v2/ciliumidentities/12345"
    assert cilium.resources(request_id="c3", kind="Pod").status_code == 400
    bad = cilium.resources(request_id="c4", kind="cep", namespace="..")
    assert (bad.success, bad.status_code) == (False, 400)
    assert len(transport.calls) == 2


def test_flow_query_is_a_plain_frozen_value():
    query = FlowQuery(number=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.number = 4  # type: ignore[misc]
