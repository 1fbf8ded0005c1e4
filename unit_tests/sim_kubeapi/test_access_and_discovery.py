import pytest

from sim.kubeapi import discovery, openapi, protobuf_review, rbac, routing
from sim.kubeapi.status import ApiError
from unit_tests.sim_kubeapi.helpers import route


def _doc(source, path):
    document = source(path)
    assert document is not None, path
    return document


def test_unknown_token_is_401_and_missing_rule_is_403_with_upstream_message():
    table = rbac.AccessTable()
    tokens = table.add_defaults()
    with pytest.raises(ApiError) as error:
        table.authenticate("Bearer wrong")
    assert error.value.code == 401
    nobody = table.authenticate(f"Bearer {tokens.no_rights}")
    with pytest.raises(ApiError) as error:
        rbac.AccessTable.authorize(nobody, "list", "", "pods", "default")
    assert error.value.code == 403
    assert error.value.reason == "Forbidden"
    assert error.value.message == (
        'pods is forbidden: User "system:serviceaccount:default:nobody" cannot list resource '
        '"pods" in API group "" in the namespace "default"')
    reader = table.authenticate(f"Bearer {tokens.read_only}")
    rbac.AccessTable.authorize(reader, "watch", "apps", "deployments", "")
    with pytest.raises(ApiError) as error:
        rbac.AccessTable.authorize(reader, "delete", "apps", "deployments", "", "web")
    assert error.value.message.startswith('deployments "web" is forbidden: User ')
    assert error.value.message.endswith("at the cluster scope")


def test_discovery_documents_list_kinds_and_subresources():
    core = _doc(discovery.document, "/api/v1")
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/log", "pods/status", "nodes", "events", "endpoints"} <= names
    groups = {g["name"]: [v["version"] for v in g["versions"]]
              for g in _doc(discovery.document, "/apis")["groups"]}
    assert groups["security.istio.io"] == ["v1", "v1beta1"]
    assert {"apps", "batch", "networking.k8s.io", "events.k8s.io", "coordination.k8s.io",
            "cilium.io"} <= set(groups)
    cilium = _doc(discovery.document, "/apis/cilium.io/v2")
    assert {r["name"]: r["namespaced"] for r in cilium["resources"]
            if "/" not in r["name"]} == {"ciliumnetworkpolicies": True,
                                         "ciliumclusterwidenetworkpolicies": False}
    assert discovery.document("/apis/nope") is None
    assert _doc(discovery.document, "/version")["gitVersion"] == "v1.33.0"


def test_openapi_v3_advertises_field_validation_for_every_kind():
    index = _doc(openapi.document, "/openapi/v3")
    assert "apis/apps/v1" in index["paths"]
    doc = _doc(openapi.document, index["paths"]["apis/apps/v1"]["serverRelativeURL"].split("?")[0])
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert openapi.document("/openapi/v2") is None


def test_routes_for_namespaced_cluster_and_subresource_paths():
    log = route("GET", "/api/v1/namespaces/n/pods/p/log")
    assert (log.resource.plural, log.namespace, log.name, log.subresource) == (
        "pods", "n", "p", "log")
    ns_status = route("PUT", "/api/v1/namespaces/n/status")
    assert (ns_status.resource.plural, ns_status.name, ns_status.subresource) == (
        "namespaces", "n", "status")
    watch = route("GET", "/apis/apps/v1/deployments", watch="1")
    assert watch.verb == "watch"
    assert watch.namespace == ""
    for bad in ("/api/v1/namespaces/n/nodes", "/apis/apps/v1/widgets", "/api/v1/pods/p/exec"):
        with pytest.raises(ApiError) as error:
            routing.parse_resource_path("GET", bad, {})
        assert error.value.code == 404


def _field(number, payload):
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_self_subject_access_review_is_decoded():
    attributes = _field(1, b"ns") + _field(2, b"list") + _field(5, b"pods")
    review = _field(2, _field(1, attributes))
    envelope = _field(1, _field(1, b"authorization.k8s.io/v1")) + _field(2, review)
    decoded = protobuf_review.decode_self_subject_access_review(b"k8s\x00" + envelope)
    assert decoded["spec"]["resourceAttributes"] == {"namespace": "ns", "verb": "list",
                                                      "resource": "pods"}
    with pytest.raises(ValueError, match="magic"):
        protobuf_review.decode_self_subject_access_review(b"{}")
