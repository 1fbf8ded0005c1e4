"""GET path allowlist, query checks, status codes, redaction and the response size guard."""

from __future__ import annotations

import dataclasses
import json

import pytest

from actors.commands.audit import AuditLog
from actors.commands.k8s_request import KubeApiReader, TransportResponse, check_get_path
from actors.commands.settings import CommandSettings
from unit_tests.commands.fake_kube import FakeTransport, status

SETTINGS = CommandSettings()
B64 = "c2VjcmV0LXZhbHVl"

ALLOWED = [
    ("/api/v1/pods", "/api/v1/pods"),
    ("api/v1/nodes", "/api/v1/nodes"),
    ("/api/v1/namespaces/prod/pods?limit=10&labelSelector=app%3Dweb",
     "/api/v1/namespaces/prod/pods?limit=10&labelSelector=app%3Dweb"),
    ("/api/v1/namespaces/prod/pods/web/log?tailLines=50&container=app&timestamps=true",
     "/api/v1/namespaces/prod/pods/web/log?tailLines=50&container=app&timestamps=true"),
    ("/apis/apps/v1/deployments/", "/apis/apps/v1/deployments"),
    ("/apis/batch/v1/jobs?fieldSelector=status.successful%3D1",
     "/apis/batch/v1/jobs?fieldSelector=status.successful%3D1"),
    ("/apis/cilium.io/v2/ciliumnetworkpolicies", "/apis/cilium.io/v2/ciliumnetworkpolicies"),
    ("/apis/metrics.k8s.io/v1beta1/pods", "/apis/metrics.k8s.io/v1beta1/pods"),
    ("/apis/security.istio.io/v1/authorizationpolicies",
     "/apis/security.istio.io/v1/authorizationpolicies"),
    ("/version", "/version"),
    ("/api/v1/secrets?continue=abc%2Bdef", "/api/v1/secrets?continue=abc%2Bdef"),
]

REFUSED = [
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "path_not_allowed"),
    ("/apis/appsfoo/v1/things", "path_not_allowed"),
    ("/apis", "path_not_allowed"),
    ("/openapi/v2", "path_not_allowed"),
    ("/healthz", "path_not_allowed"),
    ("/api/v1/namespaces/x/pods/y/exec?command=sh", "forbidden_subresource"),
    ("/api/v1/namespaces/x/pods/y/attach", "forbidden_subresource"),
    ("/api/v1/namespaces/x/pods/y/portforward", "forbidden_subresource"),
    ("/api/v1/nodes/n1/proxy/configz", "forbidden_subresource"),
    ("/api/v1/namespaces/x/services/web/proxy/admin", "forbidden_subresource"),
    ("/api/v1/../../etc/passwd", "path_traversal"),
    ("/api/v1/./pods", "path_traversal"),
    ("/api/v1/%2e%2e/secrets", "path_encoding"),
    ("/api/v1//pods", "path_encoding"),
    ("/api/v1/pods;x", "path_encoding"),
    ("/api/v1/pods\\..", "bad_path"),
    ("/api/v1/pods#frag", "bad_path"),
    ("/api/v1/pods?x=1 2", "bad_path"),
    ("/api/v1/pods?watch=true", "bad_query"),
    ("/api/v1/namespaces/a/pods/b/log?follow=true", "bad_query"),
    ("/api/v1/pods?limit=abc", "bad_query"),
    ("/api/v1/pods?limit=1&limit=2", "bad_query"),
    ("/api/v1/pods?resourceVersion=0&foo=bar", "bad_query"),
    ("/api/v1/pods?previous=yes", "bad_query"),
    ("/api/v1/pods?labelSelector=a%0Ab", "bad_query"),
    ("", "bad_path"),
    ("/api/v1/" + "a" * 3000, "bad_path"),
]


@pytest.mark.parametrize(("raw", "normalised"), ALLOWED)
def test_allowed_paths_are_normalised(raw, normalised):
    decision = check_get_path(raw, SETTINGS)
    assert decision.allowed, decision.reason
    assert decision.path == normalised


@pytest.mark.parametrize(("raw", "code"), REFUSED)
def test_refused_paths(raw, code):
    decision = check_get_path(raw, SETTINGS)
    assert not decision.allowed
    assert decision.code == code, decision.reason


def reader(transport, **overrides):
    audit = AuditLog()
    settings = dataclasses.replace(SETTINGS, **overrides)
    return KubeApiReader(transport, settings, audit), audit


def test_refused_paths_never_reach_the_transport():
    transport = FakeTransport()
    api, audit = reader(transport)
    result = api.get(request_id="r", api_path="/api/v1/nodes/n/proxy/x", timeout_s=5)
    assert (result.success, result.status_code) == (False, 400)
    assert transport.calls == []
    assert audit.snapshot()["refused_by_reason"] == {"forbidden_subresource": 1}


