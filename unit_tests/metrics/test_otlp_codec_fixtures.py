"""Every OTLP golden fixture decodes to the values of its expected JSON, field by field."""

import math
from typing import Any

import numpy as np
import pytest

from actors.metrics import otlp_codec
from actors.metrics.decoded import ExponentialHistogramPoint, SummaryPoint
from actors.metrics.series import MetricKind, Temporality
from unit_tests.metrics.fixtures import NAMES, expected, frames

_KIND = {"gauge": MetricKind.GAUGE, "sum": MetricKind.SUM, "histogram": MetricKind.HISTOGRAM,
         "exponential_histogram": MetricKind.EXPONENTIAL_HISTOGRAM,
         "summary": MetricKind.SUMMARY}
_WORKLOADS = (("k8s.deployment.name", "Deployment"), ("k8s.statefulset.name", "StatefulSet"),
              ("k8s.daemonset.name", "DaemonSet"))


def _attr_value(value: dict[str, Any]) -> str | None:
    if "string_value" in value:
        return str(value["string_value"])
    if "int_value" in value:
        return str(int(value["int_value"]))
    if "bool_value" in value:
        return "true" if value["bool_value"] else "false"
    if "double_value" in value:
        return repr(float(value["double_value"]))
    return None  # arrays and kvlists: JSON-encoded, checked separately


def _expected_rows(request: dict[str, Any]) -> Any:
    for rm in request.get("resource_metrics", []):
        attrs = {a["key"]: a["value"] for a in rm.get("resource", {}).get("attributes", [])}
        ctx = {"namespace": attrs.get("k8s.namespace.name", {}).get("string_value", ""),
               "pod": attrs.get("k8s.pod.name", {}).get("string_value", ""),
               "container": attrs.get("k8s.container.name", {}).get("string_value", ""),
               "node": attrs.get("k8s.node.name", {}).get("string_value", ""),
               "pod_uid": attrs.get("k8s.pod.uid", {}).get("string_value", ""),
               "workload": ("", "")}
        for key, kind in _WORKLOADS:
            if key in attrs:
                ctx["workload"] = (kind, attrs[key]["string_value"])
                break
        for sm in rm.get("scope_metrics", []):
            for metric in sm.get("metrics", []):
                which = next(k for k in _KIND if k in metric)
                data = metric[which]
                for point in data.get("data_points", []):
                    if int(point.get("flags", 0)) & 1:
                        continue
                    yield ctx, attrs, metric, which, data, point


@pytest.mark.parametrize("name", NAMES)
def test_fixture_decodes_to_expected_values(name):
    checked = 0
    for body, request in zip(frames(name), expected(name), strict=True):
        decoded = otlp_codec.decode_export_request(body)
        assert decoded.rejected == {}
        rows = list(_expected_rows(request))
        assert decoded.points == len(rows)
        hist_of_row = {int(r): i for i, r in enumerate(decoded.hist_rows)}
        extra_of_row = dict(zip(decoded.extra_rows, decoded.extra, strict=True))
        for row, (ctx, res_attrs, metric, which, data, point) in enumerate(rows):
            identity = decoded.identities[decoded.series[row]]
            meta = decoded.metas[decoded.series[row]]
            assert identity.metric == metric["name"]
            assert identity.kind == _KIND[which]
            assert meta.unit == metric.get("unit", "")
            temporality = data.get("aggregation_temporality", "UNSPECIFIED")
            prefix = "AGGREGATION_TEMPORALITY_"
            assert meta.temporality == Temporality[temporality.removeprefix(prefix)]
            assert meta.monotonic == data.get("is_monotonic", False)
            assert (identity.namespace, identity.pod, identity.container, identity.node) == (
                ctx["namespace"], ctx["pod"], ctx["container"], ctx["node"])
            assert meta.pod_uid == ctx["pod_uid"]
            assert (identity.workload_kind, identity.workload_name) == ctx["workload"]
            labels = dict(identity.labels)
            for attr in point.get("attributes", []):
                label = _attr_value(attr["value"])
                if label is not None:
                    assert labels[attr["key"]] == label
                else:
                    assert attr["key"] in labels
            if "service.name" in res_attrs:
                assert labels["service.name"] == res_attrs["service.name"]["string_value"]
            assert "k8s.namespace.name" not in labels
            assert "k8s.pod.uid" not in labels
            assert decoded.time_ns[row] == int(point["time_unix_nano"])
            assert decoded.start_ns[row] == int(point.get("start_time_unix_nano", 0))
            value = decoded.value[row]
            if which in ("gauge", "sum"):
                want = float(point["as_int"]) if "as_int" in point else point.get("as_double", 0.0)
                if "as_int" not in point and "as_double" not in point:
                    want = 0.0
                assert value == want
            elif which == "summary":
                assert value == point.get("sum", 0.0)
                summary = extra_of_row[row]
                assert isinstance(summary, SummaryPoint)
                assert summary.count == float(point.get("count", 0))
                assert summary.quantiles == tuple(
                    (q.get("quantile", 0.0), q.get("value", 0.0))
                    for q in point["quantile_values"])
            else:
                assert value == point["sum"] if "sum" in point else math.isnan(value)
            if which == "histogram":
                h = hist_of_row[row]
                assert decoded.hist_count[h] == float(point.get("count", 0))
                bounds = decoded.hist_bounds[decoded.hist_bounds_id[h]]
                assert bounds == tuple(point.get("explicit_bounds", []))
                buckets = decoded.hist_buckets[decoded.hist_offsets[h]:decoded.hist_offsets[h + 1]]
                assert buckets.tolist() == [float(c) for c in point.get("bucket_counts", [])]
                assert (decoded.hist_min[h] == point["min"]) if "min" in point \
                    else math.isnan(decoded.hist_min[h])
                assert (decoded.hist_max[h] == point["max"]) if "max" in point \
                    else math.isnan(decoded.hist_max[h])
            if which == "exponential_histogram":
                exp = extra_of_row[row]
                assert isinstance(exp, ExponentialHistogramPoint)
                assert exp.scale == point.get("scale", 0)
                assert exp.zero_count == float(point.get("zero_count", 0))
                assert exp.count == float(point.get("count", 0))
                pos = point.get("positive", {})
                assert exp.positive_offset == pos.get("offset", 0)
                want_counts = [float(c) for c in pos.get("bucket_counts", [])]
                assert np.array_equal(exp.positive, want_counts)
                assert exp.minimum == point.get("min", math.nan) or math.isnan(exp.minimum)
                assert exp.maximum == point.get("max")
            checked += 1
    assert checked > 0


def test_summary_fixture_skips_stale_point_and_counts_it():
    decoded = [otlp_codec.decode_export_request(b) for b in frames("summary")]
    assert sum(d.no_recorded_value for d in decoded) == 1
    assert all(d.rejected_points == 0 for d in decoded)
