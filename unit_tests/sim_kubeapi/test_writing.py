import json
from typing import Any

import pytest

from sim.kubeapi import rbac, writing
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock, route

ADMIN = rbac.Identity("admin", (), rbac.ADMIN_RULES)


@pytest.fixture
def store():
    created = ObjectStore(clock=FixedClock())
    created.create("namespaces", {"metadata": {"name": "ns"}})
    return created


def _writer(store, method, path, identity=ADMIN, agent="kubectl/v1.33.1", **params):
    return writing.WriteHandler(store, route(method, path), params, identity, agent)


def _body(obj):
    return json.dumps(obj).encode()


def _create_deploy(store, **params):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "labels": {"app": "web"}},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
              "status": {"replicas": 99}}
    return _writer(store, "POST", "/apis/apps/v1/namespaces/ns/deployments",
                   **params).create(_body(deploy))


def test_create_update_conflict_and_status_subresource(store):
    code, created = _create_deploy(store)
    assert code == 201
    assert created["kind"] == "Deployment"
    assert "status" not in created  # status is reset on create
    assert created["metadata"]["managedFields"][0]["manager"] == "kubectl"
    stale = dict(created)
    created["spec"]["replicas"] = 3
    path = "/apis/apps/v1/namespaces/ns/deployments/web"
    _, updated = _writer(store, "PUT", path).update(_body(created))
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as error:
        _writer(store, "PUT", path).update(_body(stale))
    assert error.value.code == 409
    updated["status"] = {"replicas": 3}
    updated["spec"]["replicas"] = 10
    _, with_status = _writer(store, "PUT", path + "/status").update(_body(updated))
    assert with_status["status"] == {"replicas": 3}
    assert with_status["spec"]["replicas"] == 3
    assert with_status["metadata"]["generation"] == 2


def test_create_errors(store):
    path = "/api/v1/namespaces/ns/configmaps"
    with pytest.raises(ApiError) as error:
        _writer(store, "POST", path).create(_body({"metadata": {}}))
    assert error.value.code == 422
    with pytest.raises(ApiError) as error:
        _writer(store, "POST", "/api/v1/namespaces/missing/configmaps").create(
            _body({"metadata": {"name": "x"}}))
    assert error.value.code == 404
    assert error.value.message == 'namespaces "missing" not found'
    with pytest.raises(ApiError) as error:
        _writer(store, "POST", path).create(_body({"kind": "Secret", "metadata": {"name": "x"}}))
    assert error.value.code == 400
    _, generated = _writer(store, "POST", path).create(
        _body({"metadata": {"generateName": "gen-"}}))
    assert generated["metadata"]["name"].startswith("gen-")
    assert len(generated["metadata"]["name"]) == len("gen-") + 5


def test_patch_types_and_dry_run(store):
    _create_deploy(store)
    path = "/apis/apps/v1/namespaces/ns/deployments/web"
    _, merged = _writer(store, "PATCH", path).patch(
        _body({"spec": {"replicas": 5}}), "application/merge-patch+json")
    assert merged["spec"]["replicas"] == 5
    _, strategic = _writer(store, "PATCH", path).patch(
        _body({"spec": {"template": {"spec": {"containers": [{"name": "web",
                                                                "image": "web:2"}]}}}}),
        "application/strategic-merge-patch+json")
    assert strategic["spec"]["template"]["spec"]["containers"] == [{"name": "web",
                                                                     "image": "web:2"}]
    rv = store.resource_version
    _, dry = _writer(store, "PATCH", path, dryRun="All").patch(
        _body([{"op": "replace", "path": "/spec/replicas", "value": 1}]),
        "application/json-patch+json")
    assert dry["spec"]["replicas"] == 1
    assert store.resource_version == rv
    with pytest.raises(ApiError) as error:
        _writer(store, "PATCH", path).patch(b"{}", "text/plain")
    assert error.value.code == 415


