"""The topology ConfigMap the chart renders is a valid operator topology, and the seed values
change it as documented."""

import pytest
import yaml

from actors.runtime.topology import load_topology
from unit_tests.helm.conftest import CI_VALUES, by_kind, load_values, render

DEFAULTS = load_values(next(p for p in CI_VALUES if p.name == "defaults-values.yaml"))


def _topology(values):
    [config_map] = [c for c in by_kind(render(values), "ConfigMap")
                    if c["metadata"]["name"].endswith("-topology")]
    text = config_map["data"]["topology.yaml"]
    return load_topology(text, env={}), yaml.safe_load(text)


def test_every_rendered_topology_validates(ci_values):
    topology, _ = _topology(ci_values)
    assert topology.root_id == "supervisor/root"
    assert "cloud_uplink/main" in topology.components


def _types(values):
    topology, _ = _topology(values)
    return {spec.component_type for spec in topology.components.values()}


def _with(operator):
    return {**DEFAULTS, "operator": operator}


def test_disable_flows_removes_every_flow_actor_and_link():
    assert "hubble_flows" in _types(DEFAULTS)
    topology, _ = _topology(_with({"cilium": {"disableFlows": True}}))
    assert not [c for c in topology.components if c.startswith("hubble_flows/")]
    assert not [link for link in topology.links if "hubble_flows" in link.link_id]


def test_shards_make_one_collector_per_node_partition():
    topology, _ = _topology(_with({"cilium": {"shards": 3}}))
    shards = sorted(c for c in topology.components if c.startswith("hubble_flows/"))
    assert shards == ["hubble_flows/shard-0", "hubble_flows/shard-1", "hubble_flows/shard-2"]
    assert [topology.components[s].settings["shard_index"] for s in shards] == [0, 1, 2]


def test_flow_shards_and_the_metrics_ring_are_children_of_the_root():
    """No one-level supervisors and no receiver process of their own (DESIGN §3): each would
    be a ~10-15 MiB process; the ring serves OTLP itself."""
    topology, _ = _topology(_with({"cilium": {"shards": 2}, "otel": {"enabled": True},
                                   "istio": {"enabled": True}}))
    root = topology.components["supervisor/root"].children
    assert {"hubble_flows/shard-0", "hubble_flows/shard-1", "metrics_ring/main",
            "envoy_als/main", "command_runner/main"} <= set(root)
    assert "otlp_receiver/main" not in topology.components
    assert topology.components["metrics_ring/main"].settings["receiver"]["enabled"] is True
    supervisors = sorted(c for c in topology.components if c.startswith("supervisor/"))
    assert supervisors == ["supervisor/kube", "supervisor/root", "supervisor/uplink"]


@pytest.mark.parametrize(("operator", "types"), [
    ({"istio": {"enabled": True}}, {"envoy_als"}),
    ({"otel": {"enabled": True}}, {"metrics_ring"}),
])
def test_optional_receivers_appear_only_when_enabled(operator, types):
    assert not types & _types(DEFAULTS)
    assert types <= _types(_with(operator))


def test_seed_values_reach_component_settings():
    topology, _ = _topology(_with({
        "otel": {"enabled": True, "receiverPort": 14317},
        "metricsStore": {"retention": "15m", "maxSeries": 5000, "ringSize": 30},
        "istio": {"enabled": True, "alsPort": 18080},
        "safeApply": {"enabled": True}}))
    components = topology.components
    assert components["metrics_ring/main"].settings["receiver"]["port"] == 14317
    ring = components["metrics_ring/main"].settings
    assert (ring["retention"], ring["max_series"], ring["ring_size"]) == (900.0, 5000, 30)
    assert components["envoy_als/main"].settings["port"] == 18080
    assert components["command_runner/main"].settings["safe_apply"] is True


def test_cloud_commands_reach_their_owners_over_request_links():
    topology, _ = _topology(_with({"otel": {"enabled": True}}))
    requests = {link.consumer_id for link in topology.links
                if link.request and link.producer_id == "cloud_uplink/main"}
    assert requests == {"command_runner/main", "pod_logs/main", "kube_watcher/main",
                        "metrics_ring/main"}
