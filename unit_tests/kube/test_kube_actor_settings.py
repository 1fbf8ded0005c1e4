"""Topology keys of kube_watcher and pod_logs (as the chart renders them) and the API connection."""

import pytest

from actors.kube.api_connection import ApiConnection
from actors.kube.settings import component_settings, kube_settings
from actors.runtime.topology import TopologyError, load_topology

CHART_LIKE = """
operator: {cluster_name: test}
actors:
  supervisor/root: {children: [supervisor/kube]}
  supervisor/kube:
    strategy: one_for_one
    children: [pod_logs/main, kube_watcher/main]
  kube_watcher/main:
    not_ready_threshold: "2m"
%s
  pod_logs/main:
    capture_lines: 200
    capture_max_bytes: 65536
    stream_namespace_label: ""
links:
  - {from: kube_watcher/main, to: pod_logs/main, window: 4, overflow: block}
"""


def test_the_chart_keys_validate_with_defaults_merged():
    topology = load_topology(CHART_LIKE % "", env={})
    watcher = topology.components["kube_watcher/main"].settings
    assert watcher["not_ready_threshold"] == 120.0
    assert watcher["api_url"] == ""
    assert watcher["page_size"] == 500
    logs = topology.components["pod_logs/main"].settings
    assert logs["capture_max_bytes"] == 65536
    assert kube_settings("pod_logs", logs).log_stream_max_streams == 0     # "" = no streams
    assert kube_settings("kube_watcher", watcher).not_ready_threshold_s == 120.0


def problems(extra):
    with pytest.raises(TopologyError) as caught:
        load_topology(CHART_LIKE % extra, env={})
    return "\n".join(caught.value.problems)


def test_bad_values_are_reported_with_their_key_paths():
    assert "actors.kube_watcher/main.page_size: must be ≥ 1" in problems("    page_size: 0\n")
    assert "actors.kube_watcher/main.api_url: must be a string" in problems(
        "    api_url: 5\n")
    assert "gadgets" in problems("    resources: [pods, gadgets]\n")
    assert "actors.kube_watcher/main.backoff_max: must be >= backoff_min_s" in problems(
        "    backoff_min: 2s\n    backoff_max: 1s\n")


def test_unvalidated_settings_get_defaults_and_bad_durations_fail_clearly():
    assert component_settings("kube_watcher", {"watch_timeout": "30s"})["watch_timeout"] == 30.0
    with pytest.raises(ValueError, match="watch_timeout"):
        component_settings("kube_watcher", {"watch_timeout": "soon"})


def test_in_cluster_connection_and_its_errors(tmp_path):
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    conn = ApiConnection.from_settings({}, env=env)
    assert conn.url == "https://10.96.0.1:443"
    assert conn.token_file.endswith("serviceaccount/token")
    with pytest.raises(ValueError, match="KUBERNETES_SERVICE_HOST"):
        ApiConnection.from_settings({}, env={})
    missing_ca = ApiConnection.from_settings({"ca_file": str(tmp_path / "nope.crt")}, env=env)
    with pytest.raises(ValueError, match="ca_file"):
        missing_ca.adapter()
    plain = ApiConnection.from_settings({"api_url": "http://127.0.0.1:1",
                                         "token_file": str(tmp_path / "token")})
    assert plain.adapter().scheme == "http"
