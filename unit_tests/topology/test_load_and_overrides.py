"""Examples load; defaults merge; environment overrides enable/disable components and settings."""

import pathlib

import pytest

from actors.runtime.registry import (
    ComponentRegistry,
    RegistryError,
    default_registry,
    runtime_component_types,
)
from actors.runtime.settings_schema import ComponentType, format_duration, parse_duration
from actors.runtime.topology import TopologyError, load_topology
from actors.runtime.topology_model import RestartKind, Strategy, Topology
from messages.runtime import Overflow

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "topology"


@pytest.mark.parametrize("name", ["minimal.yaml", "full.yaml", "demo.yaml"])
def test_examples_validate_and_round_trip(name):
    topology = load_topology(EXAMPLES / name, env={})
    assert topology.root_id == "supervisor/root"
    assert Topology.from_document(topology.to_document()) == topology
    # every component sits under exactly one supervisor, in start order
    assert topology.subtree("supervisor/root") == list(topology.components)


def test_full_example_uses_every_registered_type_and_nests_supervisors():
    topology = load_topology(str(EXAMPLES / "full.yaml"), env={})
    used = {spec.component_type for spec in topology.components.values()}
    assert used == {t.name for t in runtime_component_types()}
    assert topology.parent_of("supervisor/sources") == "supervisor/root"
    assert "synthetic_source/spare" not in topology.components  # enabled: false
    assert all("spare" not in link.link_id for link in topology.links)
    assert topology.components["synthetic_source/finite"].restart is RestartKind.TRANSIENT
    assert topology.operator.log_format == "json"


def test_demo_has_a_lossy_and_a_lossless_link_under_a_nested_supervisor():
    topology = load_topology(EXAMPLES / "demo.yaml", env={})
    assert {link.overflow for link in topology.links} == {Overflow.BLOCK, Overflow.DROP_OLDEST}
    assert topology.parent_of("synthetic_aggregator/demo") == "supervisor/pipeline"
    pipeline = topology.components["supervisor/pipeline"]
    assert pipeline.strategy is Strategy.REST_FOR_ONE
    assert pipeline.policy is not None
    assert pipeline.policy.within_s == 60.0
    assert pipeline.policy.backoff_min_s == pytest.approx(0.1)


def test_defaults_are_merged_and_durations_normalized():
    topology = load_topology("""
operator: {drain_timeout: 1500ms, shutdown_timeout: 2}
actors:
  supervisor/root: {within: 5m, backoff: {max: 1h}, children: [synthetic_source/a]}
  synthetic_source/a: {rate_per_s: 10, shutdown_timeout: 250ms}
""", env={})
    root = topology.components["supervisor/root"]
    assert root.strategy is Strategy.ONE_FOR_ONE
    assert root.policy is not None
    assert (root.policy.within_s, root.policy.backoff_max_s, root.policy.backoff_min_s) == (
        300.0, 3600.0, 0.2)
    source = topology.components["synthetic_source/a"]
    assert source.settings == {"rate_per_s": 10.0, "batch_records": 100, "record_bytes": 64,
                               "total": 0, "exit_when_done": False}
    assert source.shutdown_timeout_s == 0.25
    assert (topology.operator.drain_timeout_s, topology.operator.shutdown_timeout_s) == (1.5, 2.0)
    assert topology.links == ()


