"""Workload index (pod → workload, IP → pod, selectors) and policy targets recomputation."""

from typing import Any

import pytest

from actors.kube.converters import RESOURCES
from actors.kube.policy_targets import PolicyTargets
from actors.kube.watch_state import CREATE, DELETE, UPDATE
from actors.kube.workload_index import WorkloadIndex, selector_matches
from unit_tests.kube import k8s_objects as k


def rec(resource, obj, view=0):
    return RESOURCES[resource].views[view][1](obj)


def d(op, record):
    return (op, record["kind"], (record["kind"], record["namespace"], record["name"]), record)


def pod(name, ns="shop", labels=None, owner=None, ip="", **kw):
    return rec("pods", k.pod(name, ns, labels=labels or {}, owners=[owner] if owner else None,
                             ip=ip, **kw))


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
     {"tier": "be"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
     {"tier": "fe"}, False),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {"canary": ""}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"canary": ""},
     False),
])
def test_selector_semantics(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


def test_workload_resolution_and_ip_index():
    index = WorkloadIndex()
    index.apply([
        d(CREATE, rec("replicasets", k.replicaset("web-7f9", "shop", owner="web"))),
        d(CREATE, rec("jobs", k.job("nightly-289", "shop", owner="nightly"))),
        d(CREATE, pod("web-7f9-abc", owner=("ReplicaSet", "web-7f9"), ip="10.0.0.5")),
        d(CREATE, pod("orphan-5d8-x", owner=("ReplicaSet", "orphan-5d8"),
                      labels={"pod-template-hash": "5d8"})),
        d(CREATE, pod("nightly-289-q", owner=("Job", "nightly-289"), ip="10.0.0.6",
                      phase="Succeeded")),
        d(CREATE, pod("db-0", owner=("StatefulSet", "db"), ip="10.0.0.7")),
        d(CREATE, pod("debug", ip="10.0.0.8")),
        d(CREATE, pod("cni", owner=("DaemonSet", "cni"), ip="192.168.0.10", host_network=True)),
    ])
    assert index.workload_of_pod("shop", "web-7f9-abc") == ("Deployment", "web")
    assert index.workload_of_pod("shop", "orphan-5d8-x") == ("Deployment", "orphan")
    assert index.workload_of_pod("shop", "nightly-289-q") == ("CronJob", "nightly")
    assert index.workload_of_pod("shop", "db-0") == ("StatefulSet", "db")
    assert index.workload_of_pod("shop", "debug") == ("Pod", "debug")
    assert index.workload_of_pod("shop", "nope") is None
    assert index.pod_by_ip("10.0.0.5") == ("shop", "web-7f9-abc")
    assert index.pod_by_ip("10.0.0.6") is None          # finished pod: IP may be reused
    assert index.pod_by_ip("192.168.0.10") is None      # hostNetwork shares the node IP
    index.apply([d(DELETE, pod("web-7f9-abc", ip="10.0.0.5"))])
    assert index.pod_by_ip("10.0.0.5") is None


def test_bad_operator_matches_nothing_and_is_counted():
    index = WorkloadIndex()
    index.apply([d(CREATE, pod("a", labels={"x": "1"}))])
    assert index.pods_matching("shop", {"matchExpressions": [
        {"key": "x", "operator": "Gt", "values": ["0"]}]}) == []
    assert index.bad_selectors == 1


def policy_delta(op, obj, resource="networkpolicies"):
    return d(op, rec(resource, obj))


def test_netpol_targets_recomputed_on_pod_and_policy_change_with_match_expressions():
    targets = PolicyTargets(WorkloadIndex())
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    pol = k.netpol("fe-only", "shop", selector=selector)
    out = targets.process([
        d(CREATE, rec("replicasets", k.replicaset("web-7f9", "shop", owner="web"))),
        d(CREATE, pod("web-7f9-a", labels={"tier": "fe"}, owner=("ReplicaSet", "web-7f9"))),
        d(CREATE, pod("api-0", labels={"tier": "be"}, owner=("StatefulSet", "api"))),
        policy_delta(CREATE, pol)])
    assert out[-1][3]["target_workloads"] == ["shop.Deployment.web"]
    assert len(out) == 4                      # the policy passed by: no extra UPDATE

    # a pod change that does not change the target set: nothing extra
    out = targets.process([d(CREATE, pod("web-7f9-b", labels={"tier": "fe"},
                                         owner=("ReplicaSet", "web-7f9")))])
    assert len(out) == 1

    # a new matching workload: one UPDATE of the policy with the new targets
    out = targets.process([d(CREATE, pod("shop-ui", labels={"tier": "fe"}))])
    assert [(op, key) for op, _, key, _ in out[1:]] == [
        (UPDATE, ("NetworkPolicy", "shop", "fe-only"))]
    assert out[1][3]["target_workloads"] == ["shop.Deployment.web", "shop.Pod.shop-ui"]

    # a canary label excludes it again (DoesNotExist)
    out = targets.process([d(UPDATE, pod("shop-ui", labels={"tier": "fe", "canary": "y"}))])
    assert out[1][3]["target_workloads"] == ["shop.Deployment.web"]

    # pods in another namespace never touch it
    assert len(targets.process([d(CREATE, pod("x", ns="other", labels={"tier": "fe"}))])) == 1

    # the policy itself changes: targets recomputed on the passing record
    pol2 = k.with_rv(pol)
    pol2["spec"]["podSelector"] = {"matchLabels": {"tier": "be"}}
    out = targets.process([policy_delta(UPDATE, pol2)])
    assert out[0][3]["target_workloads"] == ["shop.StatefulSet.api"]
    targets.process([policy_delta(DELETE, pol2)])
    assert targets.policies == {}


def test_empty_selector_means_whole_namespace():
    targets = PolicyTargets(WorkloadIndex())
    out = targets.process([d(CREATE, pod("a")), d(CREATE, pod("b", ns="other")),
                           policy_delta(CREATE, k.netpol("deny-all", "shop", selector={}))])
    assert out[-1][3]["target_workloads"] == ["shop.Pod.a"]


def cilium(kind, name, ns, selector):
    obj = {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": k.meta(name, ns),
           "spec": {"endpointSelector": selector, "ingress": [{}]}}
    return obj


def test_cilium_policies_namespaced_and_clusterwide_with_namespace_label():
    targets = PolicyTargets(WorkloadIndex())
    targets.process([d(CREATE, pod("a", labels={"app": "web"})),
                     d(CREATE, pod("b", ns="other", labels={"app": "web"}))])
    cnp = cilium("CiliumNetworkPolicy", "p", "shop", {"matchLabels": {"k8s:app": "web"}})
    ccnp = cilium("CiliumClusterwideNetworkPolicy", "c", "", {"matchLabels": {
        "app": "web", "k8s:io.kubernetes.pod.namespace": "other"}})
    ccnp_all = cilium("CiliumClusterwideNetworkPolicy", "all", "", {})
    out = targets.process([policy_delta(CREATE, cnp, "ciliumnetworkpolicies"),
                           policy_delta(CREATE, ccnp, "ciliumclusterwidenetworkpolicies"),
                           policy_delta(CREATE, ccnp_all, "ciliumclusterwidenetworkpolicies")])
    assert [r["target_workloads"] for *_, r in out] == [
        ["shop.Pod.a"], ["other.Pod.b"], ["other.Pod.b", "shop.Pod.a"]]
    out = targets.process([d(CREATE, pod("c", ns="third"))])
    assert [(key[2], r["target_workloads"]) for _, _, key, r in out[1:]] == [
        ("all", ["other.Pod.b", "shop.Pod.a", "third.Pod.c"])]


def authz(name, ns, selector=None, target_ref=False):
    spec: dict[str, Any] = {"action": "ALLOW",
                            "rules": [{"from": [{"source": {"namespaces": ["x"]}}]}]}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if target_ref:
        spec["targetRef"] = {"kind": "Gateway", "name": "gw"}
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": k.meta(name, ns), "spec": spec}


def test_authorization_policy_selector_namespace_and_root_namespace():
    targets = PolicyTargets(WorkloadIndex(), istio_root_namespace="istio-system")
    targets.process([d(CREATE, pod("a", labels={"app": "web"})), d(CREATE, pod("b")),
                     d(CREATE, pod("c", ns="other", labels={"app": "web"}))])
    out = targets.process([
        policy_delta(CREATE, authz("sel", "shop", {"app": "web"}), "authorizationpolicies"),
        policy_delta(CREATE, authz("ns-wide", "shop"), "authorizationpolicies"),
        policy_delta(CREATE, authz("mesh", "istio-system"), "authorizationpolicies"),
        policy_delta(CREATE, authz("mesh-web", "istio-system", {"app": "web"}),
                     "authorizationpolicies"),
        policy_delta(CREATE, authz("gw", "shop", target_ref=True), "authorizationpolicies")])
    assert [r["target_workloads"] for *_, r in out] == [
        ["shop.Pod.a"], ["shop.Pod.a", "shop.Pod.b"],
        ["other.Pod.c", "shop.Pod.a", "shop.Pod.b"], ["other.Pod.c", "shop.Pod.a"], []]
