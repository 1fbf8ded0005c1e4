import base64
import json

import pytest

from actors.flows.flow_request_codec import build_request, shard_nodes
from actors.flows.relay_discovery import RelayDiscoveryError, RelayService, discover_relay
from actors.flows.relay_lookup_adapter import secret_lookup, service_lookup
from actors.flows.settings import FlowSettings

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_defaults_have_no_problems_and_bad_values_are_reported():
    assert list(FlowSettings().problems()) == []
    settings, errors = FlowSettings.from_mapping({
        "shards": 2, "shard_index": 2, "tls_mode": "maybe", "bogus": 1, "window_s": "x",
        "blacklist": [{"source_pod": ["kube-system/"], "colour": ["red"]}],
        "tls_client_cert_file": "/c.pem"})
    assert settings.shards == 2
    joined = "\n".join(errors)
    for fragment in ("flows.bogus: unknown setting", "flows.window_s: must be a number",
                     "flows.shard_index", "flows.tls_mode", "blacklist[0].colour",
                     "client certificate and key must be set together"):
        assert fragment in joined


def _services(found):
    def lookup(namespace, name):
        return found.get((namespace, name))
    return lookup


def test_discovery_prefers_kube_system_then_gke_and_plaintext_is_explicit():
    gke = RelayService("gke-managed-dpv2-observability", "hubble-relay", (80,))
    target = discover_relay(FlowSettings(), _services({(gke.namespace, gke.name): gke}),
                            lambda ns, n: None)
    assert target.address == "hubble-relay.gke-managed-dpv2-observability.svc:80"
    assert target.tls is None
    assert "port 80 is not 443" in target.reason
    with pytest.raises(RelayDiscoveryError, match="not found"):
        discover_relay(FlowSettings(), _services({}), lambda ns, n: None)


def test_tls_never_falls_back_to_plaintext():
    svc = RelayService("kube-system", "hubble-relay", (443,))
    lookup = _services({("kube-system", "hubble-relay"): svc})
    with pytest.raises(RelayDiscoveryError, match="refusing to fall back"):
        discover_relay(FlowSettings(), lookup, lambda ns, n: None)
    secrets = {("kube-system", "hubble-relay-server-certs"): {"ca.crt": CA}}
    target = discover_relay(FlowSettings(), lookup, lambda ns, n: secrets.get((ns, n)))
    assert target.tls is not None
    assert target.tls.ca_pem == CA
    assert target.tls.server_name == "instance.hubble-relay.cilium.io"
    with pytest.raises(RelayDiscoveryError, match="not a PEM"):
        discover_relay(FlowSettings(), lookup, lambda ns, n: {"ca.crt": b"junk"})


def test_explicit_address_with_ca_file_and_client_cert():
    files = {"/ca": CA, "/crt": b"CERT", "/key": b"KEY"}
    settings = FlowSettings(relay_address="relay.example:4245", tls_mode="tls",
                            tls_ca_file="/ca", tls_client_cert_file="/crt",
                            tls_client_key_file="/key", tls_server_name="relay.local")
    target = discover_relay(settings, _services({}), lambda ns, n: None, files.__getitem__)
    assert target.address == "relay.example:4245"
    assert target.tls is not None
    assert (target.tls.client_cert_pem, target.tls.server_name) == (b"CERT", "relay.local")

    def unreadable(path):
        raise OSError(f"no such file {path}")
    with pytest.raises(RelayDiscoveryError, match="unreadable"):
        discover_relay(settings, _services({}), lambda ns, n: None, unreadable)


def test_request_drops_replies_and_partitions_nodes():
    settings = FlowSettings(blacklist=({"source_pod": ["kube-system/"]},),
                            whitelist=({"verdict": ["DROPPED"]}, {"protocol": ["tcp"]}))
    request = build_request(settings, ["c/n1", "c/n3"], since_ns=1_500_000_000)
    assert request.follow
    assert request.number == 0
    assert [list(f.reply) for f in request.blacklist] == [[], [True]]
    assert [list(f.node_name) for f in request.whitelist] == [["c/n1", "c/n3"]] * 2
    assert request.since.seconds == 1
    assert request.since.nanos == 500_000_000
    bare = build_request(FlowSettings(drop_replies=False), None, None)
    assert not bare.whitelist
    assert not bare.blacklist
    assert not bare.HasField("since")
    with pytest.raises(ValueError, match="bad flow filter"):
        build_request(FlowSettings(whitelist=({"verdict": ["MAYBE"]},)), None, None)


def test_shards_cover_every_node_exactly_once():
    nodes = [f"cluster/node-{i}" for i in range(40)]
    parts = [shard_nodes(nodes, 3, i) for i in range(3)]
    assert sorted(n for p in parts for n in p) == sorted(nodes)
    assert all(parts)
    assert shard_nodes(nodes, 3, 1) == shard_nodes(list(reversed(nodes)), 3, 1)


class FakeApi:
    def __init__(self, objects, failures=None):
        self.objects, self.failures = objects, failures or {}

    def list_page(self, path, *, limit, continue_token="", field_selector=""):
        if path in self.failures:
            raise self.failures[path]
        if path not in self.objects:
            raise ApiError(404)
        return json.dumps(self.objects[path]).encode()


class ApiError(Exception):
    def __init__(self, code):
        super().__init__(f"HTTP {code}")
        self.code = code


def test_kubernetes_lookups_feed_discovery():
    api = FakeApi({
        "/api/v1/namespaces/kube-system/services/hubble-relay": {
            "spec": {"ports": [{"port": 443, "targetPort": 4245}]}},
        "/api/v1/namespaces/kube-system/secrets/hubble-relay-server-certs": {
            "data": {"ca.crt": base64.b64encode(CA).decode(), "bad": "%%%"}}},
        failures={"/api/v1/namespaces/gke-managed-dpv2-observability/services/hubble-relay":
                  ApiError(403)})
    target = discover_relay(FlowSettings(), service_lookup(api), secret_lookup(api))
    assert target.address == "hubble-relay.kube-system.svc:443"
    assert target.tls is not None
    assert target.tls.ca_pem == CA
    assert service_lookup(api)("gke-managed-dpv2-observability", "hubble-relay") is None
    broken = FakeApi({}, failures={"/api/v1/namespaces/x/services/y": ApiError(500)})
    with pytest.raises(ApiError):
        service_lookup(broken)("x", "y")
