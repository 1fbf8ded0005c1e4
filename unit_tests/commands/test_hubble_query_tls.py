"""The command runner's Hubble Relay settings and the no-plaintext-fallback rule (no sockets).

Settings: the runner's ``hubble_*`` keys map onto the flow collector's ``FlowSettings`` exactly
as ``collector_settings`` maps its own keys; bad values are reported under the runner's keys.
Resolution: discovery through a fake ``KubeTransport`` (kube-system, then GKE), TLS whatever the
Service port, the CA from the Secret; a missing CA or Service is an error answer, never a
plaintext channel, and discovery is retried only after ``retry_discovery_s`` (injected clock).
"""

from __future__ import annotations

import base64

import pytest

from actors.commands.cilium_request import HubbleQueryError
from actors.commands.hubble_query_adapter import (
    HubbleRelayQueries,
    relay_queries,
    relay_resolver,
)
from actors.commands.runner_settings import problems, runner_settings
from actors.commands.settings import COMPONENT_TYPES
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import collector_settings
from actors.runtime.settings_schema import check_mapping
from messages.wire.observer import observer_pb2
from unit_tests.commands.fake_kube import FakeTransport

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
SERVICE = "/api/v1/namespaces/{}/services/hubble-relay"
SECRET = "/api/v1/namespaces/{}/secrets/{}"
RELAY_FIELDS = ("relay_address", "relay_service", "relay_namespaces", "tls_mode", "tls_ca_file",
                "tls_ca_secret", "tls_server_name")


def relay_of(values):
    typed, errors = runner_settings(values)
    assert errors == []
    return typed


def secret(data):
    return {"data": {key: base64.b64encode(value).decode() for key, value in data.items()}}


