"""Build small ExportMetricsServiceRequest bodies with opentelemetry-proto classes for tests."""

from __future__ import annotations

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

T0 = 1_800_000_000_000_000_000  # divisible by 20 s and 60 s
SEC = 1_000_000_000
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA


def pod_resource(namespace="shop", pod="cart-1", deployment="cart", **extra):
    attrs = {"k8s.namespace.name": namespace, "k8s.pod.name": pod,
             "k8s.container.name": "app", "k8s.node.name": "node-1", **extra}
    if deployment:
        attrs["k8s.deployment.name"] = deployment
    return attrs


def _set_attrs(target, attrs):
    for key, value in attrs.items():
        kv = target.add()
        kv.key = key
        if isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        else:
            kv.value.string_value = value


def request(resources):
    """resources: list of (resource_attrs, [metric builders: callables(Metric)])."""
    req = ExportMetricsServiceRequest()
    for attrs, builders in resources:
        rm = req.resource_metrics.add()
        _set_attrs(rm.resource.attributes, attrs)
        sm = rm.scope_metrics.add()
        sm.scope.name = "test"
        for build in builders:
            build(sm.metrics.add())
    return req.SerializeToString()


def gauge(name, points, attrs=None):
    """points: [(time_ns, value)]"""
    def build(metric):
        metric.name = name
        for t, v in points:
            dp = metric.gauge.data_points.add()
            dp.time_unix_nano = t
            if isinstance(v, int):
                dp.as_int = v
            else:
                dp.as_double = v
            _set_attrs(dp.attributes, attrs or {})
    return build


def counter(name, points, temporality=CUMULATIVE, attrs=None, start=T0 - 100 * SEC):
    """points: [(time_ns, value)] or [(time_ns, value, start_ns)]"""
    def build(metric):
        metric.name = name
        metric.sum.aggregation_temporality = temporality
        metric.sum.is_monotonic = True
        for p in points:
            dp = metric.sum.data_points.add()
            dp.time_unix_nano = p[0]
            dp.as_double = float(p[1])
            dp.start_time_unix_nano = p[2] if len(p) > 2 else start
            _set_attrs(dp.attributes, attrs or {})
    return build


def histogram(name, points, bounds, temporality=CUMULATIVE, attrs=None):
    """points: [(time_ns, bucket_counts)]"""
    def build(metric):
        metric.name = name
        metric.histogram.aggregation_temporality = temporality
        for t, counts in points:
            dp = metric.histogram.data_points.add()
            dp.time_unix_nano = t
            dp.start_time_unix_nano = T0 - 100 * SEC
            dp.explicit_bounds.extend(bounds)
            dp.bucket_counts.extend(counts)
            dp.count = sum(counts)
            dp.sum = float(sum(counts))
            _set_attrs(dp.attributes, attrs or {})
    return build


def exp_histogram(name, points, temporality=CUMULATIVE, attrs=None):
    """points: [(time_ns, scale, zero_count, positive_offset, positive_counts)]"""
    def build(metric):
        metric.name = name
        metric.exponential_histogram.aggregation_temporality = temporality
        for t, scale, zero, offset, counts in points:
            dp = metric.exponential_histogram.data_points.add()
            dp.time_unix_nano = t
            dp.start_time_unix_nano = T0 - 100 * SEC
            dp.scale = scale
            dp.zero_count = zero
            dp.positive.offset = offset
            dp.positive.bucket_counts.extend(counts)
            dp.count = zero + sum(counts)
            dp.sum = 1.0
            _set_attrs(dp.attributes, attrs or {})
    return build


DECODED_FIELDS = ("series", "time_ns", "start_ns", "value", "hist_rows", "hist_count", "hist_min",
                  "hist_max", "hist_offsets", "hist_buckets")


def assert_same_decoded(a, b):
    """Two ``DecodedMetrics`` are the same decode: columns, identities, metadata, bounds,
    rejections (a template or cache path against the upb reference)."""
    for name in DECODED_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert a.identities == b.identities
    assert a.metas == b.metas
    assert [a.hist_bounds[i] for i in a.hist_bounds_id] == \
        [b.hist_bounds[i] for i in b.hist_bounds_id]
    assert a.rejected == b.rejected
    assert a.no_recorded_value == b.no_recorded_value
