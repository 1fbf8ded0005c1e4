"""A bounded log-bucket latency sketch with a guaranteed relative error (DDSketch-style).

Owns per-key latency quantiles for L7 aggregation. A value ``v`` (milliseconds) > 0 lands in
bucket ``ceil(log(v) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``; the bucket's
representative ``2 * gamma**i / (gamma + 1)`` is within relative error ``a`` of every value in
it (default a = 2 %), so any quantile is reported within ±a of a true sample
value of that rank. Values at or below ``min_ms`` (1 µs) collapse into one zero bucket. The
bucket map is bounded: past ``max_buckets`` (default 256, i.e. a span of 1.04^256 ≈ 2.8·10^4
between the fastest and slowest request of one key, e.g. 1 ms … 28 s) the two lowest buckets
merge, so only the extreme low tail loses accuracy, never p50/p95/p99 unless they sit in it.
Memory: at most ``max_buckets`` small-int dict entries (~80 B each, ≤ ~20 KiB) per sketch.
``add_many_each`` folds batches of values into many sketches with one numpy pass (the aggregator
collects each key's latencies in a flat ``array('d')`` and folds all keys at flush): a vectorised
log and one ``unique`` instead of a Python call per value; every value lands in the bucket
``add`` gives it, and the lowest buckets are collapsed once, after the batch. ``quantiles``
answers several ranks with one sort. Plain logic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["LatencySketch", "add_many_each"]


class LatencySketch:
    """Counts of latencies in log-spaced buckets; ``quantile(q)`` answers within ±accuracy."""

    __slots__ = ("_buckets", "_log_gamma", "count", "gamma", "max_buckets", "max_ms",
                 "min_ms", "sum_ms", "zero_count")

    def __init__(self, accuracy: float = 0.02, max_buckets: int = 256,
                 min_ms: float = 0.001) -> None:
        if not 0 < accuracy < 1:
            raise ValueError(f"accuracy must be in (0, 1), got {accuracy}")
        self.gamma = (1 + accuracy) / (1 - accuracy)
        self._log_gamma = math.log(self.gamma)
        self.max_buckets = max_buckets
        self.min_ms = min_ms
        self._buckets: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.sum_ms = 0.0
        self.max_ms = 0.0

    def add(self, value_ms: float) -> None:
        self.count += 1
        if value_ms <= self.min_ms:
            self.zero_count += 1
            return
        self.sum_ms += value_ms
        if value_ms > self.max_ms:
            self.max_ms = value_ms
        index = math.ceil(math.log(value_ms) / self._log_gamma)
        buckets = self._buckets
        buckets[index] = buckets.get(index, 0) + 1
        if len(buckets) > self.max_buckets:
            low, second = sorted(buckets)[:2]
            buckets[second] += buckets.pop(low)

    def add_many(self, values_ms: Sequence[float] | np.ndarray) -> None:
        """Add every value of a batch (a sequence, ``array('d')`` or float array)."""
        add_many_each([self], [values_ms])

    def _collapse(self) -> None:
        buckets = self._buckets
        excess = len(buckets) - self.max_buckets
        if excess > 0:
            ordered = sorted(buckets)
            merged = sum(buckets.pop(index) for index in ordered[:excess])
            buckets[ordered[excess]] += merged

    def merge(self, other: LatencySketch) -> None:
        if abs(other.gamma - self.gamma) > 1e-12:
            raise ValueError("cannot merge sketches with different accuracy")
        for index, count in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + count
        self._collapse()
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.max_ms = max(self.max_ms, other.max_ms)

    def quantiles(self, *qs: float) -> list[float]:
        """Several quantiles (ascending ``qs``) with one pass over the sorted buckets."""
        if self.count == 0:
            return [0.0] * len(qs)
        out: list[float] = []
        ranks = iter([q * (self.count - 1) for q in qs])
        rank = next(ranks, None)
        seen = self.zero_count
        while rank is not None and rank < seen:
            out.append(0.0)
            rank = next(ranks, None)
        for index in sorted(self._buckets):
            if rank is None:
                break
            seen += self._buckets[index]
            while rank is not None and rank < seen:
                out.append(2 * self.gamma ** index / (self.gamma + 1))
                rank = next(ranks, None)
        out.extend(self.max_ms for _ in range(len(qs) - len(out)))
        return out

    def quantile(self, q: float) -> float:
        """The q-quantile (0 ≤ q ≤ 1) in milliseconds; 0.0 for an empty sketch."""
        if self.count == 0:
            return 0.0
        rank = q * (self.count - 1)
        seen = self.zero_count
        if rank < seen:
            return 0.0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if rank < seen:
                return 2 * self.gamma ** index / (self.gamma + 1)
        return self.max_ms


def add_many_each(sketches: Sequence[LatencySketch],
                  batches: Sequence[Sequence[float] | np.ndarray]) -> None:
    """``sketches[i].add_many(batches[i])`` for every i, with one numpy pass over all values
    (per-sketch numpy calls would cost more than the values for small batches)."""
    first = sketches[0] if sketches else None
    if first is None or any(s.gamma != first.gamma or s.min_ms != first.min_ms
                            for s in sketches):
        for sketch, batch in zip(sketches, batches, strict=True):
            add_many_each([sketch], [batch])
        return
    lengths = np.array([len(batch) for batch in batches], dtype=np.int64)
    if not lengths.any():
        return
    values = np.concatenate([np.asarray(b, dtype=np.float64) for b in batches if len(b)])
    owners = np.repeat(np.arange(len(sketches)), lengths)
    positive = values > first.min_ms
    values, owners = values[positive], owners[positive]
    positives = np.bincount(owners, minlength=len(sketches))
    sums = np.bincount(owners, weights=values, minlength=len(sketches))
    maxima = np.zeros(len(sketches))
    np.maximum.at(maxima, owners, values)
    if values.size:
        indexes = np.ceil(np.log(values) / first._log_gamma).astype(np.int64)
        low = int(indexes.min())
        span = int(indexes.max()) - low + 1
        pairs, counts = np.unique(owners * span + (indexes - low), return_counts=True)
        for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
            buckets = sketches[pair // span]._buckets
            index = pair % span + low
            buckets[index] = buckets.get(index, 0) + count
    for number, sketch in enumerate(sketches):
        total = int(lengths[number])
        if total:
            sketch.count += total
            sketch.zero_count += total - int(positives[number])
            sketch.sum_ms += float(sums[number])
            sketch.max_ms = max(sketch.max_ms, float(maxima[number]))
            sketch._collapse()
