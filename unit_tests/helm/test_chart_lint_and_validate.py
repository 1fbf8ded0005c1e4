"""The chart lints strictly and every rendered manifest validates, over the ci/ values matrix."""

import json

import jsonschema
import kubernetes_validate
import pytest

from unit_tests.helm.conftest import CHART, SHARED, by_kind, render

KUBE_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]


def test_lint_strict_has_no_errors_or_warnings(ci_values):
    import helm_python

    result = helm_python.lint(str(CHART), ci_values, strict=True, kube_version="v1.33.0")
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_builtin_kinds_validate_strictly(ci_values, kube_version):
    docs = [d for d in render(ci_values) if not d["apiVersion"].startswith("telemetry.istio.io")]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, kube_version, strict=True)


def test_telemetry_resources_validate_against_the_istio_crd_schema(ci_values):
    schema = json.loads((SHARED / "crds/istio/datree/telemetry_v1.json").read_text())
    for doc in by_kind(render(ci_values), "Telemetry"):
        jsonschema.validate(doc, schema)


def test_the_validator_is_not_blind():
    schema = json.loads((SHARED / "crds/istio/datree/telemetry_v1.json").read_text())
    bad = {"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
           "metadata": {"name": "x"}, "spec": {"accessLogging": [{"providers": "nope"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    deployment = by_kind(render({"auth": {"existingSecret": "a"},
                                 "certificates": {"existingSecret": "b"}}), "Deployment")[0]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.33.0", strict=True)
