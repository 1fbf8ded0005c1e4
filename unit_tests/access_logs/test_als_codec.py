import collections
import json

import pytest

from actors.access_logs.als_codec import AlsProtocolError, AlsStreamDecoder
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.hubble import frames

MANIFEST = json.loads((frames.FIXTURES / "manifest.json").read_text())


def _counts(name):
    return next(f for f in MANIFEST["files"] if f["bin"] == f"envoy-als/{name}.bin")["counts"]


def _decode(name):
    decoder = AlsStreamDecoder()
    entries = [e for raw in frames.read_frames(f"envoy-als/{name}.bin")
               for e in decoder.decode_bytes(raw)]
    return decoder, entries


def test_http_stream_matches_manifest_and_identity_is_kept_per_stream():
    decoder, entries = _decode("http")
    counts = _counts("http")
    assert len(entries) == counts["entries"] == decoder.counters["http_logs_entries"]
    identity = decoder.identity
    assert identity is not None
    assert (identity.pod, identity.namespace, identity.log_name) == (
        "cart-7d9f8-abcde", "shop", "http_envoy_accesslog")
    assert (identity.workload.kind, identity.workload.name) == ("Deployment", "cart")
    assert "10.244.1.7" in identity.instance_ips
    methods = collections.Counter(e.method for e in entries)
    assert methods == {k.split(".", 1)[1]: v for k, v in counts.items()
                       if k.startswith("method.")}
    codes = collections.Counter(e.response_code for e in entries)
    assert codes[0] == counts["response_code.absent"]
    assert codes[503] == counts["response_code.503"]
    flags = collections.Counter(f for e in entries for f in e.response_flags)
    assert flags["NR"] == counts["response_flags.no_route_found"]
    assert flags["UAEX"] == counts["response_flags.unauthorized_details"]
    assert sum(e.intermediate for e in entries) == counts["intermediate_log_entry"]
    assert sum(e.upstream_peer is not None for e in entries) == counts[
        "filter_state.upstream_peer"]
    assert all(e.duration_ms > 0 for e in entries)
    assert {e.protocol for e in entries} <= {"HTTP/1.1", "HTTP/2", "gRPC"}


def test_entries_match_expected_json():
    _, entries = _decode("http")
    expected = [e for line in frames.expected_values("envoy-als/http.jsonl")
                for e in line["http_logs"]["log_entry"]]
    for entry, want in zip(entries, expected, strict=True):
        common = want["common_properties"]
        assert entry.path == want["request"].get("path", "")
        assert entry.authority == want["request"].get("authority", "")
        assert entry.upstream_cluster == common.get("upstream_cluster", "")
        assert entry.response_code == want["response"].get("response_code", 0)
        assert entry.duration_ms == pytest.approx(float(common["duration"][:-1]) * 1000)
        assert entry.request_bytes == int(want["request"].get("request_body_bytes", "0"))
        peer = common.get("filter_state_objects", {}).get("upstream_peer")
        assert entry.upstream_peer == (peer["value"] if peer else None)


def test_tcp_stream_bytes_and_types():
    _decoder, entries = _decode("tcp")
    counts = _counts("tcp")
    assert len(entries) == counts["entries"]
    types = collections.Counter(e.access_log_type for e in entries)
    assert types["TcpConnectionEnd"] == counts["access_log_type.TcpConnectionEnd"]
    expected = [e for line in frames.expected_values("envoy-als/tcp.jsonl")
                for e in line["tcp_logs"]["log_entry"]]
    assert sum(e.request_bytes for e in entries) == sum(
        int(x["connection_properties"].get("received_bytes", "0")) for x in expected)


def test_missing_identifier_and_malformed_frames_raise_protocol_errors_and_count():
    decoder = AlsStreamDecoder()
    later = frames.read_frames("envoy-als/http.bin")[1]
    with pytest.raises(AlsProtocolError, match="no identifier") as info:
        decoder.decode_bytes(later)
    assert info.value.counter == "missing_identifier"
    with pytest.raises(AlsProtocolError, match="malformed"):
        decoder.decode_bytes(b"\x0a\xff\xff\xff\xff\x0f")
    assert decoder.counters["missing_identifier"] == decoder.counters["malformed_frames"] == 1


def test_unknown_enum_values_are_counted_and_kept():
    message = als_pb2.StreamAccessLogsMessage()
    message.identifier.node.id = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local"
    entry = message.http_logs.log_entry.add()
    entry.request.request_method = 42  # type: ignore[assignment]
    entry.protocol_version = 9  # type: ignore[assignment]
    entry.common_properties.access_log_type = 77  # type: ignore[assignment]
    decoder = AlsStreamDecoder()
    [decoded] = decoder.decode_bytes(message.SerializeToString())
    assert (decoded.method, decoded.protocol, decoded.access_log_type) == (
        "UNKNOWN_42", "UNKNOWN_9", "UNKNOWN_77")
    assert decoder.counters["unknown_enum_values.request_method"] == 1
    assert decoder.identity is not None
    assert (decoder.identity.pod, decoder.identity.namespace) == ("web-1", "shop")
    assert decoded.duration_ms == -1.0
    assert decoded.response_code == 0
