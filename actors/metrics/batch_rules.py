"""The per-point rules every decoded request goes through, whichever path decoded it.

Owns ``finish``: RawColumns (every data point) → DecodedMetrics (accepted points only).
Points flagged no-recorded-value are skipped and counted; points without a value
(``no_value``), with NaN/±Inf values or sums (``non_finite_value``), without a timestamp
(``no_timestamp``) or with bucket counts that do not fit their bounds (``bucket_mismatch``) are
rejected and counted by reason. Shared by the upb path and the wire-template paths so both apply
identical rules; pure numpy, never raises.
"""

from __future__ import annotations

import numpy as np

from actors.metrics.decoded import DecodedMetrics
from actors.metrics.point_columns import RawColumns

__all__ = ["finish"]


def finish(raw: RawColumns, shape_key: int = 0) -> DecodedMetrics:
    """Apply the per-point rules and drop rejected and no-recorded-value points."""
    rejected = dict(raw.rejected)
    no_recorded = raw.no_recorded
    live = ~no_recorded
    checks = (("no_value", raw.number_rows & ~raw.has_value),
              ("non_finite_value", raw.has_value & ~np.isfinite(raw.value)),
              ("no_timestamp", raw.time_ns == 0))
    keep = live.copy()
    for reason, bad in checks:
        bad = bad & keep
        if bad.any():
            rejected[reason] = rejected.get(reason, 0) + int(bad.sum())
            keep &= ~bad
    for row, reason in raw.row_rejects.items():
        if keep[row]:
            rejected[reason] = rejected.get(reason, 0) + 1
            keep[row] = False
    all_kept = bool(keep.all())
    new_row = np.cumsum(keep) - 1
    hist_keep = keep[raw.hist_rows] if raw.hist_rows.size else np.zeros(0, dtype=bool)
    sizes = raw.hist_sizes[hist_keep]
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    extra = [(int(new_row[r]), p) for r, p in zip(raw.extra_rows, raw.extra, strict=True)
             if keep[r]]
    pick = slice(None) if all_kept else keep
    return DecodedMetrics(
        identities=raw.identities, metas=raw.metas, series=raw.series[pick],
        time_ns=raw.time_ns[pick], start_ns=raw.start_ns[pick], value=raw.value[pick],
        hist_rows=new_row[raw.hist_rows[hist_keep]], hist_count=raw.hist_count[hist_keep],
        hist_min=raw.hist_min[hist_keep], hist_max=raw.hist_max[hist_keep],
        hist_bounds=raw.hist_bounds, hist_bounds_id=raw.hist_bounds_id[hist_keep],
        hist_offsets=offsets,
        hist_buckets=raw.hist_buckets if all_kept else raw.hist_buckets[
            np.repeat(hist_keep, raw.hist_sizes)],
        extra_rows=[r for r, _ in extra], extra=[p for _, p in extra],
        points_seen=raw.points_seen, no_recorded_value=int(no_recorded.sum()),
        rejected=rejected, shape_key=shape_key)
