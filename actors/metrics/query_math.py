"""Vectorised arithmetic of the query engine: step buckets, counter increases, quantiles.

Owns the definitions the query answers are checked against:
- a bucket of width ``step`` starting at ``origin`` (epoch-aligned) holds points with
  origin + k·step ≤ t < origin + (k+1)·step; ``step`` = 0 means one bucket for the whole range;
- gauge/raw alignment takes the newest point of each bucket;
- the increase of a cumulative counter between two consecutive in-range points is v₂ − v₁, or v₂
  when the counter was reset (value went down, or its start time moved on); a delta point *is*
  its increase; increases are attributed to the bucket of the later point; rate = increase ÷ the
  bucket width in seconds (the whole range when ``step`` = 0);
- quantiles interpolate linearly inside the explicit bucket holding the rank (Prometheus
  ``histogram_quantile``; lower edge 0 for the first bucket when its bound is positive, the
  highest finite bound for the +Inf bucket).
Functions are total: empty inputs give NaN, never an exception.
"""

from __future__ import annotations

import math

import numpy as np

from actors.metrics.series import FLAG_RESET

__all__ = ["Buckets", "bucket_last", "bucket_sum", "counter_increases", "explicit_quantile",
           "group_reduce"]


class Buckets:
    """Bucket layout of a query: origin, width and count (``step`` 0 = one bucket)."""

    def __init__(self, start_ns: int, end_ns: int, step_ns: int) -> None:
        self.step_ns = step_ns
        if step_ns > 0:
            self.origin = (start_ns // step_ns) * step_ns
            self.count = int((end_ns - self.origin) // step_ns) + 1
        else:
            self.origin, self.count = start_ns, 1
        self.end_ns = end_ns
        self.width_s = (step_ns if step_ns > 0 else max(end_ns - start_ns, 1)) / 1e9

    def index(self, times: np.ndarray) -> np.ndarray:
        """Bucket index of each time."""
        if self.step_ns <= 0:
            return np.zeros(times.shape, dtype=np.int64)
        return np.asarray((times - self.origin) // self.step_ns, dtype=np.int64)

    def times(self) -> np.ndarray:
        """Label (start time) of every bucket; the range end when there is a single bucket."""
        if self.step_ns <= 0:
            return np.array([self.end_ns], dtype=np.int64)
        return self.origin + self.step_ns * np.arange(self.count, dtype=np.int64)


def bucket_last(times: np.ndarray, values: np.ndarray, mask: np.ndarray,
                buckets: Buckets) -> np.ndarray:
    """[n, buckets] newest value per bucket (NaN where a bucket has no point)."""
    n = times.shape[0]
    out = np.full((n, buckets.count), np.nan)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return out
    b = buckets.index(times[rows, cols])
    key = rows * buckets.count + b                     # ascending: rows, then time
    last = np.r_[key[1:] != key[:-1], True]
    out.reshape(-1)[key[last]] = values[rows[last], cols[last]]
    return out


def bucket_sum(contrib: np.ndarray, times: np.ndarray, mask: np.ndarray,
               buckets: Buckets) -> np.ndarray:
    """[n, buckets] sum of ``contrib`` per bucket (NaN where a bucket has no contribution)."""
    n = times.shape[0]
    total = np.zeros(n * buckets.count)
    seen = np.zeros(n * buckets.count, dtype=bool)
    rows, cols = np.nonzero(mask)
    if rows.size:
        key = rows * buckets.count + buckets.index(times[rows, cols])
        np.add.at(total, key, contrib[rows, cols])
        seen[key] = True
    total[~seen] = np.nan
    return total.reshape(n, buckets.count)


def counter_increases(values: np.ndarray, flags: np.ndarray, mask: np.ndarray,
                      cumulative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point increase and the mask of points that carry one.

    Rows of ``values`` are time-ordered; ``cumulative`` says per row whether the series is
    cumulative (else delta). The first in-range point of a cumulative row carries no increase.
    """
    previous = np.roll(values, 1, axis=1)
    prev_ok = np.roll(mask, 1, axis=1)
    prev_ok[:, 0] = False
    reset = (flags & FLAG_RESET).astype(bool) | (values < previous)
    cum_inc = np.where(reset, values, values - previous)
    increase = np.where(cumulative[:, None], cum_inc, values)
    carries = mask & np.where(cumulative[:, None], prev_ok, True)
    return increase, carries


def explicit_quantile(q: float, bounds: tuple[float, ...], counts: np.ndarray) -> float:
    """Quantile ``q`` of one explicit-bucket histogram (``counts`` has len(bounds) + 1)."""
    total = float(counts.sum()) if counts.size else 0.0
    if not total or not math.isfinite(total) or len(counts) != len(bounds) + 1:
        return math.nan
    rank = q * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, rank, side="left"))
    i = min(i, len(counts) - 1)
    if i == len(bounds):                       # the +Inf bucket
        return float(bounds[-1]) if bounds else math.nan
    upper = bounds[i]
    lower = bounds[i - 1] if i > 0 else (0.0 if upper > 0 else upper)
    below = float(cumulative[i - 1]) if i > 0 else 0.0
    inside = float(counts[i])
    if inside <= 0:
        return float(upper)
    return float(lower + (upper - lower) * (rank - below) / inside)


def group_reduce(grid: np.ndarray, group: np.ndarray, groups: int, how: str) -> np.ndarray:
    """[groups, buckets] sum/avg/min/max of ``grid`` rows by ``group`` id, ignoring NaN
    (NaN where no row of the group has a value)."""
    valid = ~np.isnan(grid)
    counts = np.zeros((groups, grid.shape[1]))
    np.add.at(counts, group, valid)
    if how in ("sum", "avg"):
        out = np.zeros((groups, grid.shape[1]))
        np.add.at(out, group, np.where(valid, grid, 0.0))
        if how == "avg":
            with np.errstate(invalid="ignore", divide="ignore"):
                out = out / counts
    else:
        out = np.full((groups, grid.shape[1]), np.nan)
        (np.fmin if how == "min" else np.fmax).at(out, group, grid)
    out[counts == 0] = np.nan
    return out