@pytest.mark.parametrize(("text", "seconds"), [("200ms", 0.2), ("30s", 30.0), ("5m", 300.0),
                                               ("1h", 3600.0), (7, 7.0), (0.5, 0.5),
                                               ("1.5s", 1.5), ("soon", None), (True, None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0.2, 30.0, 300.0, 3600.0, 0.0015, 90.0, 1.5])
def test_format_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def _fake(name: str) -> ComponentType:
    return ComponentType(name=name, actor_class=f"actors.fake.{name}_actor.Fake", settings=(),
                         doc="test double")


DOMAIN_TYPES = ("hubble_flows", "envoy_als", "otlp_receiver", "metrics_ring", "cloud_uplink")
REGISTRY = ComponentRegistry([*runtime_component_types(), *map(_fake, DOMAIN_TYPES)])
TREE = """
operator: {cluster_name: file, status: {port: 9000}, logging: {format: text, level: INFO}}
actors:
  supervisor/root: {children: [supervisor/net, otlp_receiver/main, metrics_ring/main,
                               cloud_uplink/main]}
  supervisor/net: {children: [hubble_flows/relay, envoy_als/mesh]}
  hubble_flows/relay: {}
  envoy_als/mesh: {enabled: false}
  otlp_receiver/main: {enabled: false}
  metrics_ring/main: {enabled: false}
  cloud_uplink/main: {}
links:
  - {from: hubble_flows/relay, to: cloud_uplink/main}
  - {from: envoy_als/mesh, to: cloud_uplink/main}
  - {from: otlp_receiver/main, to: metrics_ring/main}
"""
ALL = {"supervisor/root", "supervisor/net", "hubble_flows/relay", "envoy_als/mesh",
       "otlp_receiver/main", "metrics_ring/main", "cloud_uplink/main"}
FILE_OFF = {"envoy_als/mesh", "otlp_receiver/main", "metrics_ring/main"}


@pytest.mark.parametrize(("env", "absent", "links"), [
    ({}, FILE_OFF, {"hubble_flows/relay->cloud_uplink/main"}),
    ({"DISABLE_CILIUM_FLOWS": "true"}, FILE_OFF | {"hubble_flows/relay"}, set()),
    ({"DISABLE_CILIUM_FLOWS": "false"}, FILE_OFF, {"hubble_flows/relay->cloud_uplink/main"}),
    ({"DISABLE_CILIUM_FLOWS": ""}, FILE_OFF, {"hubble_flows/relay->cloud_uplink/main"}),
    ({"ENABLE_ISTIO_ALS": "TRUE"}, FILE_OFF - {"envoy_als/mesh"},
     {"hubble_flows/relay->cloud_uplink/main", "envoy_als/mesh->cloud_uplink/main"}),
    ({"ENABLE_ISTIO_ALS": "0", "DISABLE_CILIUM_FLOWS": "yes"},
     FILE_OFF | {"hubble_flows/relay"}, set()),
    ({"ENABLE_OTEL_METRICS_STORE": "true"}, {"envoy_als/mesh"},
     {"hubble_flows/relay->cloud_uplink/main", "otlp_receiver/main->metrics_ring/main"}),
    ({"ENABLE_OTEL_METRICS_STORE": "off"}, FILE_OFF, {"hubble_flows/relay->cloud_uplink/main"}),
])
def test_env_enablement(env, absent, links):
    topology = load_topology(TREE, env=env, registry=REGISTRY)
    assert set(topology.components) == ALL - absent
    assert {link.link_id for link in topology.links} == links
    net = topology.components["supervisor/net"]
    assert set(net.children) == {"hubble_flows/relay", "envoy_als/mesh"} - absent


def test_disabling_a_supervisor_removes_its_subtree_and_links():
    text = TREE.replace("supervisor/net: {", "supervisor/net: {enabled: false, ")
    topology = load_topology(text, env={"ENABLE_ISTIO_ALS": "true"}, registry=REGISTRY)
    assert set(topology.components) == {"supervisor/root", "cloud_uplink/main"}
    assert topology.components["supervisor/root"].children == ("cloud_uplink/main",)
    assert topology.links == ()


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"KESTREL_STATUS_PORT": "8181"}, "status_port", 8181),
    ({"HEALTH_PORT": "8282"}, "status_port", 8282),
    ({"HEALTH_PORT": "8282", "KESTREL_STATUS_PORT": "8383"}, "status_port", 8383),
    ({"KESTREL_LOG_FORMAT": "JSON"}, "log_format", "json"),
    ({"KESTREL_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
    ({"KESTREL_CLUSTER_NAME": "prod-eu"}, "cluster_name", "prod-eu"),
    ({}, "cluster_name", "file"),
    ({}, "status_port", 9000),
])
def test_env_operator_overrides(env, field, value):
    topology = load_topology(TREE, env=env, registry=REGISTRY)
    assert getattr(topology.operator, field) == value


def test_bad_env_values_are_problems_with_env_paths():
    env = {"DISABLE_CILIUM_FLOWS": "maybe", "ENABLE_ISTIO_ALS": "sure",
           "ENABLE_OTEL_METRICS_STORE": "2", "KESTREL_STATUS_PORT": "80a",
           "KESTREL_LOG_FORMAT": "xml", "KESTREL_LOG_LEVEL": "loud"}
    with pytest.raises(TopologyError) as caught:
        load_topology(TREE, env=env, registry=REGISTRY)
    assert caught.value.problems == [
        "env.DISABLE_CILIUM_FLOWS: must be true or false (got 'maybe')",
        "env.ENABLE_ISTIO_ALS: must be true or false (got 'sure')",
        "env.ENABLE_OTEL_METRICS_STORE: must be true or false (got '2')",
        "env.KESTREL_LOG_FORMAT: must be one of text, json (got 'xml')",
        "env.KESTREL_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
        "(got 'loud')",
        "env.KESTREL_STATUS_PORT: must be a port number 0..65535 (got '80a')",
    ]


def test_registry_refuses_duplicates_and_bad_names():
    registry = ComponentRegistry(runtime_component_types())
    with pytest.raises(RegistryError, match="registered twice"):
        registry.register(_fake("supervisor"))
    with pytest.raises(RegistryError, match="lower_snake_case"):
        registry.register(_fake("Kube-Watcher"))


def test_default_registry_skips_missing_domain_modules_and_loads_present_ones(tmp_path,
                                                                           monkeypatch):
    package = tmp_path / "kestrel_fake_domain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        "from actors.runtime.settings_schema import ComponentType\n"
        "COMPONENT_TYPES = (ComponentType(name='pod_logs', actor_class='a.b.C', settings=(),"
        " doc='d'),)\n")
    (package / "broken.py").write_text("import kestrel_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_registry(("kestrel_fake_domain.settings", "kestrel_absent.settings",
                                 "kestrel_fake_domain.absent"))
    assert "pod_logs" in registry
    assert "supervisor" in registry
    with pytest.raises(RegistryError, match="kestrel_no_such_dependency"):
        default_registry(("kestrel_fake_domain.broken",))
