"""Plain data produced by the OTLP codec and consumed by the ring store.

Owns ``DecodedMetrics`` (one request as numpy columns: one row per accepted data point) and the
per-point records of exponential histograms and summaries. Pure data: constructing it cannot
fail, and it pickles, so a batch can cross a thread or process boundary unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from actors.metrics.series import SeriesIdentity, SeriesMeta

__all__ = ["DecodedMetrics", "ExponentialHistogramPoint", "SummaryPoint"]


@dataclasses.dataclass(frozen=True, slots=True)
class ExponentialHistogramPoint:
    """One exponential-histogram point (bucket counts as float64 arrays)."""

    scale: int
    zero_count: float
    zero_threshold: float
    positive_offset: int
    positive: np.ndarray
    negative_offset: int
    negative: np.ndarray
    count: float
    minimum: float
    maximum: float


@dataclasses.dataclass(frozen=True, slots=True)
class SummaryPoint:
    """One summary point: count and (quantile, value) pairs."""

    count: float
    quantiles: tuple[tuple[float, float], ...]


@dataclasses.dataclass(slots=True)
class DecodedMetrics:
    """One decoded request: series of this batch + one row per accepted data point."""

    identities: list[SeriesIdentity]
    metas: list[SeriesMeta]
    series: np.ndarray          # int32 row → index into identities
    time_ns: np.ndarray         # int64
    start_ns: np.ndarray        # int64 (0 = unknown)
    value: np.ndarray           # float64: number value, or sum for histograms/summaries
    hist_rows: np.ndarray       # int64 rows that are explicit histograms
    hist_count: np.ndarray      # float64 per histogram row
    hist_min: np.ndarray        # float64, NaN when absent
    hist_max: np.ndarray        # float64, NaN when absent
    hist_bounds: list[tuple[float, ...]]   # distinct bounds of this batch
    hist_bounds_id: np.ndarray  # int64 per histogram row → index into hist_bounds
    hist_offsets: np.ndarray    # int64, len(hist_rows) + 1, into hist_buckets
    hist_buckets: np.ndarray    # float64 bucket counts, concatenated
    extra_rows: list[int]       # rows that are exponential histograms or summaries
    extra: list[ExponentialHistogramPoint | SummaryPoint]
    points_seen: int = 0
    no_recorded_value: int = 0
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    shape_key: int = 0          # non-zero: same request layout as earlier batches with this key

    @property
    def points(self) -> int:
        """Accepted data points."""
        return int(self.series.shape[0])

    @property
    def rejected_points(self) -> int:
        """Data points refused by the codec."""
        return sum(self.rejected.values())

    def rejection_message(self) -> str:
        """``""`` or e.g. ``"rejected 3 data points: non_finite_value=2, no_timestamp=1"``."""
        if not self.rejected:
            return ""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items()))
        return f"rejected {self.rejected_points} data points: {reasons}"
