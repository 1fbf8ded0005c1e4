"""Columnar accumulation of OTLP data points for one request (used by ``otlp_codec``).

Owns the per-metric walk over decoded (upb) data points — series interned through
``SeriesCache``, timestamps and values read with list comprehensions, histogram buckets in CSR
form — producing ``RawColumns`` (every point, unfiltered; ``batch_rules.finish`` then applies
the per-point rules). A metric without data is counted (``no_data``), a histogram whose bucket
counts do not fit its bounds is marked (``bucket_mismatch``); nothing here raises on data.
Works on duck-typed opentelemetry-proto messages; never imports generated code itself.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

from actors.metrics.decoded import ExponentialHistogramPoint, SummaryPoint
from actors.metrics.otlp_attributes import SeriesCache, SeriesKey, any_to_str
from actors.metrics.series import (
    MetricKind,
    ResourceContext,
    SeriesIdentity,
    SeriesMeta,
    Temporality,
)

__all__ = ["PointColumnsBuilder", "RawColumns"]

_NO_RECORDED_VALUE = 1  # DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
KINDS = {"gauge": MetricKind.GAUGE, "sum": MetricKind.SUM, "histogram": MetricKind.HISTOGRAM,
         "exponential_histogram": MetricKind.EXPONENTIAL_HISTOGRAM,
         "summary": MetricKind.SUMMARY}
_TEMPORALITY = {int(t): t for t in Temporality}


def _number(point: Any) -> float:
    value = point.as_double
    if value:
        return float(value)
    which = point.WhichOneof("value")
    if which == "as_int":
        return float(point.as_int)
    return 0.0 if which == "as_double" else math.nan


@dataclasses.dataclass(slots=True)
class RawColumns:
    """Every data point of a request (nothing filtered yet) as numpy columns."""

    identities: list[SeriesIdentity]
    metas: list[SeriesMeta]
    series: np.ndarray          # int32
    time_ns: np.ndarray         # int64
    start_ns: np.ndarray        # int64
    value: np.ndarray           # float64 (sum for histogram kinds; NaN when absent)
    has_value: np.ndarray       # bool: number value or histogram/summary sum present
    no_recorded: np.ndarray     # bool
    number_rows: np.ndarray     # bool: gauge/sum rows
    hist_rows: np.ndarray       # int64
    hist_count: np.ndarray
    hist_min: np.ndarray
    hist_max: np.ndarray
    hist_bounds: list[tuple[float, ...]]
    hist_bounds_id: np.ndarray  # int64 per histogram row
    hist_sizes: np.ndarray      # int64 bucket count per histogram row
    hist_buckets: np.ndarray    # float64, concatenated
    extra_rows: list[int]
    extra: list[ExponentialHistogramPoint | SummaryPoint]
    row_rejects: dict[int, str]
    rejected: dict[str, int]
    points_seen: int


class PointColumnsBuilder:
    """Collects the rows of one request from upb messages."""

    def __init__(self, cache: SeriesCache | None = None) -> None:
        self.cache = cache if cache is not None else SeriesCache()
        self.cache.trim()
        self.identities: list[SeriesIdentity] = []
        self.metas: list[SeriesMeta] = []
        self._local: dict[int, int] = {}   # id(identity) → batch index (identities stay alive)
        self.series: list[int] = []
        self.time_ns: list[int] = []
        self.start_ns: list[int] = []
        self.value: list[float] = []
        self.has_value: list[bool] = []
        self.no_recorded: list[bool] = []
        self.number_rows: list[bool] = []
        self.hist_rows: list[int] = []
        self.hist_count: list[float] = []
        self.hist_min: list[float] = []
        self.hist_max: list[float] = []
        self.hist_bounds: list[tuple[float, ...]] = []
        self.hist_bounds_id: list[int] = []
        self._bounds_index: dict[tuple[float, ...], int] = {}
        self.hist_sizes: list[int] = []
        self.hist_buckets: list[int] = []
        self.extra_rows: list[int] = []
        self.extra: list[ExponentialHistogramPoint | SummaryPoint] = []
        self.row_rejects: dict[int, str] = {}
        self.rejected: dict[str, int] = {}
        self.points_seen = 0
        # per resource start: rows, histogram rows, buckets, no_data rejections so far
        self.marks: list[tuple[int, int, int, int]] = []

    def mark_resource(self) -> None:
        """Note where the next ResourceMetrics starts (for per-resource templates)."""
        self.marks.append((len(self.series), len(self.hist_rows), len(self.hist_buckets),
                           self.rejected.get("no_data", 0)))

    def _identity(self, context: ResourceContext, name: str, kind: MetricKind,
                  point_attrs: tuple[tuple[str, str], ...]) -> SeriesIdentity:
        labels = context.labels
        if point_attrs:
            merged = dict(labels)
            merged.update(point_attrs)
            labels = self.cache.label_set(tuple(sorted(merged.items())))
        return SeriesIdentity(name, kind, context.namespace, context.pod,
                              context.container, context.node, context.workload_kind,
                              context.workload_name, labels)

    def add_metric(self, context: ResourceContext, group: dict[SeriesKey, SeriesIdentity],
                   scope_name: str, scope_version: str, metric: Any) -> None:
        """Append every data point of one OTLP ``Metric`` (``group``: its resource's series)."""
        which = metric.WhichOneof("data")
        if which is None:
            self.rejected["no_data"] = self.rejected.get("no_data", 0) + 1
            return
        kind = KINDS[which]
        data = getattr(metric, which)
        points = [*data.data_points]   # keeps the upb wrappers alive across the passes
        if not points:
            return
        if kind in (MetricKind.GAUGE, MetricKind.SUMMARY):
            temporality, monotonic = Temporality.UNSPECIFIED, False
        else:
            temporality = _TEMPORALITY.get(data.aggregation_temporality, Temporality.UNSPECIFIED)
            monotonic = kind == MetricKind.SUM and data.is_monotonic
        meta = self.cache.meta(SeriesMeta(temporality, monotonic, metric.unit,
                                          metric.description, scope_name, scope_version,
                                          context.pod_uid))
        count = len(points)
        self.points_seen += count
        name = sys.intern(metric.name)
        local, identities, append = self._local, self.identities, self.series.append
        first_row = len(self.series)
        intern, label_set = sys.intern, self.cache.label_set
        for attrs in [tuple([(kv.key, kv.value.string_value or any_to_str(kv.value))
                             for kv in p.attributes]) for p in points]:
            identity = group.get((name, kind, attrs))
            if identity is None:
                attrs = label_set(tuple([(intern(k), intern(v)) for k, v in attrs]))
                identity = group[(name, kind, attrs)] = self._identity(context, name, kind,
                                                                       attrs)
            index = local.get(id(identity))
            if index is None:
                index = local[id(identity)] = len(identities)
                identities.append(identity)
                self.metas.append(meta)
            append(index)
        self.time_ns.extend([p.time_unix_nano for p in points])
        self.start_ns.extend([p.start_time_unix_nano for p in points])
        self.no_recorded.extend([bool(p.flags & _NO_RECORDED_VALUE) for p in points])
        numbers = kind in (MetricKind.GAUGE, MetricKind.SUM)
        self.number_rows.extend([numbers] * count)
        if numbers:
            values = [_number(p) for p in points]
            self.value.extend(values)
            if any(v != v for v in values):   # NaN: a real NaN, or no value at all
                self.has_value.extend([v == v or p.WhichOneof("value") is not None
                                       for v, p in zip(values, points, strict=True)])
            else:
                self.has_value.extend([True] * len(points))
        elif kind == MetricKind.HISTOGRAM:
            self._add_histograms(first_row, points)
        elif kind == MetricKind.EXPONENTIAL_HISTOGRAM:
            self._add_exponential(first_row, points)
        else:
            self._add_summaries(first_row, points)

    def _side_sum(self, point: Any, *, optional: bool = True) -> None:
        present = not optional or point.HasField("sum")
        self.value.append(float(point.sum) if present else math.nan)
        self.has_value.append(present)

    def _add_histograms(self, first_row: int, points: Any) -> None:
        for offset, point in enumerate(points):
            self._side_sum(point)
            bounds = tuple(point.explicit_bounds)
            counts = list(point.bucket_counts)
            if counts and len(counts) != len(bounds) + 1:
                self.row_rejects[first_row + offset] = "bucket_mismatch"
                counts = []
            self.hist_rows.append(first_row + offset)
            self.hist_count.append(float(point.count))
            self.hist_min.append(float(point.min) if point.HasField("min") else math.nan)
            self.hist_max.append(float(point.max) if point.HasField("max") else math.nan)
            bounds_id = self._bounds_index.get(bounds)
            if bounds_id is None:
                bounds_id = self._bounds_index[bounds] = len(self.hist_bounds)
                self.hist_bounds.append(bounds)
            self.hist_bounds_id.append(bounds_id)
            self.hist_sizes.append(len(counts))
            self.hist_buckets.extend(counts)

    def _add_exponential(self, first_row: int, points: Any) -> None:
        for offset, point in enumerate(points):
            self._side_sum(point)
            self.extra_rows.append(first_row + offset)
            self.extra.append(ExponentialHistogramPoint(
                scale=int(point.scale), zero_count=float(point.zero_count),
                zero_threshold=float(point.zero_threshold),
                positive_offset=int(point.positive.offset),
                positive=np.array(point.positive.bucket_counts, dtype=np.float64),
                negative_offset=int(point.negative.offset),
                negative=np.array(point.negative.bucket_counts, dtype=np.float64),
                count=float(point.count),
                minimum=float(point.min) if point.HasField("min") else math.nan,
                maximum=float(point.max) if point.HasField("max") else math.nan))

    def _add_summaries(self, first_row: int, points: Any) -> None:
        for offset, point in enumerate(points):
            self._side_sum(point, optional=False)
            self.extra_rows.append(first_row + offset)
            self.extra.append(SummaryPoint(
                count=float(point.count),
                quantiles=tuple((float(q.quantile), float(q.value))
                                for q in point.quantile_values)))

    def raw(self) -> RawColumns:
        """The collected rows as numpy columns (unfiltered)."""
        return RawColumns(
            identities=self.identities, metas=self.metas,
            series=np.array(self.series, dtype=np.int32),
            time_ns=np.array(self.time_ns, dtype=np.int64),
            start_ns=np.array(self.start_ns, dtype=np.int64),
            value=np.array(self.value, dtype=np.float64),
            has_value=np.array(self.has_value, dtype=bool),
            no_recorded=np.array(self.no_recorded, dtype=bool),
            number_rows=np.array(self.number_rows, dtype=bool),
            hist_rows=np.array(self.hist_rows, dtype=np.int64),
            hist_count=np.array(self.hist_count, dtype=np.float64),
            hist_min=np.array(self.hist_min, dtype=np.float64),
            hist_max=np.array(self.hist_max, dtype=np.float64),
            hist_bounds=self.hist_bounds,
            hist_bounds_id=np.array(self.hist_bounds_id, dtype=np.int64),
            hist_sizes=np.array(self.hist_sizes, dtype=np.int64),
            hist_buckets=np.array(self.hist_buckets, dtype=np.float64),
            extra_rows=self.extra_rows, extra=self.extra, row_rejects=self.row_rejects,
            rejected=self.rejected, points_seen=self.points_seen)
