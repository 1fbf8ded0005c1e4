"""hubble_flows settings (chart keys), relay resolution rules and discovery retries."""

import time

import pytest

from actors.flows.relay_connector_adapter import RelayConnector
from actors.flows.relay_discovery import RelayDiscoveryError, RelayService
from actors.flows.relay_resolution import needs_kubernetes_api, resolve_relay
from actors.flows.settings import collector_settings
from actors.runtime.registry import default_registry
from actors.runtime.thespian_system import OperatorSystem
from actors.runtime.topology import TopologyError, load_topology
from messages.runtime import Overflow
from system_tests import netflow_support as ns
from unit_tests.runtime import topologies as tp

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

CHART_SHAPED = """
operator: {actor_system: {admin_port: 0}}
actors:
  supervisor/root: {children: [cloud_uplink/main, supervisor/flows, envoy_als/main]}
  cloud_uplink/main: {server_address: "127.0.0.1:1", token_url: "https://127.0.0.1:1/t",
                      cluster_id: c}
  supervisor/flows: {children: [hubble_flows/shard-0, hubble_flows/shard-1]}
  hubble_flows/shard-0:
    relay_address: ""
    tls_enabled: true
    tls_server_name: "*.hubble-relay.cilium.io"
    tls_ca_secret: "hubble-relay-server-certs"
    tls_client_secret: ""
    shard_index: 0
    shard_count: 2
  hubble_flows/shard-1: {relay_address: "", shard_index: 1, shard_count: 2, window_s: 5s}
  envoy_als/main: {port: 8080}
links:
  - {from: hubble_flows/shard-0, to: cloud_uplink/main, window: 8, overflow: drop_oldest}
  - {from: hubble_flows/shard-1, to: cloud_uplink/main, window: 8, overflow: drop_oldest}
  - {from: envoy_als/main, to: cloud_uplink/main, window: 8, overflow: drop_oldest}
"""


def test_chart_keys_validate_and_map_onto_the_client_settings():
    topology = load_topology(CHART_SHAPED, env={})
    shard = topology.components["hubble_flows/shard-1"]
    values, settings = collector_settings(shard.settings)
    assert values["window_s"] == 5.0
    assert (settings.shards, settings.shard_index, settings.tls_mode) == (2, 1, "tls")
    assert settings.tls_server_name == "instance.hubble-relay.cilium.io"
    assert topology.components["envoy_als/main"].settings["port"] == 8080
    _, plain = collector_settings({"tls_enabled": False, "relay_address": "relay:80"})
    assert plain.tls_mode == "plaintext"


def test_bad_shard_and_address_are_reported_with_their_keys():
    bad = CHART_SHAPED.replace("shard_index: 1, shard_count: 2",
                               "shard_index: 2, shard_count: 2, relay_address: nohost")
    bad = bad.replace('{relay_address: "", ', "{")
    with pytest.raises(TopologyError) as error:
        load_topology(bad, env={})
    text = str(error.value)
    assert "hubble_flows/shard-1.shard_index: must be < shard_count" in text
    assert "hubble_flows/shard-1.relay_address: needs host:port" in text


def test_disable_cilium_flows_removes_every_shard_and_its_links():
    topology = load_topology(CHART_SHAPED, env={"DISABLE_CILIUM_FLOWS": "true"})
    assert not [cid for cid in topology.components if cid.startswith("hubble_flows/")]
    assert [link.producer_id for link in topology.links] == ["envoy_als/main"]
    assert "hubble_flows" in default_registry()
    assert "envoy_als" in default_registry()


def _secrets(table):
    return lambda namespace, name: table.get((namespace, name))


def test_explicit_address_takes_the_ca_from_the_first_namespace_that_has_it():
    _, settings = collector_settings({"relay_address": "relay.example:4245"})
    secrets = _secrets({("gke-managed-dpv2-observability", "hubble-relay-server-certs"):
                        {"ca.crt": CA},
                        ("gke-managed-dpv2-observability", "client"):
                        {"tls.crt": b"C", "tls.key": b"K"}})
    assert needs_kubernetes_api(settings, "")
    target = resolve_relay(settings, "client", lambda ns_, n: None, secrets, lambda p: b"")
    assert target.address == "relay.example:4245"
    assert target.tls is not None
    assert target.tls.ca_pem == CA
    assert (target.tls.client_cert_pem, target.tls.client_key_pem) == (b"C", b"K")
    assert "gke-managed-dpv2-observability/client" in target.reason