def test_secret_values_are_redacted_in_api_answers():
    transport = FakeTransport()
    items = [{"metadata": {"name": f"s{i}", "managedFields": [{"manager": "x"}]},
              "type": "Opaque", "data": {"password": B64}} for i in range(3)]
    transport.json("GET", "/api/v1/secrets", {"kind": "SecretList", "items": items})
    transport.json("GET", "/api/v1/namespaces/p/secrets/s0", {"kind": "Secret", **items[0]})
    api, _ = reader(transport)
    for path in ("/api/v1/secrets", "/api/v1/namespaces/p/secrets/s0"):
        result = api.get(request_id="r", api_path=path, timeout_s=5)
        assert result.success
        assert result.status_code == 200
        assert B64 not in result.body
        assert "managedFields" not in result.body
        assert "redacted" in result.note
    assert json.loads(result.body)["data"] == {"password": "<redacted>"}


def test_errors_keep_their_status_code_and_kubernetes_message():
    transport = FakeTransport()
    transport.on("GET", "/api/v1/namespaces/p/pods/gone", lambda call: TransportResponse(
        404, "application/json", status(404, "NotFound", 'pods "gone" not found')))
    transport.on("GET", "/api/v1/nodes", lambda call: TransportResponse(
        403, "application/json", status(403, "Forbidden", "nodes is forbidden")))
    api, _ = reader(transport)
    gone = api.get(request_id="r", api_path="/api/v1/namespaces/p/pods/gone", timeout_s=5)
    assert (gone.success, gone.status_code) == (False, 404)
    assert gone.error_message == 'NotFound: pods "gone" not found'
    forbidden = api.get(request_id="r", api_path="/api/v1/nodes", timeout_s=5)
    assert (forbidden.status_code, forbidden.error_message) == (403,
                                                                "Forbidden: nodes is forbidden")
    transport.fail = True
    down = api.get(request_id="r", api_path="/api/v1/nodes", timeout_s=5)
    assert down.status_code == 0
    assert "Connection refused" in down.error_message


def test_logs_are_text_and_capped_with_a_note():
    transport = FakeTransport()
    log = "".join(f"line {i}\n" for i in range(1000))
    transport.on("GET", "/api/v1/namespaces/p/pods/web/log",
                 lambda call: TransportResponse(200, "text/plain", log.encode()))
    api, _ = reader(transport, output_cap_bytes=100)
    result = api.get(request_id="r", api_path="/api/v1/namespaces/p/pods/web/log?tailLines=5",
                     timeout_s=5)
    assert result.success
    assert result.truncated
    assert result.body == log[:100]
    assert "truncated to 100 bytes" in result.note


def test_a_large_list_keeps_whole_items_and_says_so():
    transport = FakeTransport()
    pods = [{"kind": "Pod", "metadata": {"name": f"pod-{i:03d}"}} for i in range(200)]
    transport.json("GET", "/api/v1/pods", {"kind": "PodList", "metadata": {}, "items": pods})
    api, _ = reader(transport, output_cap_bytes=2000)
    result = api.get(request_id="r", api_path="/api/v1/pods", timeout_s=5)
    kept = json.loads(result.body)["items"]
    assert result.success
    assert result.truncated
    assert len(result.body) <= 2000
    assert 0 < len(kept) < 200
    assert kept == pods[:len(kept)]
    assert f"kept {len(kept)} of 200 items" in result.note


def test_bodies_over_the_fetch_cap_are_refused_never_passed_on_partially():
    transport = FakeTransport()
    secret = {"kind": "Secret", "metadata": {"name": "big"}, "data": {"k": B64 * 1000}}
    transport.json("GET", "/api/v1/namespaces/p/secrets/big", secret)
    api, _ = reader(transport, output_cap_bytes=1000, api_fetch_cap_bytes=4000)
    result = api.get(request_id="r", api_path="/api/v1/namespaces/p/secrets/big", timeout_s=5)
    assert not result.success
    assert result.truncated
    assert result.body == ""
    assert "larger than 4000 bytes" in result.error_message
    assert transport.calls[0]["max_bytes"] == 4000


def test_a_single_object_over_the_output_cap_is_an_error():
    transport = FakeTransport()
    transport.json("GET", "/api/v1/namespaces/p/configmaps/big",
                   {"kind": "ConfigMap", "data": {"k": "x" * 5000}})
    api, _ = reader(transport, output_cap_bytes=1000)
    result = api.get(request_id="r", api_path="/api/v1/namespaces/p/configmaps/big",
                     timeout_s=5)
    assert not result.success
    assert result.body == ""
    assert "output cap" in result.error_message
