"""values.schema.json rejects wrong types and unknown keys with messages naming the key."""

import pytest

from unit_tests.helm.conftest import CHART

BAD_VALUES = [
    ({"bogus": 1}, "additional properties 'bogus' not allowed"),
    ({"operator": {"statusPort": "8081"}}, "/operator/statusPort"),
    ({"operator": {"statusPort": 70000}}, "/operator/statusPort"),
    ({"operator": {"otel": {"enabled": "yes"}}}, "/operator/otel/enabled"),
    ({"operator": {"otel": {"receiverPort": 0}}}, "/operator/otel/receiverPort"),
    ({"operator": {"metricsStore": {"retention": "thirty minutes"}}},
     "/operator/metricsStore/retention"),
    ({"operator": {"metricsStore": {"maxSeries": -5}}}, "/operator/metricsStore/maxSeries"),
    ({"operator": {"metricsStore": {"ringSize": 1}}}, "/operator/metricsStore/ringSize"),
    ({"operator": {"cilium": {"disableFlow": True}}}, "additional properties 'disableFlow'"),
    ({"operator": {"cilium": {"shards": 0}}}, "/operator/cilium/shards"),
    ({"operator": {"istio": {"alsPort": "http"}}}, "/operator/istio/alsPort"),
    ({"operator": {"safeApply": {"enabled": 1}}}, "/operator/safeApply/enabled"),
    ({"operator": {"logging": {"format": "xml"}}}, "/operator/logging/format"),
    ({"server": {"address": "https://cloud.example"}}, "/server/address"),
    ({"server": {"tokenUrl": "http://insecure.example/token"}}, "/server/tokenUrl"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"operator": {"commands": {"extraShellAllowlist": [{"program": "/bin/sh"}]}}},
     "/operator/commands/extraShellAllowlist/0/program"),
    ({"networkPolicy": {"create": "true"}}, "/networkPolicy/create"),
]


@pytest.mark.parametrize(("values", "expected"), BAD_VALUES,
                         ids=[str(i) for i in range(len(BAD_VALUES))])
def test_bad_values_are_rejected_with_the_key(values, expected):
    import helm_python

    chart = helm_python.Chart.load(str(CHART))
    try:
        with pytest.raises(helm_python.HelmValuesError) as excinfo:
            chart.validate_schema(values)
    finally:
        chart.close()
    assert expected in str(excinfo.value)


def test_missing_credentials_fail_with_a_clear_message():
    import helm_python

    chart = helm_python.Chart.load(str(CHART))
    try:
        with pytest.raises(helm_python.HelmError, match=r"auth\.clientId is required"):
            chart.render({}, name="kestrel-operator", namespace="kestrel-ai", is_install=True)
        with pytest.raises(helm_python.HelmError, match="must be a PEM certificate"):
            chart.render({"auth": {"existingSecret": "a"},
                          "certificates": {"client": {"cert": "nope", "key": "k"},
                                           "ca": {"cert": "c"}}},
                         name="kestrel-operator", namespace="kestrel-ai", is_install=True)
    finally:
        chart.close()
