"""Safe-apply off refuses every mutation; on, dry-run errors are reported per document and the
real apply happens only after every document passed the dry-run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from actors.commands.audit import AuditLog
from actors.commands.k8s_apply import ManifestApplier
from actors.commands.k8s_request import TransportResponse
from actors.commands.settings import CommandSettings
from unit_tests.commands.fake_kube import FakeTransport, status

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2}
"""
POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: prod}
spec: {podSelector: {}}
"""
BROKEN_POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: prod}
spec: {podSelector: 7}
"""
SECRET = """apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: prod}
stringData: {password: hunter2-very-secret}
"""


def applier(transport, *, safe_apply: bool, audit_path: str = ""):
    audit = AuditLog(path=audit_path)
    settings = dataclasses.replace(CommandSettings(), safe_apply=safe_apply)
    return ManifestApplier(transport, settings, audit), audit


def accept_all(transport: FakeTransport) -> None:
    transport.on("PATCH", "/", lambda call: TransportResponse(200, "application/json", b"{}"))


def reject_broken(call) -> TransportResponse:
    if "broken" in call["path"]:
        return TransportResponse(422, "application/json", status(
            422, "Invalid", 'NetworkPolicy.networking.k8s.io "broken" is invalid',
            [{"field": "spec.podSelector", "message": "Invalid value: 7"}]))
    return TransportResponse(200, "application/json", b"{}")


@pytest.mark.parametrize("mode", ["dry_run", "apply"])
def test_safe_apply_off_refuses_every_mutation_without_any_api_call(mode):
    transport = FakeTransport()
    accept_all(transport)
    manifests, audit = applier(transport, safe_apply=False)
    result = getattr(manifests, mode)(request_id="m1", yaml_text=DEPLOYMENT + "---\n" + POLICY,
                                      default_namespace="prod")
    assert not result.ok
    assert "safe_apply is disabled" in result.error
    assert result.outcomes == ()
    assert transport.calls == []
    assert audit.snapshot()["refused_by_reason"] == {"safe_apply_disabled": 1}


def test_dry_run_reports_errors_per_document():
    transport = FakeTransport()
    transport.on("PATCH", "/", reject_broken)
    manifests, _ = applier(transport, safe_apply=True)
    yaml_text = "---\n".join([DEPLOYMENT, BROKEN_POLICY, "kind: Pod\nmetadata: {}\n",
                              "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                              "metadata: {name: admin2}\n",
                              "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
                              POLICY])
    result = manifests.dry_run(request_id="m2", yaml_text=yaml_text, default_namespace="prod")
    assert not result.ok
    assert result.dry_run
    by_index = {o.index: o for o in result.outcomes}
    assert [by_index[i].ok for i in range(6)] == [True, False, False, False, False, True]
    assert by_index[1].status_code == 422
    assert by_index[1].message == ('Invalid: NetworkPolicy.networking.k8s.io "broken" is '
                                   'invalid; spec.podSelector: Invalid value: 7')
    assert "required" in by_index[2].message
    assert "never applied" in by_index[3].message
    assert "does not serve example.com/v1" in by_index[4].message
    patches = [c for c in transport.calls if c["method"] == "PATCH"]
    assert [c["path"] for c in patches] == [
        "/apis/apps/v1/namespaces/prod/deployments/web?fieldManager=kestrel-operator&dryRun=All",
        "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/broken"
        "?fieldManager=kestrel-operator&dryRun=All",
        "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny-all"
        "?fieldManager=kestrel-operator&dryRun=All"]
    assert {c["content_type"] for c in patches} == {"application/apply-patch+yaml"}
    assert json.loads(patches[0]["body"])["metadata"]["namespace"] == "prod"


def test_apply_runs_only_after_every_document_passed_the_dry_run():
    transport = FakeTransport()
    transport.on("PATCH", "/", reject_broken)
    manifests, _ = applier(transport, safe_apply=True)
    failed = manifests.apply(request_id="m3", yaml_text=POLICY + "---\n" + BROKEN_POLICY)
    assert not failed.ok
    assert all("dryRun=All" in c["path"] for c in transport.calls if c["method"] == "PATCH")
    assert "another document failed" in failed.outcomes[0].message
    transport.calls.clear()
    done = manifests.apply(request_id="m4", yaml_text=POLICY + "---\n" + DEPLOYMENT,
                           default_namespace="prod")
    assert done.ok
    assert not done.dry_run
    paths = [c["path"] for c in transport.calls if c["method"] == "PATCH"]
    assert [("dryRun=All" in p) for p in paths] == [True, True, False, False]


def test_cluster_scoped_kinds_and_lists():
    transport = FakeTransport()
    accept_all(transport)
    manifests, _ = applier(transport, safe_apply=True)
    listing = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
               "  metadata: {name: team-a, namespace: ignored}\n")
    result = manifests.dry_run(request_id="m5", yaml_text=listing)
    assert result.ok
    (patch,) = [c for c in transport.calls if c["method"] == "PATCH"]
    assert patch["path"].startswith("/api/v1/namespaces/team-a?")
    assert "namespace" not in json.loads(patch["body"])["metadata"]


def test_bad_yaml_and_empty_input_are_clear_errors():
    transport = FakeTransport()
    manifests, _ = applier(transport, safe_apply=True)
    assert "does not parse" in manifests.dry_run(request_id="m6", yaml_text="a: [b").error
    assert manifests.dry_run(request_id="m7", yaml_text="---\n").error == "no documents"
    assert transport.calls == []


def test_audit_records_hashes_never_secret_content(tmp_path):
    transport = FakeTransport()
    accept_all(transport)
    log = tmp_path / "audit.jsonl"
    manifests, audit = applier(transport, safe_apply=True, audit_path=str(log))
    assert manifests.apply(request_id="m8", yaml_text=SECRET).ok
    text = log.read_text()
    assert "hunter2" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [e["tool"] for e in entries] == ["k8s_dry_run", "k8s_apply"]
    assert entries[1]["kind"] == "Secret"
    assert len(entries[1]["sha256"]) == 64
    assert audit.snapshot()["accepted"] == 2
