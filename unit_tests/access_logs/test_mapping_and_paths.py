import collections
import random

import pytest

from actors.access_logs.als_codec import AlsStreamDecoder
from actors.access_logs.path_normalization import PathNormalizer, normalize_path
from actors.access_logs.workload_mapping import (
    WorkloadIndexPods,
    WorkloadMapper,
    WorkloadRef,
    parse_spiffe,
    proxy_identity,
)
from sim.hubble import frames


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/v1/orders/12345", "/api/v1/orders/{id}"),
    ("/api/v1/cart?customer=166796&limit=50", "/api/v1/cart"),
    ("/v1/payments/a96e7846-9f95-4bdf-87a5-ef3e411805d8/capture", "/v1/payments/{uuid}/capture"),
    ("/blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "/blobs/{hex}"),
    ("/t/eyJhbGciOiJIUzI1NiJ9abc123XYZ", "/t/{token}"),
    ("/users/jane.doe@example.com/x", "/users/{email}/x"),
    ("/pricing.v1.PricingService/BatchQuote", "/pricing.v1.PricingService/BatchQuote"),
    ("/healthz", "/healthz"),
    ("", "/"),
    ("/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/…"),
    ("/static/app-bundle.js#frag", "/static/app-bundle.js"),
])
def test_normalize_path(path, expected):
    assert normalize_path(path) == expected


def test_fixture_paths_collapse():
    decoder = AlsStreamDecoder()
    paths = {e.path for raw in frames.read_frames("envoy-als/http.bin")
             for e in decoder.decode_bytes(raw)}
    normalized = {normalize_path(p) for p in paths}
    assert len(normalized) < len(paths) / 3


def test_proxy_identity_from_metadata_and_from_node_id():
    metadata = {"NAME": "cart-7d9f8-abcde", "NAMESPACE": "shop", "WORKLOAD_NAME": "cart",
                "OWNER": "kubernetes://apis/apps/v1/namespaces/shop/statefulsets/cart",
                "INSTANCE_IPS": "10.0.0.7,fd00::7", "LABELS": {
                    "service.istio.io/canonical-name": "cart-svc"}}
    proxy = proxy_identity("sidecar~10.0.0.7~cart-7d9f8-abcde.shop~shop.svc.cluster.local",
                           "log", metadata)
    assert proxy.workload == WorkloadRef("shop", "StatefulSet", "cart")
    assert proxy.instance_ips == {"10.0.0.7", "fd00::7"}
    assert proxy.canonical_service == "cart-svc"
    assert proxy.labels == (("service.istio.io/canonical-name", "cart-svc"),)
    bare = proxy_identity("sidecar~10.0.0.8~web-1.front~front.svc.cluster.local", "log", {})
    assert bare.workload == WorkloadRef("front", "Pod", "web-1")
    broken = proxy_identity("garbage", "log", {"NAMESPACE": 7})
    assert broken.workload.kind == "Unknown"


def test_spiffe():
    assert parse_spiffe("spiffe://cluster.local/ns/shop/sa/cart") == WorkloadRef(
        "shop", "ServiceAccount", "cart")
    assert parse_spiffe("spiffe://td/ns/shop") is None
    assert parse_spiffe("https://x") is None


class Index:
    def workload_for_ip(self, ip):
        return WorkloadRef("data", "StatefulSet", "postgres") if ip == "10.244.9.9" else None


def _entries():
    decoder = AlsStreamDecoder()
    entries = []
    for name in ("http", "tcp"):
        decoder = AlsStreamDecoder()
        entries += [(decoder, e) for raw in frames.read_frames(f"envoy-als/{name}.bin")
                    for e in decoder.decode_bytes(raw)]
    return entries