def test_server_side_apply_conflicts_force_and_field_removal(store):
    path = "/api/v1/namespaces/ns/configmaps/cfg"
    applied: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cfg", "labels": {"owner": "a"}}, "data": {"a": "1",
                                                                                "b": "2"}}
    code, created = _writer(store, "PATCH", path, fieldManager="mgr-a").patch(
        _body(applied), "application/apply-patch+yaml")
    assert code == 201
    assert created["metadata"]["managedFields"][0]["operation"] == "Apply"
    rival = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
             "data": {"a": "changed"}}
    with pytest.raises(ApiError) as error:
        _writer(store, "PATCH", path, fieldManager="mgr-b").patch(
            _body(rival), "application/apply-patch+yaml")
    assert error.value.code == 409
    assert error.value.message == 'Apply failed with 1 conflict: conflict with "mgr-a": .data.a'
    _, forced = _writer(store, "PATCH", path, fieldManager="mgr-b", force="true").patch(
        _body(rival), "application/apply-patch+yaml")
    assert forced["data"] == {"a": "changed", "b": "2"}
    del applied["data"]["b"]
    applied["data"]["a"] = "changed"
    _, shrunk = _writer(store, "PATCH", path, fieldManager="mgr-a").patch(
        _body(applied), "application/apply-patch+yaml")
    assert shrunk["data"] == {"a": "changed"}  # mgr-a stopped applying b: removed
    with pytest.raises(ApiError) as error:
        _writer(store, "PATCH", path).patch(_body(applied), "application/apply-patch+yaml")
    assert error.value.code == 400


def test_apply_accepts_yaml_and_dry_run_does_not_store(store):
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n"
    _, dry = _writer(store, "PATCH", "/api/v1/namespaces/ns/configmaps/y", fieldManager="m",
                     dryRun="All").patch(body, "application/apply-patch+yaml")
    assert dry["data"] == {"k": "v"}
    assert store.get("configmaps", "ns", "y") is None


def test_delete_with_finalizer_and_delete_collection(store):
    path = "/api/v1/namespaces/ns/configmaps"
    for name in ("a", "b", "c"):
        _writer(store, "POST", path).create(_body({"metadata": {
            "name": name, "labels": {"group": "x" if name != "c" else "y"}}}))
    _, gone = _writer(store, "DELETE", path, labelSelector="group=x").delete_collection()
    assert [i["metadata"]["name"] for i in gone["items"]] == ["a", "b"]
    _writer(store, "POST", path).create(_body({"metadata": {"name": "f",
                                                            "finalizers": ["keep"]}}))
    _, marked = _writer(store, "DELETE", path + "/f").delete(b"")
    assert marked["metadata"]["deletionTimestamp"]
    _, removed = _writer(store, "DELETE", path + "/c").delete(b"")
    assert removed["status"] == "Success"


def test_self_subject_access_review_json(store):
    reader = rbac.Identity("reader", (), rbac.READ_ONLY_RULES)
    review = {"spec": {"resourceAttributes": {"verb": "delete", "resource": "pods",
                                              "namespace": "ns"}}}
    _, answer = _writer(store, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        identity=reader).create(_body(review))
    assert answer["status"]["allowed"] is False


def test_scale_subresource_reads_and_writes_replicas(store):
    from sim.kubeapi import scaling

    _create_deploy(store)
    path = "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    _, scale = scaling.serve(store, route("GET", path), b"", "")
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 2
    _, scaled = scaling.serve(store, route("PATCH", path), _body({"spec": {"replicas": 6}}),
                              "application/merge-patch+json")
    assert scaled["spec"]["replicas"] == 6
    assert store.get("deployments.apps", "ns", "web")["spec"]["replicas"] == 6
    with pytest.raises(ApiError) as error:
        scaling.serve(store, route("PUT", path), _body({"spec": {"replicas": -1}}), "")
    assert error.value.code == 422


def test_protobuf_bodies_are_415_and_yaml_bodies_are_accepted(store):
    path = "/api/v1/namespaces/ns/configmaps"
    writer = _writer(store, "POST", path)
    writer.content_type = "application/vnd.kubernetes.protobuf"
    with pytest.raises(ApiError) as error:
        writer.create(b"k8s\x00\x0a\x00")
    assert error.value.code == 415
    writer.content_type = "application/yaml"
    _, created = writer.create(b"metadata:\n  name: from-yaml\ndata:\n  k: v\n")
    assert created["data"] == {"k": "v"}


