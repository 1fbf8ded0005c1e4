"""Histogram quantiles for the query engine (explicit-bucket histograms).

Owns how bucket counts become per-step distributions: for a cumulative histogram the increase
between consecutive in-range points (the new counts when the count went down or the start time
moved on), for a delta histogram the point itself; increases are summed per step bucket, merged
across the series of a group when an aggregation is asked for (same bounds required — a group
with mixed bounds keeps only the series sharing the first series' bounds, and the answer is
marked by a ``mixed_bounds`` label), then ``query_math.explicit_quantile`` is applied.
Exponential histograms follow the same rules on ``query_exponential`` distributions (series
and steps merged at their coarsest scale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from actors.metrics import query_math
from actors.metrics.decoded import ExponentialHistogramPoint
from actors.metrics.query_exponential import ExpDistribution, combine, exp_quantile, from_point
from actors.metrics.series import FLAG_RESET, MetricKind, SeriesIdentity, Temporality

if TYPE_CHECKING:
    from actors.metrics.ring_store import RingStore
    from messages.metrics import MetricsQueryRequested

__all__ = ["quantiles"]

Labels = tuple[tuple[str, str], ...]


def _increments(store: RingStore, slot: int, mask_row: np.ndarray,
                buckets: query_math.Buckets) -> tuple[tuple[float, ...], np.ndarray] | None:
    """(bounds, [steps, width] summed bucket increases; NaN rows where nothing was seen)."""
    if not store.histograms.has(slot):
        return None
    order = store.ring_order(np.array([slot]))[0]
    bounds, count, _, _, counts = store.histograms.read(slot, order)
    times = store.times[slot, order]
    flags = store.flags.read(np.array([slot]), order[None, :])[0]
    if store.index.meta(slot).temporality == Temporality.DELTA:
        increase, carries = counts, mask_row
    else:
        previous = np.roll(counts, 1, axis=0)
        prev_count = np.roll(count, 1)
        reset = (flags & FLAG_RESET).astype(bool) | (count < prev_count)
        increase = np.where(reset[:, None], counts, counts - previous)
        carries = mask_row & np.roll(mask_row, 1)
        carries[0] = False
    width = counts.shape[1]
    total = np.zeros((buckets.count, width))
    seen = np.zeros(buckets.count, dtype=bool)
    picked = np.flatnonzero(carries & ~np.isnan(increase).any(axis=1))
    if picked.size:
        where = buckets.index(times[picked])
        np.add.at(total, where, increase[picked])
        seen[where] = True
    total[~seen] = np.nan
    return bounds, total


def _merge(a: ExpDistribution | None, b: ExpDistribution | None) -> ExpDistribution | None:
    if a is None:
        return b
    return a if b is None else combine(a, b)


def _exp_increments(store: RingStore, slot: int, mask_row: np.ndarray,
                    buckets: query_math.Buckets) -> list[ExpDistribution | None]:
    """Per step: the merged increase of an exponential-histogram series (None = nothing)."""
    order = store.ring_order(np.array([slot]))[0]
    records = store.records.read(slot, order)
    times = store.times[slot, order]
    flags = store.flags.read(np.array([slot]), order[None, :])[0]
    delta = store.index.meta(slot).temporality == Temporality.DELTA
    steps: list[ExpDistribution | None] = [None] * buckets.count
    previous: tuple[ExpDistribution, float] | None = None
    for i, record in enumerate(records):
        if not isinstance(record, ExponentialHistogramPoint):
            previous = None
            continue
        dist = from_point(record)
        increase: ExpDistribution | None = None
        if mask_row[i]:
            if delta:
                increase = dist
            elif previous is not None:
                reset = bool(flags[i] & FLAG_RESET) or record.count < previous[1]
                increase = dist if reset else combine(dist, previous[0], -1.0)
                if (increase.pos < 0).any() or (increase.neg < 0).any():
                    increase = dist
        if increase is not None:
            step = int(buckets.index(times[i:i + 1])[0])
            steps[step] = _merge(steps[step], increase)
        previous = (dist, record.count)
    return steps


def quantiles(store: RingStore, req: MetricsQueryRequested, slots: np.ndarray,
              mask: np.ndarray, buckets: query_math.Buckets,
              labels_of: Callable[[SeriesIdentity], Labels],
              ) -> list[tuple[str, Labels, np.ndarray, np.ndarray]]:
    """(metric, labels, times, quantiles) per histogram series, or per group when aggregated."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]],
                 tuple[tuple[float, ...], np.ndarray]] = {}
    exp_groups: dict[tuple[str, tuple[tuple[str, str], ...]],
                     list[ExpDistribution | None]] = {}
    mixed: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for k, slot in enumerate(slots.tolist()):
        identity = store.index.identity(slot)
        if req.aggregation == "none":
            key = (identity.metric, labels_of(identity))
        else:
            key = (identity.metric, tuple((b, identity.label(b)) for b in req.by))
        if identity.kind == MetricKind.EXPONENTIAL_HISTOGRAM:
            steps = _exp_increments(store, slot, mask[k], buckets)
            merged_steps = exp_groups.get(key)
            exp_groups[key] = steps if merged_steps is None else [
                _merge(a, b) for a, b in zip(merged_steps, steps, strict=True)]
            continue
        found = _increments(store, slot, mask[k], buckets)
        if found is None:
            continue
        bounds, total = found
        if key not in groups:
            groups[key] = (bounds, total)
            continue
        first_bounds, accumulated = groups[key]
        if first_bounds != bounds:
            mixed.add(key)
            continue
        both_nan = np.isnan(accumulated).all(axis=1) & np.isnan(total).all(axis=1)
        merged = np.nan_to_num(accumulated) + np.nan_to_num(total)
        merged[both_nan] = np.nan
        groups[key] = (bounds, merged)
    bucket_times = buckets.times()
    out = []
    for key in sorted(groups):
        bounds, total = groups[key]
        present = ~np.isnan(total).all(axis=1)
        values = np.array([query_math.explicit_quantile(req.quantile, bounds, row)
                           for row in total[present]], dtype=np.float64)
        labels = key[1] + ((("mixed_bounds", "true"),) if key in mixed else ())
        out.append((key[0], labels, bucket_times[present], values))
    for key in sorted(exp_groups):
        if key in groups:          # one metric name as both kinds: keep the explicit answer
            continue
        steps = exp_groups[key]
        present = np.array([d is not None for d in steps], dtype=bool)
        values = np.array([exp_quantile(req.quantile, d) for d in steps if d is not None],
                          dtype=np.float64)
        out.append((key[0], key[1], bucket_times[present], values))
    out.sort(key=lambda item: (item[0], item[1]))
    return out
