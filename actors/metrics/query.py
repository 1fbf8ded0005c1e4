"""The metrics query engine: answers ``MetricsQueryRequested`` from a ``RingStore``.

Owns validation (every problem becomes ``QueryAnswer.error``, never an exception), series
selection (indexes first, then workload/pod/prefix filters and ``= != =~ !~`` label matchers),
the functions raw/rate/increase/quantile, the aggregations sum/avg/min/max by labels, step
alignment, the series and point limits (``truncated``) and the deterministic order of results
(by metric, namespace, workload, pod, container, node, labels). Arithmetic lives in
``query_math``; histogram quantiles in ``query_histograms``.
"""

from __future__ import annotations

import dataclasses
import re

import msgpack
import numpy as np

from actors.metrics import query_histograms, query_math
from actors.metrics.ring_store import RingStore
from actors.metrics.series import MetricKind, SeriesIdentity, Temporality
from messages.metrics import MetricsQueryAnswered, MetricsQueryRequested

__all__ = ["DEFAULT_MAX_SERIES", "QueryAnswer", "ResultSeries", "answer_message", "run_query"]

DEFAULT_MAX_SERIES = 1000
_FUNCTIONS = {"raw", "rate", "increase", "quantile"}
_AGGREGATIONS = {"none", "sum", "avg", "min", "max"}
_OPS = {"=", "!=", "=~", "!~"}