def test_missing_tls_material_never_falls_back_to_plaintext():
    _, settings = collector_settings({})
    service = RelayService("kube-system", "hubble-relay", (443,))
    services = {("kube-system", "hubble-relay"): service}
    with pytest.raises(RelayDiscoveryError, match="refusing to fall back"):
        resolve_relay(settings, "", lambda ns_, n: services.get((ns_, n)), _secrets({}),
                      lambda p: b"")
    secrets = _secrets({("kube-system", "hubble-relay-server-certs"): {"ca.crt": CA},
                        ("kube-system", "mtls"): {"tls.crt": b"C"}})
    with pytest.raises(RelayDiscoveryError, match=r"no tls\.key"):
        resolve_relay(settings, "mtls", lambda ns_, n: services.get((ns_, n)), secrets,
                      lambda p: b"")
    _, with_file = collector_settings({"relay_address": "r:1", "tls_ca_file": "/ca.pem"})
    assert not needs_kubernetes_api(with_file, "")


class _NotFoundError(Exception):
    code = 404


class _Api:
    def list_page(self, path, *, limit, continue_token="", field_selector=""):
        raise _NotFoundError(path)


def test_discovery_failures_are_retried_with_an_explicit_last_error():
    _, settings = collector_settings({"reconnect_min": 0.01, "reconnect_max": 0.02})
    connector = RelayConnector(settings, lambda batch: True, api_factory=_Api)
    connector.start()
    try:
        deadline = time.monotonic() + 5
        while connector.stats().get("discovery_failures", 0) < 3 and \
                time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        connector.stop()
    assert connector.stats()["discovery_failures"] >= 3
    assert "hubble-relay" in connector.last_error
    assert not connector.streaming


def test_the_actor_reports_discovery_failure_and_keeps_running():
    system = OperatorSystem()
    try:
        topology = ns.topology_of(
            [("recorder/a", ns.SUPPORT + "RecordRecorder", {}),
             ("hubble_flows/shard-0", "actors.flows.flow_collector_actor.FlowCollector",
              {"api_url": "http://127.0.0.1:1", "reconnect_min": 0.01,
               "reconnect_max": 0.05, "window_s": 0.1})],
            [("hubble_flows/shard-0", "recorder/a", Overflow.DROP_OLDEST, 8)])
        system.start(topology, base="simpleSystemBase")
        status = None
        for _ in range(100):
            status = system.status(1.0)
            flows = tp.counters(tp.find(status, "hubble_flows/shard-0"))
            if flows["discovery_failures_total"] >= 2 and flows["windows_flushed_total"] >= 2:
                break
            system.run_for(0.05)
        node = tp.find(status, "hubble_flows/shard-0")
        flows = tp.counters(node)
        assert flows["discovery_failures_total"] >= 2
        assert flows["relay_error"] == 1
        assert flows["streaming"] == 0
        assert node.restarts == 0                        # retried inside, never restarted
    finally:
        system.shutdown(timeout_s=5.0, drain_s=0.5)


def test_a_discovered_relay_that_never_streams_is_discovered_again():
    _, settings = collector_settings({"tls_enabled": False, "reconnect_min": 0.01,
                                      "reconnect_max": 0.02})
    lookups = []

    class _Services:
        def list_page(self, path, *, limit, continue_token="", field_selector=""):
            lookups.append(path)
            if "/kube-system/services/hubble-relay" in path:
                return b'{"spec": {"ports": [{"port": 1}]}}'
            raise _NotFoundError(path)

    connector = RelayConnector(settings, lambda batch: True, api_factory=_Services,
                               rediscover_after_s=0.2)
    connector.start()
    try:
        deadline = time.monotonic() + 8
        while connector.stats().get("discoveries", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        connector.stop()
    stats = connector.stats()
    assert stats["rediscoveries"] >= 1
    assert stats["discoveries"] >= 2
    assert connector.target is not None
    assert connector.target.address == "hubble-relay.kube-system.svc:1"
    assert lookups[0] == "/api/v1/namespaces/kube-system/services/hubble-relay"


def test_pod_index_links_from_the_kube_watcher_validate():
    with_links = CHART_SHAPED.replace(
        "children: [cloud_uplink/main,", "children: [cloud_uplink/main, kube_watcher/main,"
    ).replace("  envoy_als/main: {port: 8080}\n",
              "  envoy_als/main: {port: 8080}\n  kube_watcher/main: {}\n")
    with_links += """
  - {from: kube_watcher/main, to: cloud_uplink/main, window: 8, overflow: block}
  - {from: kube_watcher/main, to: hubble_flows/shard-0, window: 4, overflow: block}
  - {from: kube_watcher/main, to: envoy_als/main, window: 4, overflow: block}
"""
    topology = load_topology(with_links, env={})
    consumers = sorted(link.consumer_id for link in topology.links
                       if link.producer_id == "kube_watcher/main")
    assert consumers == ["cloud_uplink/main", "envoy_als/main", "hubble_flows/shard-0"]