def test_validation_failures_are_one_422_listing_every_problem(store):
    bad = {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(ApiError) as error:
        _writer(store, "POST", "/api/v1/namespaces/ns/pods").create(_body(bad))
    assert error.value.code == 422
    assert error.value.message.startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid '
                                          'value: "Bad_Name": a lowercase RFC 1123 subdomain')
    fields = [cause["field"] for cause in (error.value.details or {})["causes"]]
    assert fields == ["metadata.name", "spec.containers[0].image"]
    _create_deploy(store)
    path = "/apis/apps/v1/namespaces/ns/deployments/web"
    with pytest.raises(ApiError) as error:
        _writer(store, "PATCH", path).patch(
            _body({"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}),
            "application/merge-patch+json")
    assert "`selector` does not match template `labels`" in error.value.message


def test_delete_cascades_to_dependents_and_namespaces_take_their_contents(store):
    from sim.kubeapi import generate_cluster

    generated = ObjectStore(clock=FixedClock())
    generate_cluster("small", seed=1, now=FixedClock().now).load_into(generated)
    deploy = next(d for d in generated.ground_truth()["deployments.apps"]
                  if d["metadata"]["namespace"] == "team-01")
    name = deploy["metadata"]["name"]
    path = f"/apis/apps/v1/namespaces/team-01/deployments/{name}"
    _writer(generated, "DELETE", path).delete(b"")
    truth = generated.ground_truth()
    assert not [rs for rs in truth["replicasets.apps"] if rs["metadata"]["labels"]["app"] == name]
    assert not [p for p in truth["pods"] if p["metadata"]["labels"].get("app") == name]
    other = next(d for d in truth["deployments.apps"] if d["metadata"]["namespace"] == "team-01")
    _writer(generated, "DELETE", f"/apis/apps/v1/namespaces/team-01/deployments/"
                                 f"{other['metadata']['name']}", propagationPolicy="Orphan"
            ).delete(b"")
    assert [rs for rs in generated.ground_truth()["replicasets.apps"]
            if rs["metadata"]["labels"]["app"] == other["metadata"]["name"]]
    _, marked = _writer(generated, "DELETE", "/api/v1/namespaces/team-00").delete(b"")
    assert marked["status"]["phase"] == "Terminating"
    truth = generated.ground_truth()
    assert all(obj["metadata"].get("namespace") != "team-00"
               for objs in truth.values() for obj in objs)
    assert "team-00" not in {n["metadata"]["name"] for n in truth["namespaces"]}


def test_both_event_apis_share_one_storage(store):
    from sim.kubeapi import listing

    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
             "metadata": {"name": "e1"}, "eventTime": "2026-09-21T14:13:20.000000Z",
             "regarding": {"kind": "Pod", "name": "p", "namespace": "ns"},
             "note": "Back-off restarting", "reason": "BackOff", "type": "Warning",
             "reportingController": "kubelet", "reportingInstance": "node-1", "action": "x"}
    _, created = _writer(store, "POST", "/apis/events.k8s.io/v1/namespaces/ns/events").create(
        _body(event))
    assert created["note"] == "Back-off restarting"
    assert "message" not in created
    core = json.loads(listing.list_body(store, route("GET", "/api/v1/namespaces/ns/events"),
                                       {"fieldSelector": "involvedObject.name=p"}, None))
    assert core["items"][0]["message"] == "Back-off restarting"
    assert core["items"][0]["involvedObject"]["kind"] == "Pod"
    v1 = json.loads(listing.list_body(
        store, route("GET", "/apis/events.k8s.io/v1/events"),
        {"fieldSelector": "regarding.name=p,type=Warning"}, None))
    assert [i["metadata"]["name"] for i in v1["items"]] == ["e1"]
    assert v1["items"][0]["reportingController"] == "kubelet"
    _, patched = _writer(store, "PATCH", "/api/v1/namespaces/ns/events/e1").patch(
        _body({"count": 2}), "application/merge-patch+json")
    assert patched["count"] == 2
    assert json.loads(listing.list_body(store, route("GET", "/apis/events.k8s.io/v1/events"),
                                        {}, None))["items"][0]["deprecatedCount"] == 2