@dataclasses.dataclass(frozen=True, slots=True)
class ResultSeries:
    """One answered series: its labels (identity or group) and its points."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    times: np.ndarray
    values: np.ndarray


@dataclasses.dataclass(frozen=True, slots=True)
class QueryAnswer:
    """Result of ``run_query``; ``error`` non-empty means the query was refused."""

    series: tuple[ResultSeries, ...] = ()
    total_series_matched: int = 0
    total_series_returned: int = 0
    truncated: bool = False
    error: str = ""


def _validate(req: MetricsQueryRequested) -> str:
    problems = []
    if req.function not in _FUNCTIONS:
        problems.append(f"function {req.function!r} is not one of {sorted(_FUNCTIONS)}")
    if req.aggregation not in _AGGREGATIONS:
        problems.append(f"aggregation {req.aggregation!r} is not one of {sorted(_AGGREGATIONS)}")
    if req.function == "quantile" and not 0.0 <= req.quantile <= 1.0:
        problems.append(f"quantile {req.quantile} is outside [0, 1]")
    if req.step_ns < 0 or req.max_series < 0 or req.max_points < 0:
        problems.append("step_ns, max_series and max_points must not be negative")
    if req.start_ns < 0 or req.end_ns < 0:
        problems.append("start_ns and end_ns must not be negative")
    if req.by and req.aggregation == "none":
        problems.append("'by' needs an aggregation (sum, avg, min, max)")
    for matcher in req.label_matchers:
        if len(matcher) != 3 or matcher[1] not in _OPS:
            problems.append(f"label matcher {matcher!r} needs (label, op, value), op in = != =~ !~")
            continue
        if matcher[1] in ("=~", "!~"):
            try:
                re.compile(matcher[2])
            except re.error as exc:
                problems.append(f"label matcher {matcher[0]!r}: bad regex: {exc}")
    return "; ".join(problems)


def _matches(identity: SeriesIdentity, req: MetricsQueryRequested,
             regexes: dict[str, re.Pattern[str]]) -> bool:
    if req.workload_name and identity.workload_name != req.workload_name:
        return False
    if req.workload_kind and identity.workload_kind != req.workload_kind:
        return False
    if req.namespace and identity.namespace != req.namespace:
        return False
    if req.pod_name and identity.pod != req.pod_name:
        return False
    if req.pod_name_prefix and not identity.pod.startswith(req.pod_name_prefix):
        return False
    for name, op, value in req.label_matchers:
        actual = identity.label(name)
        if (op == "=" and actual != value) or (op == "!=" and actual == value):
            return False
        if op in ("=~", "!~") and (regexes[value].fullmatch(actual) is None) == (op == "=~"):
            return False
    return True


_KINDS_FOR = {"rate": (MetricKind.SUM,), "increase": (MetricKind.SUM,),
              "quantile": (MetricKind.HISTOGRAM, MetricKind.EXPONENTIAL_HISTOGRAM)}


def select(store: RingStore, req: MetricsQueryRequested) -> list[int]:
    """Slots matching the filters, in deterministic result order."""
    candidates = store.index.candidates(
        namespace=req.namespace, workload_kind=req.workload_kind,
        workload_name=req.workload_name, pod=req.pod_name, metric_names=req.metric_names)
    regexes = {v: re.compile(v) for _, op, v in req.label_matchers if op in ("=~", "!~")}
    kinds = _KINDS_FOR.get(req.function)
    chosen = []
    for slot in candidates.tolist():
        identity = store.index.identity(slot)
        if kinds is not None and identity.kind not in kinds:
            continue
        if _matches(identity, req, regexes):
            chosen.append(slot)
    chosen.sort(key=lambda s: store.index.identity(s).sort_key())
    return chosen


def _identity_labels(identity: SeriesIdentity) -> tuple[tuple[str, str], ...]:
    context = (("namespace", identity.namespace), ("workload_kind", identity.workload_kind),
               ("workload", identity.workload_name), ("pod", identity.pod),
               ("container", identity.container), ("node", identity.node))
    return tuple(p for p in context if p[1]) + identity.labels


def run_query(store: RingStore, req: MetricsQueryRequested, now_ns: int) -> QueryAnswer:
    """Answer one query at time ``now_ns``."""
    problem = _validate(req)
    end = req.end_ns or now_ns
    start = req.start_ns or max(end - store.retention_ns, 0)
    if not problem and start > end:
        problem = f"start_ns {start} is after end_ns {end}"
    if problem:
        return QueryAnswer(error=problem)
    slots = np.array(select(store, req), dtype=np.int64)
    times, values, flags = store.read(slots)
    mask = (times >= start) & (times <= end) & (times != 0)
    has_points = mask.any(axis=1)
    slots, times, values, flags, mask = (a[has_points] for a in (slots, times, values, flags,
                                                                 mask))
    matched = len(slots)
    buckets = query_math.Buckets(start, end, req.step_ns)
    identities = [store.index.identity(s) for s in slots.tolist()]
    if req.function == "raw" and req.step_ns == 0 and req.aggregation == "none":
        series = [ResultSeries(i.metric, _identity_labels(i), times[k][mask[k]],
                               values[k][mask[k]]) for k, i in enumerate(identities)]
        return _limit(series, matched, req)
    if req.function == "raw":
        grid = query_math.bucket_last(times, values, mask, buckets)
    elif req.function in ("rate", "increase"):
        cumulative = np.array([store.index.meta(s).temporality != Temporality.DELTA
                               for s in slots.tolist()], dtype=bool)
        increase, carries = query_math.counter_increases(values, flags, mask, cumulative)
        grid = query_math.bucket_sum(increase, times, carries, buckets)
        if req.function == "rate":
            grid = grid / buckets.width_s
    else:
        found = query_histograms.quantiles(store, req, slots, mask, buckets, _identity_labels)
        return _limit([ResultSeries(*f) for f in found], matched, req)
    return _limit(_aggregate(identities, grid, buckets, req), matched, req)


def _aggregate(identities: list[SeriesIdentity], grid: np.ndarray, buckets: query_math.Buckets,
               req: MetricsQueryRequested) -> list[ResultSeries]:
    bucket_times = buckets.times()
    if req.aggregation == "none":
        return [ResultSeries(i.metric, _identity_labels(i), bucket_times[~np.isnan(row)],
                             row[~np.isnan(row)]) for i, row in zip(identities, grid, strict=True)]
    keys: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    group = np.fromiter((keys.setdefault((i.metric, tuple((b, i.label(b)) for b in req.by)),
                                         len(keys)) for i in identities),
                        dtype=np.int64, count=len(identities))
    reduced = query_math.group_reduce(grid, group, len(keys), req.aggregation)
    out = []
    for (metric, labels), g in sorted(keys.items()):
        row = reduced[g]
        present = ~np.isnan(row)
        out.append(ResultSeries(metric, labels, bucket_times[present], row[present]))
    return out


def _limit(series: list[ResultSeries], matched: int, req: MetricsQueryRequested) -> QueryAnswer:
    max_series = req.max_series or DEFAULT_MAX_SERIES
    truncated = len(series) > max_series
    series = series[:max_series]
    if req.max_points:
        clipped = []
        for s in series:
            if len(s.times) > req.max_points:
                truncated = True
                s = ResultSeries(s.metric, s.labels, s.times[-req.max_points:],
                                 s.values[-req.max_points:])
            clipped.append(s)
        series = clipped
    return QueryAnswer(series=tuple(series), total_series_matched=matched,
                       total_series_returned=len(series), truncated=truncated)


def answer_payload(answer: QueryAnswer) -> bytes:
    """msgpack list of {metric, labels, times, values} (times int ns, values float)."""
    return bytes(msgpack.packb([
        {"metric": s.metric, "labels": [list(p) for p in s.labels],
         "times": s.times.tolist(), "values": s.values.tolist()} for s in answer.series],
        use_bin_type=True))


def answer_message(request_id: str, answer: QueryAnswer) -> MetricsQueryAnswered:
    """The message the MetricsRing actor sends back for one answered query."""
    return MetricsQueryAnswered(
        request_id=request_id, series_payload=answer_payload(answer) if not answer.error else b"",
        total_series_matched=answer.total_series_matched,
        total_series_returned=answer.total_series_returned, truncated=answer.truncated,
        error_message=answer.error)
