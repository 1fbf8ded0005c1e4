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
Plain logic, no dependencies.
"""

from __future__ import annotations

import math

__all__ = ["LatencySketch"]


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

    def merge(self, other: LatencySketch) -> None:
        if abs(other.gamma - self.gamma) > 1e-12:
            raise ValueError("cannot merge sketches with different accuracy")
        for index, count in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + count
        while len(self._buckets) > self.max_buckets:
            low, second = sorted(self._buckets)[:2]
            self._buckets[second] += self._buckets.pop(low)
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.max_ms = max(self.max_ms, other.max_ms)

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
