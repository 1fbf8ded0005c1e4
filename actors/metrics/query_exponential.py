"""Exponential-histogram arithmetic for quantile queries.

Owns ``ExpDistribution`` (scale, zero count, positive/negative bucket counts with their index
offsets) and the three operations a quantile over time and series needs: ``downscale`` (merge
2^k adjacent buckets: index >> k), ``combine`` (add or subtract two distributions at their
common scale) and ``exp_quantile``. Bucket i at scale s covers (base^i, base^(i+1)] with
base = 2^(2^-s) (negative buckets mirror it); the quantile interpolates linearly inside the
bucket holding the rank, the zero bucket counts as 0. Functions are total: an empty distribution
gives NaN.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from actors.metrics.decoded import ExponentialHistogramPoint

__all__ = ["ExpDistribution", "combine", "exp_quantile", "from_point"]


@dataclasses.dataclass(frozen=True, slots=True)
class ExpDistribution:
    """Bucket counts of an exponential histogram (counts as float64)."""

    scale: int
    zero: float
    pos_offset: int
    pos: np.ndarray
    neg_offset: int
    neg: np.ndarray

    @property
    def total(self) -> float:
        """All counts, zero bucket included."""
        return float(self.zero + self.pos.sum() + self.neg.sum())


def from_point(point: ExponentialHistogramPoint) -> ExpDistribution:
    """The distribution of one stored point."""
    return ExpDistribution(point.scale, point.zero_count, point.positive_offset, point.positive,
                           point.negative_offset, point.negative)


def _shift(offset: int, counts: np.ndarray, by: int) -> tuple[int, np.ndarray]:
    if by <= 0 or counts.size == 0:
        return offset, counts
    index = (offset + np.arange(counts.size)) >> by
    return int(index[0]), np.bincount(index - index[0], weights=counts)


def downscale(dist: ExpDistribution, scale: int) -> ExpDistribution:
    """The same counts at a coarser (smaller) scale."""
    by = dist.scale - scale
    pos_offset, pos = _shift(dist.pos_offset, dist.pos, by)
    neg_offset, neg = _shift(dist.neg_offset, dist.neg, by)
    return ExpDistribution(min(scale, dist.scale), dist.zero, pos_offset, pos, neg_offset, neg)


def _add(a_off: int, a: np.ndarray, b_off: int, b: np.ndarray,
         sign: float) -> tuple[int, np.ndarray]:
    if a.size == 0 and b.size == 0:
        return 0, np.zeros(0)
    starts = [o for o, c in ((a_off, a), (b_off, b)) if c.size]
    ends = [o + c.size for o, c in ((a_off, a), (b_off, b)) if c.size]
    low, high = min(starts), max(ends)
    out = np.zeros(high - low)
    out[a_off - low:a_off - low + a.size] += a
    out[b_off - low:b_off - low + b.size] += sign * b
    return low, out


def combine(a: ExpDistribution, b: ExpDistribution, sign: float = 1.0) -> ExpDistribution:
    """a + b (or a − b with ``sign`` = −1) at the coarser of the two scales."""
    scale = min(a.scale, b.scale)
    a, b = downscale(a, scale), downscale(b, scale)
    pos_offset, pos = _add(a.pos_offset, a.pos, b.pos_offset, b.pos, sign)
    neg_offset, neg = _add(a.neg_offset, a.neg, b.neg_offset, b.neg, sign)
    return ExpDistribution(scale, a.zero + sign * b.zero, pos_offset, pos, neg_offset, neg)


def exp_quantile(q: float, dist: ExpDistribution) -> float:
    """Quantile ``q`` of a distribution (NaN when it is empty or has negative counts)."""
    total = dist.total
    if total <= 0 or (dist.pos < 0).any() or (dist.neg < 0).any() or dist.zero < 0:
        return math.nan
    base = 2.0 ** (2.0 ** -dist.scale)
    rank = q * total
    # ascending values: negative buckets from the largest index down, zero, positive up
    below = 0.0
    for i in range(dist.neg.size - 1, -1, -1):
        count = float(dist.neg[i])
        if count and below + count >= rank:
            index = dist.neg_offset + i
            lower, upper = -base ** (index + 1), -base ** index
            return float(lower + (upper - lower) * (rank - below) / count)
        below += count
    if dist.zero and below + dist.zero >= rank:
        return 0.0
    below += dist.zero
    for i in range(dist.pos.size):
        count = float(dist.pos[i])
        if count and below + count >= rank:
            index = dist.pos_offset + i
            lower, upper = base ** index, base ** (index + 1)
            return float(lower + (upper - lower) * (rank - below) / count)
        below += count
    return math.nan
