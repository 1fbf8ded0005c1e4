"""Codec edge cases: bombs, corrupt bodies, bad points, attribute types; k8s context; settings."""

import gzip
import zlib

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from actors.metrics import otlp_codec
from actors.metrics.k8s_context import context_from_attributes, deployment_from_replicaset
from actors.metrics.settings import MetricsSettings, parse_duration_s
from unit_tests.metrics.otlp_builders import SEC, T0, gauge, histogram, pod_resource, request


def test_gzip_bomb_is_refused_at_the_cap_without_inflating_it():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=1)
    assert len(bomb) < 400_000
    with pytest.raises(otlp_codec.PayloadTooLargeError, match="1048576-byte cap"):
        otlp_codec.inflate(bomb, "gzip", 1024 * 1024)


def test_inflate_round_trips_and_reports_corruption():
    body = request([(pod_resource(), [gauge("g", [(T0, 1.0)])])])
    assert otlp_codec.inflate(gzip.compress(body), "gzip", 10**6) == body
    assert otlp_codec.inflate(zlib.compress(body), "deflate", 10**6) == body
    assert otlp_codec.inflate(body, "identity", 10**6) == body
    with pytest.raises(otlp_codec.PayloadTooLargeError):
        otlp_codec.inflate(body, "", 10)
    with pytest.raises(otlp_codec.MalformedRequestError, match="truncated"):
        otlp_codec.inflate(gzip.compress(body)[:-12], "gzip", 10**6)
    with pytest.raises(otlp_codec.MalformedRequestError, match="corrupt"):
        otlp_codec.inflate(b"not gzip at all", "gzip", 10**6)
    with pytest.raises(otlp_codec.MalformedRequestError, match="zstd"):
        otlp_codec.inflate(body, "zstd", 10**6)


def test_malformed_protobuf_is_a_clear_error():
    with pytest.raises(otlp_codec.MalformedRequestError, match="ExportMetricsServiceRequest"):
        otlp_codec.decode_export_request(b"\x0a\xff\xff\xff\xff\x0f garbage")


def test_bad_points_are_rejected_by_reason_and_good_ones_kept():
    body = request([(pod_resource(), [
        gauge("g", [(T0, float("nan")), (T0, float("inf")), (T0 + SEC, 2.0), (0, 1.0)]),
        histogram("h", [(T0, [1, 2])], [1.0, 2.0]),       # 2 counts for 3 buckets
        histogram("h_ok", [(T0, [1, 2, 0])], [1.0, 2.0]),
    ])])
    request_msg = ExportMetricsServiceRequest.FromString(body)
    request_msg.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points.add(
        time_unix_nano=T0)                              # a point without any value
    decoded = otlp_codec.decode_export_request(request_msg.SerializeToString())
    assert decoded.rejected == {"non_finite_value": 2, "no_timestamp": 1, "bucket_mismatch": 1,
                                "no_value": 1}
    assert decoded.points == 2
    assert decoded.value.tolist()[0] == 2.0
    assert decoded.hist_rows.tolist() == [1]
    assert "rejected 5 data points" in decoded.rejection_message()


def test_attribute_types_become_stable_strings():
    body = request([(pod_resource(), [gauge("g", [(T0, 1)], attrs={
        "code": 200, "ok": True, "ratio": 0.25, "s": "x"})])])
    decoded = otlp_codec.decode_export_request(body)
    labels = dict(decoded.identities[0].labels)
    got = (labels["code"], labels["ok"], labels["ratio"], labels["s"])
    assert got == ("200", "true", "0.25", "x")
    assert decoded.value.tolist() == [1.0]


def test_context_keys_workload_priority_and_replicaset_owner():
    ctx = context_from_attributes([("k8s.namespace.name", "shop"), ("k8s.pod.name", "p"),
                                   ("k8s.replicaset.name", "cart-7d9f8c6b5"),
                                   ("k8s.job.name", "j"), ("service.name", "cart")])
    assert (ctx.workload_kind, ctx.workload_name) == ("Deployment", "cart")
    assert ctx.labels == (("service.name", "cart"),)
    ctx = context_from_attributes([("k8s.statefulset.name", "kafka"),
                                   ("k8s.daemonset.name", "x")])
    assert (ctx.workload_kind, ctx.workload_name) == ("StatefulSet", "kafka")
    assert deployment_from_replicaset("ReplicaSet", "odd") == ("ReplicaSet", "odd")
    assert deployment_from_replicaset("Job", "cron-28000000") == ("Job", "cron-28000000")


def test_settings_defaults_and_problems():
    settings = MetricsSettings()
    assert (settings.receiver_port, settings.retention, settings.max_series,
            settings.ring_size, settings.enabled) == (4317, "30m", 100_000, 60, False)
    assert settings.retention_ns == 1800 * SEC
    assert list(settings.problems()) == []
    bad = MetricsSettings(receiver_port=0, retention="30 minutes", max_series=0, ring_size=1)
    keys = [k for k, _ in bad.problems()]
    assert keys == ["receiverPort", "metricsStore.retention", "metricsStore.maxSeries",
                    "metricsStore.ringSize"]
    assert parse_duration_s("1h30m") == 5400
    assert parse_duration_s("500ms") == 0.5
    assert parse_duration_s("") is None
    assert parse_duration_s("5x") is None
