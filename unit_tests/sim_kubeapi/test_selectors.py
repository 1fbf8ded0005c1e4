import pytest

from sim.kubeapi import selectors
from sim.kubeapi.status import ApiError

POD = {"metadata": {"name": "p", "namespace": "n", "labels": {"app": "web", "tier": "front"}},
       "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", True), ("app==web", True), ("app!=web", False), ("app!=db", True),
    ("app in (web, db)", True), ("app notin (web,db)", False), ("app notin (db)", True),
    ("tier", True), ("!tier", False), ("!missing", True), ("missing", False),
    ("missing!=x", True), ("app=web,tier=back", False), ("app in (db),tier", False),
    ("", True),
])
def test_label_selector_operators(selector, expected):
    requirements = selectors.parse_label_selector(selector)
    assert selectors.labels_match(requirements, POD) is expected


@pytest.mark.parametrize("bad", ["app in web", "!app=x", "=x", "app in (a"])
def test_malformed_label_selectors_are_400(bad):
    with pytest.raises(ApiError) as error:
        selectors.parse_label_selector(bad)
    assert error.value.code == 400


@pytest.mark.parametrize(("selector", "expected"), [
    ("metadata.name=p", True), ("metadata.namespace!=n", False), ("spec.nodeName=node-1", True),
    ("status.phase=Pending", False), ("status.phase!=Pending,spec.nodeName==node-1", True),
])
def test_pod_field_selectors(selector, expected):
    flt = selectors.build_filter("", selector, "pods")
    assert flt.matches(POD) is expected


def test_event_field_selectors_and_unsupported_fields():
    event = {"metadata": {"name": "e", "namespace": "n"}, "type": "Warning",
             "involvedObject": {"kind": "Pod", "name": "p", "namespace": "n"}}
    flt = selectors.build_filter("", "involvedObject.kind=Pod,type=Warning", "events")
    assert flt.matches(event)
    with pytest.raises(ApiError) as error:
        selectors.build_filter("", "spec.nodeName=x", "configmaps")
    assert error.value.code == 400
    assert error.value.message == "field label not supported: spec.nodeName"
