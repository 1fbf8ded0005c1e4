"""Converters keep only the fields we send, in msgpack-able records."""

from typing import Any

import pytest

from actors.kube import converters as c
from messages.codec import pack_records, unpack_records
from unit_tests.kube import k8s_objects as k


def test_pod_record_drops_spec_secrets_and_keeps_identity():
    rec = c.convert_pod(k.pod("web-1", "shop", owners=[("ReplicaSet", "web-7f9")],
                              labels={"app": "web"}, ip="10.1.2.3"))
    assert rec["kind"] == "Pod"
    assert rec["namespace"] == "shop"
    assert rec["uid"]
    assert (rec["owner_kind"], rec["owner_name"]) == ("ReplicaSet", "web-7f9")
    assert rec["pod_ip"] == "10.1.2.3"
    assert rec["ready"] is True
    assert "s3cr3t" not in repr(rec)
    assert "managedFields" not in repr(rec)
    assert unpack_records(pack_records([rec]))[0]["name"] == "web-1"


def test_service_named_target_port_is_kept_by_name():
    svc = {"metadata": k.meta("web", "shop"),
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.5", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                              {"port": 9090, "targetPort": 9091, "protocol": "TCP"}]}}
    rec = c.convert_service(svc)
    assert rec["ports"][0]["target_port"] == 0
    assert rec["ports"][0]["target_port_name"] == "http"
    assert rec["ports"][1]["target_port"] == 9091


def test_node_record_has_addresses_zone_and_no_heartbeat():
    rec = c.convert_node(k.node("n1", ready=False))
    assert rec["internal_ips"] == ("192.168.0.10",)
    assert rec["hostname"] == "n1"
    assert rec["ready"] is False
    assert rec["zone"] == "eu-west-1a"
    assert "lastHeartbeatTime" not in repr(rec)


def view(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    record = c.RESOURCES[resource].views[0][1](obj)
    assert record is not None
    return record


def test_workload_service_account_and_owner():
    cron = {"metadata": k.meta("nightly", "ops"),
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "serviceAccountName": "backup"}}}}}}
    assert view("cronjobs", cron)["service_account"] == "backup"
    rs = view("replicasets", k.replicaset("web-7f9", owner="web"))
    assert (rs["owner_kind"], rs["owner_name"], rs["service_account"]) == (
        "Deployment", "web", "default")


def test_bare_pod_view_only_for_pods_without_owners():
    assert c.convert_bare_pod(k.pod("x", owners=[("Job", "j")])) is None
    bare = c.convert_bare_pod(k.pod("x"))
    assert bare is not None
    assert bare["workload_kind"] == "Pod"


def test_policies_keep_spec_and_start_without_targets():
    rec = view("networkpolicies", k.netpol("deny", selector={}))
    assert rec["spec"]["policyTypes"] == ["Ingress"]
    assert rec["target_workloads"] == []


def test_event_series_count_and_filter():
    assert c.convert_warning_event(k.event("e", type_="Normal")) is None
    evt = k.event("e")
    del evt["count"]
    evt["series"] = {"count": 5, "lastObservedTime": "2026-11-01T11:00:00Z"}
    rec = c.convert_warning_event(evt)
    assert rec is not None
    assert rec["count"] == 5
    assert rec["last_timestamp"] == "2026-11-01T10:05:00Z"


def test_object_without_name_raises_conversion_error():
    with pytest.raises(c.ConversionError):
        c.convert_pod({"metadata": {"namespace": "x"}})