def test_fixture_mapping_directions_and_peers():
    mapper = WorkloadMapper()
    mapped = [(mapper.map(d.identity, e), e) for d, e in _entries()]
    reporters = collections.Counter(m.reporter for m, _ in mapped)
    # inbound clusters are the destination's view; everything else (incl. NR/passthrough)
    # is reported by the source sidecar (NR on this fixture are outbound: local IP not ours)
    assert reporters["destination"] == 273 + 46
    assert reporters["source"] == 500 + 200 - 319
    for peers, entry in mapped:
        if peers.reporter == "destination":
            assert peers.destination == WorkloadRef("shop", "Deployment", "cart")
            if entry.downstream_peer:
                assert peers.source.name == entry.downstream_peer["workload"]
            assert peers.source.kind != "Unknown" or not entry.peer_principal
        else:
            assert peers.source == WorkloadRef("shop", "Deployment", "cart")
            if entry.upstream_peer:
                assert peers.destination.name == entry.upstream_peer["workload"]
            elif entry.upstream_cluster.startswith("outbound|"):
                assert peers.destination.kind in ("Service", "ServiceEntry")
    kinds = collections.Counter(m.destination.kind for m, _ in mapped)
    assert kinds["BlackHole"] == 6
    assert kinds["External"] > 0


def test_pod_ip_index_fills_unknown_peers():
    decoder = AlsStreamDecoder()
    [raw0] = frames.read_frames("envoy-als/http.bin")[:1]
    entry = decoder.decode_bytes(raw0)[0]._replace(
        upstream_cluster="PassthroughCluster", upstream_peer=None, upstream_remote_ip="10.244.9.9")
    assert decoder.identity is not None
    peers = WorkloadMapper(Index()).map(decoder.identity, entry)
    assert peers.destination == WorkloadRef("data", "StatefulSet", "postgres")
    assert WorkloadMapper().map(decoder.identity, entry).destination.kind == "External"


class FakeKubeIndex:
    by_ip = {"10.1.1.1": ("shop", "cart-7d9f8-abcde"), "10.1.1.2": ("shop", "loner")}

    def pod_by_ip(self, ip):
        return self.by_ip.get(ip)

    def workload_of_pod(self, namespace, name):
        return ("Deployment", "cart") if name.startswith("cart-") else None


def test_workload_index_adapter():
    pods = WorkloadIndexPods(FakeKubeIndex())
    assert pods.workload_for_ip("10.1.1.1") == WorkloadRef("shop", "Deployment", "cart")
    assert pods.workload_for_ip("10.1.1.2") == WorkloadRef("shop", "Pod", "loner")
    assert pods.workload_for_ip("10.9.9.9") is None


def _random_paths(count, seed=5):
    rng = random.Random(seed)
    pieces = ["", "api", "v1", "9", "12,3", "1.5", "10-20", "a1", "x@y.z", "a.b", "Method",
              "12345678-1234-1234-1234-123456789012", "deadbeefdeadbeefcafe", "x" * 70,
              "0123456789abcdef0", "eyJhbGciOiJIUzI1NiJ9abc123XYZ", "{id}", "…", "?q=/1", "#f"]
    paths = ["", "/", "//", "abc", "abc/1", "1/2/3", "/a?x=/1", "/a#/1", "/pkg.Svc/Method",
             "/" + "s" * 70 + ".x/M", "/a//1", "/api/v1/items?page=2",
             "/a.b/" + "x" * 70 + "/123", "/a.b/" + "x" * 70 + "?q"]  # a head, gRPC-shaped
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            paths.append("".join(rng.choice("af09-_.,:@~+=/?#xZ")
                                 for _ in range(rng.randrange(40))))
        elif kind == 1:
            paths.append(rng.choice(["", "/"]) + "/".join(
                rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
                + rng.choice(["", "", "?", "#x", "?q=/1"]))
        elif kind == 2:
            paths.append(f"/api/v1/orders/{rng.randrange(10**6)}")
        else:
            paths.append(f"/v1/pay/{rng.getrandbits(128):032x}/capture?x={rng.randrange(9)}")
    return paths


@pytest.mark.parametrize(("max_segments", "max_chars"), [(8, 64), (3, 5), (1, 1), (20, 200)])
@pytest.mark.parametrize("max_cached", [32, 4096])   # small memos: resets happen too
def test_path_normalizer_equals_normalize_path(max_segments, max_chars, max_cached):
    normalizer = PathNormalizer(max_segments=max_segments, max_segment_chars=max_chars,
                                max_cached=max_cached)
    for _ in range(2):   # cold, then with the memos filled
        for path in _random_paths(4000):
            assert normalizer(path) == normalize_path(
                path, max_segments=max_segments, max_segment_chars=max_chars), path