def service(port):
    return {"spec": {"ports": [{"name": "grpc", "port": port}]}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RecordingChannels:
    """Stands in for ``open_relay_channel``: records each target, opens nothing."""

    def __init__(self) -> None:
        self.targets: list[RelayTarget] = []

    def __call__(self, target):
        self.targets.append(target)
        return _NoChannel()


class _NoChannel:
    """Every unary call answers a ServerStatus; nothing is dialled."""

    def unary_unary(self, *args, **kwargs):
        return lambda request, timeout: observer_pb2.ServerStatusResponse(version="fake")

    def unary_stream(self, *args, **kwargs):
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("enabled", [True, False])
def test_runner_keys_map_onto_flow_settings_as_the_collector_maps_its_own(enabled):
    runner = {"hubble_relay_address": "relay.example:4245", "hubble_tls_enabled": enabled,
              "hubble_tls_server_name": "*.relay.example", "hubble_tls_ca_file": "/ca.pem",
              "hubble_tls_ca_secret": "relay-ca", "hubble_relay_service": "relay",
              "hubble_relay_namespaces": ["cilium", "kube-system"],
              "hubble_tls_client_secret": "relay-client"}
    flows = {"relay_address": "relay.example:4245", "tls_enabled": enabled,
             "tls_server_name": "*.relay.example", "tls_ca_file": "/ca.pem",
             "tls_ca_secret": "relay-ca", "relay_service": "relay",
             "relay_namespaces": ["cilium", "kube-system"]}
    typed = relay_of(runner)
    _, expected = collector_settings(flows)
    for field in RELAY_FIELDS:
        assert getattr(typed.hubble_relay, field) == getattr(expected, field), field
    assert typed.hubble_relay.tls_mode == ("tls" if enabled else "plaintext")
    assert typed.hubble_relay.tls_server_name == "instance.relay.example"
    assert typed.hubble_tls_client_secret == "relay-client"


def test_defaults_are_tls_with_discovery_in_kube_system_then_gke():
    defaults = {s.name: s.default_value() for s in COMPONENT_TYPES[0].settings}
    found: list[str] = []
    check_mapping(COMPONENT_TYPES[0].settings, {}, "command_runner/main", found)
    assert found == []
    relay = relay_of(defaults).hubble_relay
    assert relay.relay_address == ""
    assert relay.tls_mode == "tls"
    assert relay.relay_namespaces == ("kube-system", "gke-managed-dpv2-observability")
    assert relay.tls_ca_secret == "hubble-relay-server-certs"
    assert relay.tls_server_name == "instance.hubble-relay.cilium.io"
    assert relay_of({}).hubble_relay == relay


def test_bad_relay_values_are_reported_under_the_runner_keys():
    bad = {"hubble_tls_enabled": "yes", "hubble_relay_address": "relay-without-port",
           "hubble_relay_namespaces": "kube-system", "hubble_tls_ca_file": 7}
    keys = {key for key, _ in problems(bad)}
    assert {"hubble_tls_enabled", "hubble_relay_address", "hubble_relay_namespaces",
            "hubble_tls_ca_file"} <= keys
    assert {key for key, _ in problems({"hubble_relay_address": "relay:grpc"})} == \
        {"hubble_relay_address"}


def discovering(transport, clock=None, **values):
    typed = relay_of(values)
    channels = RecordingChannels()
    port = HubbleRelayQueries(
        relay_resolver(typed.hubble_relay, typed.hubble_tls_client_secret, transport),
        channel_factory=channels, clock=clock or Clock(), retry_discovery_s=5.0)
    return port, channels


def test_discovery_dials_tls_with_the_ca_of_the_relay_secret_whatever_the_port():
    transport = FakeTransport()
    transport.json("GET", SERVICE.format("gke-managed-dpv2-observability"), service(80))
    transport.json("GET", SECRET.format("gke-managed-dpv2-observability",
                                        "hubble-relay-server-certs"), secret({"ca.crt": CA_PEM}))
    port, channels = discovering(transport)
    assert port.server_status(timeout_s=2.0) == {"version": "fake"}
    [target] = channels.targets
    assert target.address == "hubble-relay.gke-managed-dpv2-observability.svc:80"
    assert target.tls is not None
    assert target.tls.ca_pem == CA_PEM
    assert target.tls.server_name == "instance.hubble-relay.cilium.io"
    paths = [call["path"] for call in transport.calls]
    assert paths[0] == SERVICE.format("kube-system")     # kube-system first, then GKE
    assert all(call["timeout_s"] <= 2.0 for call in transport.calls)


def test_a_missing_ca_is_an_error_never_a_plaintext_channel_and_retried_later():
    transport = FakeTransport()
    transport.json("GET", SERVICE.format("kube-system"), service(443))
    clock = Clock()
    port, channels = discovering(transport, clock)
    with pytest.raises(HubbleQueryError) as first:
        port.server_status(timeout_s=2.0)
    text = str(first.value)
    assert "relay discovery failed" in text
    assert "refusing to fall back to plaintext" in text
    assert "hubble_tls_ca_file" in text
    assert "flows." not in text
    calls = len(transport.calls)
    clock.now += 1.0
    with pytest.raises(HubbleQueryError, match="relay discovery failed"):
        port.nodes(timeout_s=2.0)
    assert len(transport.calls) == calls               # within retry_discovery_s: cached
    transport.json("GET", SECRET.format("kube-system", "hubble-relay-server-certs"),
                   secret({"ca.crt": CA_PEM}))
    clock.now += 5.0
    port.server_status(timeout_s=2.0)
    assert [t.tls is not None for t in channels.targets] == [True]
    assert port.discovery_failures == 1
    assert port.discoveries == 1


def test_no_service_anywhere_is_an_error_naming_the_runner_key():
    port, channels = discovering(FakeTransport())
    with pytest.raises(HubbleQueryError, match="set hubble_relay_address"):
        port.server_status(timeout_s=1.0)
    assert channels.targets == []


def test_mtls_client_secret_without_key_refuses_to_connect():
    transport = FakeTransport()
    transport.json("GET", SERVICE.format("kube-system"), service(443))
    transport.json("GET", SECRET.format("kube-system", "hubble-relay-server-certs"),
                   secret({"ca.crt": CA_PEM}))
    transport.json("GET", SECRET.format("kube-system", "relay-client"),
                   secret({"tls.crt": CA_PEM}))
    port, channels = discovering(transport, hubble_tls_client_secret="relay-client")
    with pytest.raises(HubbleQueryError, match="refusing to connect without the client"):
        port.server_status(timeout_s=1.0)
    assert channels.targets == []


def test_explicit_tls_address_without_api_or_ca_file_is_an_error_not_plaintext():
    typed = relay_of({"hubble_relay_address": "10.0.0.9:443"})
    port = relay_queries(typed, {})                   # no api_url, not in a cluster
    assert port is not None
    with pytest.raises(HubbleQueryError) as error:
        port.server_status(timeout_s=1.0)
    assert "not configured" in str(error.value)
    assert "hubble_tls_ca_file" in str(error.value)
    assert port.target is None


def test_plaintext_only_when_configured_and_nothing_without_address_or_api(tmp_path):
    assert relay_queries(relay_of({}), {}) is None      # → "hubble not configured"
    typed = relay_of({"hubble_relay_address": "127.0.0.1:4245", "hubble_tls_enabled": False,
                      "hubble_tls_ca_file": str(tmp_path / "ignored.pem")})
    target = relay_resolver(typed.hubble_relay, "", None)(1.0)
    assert target.tls is None
    assert target.address == "127.0.0.1:4245"
    (tmp_path / "ca.pem").write_bytes(CA_PEM)
    typed = relay_of({"hubble_relay_address": "127.0.0.1:4245",
                      "hubble_tls_ca_file": str(tmp_path / "ca.pem")})
    target = relay_resolver(typed.hubble_relay, "", None)(1.0)
    assert target.tls is not None
    assert target.tls.ca_pem == CA_PEM
