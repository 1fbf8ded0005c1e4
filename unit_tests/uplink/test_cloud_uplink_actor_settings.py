"""The ``cloud_uplink`` component's settings: chart keys accepted, mapped onto UplinkSettings,
problems reported under the component's own key names."""

import pytest
import yaml

from actors.runtime.registry import default_registry
from actors.runtime.settings_schema import COMMON_SETTINGS, check_mapping
from actors.uplink.settings import (
    CLOUD_UPLINK_SETTINGS,
    COMPONENT_TYPES,
    uplink_settings_for_component,
)
from unit_tests.helm.conftest import CHART, by_kind, load_values, render

CHART_KEYS = ("cluster_id", "server_address", "server_name", "token_url", "client_id_file",
              "client_secret_file", "cert_file", "key_file", "ca_file", "spool_dir")
(UPLINK_TYPE,) = COMPONENT_TYPES


def checked(raw):
    problems: list[str] = []
    values = check_mapping(COMMON_SETTINGS + CLOUD_UPLINK_SETTINGS, raw, "cloud_uplink/main",
                           problems)
    if not problems and UPLINK_TYPE.check is not None:
        problems += [f"{key}: {message}" for key, message in UPLINK_TYPE.check(values)]
    return values, problems


def chart_section():
    docs = render(load_values(CHART / "ci" / "defaults-values.yaml"))
    (config,) = [d for d in by_kind(docs, "ConfigMap") if "topology.yaml" in d["data"]]
    return yaml.safe_load(config["data"]["topology.yaml"])["actors"]["cloud_uplink/main"]


def test_registered_with_the_chart_keys():
    assert default_registry().get("cloud_uplink") is UPLINK_TYPE
    assert set(CHART_KEYS) <= {setting.name for setting in CLOUD_UPLINK_SETTINGS}


def test_the_charts_section_validates_and_maps(monkeypatch):
    monkeypatch.setenv("POD_NAMESPACE", "elsewhere")   # the chart's cluster_id wins over env
    monkeypatch.delenv("KESTREL_CLUSTER_NAME", raising=False)
    section = chart_section()
    assert set(section) == set(CHART_KEYS)
    values, problems = checked(section)
    assert problems == []
    settings = uplink_settings_for_component(values)
    for key in CHART_KEYS:
        assert getattr(settings, key) == section[key]
    assert settings.cluster_id == "kestrel-ai"


def test_tuning_keys_map_onto_uplink_settings():
    values, problems = checked({"server_address": "cloud:443", "token_url": "https://t/x",
                                "cluster_id": "c1", "heartbeat_interval": "5s",
                                "backoff_max": "2m", "fsync_interval": 0,
                                "command_owners": {"log_tail": "", "shell": "runner/x"}})
    assert problems == []
    settings = uplink_settings_for_component(values, env={})
    assert settings.heartbeat_interval_s == 5.0
    assert settings.backoff_max_s == 120.0
    assert settings.fsync_interval_s == 0.0
    owners = dict(settings.command_owners)
    assert "log_tail" not in owners
    assert owners["shell"] == "runner/x"
    assert owners["k8s_request"] == "command_runner/main"
    assert owners["metrics_query"] == "metrics_ring/main"


@pytest.mark.parametrize(("raw", "expected"), [
    ({"token_url": "http://t/x"}, "token_url: must be an https:// URL"),
    ({"keepalive_time": 5}, "keepalive_time: below 10 s risks GOAWAY"),
    ({"server_address": "no-port"}, "server_address: must be host:port"),
    ({"cluster_id": 7}, "cluster_id: must be a string"),
    ({"command_owners": {"telepathy": "x"}}, "command_owners.telepathy: unknown command kind"),
    ({"command_owners": ["shell"]}, "command_owners: command_owners must be a mapping"),
])
def test_bad_values_are_reported_under_component_keys(raw, expected, monkeypatch):
    monkeypatch.setenv("KESTREL_CLUSTER_NAME", "c")
    base = {"server_address": "cloud:443", "token_url": "https://t/x", **raw}
    _, problems = checked(base)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_missing_cluster_id_names_its_fallbacks():
    values, _ = checked({"server_address": "cloud:443", "token_url": "https://t/x"})
    settings = uplink_settings_for_component(values, env={})
    assert settings.cluster_id == ""
    assert ("cluster_id", "is required") in list(settings.problems())
